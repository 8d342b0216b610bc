"""The fix wizard's first step for one VM at 120x40, on the demo host with a frozen clock.

Update after an intended change with `pytest tests/ui/test_fix_snapshot.py --snapshot-update` and
review the SVG.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from avma_tui.ui.app import AvmaApp


async def _wizard_on_print01(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app, AvmaApp) and app.session is not None and app.session.diagnosis is not None
    vm_id = next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == "PRINT01")
    app.screen.go_to_vm(vm_id)  # type: ignore[attr-defined]
    await pilot.press("f")
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_fix_wizard_first_step(snap_compare: Any, make_app: Callable[..., AvmaApp]) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=_wizard_on_print01)
