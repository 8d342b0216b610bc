"""A wrong guest password (issue #13 item 8): said where the eye is, `c` shows why, the wizard asks again."""

from __future__ import annotations

from textual.widgets import Button

from avma_tui.hyperv.transport import Credential
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.widgets.fix.single import LOGIN_AGAIN
from tests.ui.conftest import settle as settle_all
from tests.ui.conftest import transport_of
from tests.ui.fix_support import GUEST, click, fast_app, open_on, settle, shown, visible_buttons, vm_id

WRONG = Credential("Administrator", "not-the-password")


async def test_rows_say_login_rejected_and_c_shows_the_last_failure() -> None:
    app = fast_app(credential=WRONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_all(pilot)
        table = app.screen.table
        activation = {table.get_cell(vm_id(app, name), "activation").plain for name in ("SQL01", "DC01", "WEB01")}
        assert activation == {"login rejected"}
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        failure = shown(app, "#credentials-error")
        by = app.session.licenses.rejected_by
        assert failure.startswith(f"The guest login Administrator was rejected by {by}: ")
        assert "not-the-password" not in failure
        await pilot.press(*"Passw0rd!", "enter")
        await settle_all(pilot)
        assert table.get_cell(vm_id(app, "DC01"), "activation").plain != "login rejected"
        await pilot.press("c")
        await pilot.pause()
        assert shown(app, "#credentials-error") == ""  # the login works now: nothing to show


async def test_a_step_the_guest_refuses_the_login_for_offers_the_login_again() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "WEB01", "f")
        assert "Trigger activation in the guest" in shown(app, "#step-title")
        engine = transport_of(app).engine
        engine.guest_credentials = Credential("Administrator", "changed-in-the-guest")  # someone changed it
        await click(pilot, "#run")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        result = shown(app, "#fix-result")
        assert "The guest rejected the credentials" in result
        assert f"Next: {LOGIN_AGAIN}" in result and "c in the TUI" not in result
        assert "login" in visible_buttons(app)
        assert str(app.screen.query_one("#login", Button).label) == "Guest login…"
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        assert shown(app, "#credentials-error").startswith("The guest login Administrator was rejected by WEB01: ")
        await pilot.press(*"changed-in-the-guest", "enter")
        await settle(pilot)
        # the new login is used and the step that failed is offered again
        assert "Trigger activation in the guest" in shown(app, "#step-title")
        await click(pilot, "#run")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert shown(app, "#fix-result").startswith("Done: Trigger activation")
