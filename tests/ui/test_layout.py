"""The smallest supported terminal (80x24): every button a dialog offers is on screen and clickable.

A Horizontal button row does not wrap: buttons wider than the dialog are silently cut off, and at
80 columns that once hid the wizard's "Run…" button, the one the admin came for.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.screens.fix import FixWizardScreen
from tests.ui.fix_support import fast_app, open_on, settle

SMALL = (80, 24)


def _cut_buttons(pilot: Pilot[Any]) -> list[str]:
    """Labels of the shown buttons that do not fit entirely on the screen."""
    width, height = pilot.app.size
    shown = [b for b in pilot.app.screen.query(Button) if b.display and b.parent is not None and b.parent.display]
    assert shown, "the dialog shows no buttons"
    return [
        str(b.label)
        for b in shown
        if b.region.width < len(str(b.label)) or b.region.right > width or b.region.bottom > height
    ]


@pytest.mark.parametrize(
    ("vm", "key"),
    [
        ("APP02", "f"),  # a step needing guest credentials: Close, Skip, Guest login…, Re-check, Run…
        ("APP01", "i"),  # the key flow, no guest login yet: also Show key (six buttons)
    ],
)
async def test_fix_wizard_buttons_all_fit_at_80x24(monkeypatch: pytest.MonkeyPatch, vm: str, key: str) -> None:
    app = fast_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_on(pilot, vm, key)
        if isinstance(app.screen, CredentialsScreen):  # the key flow asks for a guest login first
            assert _cut_buttons(pilot) == []
            await pilot.press("escape")
            await pilot.pause()
        assert isinstance(app.screen, FixWizardScreen)
        assert _cut_buttons(pilot) == []


async def test_the_footer_keeps_quit_and_help_on_screen_at_80x24_with_marks(make_app, settle) -> None:
    """Marking a VM must not push `q Quit` and `? Help` off an 80-column footer; the list title names F instead."""
    from textual.widgets._footer import FooterKey

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("space")
        await pilot.pause()
        keys = list(app.screen.query(FooterKey))
        assert {key.key for key in keys} >= {"q", "question_mark"}
        assert [key.key for key in keys if key.region.right > SMALL[0] or not key.region.width] == []
        assert "1 marked (F fixes)" in str(app.screen.query_one("#list").border_title)


async def test_the_kvp_column_is_in_view_at_160x50(make_app, settle) -> None:
    """At 160 columns the table sits beside the details: the short KVP column must not need horizontal scrolling."""
    from avma_tui.ui.widgets.vm_table import VmTable

    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(VmTable)
        right_edge = 0
        for key, column in table.columns.items():
            right_edge += column.get_render_width(table)
            if key.value == "kvp":
                break
        assert right_edge <= table.scrollable_content_region.width


async def test_the_recheck_dialog_fits_at_80x24(monkeypatch: pytest.MonkeyPatch) -> None:
    from avma_tui.ui.screens.recheck import RecheckScreen
    from tests.ui.test_recheck import DC01, PRINT01, _interrupted

    for name, vm in (("PRINT01", PRINT01), ("DC01", DC01), ("DC01", DC01)):
        _interrupted(name, vm, "enable_kvp")
    app = fast_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RecheckScreen)
        assert _cut_buttons(pilot) == []


async def test_a_big_batch_keeps_its_buttons_and_table_at_80x24(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan and summary boxes grow with the batch; the buttons must stay on screen and the table keep some rows."""
    from avma_tui.services.plan import FixTiming
    from tests.ui.fix_support import GUEST
    from tests.ui.test_fix_batch import _mark_and_open, _run_all

    app = fast_app(credential=GUEST, timing=FixTiming(verify_timeout=0.2, poll_interval=0.02), boot_s=5.0)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        names = [d.vm.name for d in app.session.diagnosis.vms if d.findings]
        await _mark_and_open(pilot, names)
        assert _cut_buttons(pilot) == []
        await _run_all(pilot)
        await settle(pilot)
        assert _cut_buttons(pilot) == []
        assert app.screen.query_one("#batch-table").region.height >= 4
