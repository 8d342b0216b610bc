"""Snapshots of every main screen at 80x24 and 120x40, on fixed data with a frozen clock.

Update after an intended change with `pytest tests/ui/test_snapshots.py --snapshot-update` and
review the SVGs (the report shows the difference side by side).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from avma_tui.config import ConnectionSettings
from avma_tui.ui.app import AvmaApp

AppFactory = Callable[..., AvmaApp]
FIXED_TIME = datetime(2026, 11, 27, 9, 0, 0)
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _then(*keys: str, vm: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the first read, optionally select a VM by name, then press keys."""

    async def settle(pilot: Pilot[Any]) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        if vm is not None:
            assert isinstance(app, AvmaApp) and app.session is not None and app.session.diagnosis is not None
            vm_id = next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == vm)
            app.screen.go_to_vm(vm_id)  # type: ignore[attr-defined]
            await pilot.pause()
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_then())


@pytest.mark.parametrize("size", SIZES)
def test_details(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_then("enter", vm="APP2025"))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_then("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_credentials(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_then("c"))


@pytest.mark.parametrize("size", SIZES)
def test_connection(snap_compare: Any, size: tuple[int, int]) -> None:
    settings = ConnectionSettings("hv01.contoso.local", username="CONTOSO\\admin")
    app = AvmaApp(settings=settings, refresh_interval=0, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=size, run_before=_then())
