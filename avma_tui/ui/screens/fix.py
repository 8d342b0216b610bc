"""The fix wizard the dashboard opens: `f` (one VM, or the host), `k` (a VM's AVMA key), `F` (the marked VMs).

The screen is the frame: it picks the body for the mode, owns the one FixService and interaction
id all of the wizard's audit records share, and guards leaving. While a change runs, escape asks
first — closing then cancels the change, whose outcome the audit log records as unknown — because
a wizard that vanishes silently mid-change leaves the admin not knowing what happened.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content

from avma_tui.services.audit import AuditLog, new_interaction
from avma_tui.services.plan import FixTiming, make_service
from avma_tui.services.session import Session
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.dialog import Dialog
from avma_tui.ui.widgets.fix.batch import BatchFix
from avma_tui.ui.widgets.fix.body import FixBody
from avma_tui.ui.widgets.fix.single import SingleFix

TITLES = {"fix": "Guided fix", "key": "Install the AVMA key", "batch": "Fix the marked VMs"}
MODES = tuple(TITLES)


class FixWizardScreen(Dialog[list[str]]):
    """`vm_ids` [] means the host's own findings (mode "fix" only); "batch" takes the marked VMs.

    Dismisses with the ids of the VMs a batch fixed (the dashboard unmarks them; [] otherwise).
    """

    DEFAULT_CSS = """
    FixWizardScreen { align: center middle; }
    FixWizardScreen > #fix-dialog {
        width: 100%; height: 100%; background: $surface; border: round $primary;
        border-title-color: $text-primary; border-title-style: bold; padding: 0 1;
    }
    """
    BINDINGS = [
        # q closes like on every other dialog; in the host key field it is just a letter.
        Binding("escape,q", "leave", "Close", id="fix-close", tooltip="Close (asks first while a change runs)")
    ]

    def __init__(
        self,
        session: Session,
        audit: AuditLog,
        vm_ids: list[str],
        *,
        mode: str = "fix",
        timing: FixTiming = FixTiming(),  # noqa: B008 - frozen
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        super().__init__()
        self.mode = mode
        self.vm_ids = vm_ids
        service = make_service(session, audit, timing)
        interaction = new_interaction()
        self.body: FixBody
        if mode == "batch":
            self.body = BatchFix(service, interaction, vm_ids)
        else:
            self.body = SingleFix(service, interaction, vm_ids[0] if vm_ids else None, key_mode=mode == "key")

    def compose(self) -> ComposeResult:
        with Vertical(id="fix-dialog") as dialog:
            dialog.border_title = Content(
                TITLES[self.mode] if self.vm_ids or self.mode != "fix" else "Guided fix: the host"
            )
            yield self.body

    def action_leave(self) -> None:
        if not self.body.changing:
            self.dismiss(self.body.fixed_vm_ids())
            return
        question = "A change is running; its outcome would be unknown. Stop it and close the wizard?"
        confirm = "Stop and close"
        if self.mode != "batch" and self.body.service.detached_waits:  # one step at a time: it is this wait
            question = (
                "The edition conversion runs in the guest; the wizard is only waiting for it. Closing stops the "
                "wait, not the conversion: the step stays not verified until a re-check finds it done. Close?"
            )
            confirm = "Stop waiting and close"
        self.app.push_screen(ConfirmScreen("Close the wizard?", question, confirm=confirm), self._leave)

    def _leave(self, confirmed: bool | None) -> None:
        if confirmed:
            self.body.cancel()
            self.dismiss([])
