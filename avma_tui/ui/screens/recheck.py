"""Interrupted changes: at start, the audit log's intents with no result are shown and can be re-checked.

An intent without a result means the tool died or the link dropped mid-change, so nobody knows
whether the change happened (docs/audit.md). The first successful refresh of a session offers a
re-check of those targets on this host; the re-check reads the host, records what it found
(AuditLog.record_recheck, after which the intent is no longer pending) and says it in plain words.

The recorded outcome is "ok" when the interrupted step is no longer in the target's fresh plan (the
change is in effect, or its problem is gone), "failed" when it still is, "unknown" when the target
is gone or the record names no step.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Static
from textual.worker import Worker

from avma_tui.core.columns import FitStep
from avma_tui.core.operations import Outcome
from avma_tui.hyperv.transport import TransportError
from avma_tui.services.audit import AuditError, AuditLog
from avma_tui.services.recheck import target_state
from avma_tui.services.session import Session
from avma_tui.ui import safe
from avma_tui.ui.screens.dialog import Dialog
from avma_tui.ui.widgets.content_table import ContentTable

#: What each recorded outcome says to the admin.
VERDICTS = {
    Outcome.OK: ("in effect: the problem it fixed is gone", "$text-success"),
    Outcome.FAILED: ("not in effect: the problem is still there — fix it again", "$text-error"),
    Outcome.UNKNOWN: (
        "cannot tell (the target is gone, the record names no step, or a conversion may still run)",
        "$text-warning",
    ),
}


#: How the table gives way in a narrow dialog (`core.columns`): the target and the change are cut before the
#: verdict, which is what the admin came for; the start time is never cut.
_FIT: tuple[FitStep[str], ...] = (
    ("cut", "action", 14),
    ("cut", "target", 16),
    ("cut", "now", 40),
    ("cut", "action", 8),
    ("cut", "target", 8),
    ("cut", "now", 20),
)


class RecheckScreen(Dialog[None]):
    """The interrupted changes on this host, with Re-check (read the host, record what it found) and Later."""

    DEFAULT_CSS = """
    RecheckScreen { align: center middle; }
    RecheckScreen > #recheck-dialog {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        background: $surface; border: round $warning; padding: 0 1;
        border-title-color: $text-primary; border-title-style: bold;
    }
    RecheckScreen #recheck-table { height: auto; max-height: 12; }
    RecheckScreen #recheck-status { height: auto; margin-top: 1; }
    RecheckScreen .dialog-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    RecheckScreen .dialog-buttons Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape,q", "later", "Later", id="recheck-later")]

    def __init__(self, session: Session, audit: AuditLog, intents: list[dict[str, Any]]) -> None:
        super().__init__()
        self.session = session
        self.audit = audit
        self.intents = intents
        self.worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="recheck-dialog") as dialog:
            dialog.border_title = Content("Interrupted changes")
            yield Static(
                f"{len(self.intents)} change(s) started but never recorded a result: the tool stopped or the "
                "connection dropped while they ran, so whether they happened is unknown. Re-check reads the "
                "host and records what it finds."
            )
            yield ContentTable(id="recheck-table", cursor_type="row", fit=_FIT)
            yield Static(id="recheck-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later", compact=True)
                yield Button("Re-check", variant="primary", id="recheck", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#recheck-table", ContentTable)
        for key, label in (("time", "Started (UTC)"), ("target", "Target"), ("action", "Change"), ("now", "Now")):
            table.add_column(label, key=key)
        for intent in self.intents:
            target = intent.get("target") or {}
            table.add_row(
                safe.text(str(intent.get("time", ""))[:19].replace("T", " ")),
                safe.text(target.get("name", ""), limit=40),
                safe.text(intent.get("action", ""), limit=40),
                Content.styled("not re-checked", "$text-muted"),
                key=str(intent["seq"]),
            )
        self.query_one("#recheck", Button).focus()

    @on(Button.Pressed, "#later")
    def action_later(self) -> None:
        if self.worker is None:
            self.dismiss(None)

    @on(Button.Pressed, "#recheck")
    def _recheck(self) -> None:
        if self.worker is None:
            self.query_one("#recheck", Button).disabled = True
            self.worker = self.run_worker(
                self._run(),
                name="recheck",
                group="recheck",
                exit_on_error=False,
                description="re-check interrupted changes",
            )

    async def _run(self) -> None:
        status = self.query_one("#recheck-status", Static)
        status.update("Reading the host…")
        try:
            diagnosis = await self.session.refresh()
            table = self.query_one("#recheck-table", ContentTable)
            for intent in self.intents:
                after, outcome = target_state(diagnosis, intent)
                self.audit.record_recheck(intent, after=after, outcome=outcome)
                verdict, style = VERDICTS[outcome]
                table.update_cell(str(intent["seq"]), "now", Content.styled(verdict, style), update_width=True)
        except (TransportError, AuditError) as err:
            status.update(safe.text(f"Re-check failed: {err}", "$text-error", limit=400))
            self.query_one("#recheck", Button).disabled = False
            self.worker = None
            return
        status.update(Content.styled("Re-checked and recorded in the audit log.", "$text-success"))
        self.query_one("#recheck", Button).display = False
        later = self.query_one("#later", Button)
        later.label = "Close"
        later.focus()
        self.worker = None
