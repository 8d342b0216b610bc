"""A yes/no question whose focused default is Cancel: a stray enter never confirms anything."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Static

from avma_tui.ui.screens.dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    """Dismisses with True only on the confirm button or `y`; escape, `n` and `q` cancel."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="yes"),
        Binding("n,escape,q", "answer(False)", "No", id="no"),
    ]

    def __init__(self, title: str | Content, question: str | Content, *, confirm: str = "OK") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog") as dialog:
            dialog.border_title = Content(self.title_text) if isinstance(self.title_text, str) else self.title_text
            yield Static(Content(self.question) if isinstance(self.question, str) else self.question)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(Content(self.confirm), variant="warning", id="confirm", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")
