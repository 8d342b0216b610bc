"""The audit viewer, driven with Pilot in a tiny app that pushes it, as the real app does on `a`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from textual.app import App
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerFailed

from avma_tui.services import audit_pass
from avma_tui.services.audit import AuditLog, Target
from avma_tui.ui.screens import audit as audit_screen
from avma_tui.ui.screens.audit import PAGE, AuditScreen

HOSTILE = "[red]x[/]'; Remove-VM *\x1b[2J"
SHOWN = "[red]x[/]'; Remove-VM *[2J"  # exactly as written, minus the control character


class Harness(App[None]):
    def __init__(self, log: AuditLog, host: str | None = None) -> None:
        super().__init__()
        self.audit_log, self.host = log, host

    def on_mount(self) -> None:
        self.push_screen(AuditScreen(self.audit_log, host=self.host))


@pytest.fixture
def log() -> AuditLog:
    """hv01: a connect, a failed change on a hostile-named VM, an interrupted one; hv02: a connect."""
    log = AuditLog(operator="alice")
    log.append(
        host="hv01", remote_user="admin", target=Target("host", "hv01"), action="connect", phase="result",
        interaction="i1", outcome="ok",
    )  # fmt: skip
    failed = log.intent(
        host="hv01", remote_user="admin", target=Target("vm", HOSTILE, "id-1"), action="install_key",
        interaction="i2", params={"ProductKey": "W3GNR-8DDXR-2TFRP-H8P33-DV9BG"},
    )  # fmt: skip
    log.result(failed, outcome="failed", error={"code": "0xC004F050", "message": "[b]bad[/b] key"})
    log.intent(
        host="hv01", remote_user="admin", target=Target("vm", "db01", "id-2"), action="enable_kvp", interaction="i3"
    )
    log.append(
        host="hv02", remote_user="admin", target=Target("host", "hv02"), action="connect", phase="result",
        interaction="i4", outcome="ok",
    )  # fmt: skip
    return log


async def settle(app: App[None], pilot: Pilot[None]) -> AuditScreen:
    await pilot.pause()
    with contextlib.suppress(WorkerFailed):  # a failed read is the screen's to show (the tests look at it)
        await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, AuditScreen)
    return app.screen


def column(table: DataTable, index: int) -> list[str]:
    return [table.get_row_at(row)[index].plain for row in range(table.row_count)]


def field(name: str, value: str) -> str:
    """A detail-pane line: the field name in a column of 20, then the value."""
    return f"{name:<20} {value}"


def plain(screen: AuditScreen, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    assert isinstance(content, Content)
    return content.plain


async def test_newest_first_with_chain_state_and_interrupted_change(log: AuditLog) -> None:
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert column(screen.table, 1) == ["5", "4", "3", "2", "1"]
        assert column(screen.table, 6) == ["ok", "interrupted", "failed", "", "ok"]
        assert column(screen.table, 3)[2] == f"vm {SHOWN}"
        head = log.verify().head
        chain = plain(screen, "#audit-chain")
        assert chain == f"Chain intact · 5 records · head {head} · 1 interrupted change to re-check"


async def test_filter_select_and_detail_show_hostile_text_raw(log: AuditLog) -> None:
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        await pilot.press("slash", *"vm:remove outcome:fail")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert column(screen.table, 1) == ["3"]
        await pilot.press("enter")  # back to the table
        await pilot.pause()
        assert screen.table.has_focus
        detail = plain(screen, "#audit-detail-body")
        assert field("target.name", SHOWN) in detail.splitlines()
        assert field("error.message", "[b]bad[/b] key") in detail.splitlines()
        assert field("params.ProductKey", "XXXXX-XXXXX-XXXXX-XXXXX-DV9BG") in detail.splitlines()
        assert "\x1b" not in detail
        await pilot.press("escape")  # clears the filter, stays open
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one("#audit-filter", Input).value == ""
        assert screen.table.row_count == 5
        assert app.screen is screen
        await pilot.press("escape")  # nothing to clear: closes
        await pilot.pause()
        assert not isinstance(app.screen, AuditScreen)


async def test_moving_the_cursor_shows_that_record(log: AuditLog) -> None:
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        await pilot.press("down")
        await pilot.pause()
        detail = plain(screen, "#audit-detail-body").splitlines()
        assert field("seq", "4") in detail
        assert detail[-1] == "No result was recorded: re-check this target."


async def test_host_opens_prefiltered_and_q_closes(log: AuditLog) -> None:
    app = Harness(log, host="hv02")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert screen.query_one("#audit-filter", Input).value == "host:hv02"
        assert column(screen.table, 2) == ["hv02"]
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, AuditScreen)


async def test_a_broken_chain_is_shown_in_the_error_colour(log: AuditLog) -> None:
    lines = log.path.read_text(encoding="utf-8").splitlines(keepends=True)
    log.path.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        chain = screen.query_one("#audit-chain", Static).content
        assert isinstance(chain, Content)
        assert chain.plain == "BROKEN at record 2: record 2 removed (line 2 holds record 3)"
        assert {str(span.style) for span in chain.spans} >= {"bold $text-error", "$text-error"}
        assert screen.table.row_count == 4


async def test_no_log_yet() -> None:
    app = Harness(AuditLog())
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await settle(app, pilot)
        assert plain(screen, "#audit-chain").startswith("No audit log yet")
        assert screen.table.row_count == 0
        assert plain(screen, "#audit-detail-body") == "No records yet."


async def test_an_unreadable_log_is_one_line_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    path.mkdir()  # something that exists but cannot be read as a file
    app = Harness(log)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await settle(app, pilot)
        assert plain(screen, "#audit-chain").startswith(f"Cannot read the audit log: audit log {path}: ")
        assert not screen.table.loading


async def test_a_big_log_shows_its_newest_page_first_and_loads_more_as_the_cursor_nears_the_end() -> None:
    from tests.audit.test_audit_log import chained

    log = AuditLog()
    chained(log.path, 3 * PAGE + 10)
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert screen.table.row_count == PAGE  # one page, not the file
        assert column(screen.table, 1)[:2] == [str(3 * PAGE + 10), str(3 * PAGE + 9)]
        assert plain(screen, "#audit-chain").startswith(f"Chain intact · {3 * PAGE + 10} records")
        await pilot.press("end")
        await settle(app, pilot)
        assert screen.table.row_count == 2 * PAGE
        await pilot.press("end")
        await settle(app, pilot)
        await pilot.press("end")
        await settle(app, pilot)
        assert screen.table.row_count == 3 * PAGE + 10
        assert column(screen.table, 1)[-1] == "1"


async def test_a_rare_filter_shows_what_it_found_while_it_searches_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.audit.test_audit_log import chained

    monkeypatch.setattr(audit_screen, "SCAN_BUDGET", 50)
    log = AuditLog()
    chained(log.path, 400)
    pages: list[int] = []
    real = audit_screen.AuditScreen._add_page

    def spy(self: AuditScreen, pager: audit_screen.Pager, page: list) -> None:
        pages.append(len(page))
        real(self, pager, page)

    monkeypatch.setattr(audit_screen.AuditScreen, "_add_page", spy)
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        pages.clear()
        screen.query_one("#audit-filter", Input).value = "vm:vm1"  # vm199…vm100, vm19…vm10, vm1: 111 of 400
        for _ in range(10):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert pages[0] == 1  # the first match is shown at once, 201 lines back
        assert PAGE <= screen.table.row_count < 111  # then pieces until a page is full; the rest waits for the cursor
        for _ in range(3):
            await pilot.press("end")
            await settle(app, pilot)
        assert screen.table.row_count == 111
        assert column(screen.table, 3)[-1] == "vm vm1"


async def test_a_big_log_shows_its_first_page_its_chain_and_interrupted_changes_at_both_ends() -> None:
    """20,000 records with interrupted changes at both ends: the whole-log pass (a child process) finds both."""
    from tests.audit.test_audit_pass import extend, interrupted

    log = AuditLog()
    interrupted(log, "hv01", "first")
    extend(log, 20_000)
    interrupted(log, "hv01", "last")
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert screen.table.row_count == PAGE
        assert column(screen.table, 1)[:2] == ["20002", "20001"]
        assert column(screen.table, 6)[0] == "interrupted"
        head = log.verify().head
        chain = plain(screen, "#audit-chain")
        assert chain == f"Chain intact · 20002 records · head {head} · 2 interrupted changes to re-check"
        await pilot.press("slash", *"outcome:interrupted")  # the oldest, found by the pass, 20,000 lines back
        for _ in range(20):
            await settle(app, pilot)
            if screen._pager is not None and screen._pager.done:
                break
        assert column(screen.table, 1) == ["20002", "1"]


async def test_a_failing_check_is_one_line_and_the_records_still_show(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "import sys; sys.stderr.write('Traceback (most recent call last):\\nMemoryError\\n'); sys.exit(1)"
    monkeypatch.setattr(audit_pass, "child_command", lambda: [sys.executable, "-c", code])
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert plain(screen, "#audit-chain") == (
            "Cannot read the audit log: the audit log check stopped (exit 1): MemoryError"
        )
        assert column(screen.table, 1) == ["5", "4", "3", "2", "1"]


async def test_question_mark_shows_the_viewers_own_keys_filter_syntax_and_the_logs_path(log: AuditLog) -> None:
    from avma_tui.ui.screens.help import HelpScreen

    assert audit_screen.FILTER_HELP.keys() == audit_screen._FILTER_FIELDS.keys()
    app = Harness(log)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help Static", Static).render().plain
        assert "Audit log help" in str(app.screen.query_one("#help").border_title)
        for word in ("host:WORD", "vm:WORD", "action:WORD", "outcome:WORD", "interrupted", "install_key", "failed"):
            assert word in text
        assert str(log.path) in text
        assert "These keys and the filter syntax" in text and "Clear the filter, or close the audit log" in text
        assert "How AVMA works" not in text  # the dashboard's primer is not the audit viewer's help
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_a_page_loaded_after_the_check_marks_its_interrupted_changes() -> None:
    """Rows are built in the page worker with the interrupted changes known then: later pages carry the mark."""
    from tests.audit.test_audit_pass import extend, interrupted

    log = AuditLog()
    interrupted(log, "hv01", "first")  # record 1: on the second page
    extend(log, PAGE + 20)
    app = Harness(log)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await settle(app, pilot)
        assert screen.table.row_count == PAGE and screen._chain is not None
        await pilot.press("end")
        await settle(app, pilot)
        assert column(screen.table, 1)[-1] == "1"
        assert column(screen.table, 6)[-1] == "interrupted"
