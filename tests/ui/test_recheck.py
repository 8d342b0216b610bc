"""Interrupted changes at start: the audit log's open intents are offered for a re-check, which is recorded."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from avma_tui.services import audit_pass
from avma_tui.services.audit import AuditLog, Target, new_interaction
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.screens.recheck import RecheckScreen
from avma_tui.ui.widgets.content_table import ContentTable
from tests.ui.fix_support import click, fast_app, settle

HOST = "HV01.contoso.local"  # the demo host's fqdn, as FixService records it
PRINT01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b"  # KVP disabled in the demo
DC01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c01"  # running, healthy


def _interrupted(name: str, vm_id: str, action: str, *, host: str = HOST) -> dict[str, Any]:
    """An intent with no result: what a crash or a dropped link mid-change leaves behind."""
    return AuditLog().intent(
        host=host,
        remote_user="admin",
        target=Target("vm", name, vm_id),
        action=action,
        interaction=new_interaction(),
        params={"step": action, "VmId": vm_id},
        before={"state": "Running"},
    )


def _now_column(app: AvmaApp) -> list[str]:
    table = app.screen.query_one("#recheck-table", DataTable)
    return [table.get_cell_at((row, 3)).plain for row in range(table.row_count)]


async def test_pending_intents_are_offered_and_the_recheck_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    not_done = _interrupted("PRINT01", PRINT01, "enable_kvp")
    done = _interrupted("DC01", DC01, "start_vm")
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RecheckScreen)
        table = app.screen.query_one("#recheck-table", DataTable)
        assert [table.get_cell_at((row, 1)).plain for row in range(table.row_count)] == ["PRINT01", "DC01"]
        assert app.focused is not None and app.focused.id == "recheck"
        await pilot.press("enter")
        await settle(pilot)
        assert _now_column(app)[0].startswith("not in effect")
        assert _now_column(app)[1].startswith("in effect")
        assert "recorded in the audit log" in app.screen.query_one("#recheck-status", Static).render().plain
        await click(pilot, "#later")  # now labelled Close
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
    log = AuditLog()
    assert log.pending() == []
    rechecks = {r["params"]["intent_seq"]: r for r in log.records() if r["action"] == "recheck"}
    assert rechecks[not_done["seq"]]["outcome"] == "failed"
    assert rechecks[not_done["seq"]]["after"]["kvp_enabled"] is False
    assert rechecks[done["seq"]]["outcome"] == "ok"
    assert rechecks[done["seq"]]["target"] == {"kind": "vm", "name": "DC01", "id": DC01}
    assert log.verify().ok


async def test_later_leaves_them_pending_and_asks_only_once_per_start(monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupted("PRINT01", PRINT01, "enable_kvp")
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RecheckScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
    assert len(AuditLog().pending()) == 1


async def test_intents_on_other_hosts_are_not_offered_here(monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupted("PRINT01", PRINT01, "enable_kvp", host="HV99.contoso.local")
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


async def test_a_hostile_target_name_is_listed_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "[@click=app.quit]gone[/] [$accent]x"
    _interrupted(name, "0badc0de-0000-4000-8000-0000000000ff", "install_key")
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#recheck-table", DataTable)
        assert table.get_cell_at((0, 1)).plain == name
        await pilot.press("enter")
        await settle(pilot)
        assert _now_column(app)[0].startswith("cannot tell")  # the VM is not on this host
        assert app.is_running
    [recheck] = [r for r in AuditLog().records() if r["action"] == "recheck"]
    assert (recheck["outcome"], recheck["after"]) == ("unknown", {"present": False})


async def test_an_interrupted_change_at_the_start_of_a_big_log_is_still_offered() -> None:
    """The whole log is read (in a child process): an intent 20,000 records back is found."""
    from tests.audit.test_audit_pass import extend

    _interrupted("PRINT01", PRINT01, "enable_kvp")
    extend(AuditLog(), 20_000)
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RecheckScreen)
        table = app.screen.query_one("#recheck-table", DataTable)
        assert [table.get_cell_at((row, 1)).plain for row in range(table.row_count)] == ["PRINT01"]


async def test_a_failing_check_is_one_notification_and_the_dashboard_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupted("PRINT01", PRINT01, "enable_kvp")
    monkeypatch.setattr(audit_pass, "child_command", lambda: [sys.executable, "-c", "raise SystemExit(7)"])
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        [note] = [n for n in app._notifications if n.title == "Audit log"]
        assert (note.message, note.severity) == ("the audit log check stopped (exit 7)", "error")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_dialog_shows_every_cell_whole_or_cut_with_an_ellipsis(size: tuple[int, int]) -> None:
    """The dialog's table was a plain DataTable, which counts a Content cell as one cell wide: its columns
    shrank to their headers and cut "2026-10-15 08:00:09", "install_key" and "not re-checked" without a
    sign. Now every cell, before and after the re-check (whose verdicts are long), is whole or ends in "…",
    the verdict keeps at least 20 cells, and nothing scrolls sideways."""
    from tests.ui.test_columns import cut_without_ellipsis, shown_cells

    _interrupted("PRINT01", PRINT01, "enable_kvp")
    _interrupted("SQL-REPORTING-NODE-07-LONG-NAME", DC01, "install_key")
    app = fast_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RecheckScreen)
        table = app.screen.query_one("#recheck-table", ContentTable)
        for recheck in (True, False):  # as offered, then with the verdicts
            assert cut_without_ellipsis(app, table) == []
            assert table.max_scroll_x == 0
            times = [screen for label, _, screen in shown_cells(app, table) if label == "Started (UTC)"]
            assert len(times) == 2 and all(len(time) == 19 for time in times), times  # never cut
            if recheck:
                await pilot.press("enter")
                await settle(pilot)
        verdicts = [screen for label, _, screen in shown_cells(app, table) if label == "Now"]
        assert len(verdicts) == 2 and all(len(verdict) >= 20 for verdict in verdicts), verdicts
