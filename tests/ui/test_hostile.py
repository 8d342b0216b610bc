"""Hostile names and KVP values (assets/scenarios/hostile.toml) are shown as raw text everywhere.

A VM named `[@click=app.quit]y[/]` must not become a click action, `[link=…]` must not crash the
markup parser, `[$accent]` must not turn into a colour, escape sequences must not reach the terminal.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from avma_tui.cli import main as cli
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.ui import safe
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.events import EventsScreen
from avma_tui.ui.widgets.vm_details import VmDetails
from avma_tui.ui.widgets.vm_table import VmTable

HOSTILE_NAMES = {
    "[red]x[/]'; Remove-VM *",
    "[@click=app.quit]y[/]",
    "[link=https://x]z",
    "[$accent]",
    "$(Stop-Computer -Force)",
}


def _no_actions(content: Content) -> bool:
    """No span carries a click action or a link: the text stayed text."""
    return all("@click" not in str(span.style) and "link" not in str(span.style) for span in content.spans)


async def _walk_all_rows(app: Any, pilot: Any) -> list[tuple[str, str, str]]:
    """(name cell, details title, details body) for every row, moving the cursor as an admin would."""
    table = app.screen.query_one(VmTable)
    details = app.screen.query_one(VmDetails)
    seen = []
    for row in range(table.row_count):
        table.move_cursor(row=row)
        await pilot.pause()
        name_cell = table.get_cell_at((row, 1))
        assert _no_actions(name_cell)
        seen.append((name_cell.plain, details._border_title.plain, _details_text(details)))
    return seen


async def test_table_and_details_show_hostile_names_verbatim(make_app, settle) -> None:
    app = make_app("hostile.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        vms = app.session.diagnosis.vms
        assert {d.vm.name for d in vms} >= HOSTILE_NAMES
        seen = await _walk_all_rows(app, pilot)
        assert app.is_running
        names = {cell for cell, _, _ in seen}
        titles = {title for _, title, _ in seen}
        for vm in (d.vm for d in vms):
            assert safe.clean(vm.name, 48) in names
            assert safe.clean(vm.name) in titles
        assert all("\x1b" not in body and "\x07" not in body for _, _, body in seen)
        long_name = next(d.vm.name for d in vms if len(d.vm.name) > 300)
        assert safe.clean(long_name, 48) in names and len(safe.clean(long_name, 48)) == 48


async def test_hostile_kvp_values_and_license_fields_stay_text(make_app, settle) -> None:
    app = make_app("hostile.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.session.guest_credential = Credential("Administrator", "Passw0rd!")
        await app.refresh_now()
        await settle(pilot)
        seen = await _walk_all_rows(app, pilot)
        bodies = "\n".join(body for _, _, body in seen)
        assert "[@click=app.quit]Windows Server 2022 Standard[/]" in bodies
        assert "[link=https://x]z" in bodies
        assert "[b]EVIL-HOST[/b][31m" in bodies  # the ESC is gone, the rest is text


async def test_events_screen_and_stale_banner_with_hostile_text(make_app, settle, transport_of) -> None:
    app = make_app("hostile.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        table = screen.query_one("#events")
        vm_cells = [table.get_cell_at((row, 1)).plain for row in range(table.row_count)]
        assert "[@click=app.quit]y[/]" in vm_cells
        for row in range(table.row_count):
            table.move_cursor(row=row)
            await pilot.pause()
        await pilot.press("escape")
        transport_of(app).fail_next(RemoteError("[link=https://x]boom[/] \x1b[2J [@click=app.quit]q[/]"))
        await pilot.press("r")
        await settle(pilot)
        banner = app.screen.query_one("#stale", Static).render()
        assert "[link=https://x]boom[/] [2J [@click=app.quit]q[/]" in banner.plain
        assert _no_actions(banner)
        assert app.is_running


async def test_palette_shows_hostile_names_as_text(make_app, settle) -> None:
    from avma_tui.ui.commands import AvmaCommands

    app = make_app("hostile.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = AvmaCommands(app.screen)
        hits = [hit async for hit in provider.search("VM [")]
        displays = {hit.match_display.plain for hit in hits if isinstance(hit.match_display, Content)}
        assert "Go to VM [@click=app.quit]y[/]" in displays
        assert all(_no_actions(hit.match_display) for hit in hits if isinstance(hit.match_display, Content))
        await pilot.press("colon", *"VM [link")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        selected = app.screen.selected_vm_id()
        assert app.session.diagnosis.for_vm(selected).vm.name == "[link=https://x]z"


async def test_dialog_titles_with_hostile_names(make_app, settle) -> None:
    app = make_app("hostile.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        name = "[@click=app.quit]y[/] [$accent]"
        await app.push_screen(ConfirmScreen(safe.text(name), safe.assemble("Fix ", (name, "b"), " now?")))
        await pilot.pause()
        dialog = app.screen.query_one("#confirm-dialog")
        assert dialog._border_title.plain == name
        assert app.screen.query_one("#confirm-dialog Static", Static).render().plain == f"Fix {name} now?"
        await pilot.press("escape")
        assert app.is_running


def test_a_bad_scenario_file_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "terminal_attached", lambda: True)  # past the TUI's terminal check, to the file
    bad = tmp_path / "bad.toml"
    bad.write_text("format = 1\n[host]\nname = 'x'\nbulid = 1\n", encoding="utf-8")
    assert cli.main(["--scenario", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("avma-tui: error: ") and err.count("\n") == 1
    assert cli.main(["--scenario", str(tmp_path / "missing.toml")]) == 2


def _details_text(details: VmDetails) -> str:
    """Everything the detail pane shows, block by block, as plain text."""
    return "\n".join(static.render().plain for static in details.query(Static))
