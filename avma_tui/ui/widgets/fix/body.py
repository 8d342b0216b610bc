"""What the wizard's frame needs from its body, one VM (SingleFix) or a batch (BatchFix), written once.

Both bodies run their work in one worker at a time; the frame asks whether a change is running
before it lets the admin leave, and cancels it when they insist.
"""

from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from avma_tui.services.fixing import FixService
from avma_tui.ui.workers import OPERATION_GROUP


class FixBody(Vertical):
    """A wizard body: its FixService, the interaction id its audit records share, and its worker."""

    DEFAULT_CSS = """
    FixBody { height: 1fr; }
    FixBody .dialog-buttons { height: auto; align-horizontal: right; }
    FixBody .dialog-buttons Button { margin-left: 1; min-width: 10; }  /* up to six buttons fit in 80 columns */
    """

    def __init__(self, service: FixService, interaction: str, *, id: str) -> None:
        super().__init__(id=id)
        self.service = service
        self.session = service.session
        self.interaction = interaction
        self.worker: Worker[None] | None = None

    @property
    def busy(self) -> bool:
        """A worker (a change, or a read of the host) is running: the controls wait for it."""
        return self.worker is not None and self.worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    @property
    def changing(self) -> bool:
        """A change is running: closing now would leave its outcome unknown."""
        return self.busy and self.worker is not None and self.worker.group == OPERATION_GROUP

    def fixed_vm_ids(self) -> list[str]:
        """The VMs this body fixed, for the dashboard to unmark (only a batch marks VMs)."""
        return []

    def cancel(self) -> None:
        """Cancel the running work: FixService records a change's outcome as unknown (or cancelled while verifying)."""
        if self.worker is not None:
            self.worker.cancel()

    def _show_box(self, selector: str, text: Content) -> None:
        """Show `text` in a result box that stays hidden until there is something to say."""
        box = self.query_one(selector, Static)
        box.update(text)
        box.display = True
