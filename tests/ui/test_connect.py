"""The connection screen: fields, saved profiles, and connection problems shown in place."""

from __future__ import annotations

import json
import socket
from datetime import datetime

from textual.widgets import Checkbox, Input, OptionList, Static
from textual.worker import get_current_worker

from avma_tui.config import ConnectionSettings, config_dir, load_profiles, save_profile
from avma_tui.hyperv.host import HyperVHost
from avma_tui.paths import asset
from avma_tui.services.targets import open_simulated
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.connection import ConnectScreen
from avma_tui.ui.screens.dashboard import DashboardScreen

FIXED = datetime(2026, 11, 27, 9, 0, 0)


def _simulated(scenario: str):
    """A connector that reaches a simulated host instead of WinRM, and records the password it got."""
    passwords: list[str] = []

    def connect(settings: ConnectionSettings, password: str) -> HyperVHost:
        passwords.append(password)
        if password:  # Textual would describe the worker with its arguments: the password must not be there
            worker = get_current_worker()
            assert password not in worker.description and password not in repr(worker)
        return open_simulated(asset("scenarios", scenario))

    return connect, passwords


def _status(app: AvmaApp) -> str:
    return app.screen.query_one("#connect-status", Static).render().plain


async def test_without_a_target_the_connection_screen_opens(settle) -> None:
    app = AvmaApp(refresh_interval=0, clock=lambda: FIXED)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ConnectScreen)
        assert app.focused is app.screen.query_one("#host", Input)
        password = app.screen.query_one("#password", Input)
        assert password.password
        warning = app.screen.query_one("#insecure-warning")
        assert not warning.display
        await pilot.click("#insecure")
        assert app.screen.query_one("#insecure", Checkbox).value
        assert warning.display


async def test_host_on_the_command_line_prefills_and_asks_for_the_password(settle) -> None:
    settings = ConnectionSettings("hv01.contoso.local", port=5985, https=False, auth="ntlm", username="CONTOSO\\adm")
    app = AvmaApp(settings=settings, refresh_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#host", Input).value == "hv01.contoso.local"
        assert screen.query_one("#port", Input).value == "5985"
        assert screen.query_one("#user", Input).value == "CONTOSO\\adm"
        assert app.focused is screen.query_one("#password", Input)


async def test_bad_input_is_one_line_in_place(settle) -> None:
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert _status(app) == "Enter the host's name or address."
        app.screen.query_one("#host", Input).value = "hv01"
        app.screen.query_one("#port", Input).value = "99999"
        await pilot.press("enter")
        assert _status(app) == "The port must be a number from 1 to 65535."
        assert isinstance(app.screen, ConnectScreen)


async def test_connecting_opens_the_dashboard_and_saves_the_profile_without_password(settle) -> None:
    connect, passwords = _simulated("demo.toml")
    app = AvmaApp(refresh_interval=0, clock=lambda: FIXED, connector=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*"hv01", "tab", "tab", "tab", "tab", *"admin", "tab", *"S3cret!", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert passwords == ["S3cret!"]
        assert app.screen.query_one("#vms").row_count == len(app.session.diagnosis.vms)
    assert [(p.host, p.username) for p in load_profiles()] == [("hv01", "admin")]
    assert "S3cret!" not in (config_dir() / "profiles.json").read_text(encoding="utf-8")


async def test_a_host_without_hyperv_is_reported_in_place(settle) -> None:
    connect, _ = _simulated("no-hyperv.toml")
    app = AvmaApp(refresh_interval=0, connector=connect)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"plain-server", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ConnectScreen)
        assert "is not a Hyper-V host" in _status(app)
        assert load_profiles() == []


async def test_an_unreachable_host_is_reported_in_place_over_real_winrm(settle) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#host", Input).value = "127.0.0.1"
        screen.query_one("#port", Input).value = str(port)
        await pilot.click("#connect")
        await settle(pilot)
        assert isinstance(app.screen, ConnectScreen)
        status = _status(app)
        assert status.startswith("Could not connect: ")
        assert "Traceback" not in status


async def test_saved_profiles_prefill_the_form(settle) -> None:
    save_profile(ConnectionSettings("hv02", https=False, auth="ntlm", username="ops"))
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        profiles = app.screen.query_one("#profiles", OptionList)
        assert profiles.option_count == 1
        profiles.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen.query_one("#host", Input).value == "hv02"
        assert app.screen.query_one("#user", Input).value == "ops"
        assert app.focused is app.screen.query_one("#password", Input)
    assert "password" not in json.loads((config_dir() / "profiles.json").read_text(encoding="utf-8"))[0]
