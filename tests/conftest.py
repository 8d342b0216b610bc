"""Shared test setup: every test gets its own AVMA_TUI_HOME, so nothing touches the real user dirs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def avma_home(tmp_path, monkeypatch):
    home = tmp_path / "avma-home"
    monkeypatch.setenv("AVMA_TUI_HOME", str(home))
    for var in ("AVMA_PASSWORD", "AVMA_GUEST_PASSWORD", "AVMA_SIM_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return home


#: Test folders whose tests carry a lane marker, so the edit-test loop can leave them out:
#: `pytest -n 2 -m "not slow and not tui and not wire"` (the README's quick lane). CI runs everything.
_LANES = {"ui": "tui", "transport": "wire", "kerberos": "wire", "e2e": "wire"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        folder = parts[parts.index("tests") + 1] if "tests" in parts[:-1] else ""
        if folder in _LANES:
            item.add_marker(_LANES[folder])
