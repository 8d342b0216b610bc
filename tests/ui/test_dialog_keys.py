"""Issue 13 item 10: `q` and escape behave alike on every dialog, whatever has the focus.

The rule (README, "Keys on the dashboard"): escape closes any screen or dialog that is not the dashboard,
also from inside a text field; `q` closes it too, except in a text field, where it is a letter like any other.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Button, Input

from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.screens.fix import FixWizardScreen
from tests.ui.fix_support import GUEST, fast_app, open_on, settle


@pytest.mark.parametrize("key", ["q", "escape"])
@pytest.mark.parametrize(("vm", "open_key"), [("PRINT01", "f"), ("SQL02", "i")])
async def test_q_and_escape_close_the_fix_wizard(key: str, vm: str, open_key: str) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_on(pilot, vm, open_key)
        assert isinstance(app.screen, FixWizardScreen)
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.is_running


async def test_in_the_host_key_field_q_is_a_letter_and_escape_closes() -> None:
    app = fast_app("unactivated-host.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await settle(pilot)
        field = app.screen.query_one("#fix-host-key", Input)
        field.focus()
        await pilot.press("q", "Q")
        await pilot.pause()
        assert field.value == "qQ" and isinstance(app.screen, FixWizardScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.is_running


async def test_credentials_q_types_in_the_password_escape_and_q_on_a_button_close(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        focused = app.focused
        assert isinstance(focused, Input)
        await pilot.press("q")
        assert focused.value.endswith("q") and isinstance(app.screen, CredentialsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("c")
        await pilot.pause()
        app.screen.query(Button).first().focus()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and app.is_running


async def test_q_answers_a_confirmation_no() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await pilot.click("#run")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, FixWizardScreen)
