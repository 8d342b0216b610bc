"""The connection screen offers "Run checks" after a failed connection and shows doctor's lines in place."""

from __future__ import annotations

import socket

from textual.widgets import Button, Static

from avma_tui.config import ConnectionSettings
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.connection import ConnectScreen
from tests.doctor.support import PASSWORD, USER, serving


async def _connect_and_check(app: AvmaApp) -> str:
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert not app.screen.query_one("#run-checks").display  # nothing has failed yet
        app.screen.query_one("#password").value = "wrong-" + PASSWORD
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConnectScreen)
        button = app.screen.query_one("#run-checks", Button)
        assert button.display
        await pilot.click("#run-checks")
        await app.workers.wait_for_complete()
        await pilot.pause()
        return app.screen.query_one("#connect-checks", Static).render().plain


async def test_run_checks_after_a_refused_port_names_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = ConnectionSettings("127.0.0.1", port=port, https=False, auth="ntlm", username=USER, timeout=5)
        shown = await _connect_and_check(AvmaApp(settings=settings, refresh_interval=0))
    assert "✔ name" in shown
    assert f"✘ TCP {port}" in shown and "Enable-PSRemoting" in shown


async def test_run_checks_after_a_wrong_password_shows_authentication_failing() -> None:
    with serving("standard-host.toml") as endpoint:
        settings = ConnectionSettings(
            "127.0.0.1", port=endpoint.port, https=False, auth="ntlm", username=USER, timeout=10
        )
        shown = await _connect_and_check(AvmaApp(settings=settings, refresh_interval=0))
    assert f"✔ TCP {endpoint.port}" in shown
    assert "✘ authentication" in shown
    assert PASSWORD not in shown
