"""Guest credentials for PowerShell Direct: asked once, kept in memory for this session only."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from avma_tui.hyperv.transport import Credential
from avma_tui.ui.screens.dialog import Dialog


class CredentialsScreen(Dialog[Credential | None]):
    """User and masked password for the guests; dismisses with a Credential, or None on cancel.

    `failure`: why the last login was rejected (Session.guest_login_failure), shown until the admin types.
    """

    # q closes like on every other dialog; typed into a field (where the focus usually is) it is just a letter.
    BINDINGS = [Binding("escape,q", "cancel", "Cancel", id="cancel")]

    def __init__(self, username: str = "", *, failure: str = "") -> None:
        super().__init__()
        self.username = username or "Administrator"  # the usual guest admin; the password has the focus
        self.failure = failure

    def compose(self) -> ComposeResult:
        with Vertical(id="credentials-dialog", classes="dialog") as dialog:
            dialog.border_title = "Guest credentials"
            yield Static(
                "An administrator account inside the guests, used over PowerShell Direct to read and "
                "change their licenses. Kept in memory until you quit; never saved or logged.",
                classes="dialog-text",
            )
            with Grid(classes="dialog-fields"):
                yield Label("User")
                yield Input(self.username, placeholder="Administrator", id="guest-user", compact=True)
                yield Label("Password")
                yield Input(password=True, id="guest-password", compact=True)
            # The failure is the guest's own text: plain Content, never markup.
            yield Static(Content.styled(self.failure, "$text-error") if self.failure else "", id="credentials-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Use", variant="primary", id="use", compact=True)

    def on_mount(self) -> None:
        self.query_one("#guest-password", Input).focus()

    @on(Input.Submitted, "#guest-user")
    def _next_field(self) -> None:
        """Enter in the user field goes on to the password, as in a login form; it never submits half a login."""
        self.query_one("#guest-password", Input).focus()

    @on(Button.Pressed, "#use")
    @on(Input.Submitted, "#guest-password")
    def _use(self) -> None:
        user = self.query_one("#guest-user", Input).value.strip()
        password = self.query_one("#guest-password", Input).value
        missing = "#guest-user" if not user else "#guest-password" if not password else ""
        if missing:
            what = "a user name" if missing == "#guest-user" else "the password"
            self.query_one("#credentials-error", Static).update(Content.styled(f"Enter {what}.", "$text-error"))
            self.query_one(missing, Input).focus()
            return
        self.dismiss(Credential(user, password))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
