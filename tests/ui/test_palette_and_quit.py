"""Command palette (`:` and ctrl+p) with a jump to any VM, and quitting that asks while a change runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.command import CommandPalette

from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.screens.help import HelpScreen
from avma_tui.ui.workers import OPERATION_GROUP


async def test_colon_opens_the_palette_and_jumps_to_a_vm(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"VM PRINT01")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        selected = app.screen.selected_vm_id()
        assert app.session.diagnosis.for_vm(selected).vm.name == "PRINT01"


async def test_jump_clears_a_filter_that_hides_the_vm(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"APP01", "enter")
        target = next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == "PRINT01")
        app.screen.go_to_vm(target)
        await pilot.pause()
        assert app.screen.selected_vm_id() == target


async def test_ctrl_p_runs_an_action_by_name(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Help and AVMA primer")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_palette_offers_every_dashboard_action(make_app, settle) -> None:
    from avma_tui.ui.commands import AvmaCommands

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = AvmaCommands(app.screen)
        names = [hit.text for hit in [h async for h in provider.discover()]]
        for action in ("Refresh now", "Filter VMs", "Fix selected VM", "Fix marked VMs", "Guest credentials"):
            assert action in names
        for action in ("Audit log", "Host AVMA events", "Install AVMA key on selected VM", "Quit"):
            assert action in names


async def test_q_asks_first_while_an_operation_runs(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        release = asyncio.Event()
        app.run_worker(release.wait(), group=OPERATION_GROUP)
        await pilot.pause()
        assert app.operation_running
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("n")
        assert app.is_running and isinstance(app.screen, DashboardScreen)
        await pilot.press("q", "y")
        await pilot.pause()
        assert not app.is_running
        release.set()


async def test_every_key_of_the_dashboard_has_a_palette_entry(make_app, settle) -> None:
    """The palette is the way to find an action without knowing its key: none may be missing."""
    from functools import partial

    from avma_tui.ui.app import AvmaApp
    from avma_tui.ui.commands import AvmaCommands

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        hits = [hit async for hit in AvmaCommands(app.screen).discover()]
        offered = {hit.command.args[0] for hit in hits if isinstance(hit.command, partial)}
        keys = {binding.action for binding in [*DashboardScreen.BINDINGS, *AvmaApp.BINDINGS]}
        not_commands = {"back", "command_palette"}  # escape steps back; `:` is the palette itself
        assert keys - not_commands - offered == set()


async def test_fix_marked_from_the_palette_with_nothing_marked_says_how(make_app, settle) -> None:
    """F and the palette's "Fix marked VMs" with no marks must explain, not silently do nothing."""
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await app.screen.run_action("fix_marked")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert [n.message for n in app._notifications] == ["No VM is marked: mark VMs with space, then F fixes them."]


async def test_screenshot_goes_under_the_data_directory_and_says_where(make_app, settle) -> None:
    """Issue 13 item 7: the palette's Screenshot failed when ~/Downloads did not exist."""
    from avma_tui.config import data_dir

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        saved = app.deliver_screenshot()
        await pilot.pause()
        assert saved is not None and Path(saved).parent == data_dir() / "screenshots"
        svg = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8")
        assert svg.lstrip().startswith("<svg")
        assert any(f"Screenshot saved to {saved}" in str(n.message) for n in app._notifications)
