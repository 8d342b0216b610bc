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
