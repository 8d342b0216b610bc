"""The host's AVMA events (Application log, event 12310), newest first, with what each one means.

Event text and VM names come from the host's log and may carry anything a guest managed to put
there, so every cell and the message pane go through `ui.safe`.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Footer, Static

from avma_tui.core.catalog import load_catalog
from avma_tui.core.columns import FitStep
from avma_tui.core.model import AvmaEvent
from avma_tui.ui import safe
from avma_tui.ui.screens.dialog import Dialog
from avma_tui.ui.widgets.content_table import ContentTable

#: A long VM name is cut with "…" before the notification is; the detail below has both whole.
FIT: tuple[FitStep[str], ...] = (("cut", "vm", 16), ("cut", "notification", 12), ("cut", "vm", 8))


def notification_cell(event: AvmaEvent) -> Content:
    failure = load_catalog().is_failure(event.notification)
    return safe.text(event.notification or "?", "$text-error" if failure else "$text-success", limit=40)


def meaning(event: AvmaEvent) -> Content:
    described = load_catalog().notification(event.notification)
    if described is None:
        return Content.styled("Not one of the four AVMA notifications; see the message.", "$text-muted")
    return Content(described)


class EventsScreen(Dialog[None]):
    """A table of events; the highlighted event's meaning and full message below it."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close", id="close")]

    def __init__(self, events: Sequence[AvmaEvent]) -> None:
        super().__init__()
        self.events = sorted(events, key=lambda e: e.time, reverse=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="events-dialog", classes="dialog") as dialog:
            dialog.border_title = f"AVMA events on the host (12310) · {len(self.events)}"
            yield ContentTable(fit=FIT, cursor_type="row", zebra_stripes=True, id="events")
            with VerticalScroll(id="event-detail"):
                yield Static(id="event-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#events", ContentTable)
        table.add_columns(("Time (UTC)", "time"), ("VM", "vm"), ("Notification", "notification"))
        for index, event in enumerate(self.events):
            table.add_row(
                safe.text(event.time.replace("T", " ").rstrip("Z"), limit=19),
                safe.text(event.vm_name, "bold", limit=48),
                notification_cell(event),
                key=str(index),
            )
        table.fit_columns()
        if not self.events:
            self.query_one("#event-text", Static).update(Content.styled("No AVMA events in the log.", "$text-muted"))
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        chosen = self.events[int(event.row_key.value or 0)]
        self.query_one("#event-text", Static).update(
            Content("\n").join(
                [
                    Content.assemble(("Meaning  ", "$text-muted"), meaning(chosen)),
                    safe.assemble(("VM Id    ", "$text-muted"), chosen.vm_id or "?"),
                    safe.assemble(("Message  ", "$text-muted"), safe.text(chosen.message, limit=1024)),
                ]
            )
        )
