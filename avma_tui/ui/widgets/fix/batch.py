"""Fixing the marked VMs (`F`): one plan grouped by step, one confirmation, a few VMs at a time.

The confirmation covers exactly the runnable steps the plan showed, VM by VM; after each step the
VM's plan is recomputed and only confirmed steps go on running (a step the fresh plan adds is left
for the admin, never run unseen). Manual, refused and host steps are listed, not run. Stop is
cooperative first — no new step starts, running ones finish — and a second press cancels the
running steps, whose outcome the audit log and the table then call unknown. The summary is made
from what actually happened to each VM (fix_plan.VmAccount), so it stays true after a stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, DataTable, Static

from avma_tui.core.columns import FitStep
from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import NEEDS_GUEST_CREDENTIALS
from avma_tui.hyperv.transport import Credential, TransportError
from avma_tui.services.audit import AuditError
from avma_tui.services.fixing import FixService
from avma_tui.services.plan import (
    BATCH_PARALLELISM,
    PlannedStep,
    StepGroup,
    VmAccount,
    VmWarning,
    batch_question,
    batch_warnings,
    confirmed_steps,
    consent,
    group_plan,
    plan_steps,
    runnable,
    steps_left,
    summary_counts,
)
from avma_tui.ui import safe
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.widgets.content_table import ContentTable
from avma_tui.ui.widgets.fix.body import FixBody
from avma_tui.ui.widgets.fix.step import OUTCOME_STYLE, ScrollArea
from avma_tui.ui.workers import OPERATION_GROUP

#: The progress table: (key, label); the summary below has the full words.
COLUMNS = (("vm", "VM"), ("step", "Step"), ("outcome", "Outcome"), ("detail", "Detail"))
CATEGORY_STYLE = {
    "fixed": "$text-success",
    "failed": "$text-error",
    "unknown": "$text-warning",
    "not verified": "$text-warning",
    "stopped": "$text-warning",
    "more to do": "$text-accent",
}
GROUP_STYLE = {"run": "$text-success", "manual": "$text-accent", "refused": "$text-error", "host": "$text-warning"}
#: How many VM names a plan line lists before it says "and N more".
NAMES_SHOWN = 6


def group_line(group: StepGroup) -> Content:
    """ "Enable KVP — 3 VMs: A, B, C" with the VM names as plain text."""
    count = len(group.vm_names)
    names = ", ".join(safe.clean(name, 40) for name in group.vm_names[:NAMES_SHOWN])
    if count > NAMES_SHOWN:
        names += f" and {count - NAMES_SHOWN} more"
    line = safe.assemble(
        (f"{group.kind:<8}", GROUP_STYLE.get(group.kind, "")),
        (group.title, "bold"),
        f" — {count} VM{'s' if count != 1 else ''}: ",
        (names, ""),
        limit=600,
    )
    if group.note:
        line = Content.assemble(line, (f"  ({group.note})", "$text-muted"))
    return line


class BatchTable(ContentTable):
    """One row per VM. On a narrow terminal the detail gives way first (the summary below has it in full),
    then the step and the VM name are cut with "…"; the outcome always stays on screen."""

    FIT: ClassVar[tuple[FitStep[str], ...]] = (
        ("cut", "detail", 30),
        ("cut", "step", 32),
        ("cut", "vm", 16),
        ("cut", "detail", 12),
        ("drop", "detail", 0),
        ("cut", "step", 20),
        ("cut", "vm", 10),
        ("cut", "step", 12),
    )


def warning_line(warning: VmWarning) -> Content:
    """ "SQL02 — Install the … key: replaces a MAK key (…R3KMQ): …" with the VM's name as plain text."""
    label, style = ("refused ", "$text-error") if warning.refused else ("warning ", "$text-warning")
    return safe.assemble(
        (label, style), (safe.clean(warning.vm_name, 40), "bold"), f" — {warning.step_title}: ", warning.text, limit=600
    )


class BatchFix(FixBody):
    """The wizard body for several VMs at once."""

    DEFAULT_CSS = """
    BatchFix #batch-heading { text-style: bold; padding: 0 1; }
    /* Shares of the dialog, not line counts: at 80x24 fixed maxima pushed the buttons off the screen. */
    BatchFix #batch-plan-box { height: auto; max-height: 30%; padding: 0 1; }
    BatchFix #batch-table { height: 1fr; }
    BatchFix #batch-summary {
        height: auto; max-height: 30%; overflow-y: auto; padding: 0 1; border-top: solid $primary-muted;
    }
    """

    def __init__(self, service: FixService, interaction: str, vm_ids: list[str]) -> None:
        super().__init__(service, interaction, id="batch-fix")
        self.vm_ids = list(dict.fromkeys(vm_ids))
        self.accounts: list[VmAccount] = []
        self.stopping = False
        self.finished = False
        self.summarised = False  # _finish has given every VM its final word

    def compose(self) -> ComposeResult:
        yield Static(id="batch-heading")
        with ScrollArea(id="batch-plan-box"):
            yield Static(id="batch-plan")
        yield BatchTable(id="batch-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="batch-summary")
        with Horizontal(classes="dialog-buttons"):
            yield Button("Close", id="batch-close", compact=True)
            yield Button("Stop", variant="error", id="batch-stop", compact=True)
            yield Button("Run all…", variant="warning", id="batch-run", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#batch-table", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#batch-summary", Static).display = False
        self._show_plan()

    # --- the API the screen uses ---------------------------------------------------------------------

    def stop(self) -> None:
        """First press: no new step starts, running ones finish. A second press cancels them."""
        if not self.busy:
            return
        if self.stopping:
            self.cancel()
            return
        self.stopping = True
        self.query_one("#batch-stop", Button).label = "Stop now"
        self._show_summary(Content.styled("Stopping: no new step starts; running steps finish.", "$text-warning"))

    # --- the plan ------------------------------------------------------------------------------------

    def _show_plan(self) -> None:
        diagnosis = self.session.diagnosis
        heading = self.query_one("#batch-heading", Static)
        if diagnosis is None:
            heading.update("No host data yet: close, refresh and try again.")
            self._show_buttons()
            return
        present = [vm_id for vm_id in self.vm_ids if diagnosis.for_vm(vm_id) is not None]
        groups = group_plan(diagnosis, present)
        runs = sum(1 for group in groups if group.kind == "run")
        heading.update(f"Fix {len(present)} marked VMs — one plan, grouped by step ({runs} to run)")
        plan = [group_line(group) for group in groups] or [Content("Nothing to do for these VMs.")]
        warnings = batch_warnings(diagnosis, present)
        if warnings:
            plan += [Content.styled("Per VM, as its own wizard would warn:", "bold"), *map(warning_line, warnings)]
        gone = len(self.vm_ids) - len(present)
        if gone:
            plan.append(Content.styled(f"{gone} marked VM(s) are no longer on the host.", "$text-warning"))
        self.query_one("#batch-plan", Static).update(Content("\n").join(plan))
        table = self.query_one("#batch-table", DataTable)
        table.clear()
        self.accounts = []
        for vm_id in present:
            vmd = diagnosis.for_vm(vm_id)
            assert vmd is not None
            account = VmAccount(vm_id, vmd.vm.name, confirmed_steps(diagnosis, vm_id))
            self.accounts.append(account)
            state = "queued" if account.confirmed else "nothing to run"
            table.add_row(safe.text(vmd.vm.name, limit=60), Content(""), Content(state), Content(""), key=vm_id)
        self._show_buttons()

    def _show_buttons(self) -> None:
        busy = self.busy
        can_run = not busy and not self.finished and any(account.confirmed for account in self.accounts)
        self.query_one("#batch-run", Button).display = can_run
        self.query_one("#batch-stop", Button).display = busy
        self.query_one("#batch-close", Button).display = not busy
        self.query_one("#batch-stop" if busy else ("#batch-run" if can_run else "#batch-close"), Button).focus()

    def _show_summary(self, text: Content) -> None:
        self._show_box("#batch-summary", text)

    # --- running -------------------------------------------------------------------------------------

    def fixed_vm_ids(self) -> list[str]:
        """Once the batch is over: the VMs it fixed (their marks clear; the others stay marked)."""
        return [account.vm_id for account in self.accounts if self.summarised and account.category == "fixed"]

    @on(Button.Pressed, "#batch-close")
    def _close(self) -> None:
        self.screen.dismiss(self.fixed_vm_ids())

    @on(Button.Pressed, "#batch-stop")
    def _stop(self) -> None:
        self.stop()

    @on(Button.Pressed, "#batch-run")
    def _run_pressed(self) -> None:
        diagnosis = self.session.diagnosis
        if diagnosis is None:
            return
        ids = [account.vm_id for account in self.accounts]
        paragraphs = [Content.styled(batch_question(diagnosis, ids), "bold")]
        warnings = batch_warnings(diagnosis, ids)
        grave = [warning_line(warning) for warning in warnings if warning.grave]
        if len(grave) > NAMES_SHOWN:
            grave[NAMES_SHOWN:] = [Content(f"and {len(grave) - NAMES_SHOWN} more: see the plan")]
        paragraphs += [Content("\n").join(grave)] if grave else []
        refused = list(dict.fromkeys(warning.vm_name for warning in warnings if warning.refused))
        if refused:
            names = ", ".join(safe.clean(name, 40) for name in refused[:NAMES_SHOWN])
            more = f" and {len(refused) - NAMES_SHOWN} more" if len(refused) > NAMES_SHOWN else ""
            why = " (the plan says why)"
            paragraphs.append(safe.assemble(("Refused, not run: ", "$text-error"), names + more, why))
        paragraphs.append(
            Content(
                f"Up to {BATCH_PARALLELISM} VMs at a time. Each change is previewed in the plan, audited, and "
                "verified. Steps a VM's fresh plan adds afterwards are not run; manual, refused and host steps "
                "are left to you."
            )
        )
        self.app.push_screen(
            ConfirmScreen("Run this plan?", Content("\n\n").join(paragraphs), confirm="Run all"), self._confirmed
        )

    def _confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        no_login = self.session.guest_credential is None or self.session.guest_login_rejected
        needs_login = no_login and any(
            NEEDS_GUEST_CREDENTIALS in planned.step.needs
            for account in self.accounts
            for planned in self._plan(account)
            if consent(planned.step) in account.confirmed
        )
        if needs_login:
            self.app.push_screen(CredentialsScreen(failure=self.session.guest_login_failure), self._login_given)
        else:
            self._start()

    def _login_given(self, credential: Credential | None) -> None:
        """With no credentials the steps that need them are reported "not run", the rest still runs."""
        if credential is not None:
            self.session.guest_credential = credential
        self._start()

    def _plan(self, account: VmAccount) -> list[PlannedStep]:
        diagnosis = self.session.diagnosis
        return plan_steps(diagnosis, account.vm_id) if diagnosis and diagnosis.for_vm(account.vm_id) else []

    def _start(self) -> None:
        self.worker = self.run_worker(
            self._run_all(), name="fix-batch", group=OPERATION_GROUP, exit_on_error=False, description="run the batch"
        )
        self._show_buttons()

    async def _run_all(self) -> None:
        gate = asyncio.Semaphore(BATCH_PARALLELISM)
        try:
            await asyncio.gather(*(self._run_vm(account, gate) for account in self.accounts if account.confirmed))
        finally:
            self.finished = True
            self._finish()

    async def _run_vm(self, account: VmAccount, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await self._steps_of(account)
            except asyncio.CancelledError:
                account.interrupted, account.stopped = account.running, True
                raise
            except (TransportError, AuditError, KeyError) as err:
                account.problem = f"reading the host failed: {err}"
            except Exception as err:  # escaping, it would end the batch while other VMs' steps still run
                account.problem = f"unexpected {type(err).__name__}: {err}"

    async def _steps_of(self, account: VmAccount) -> None:
        """This VM's confirmed steps, one after the other, re-planning after each; stops at the first failure."""
        while True:
            planned = next(
                (
                    p
                    for p in self._plan(account)
                    if p.step.id in account.confirmed_ids and p.step.id not in account.tried and runnable(p)
                ),
                None,
            )
            if planned is None:
                break
            if consent(planned.step) not in account.confirmed:  # e.g. a license read since shows a MAK key
                account.stopped = True
                account.changed = (
                    f"{planned.step.title}: not run, it changed since you confirmed"
                    f"{' (now it ' + planned.step.warning + ')' if planned.step.warning else ''}: open its wizard (f)"
                )
                self._set(account.vm_id, step=planned.step.title, outcome=("not run", "$text-warning"))
                return
            if self.stopping:
                account.stopped = True
                self._set(
                    account.vm_id, outcome=("stopped", "$text-warning"), detail="not started: you stopped the batch"
                )
                return
            step = planned.step
            account.tried.add(step.id)
            account.running = step.title
            self._set(account.vm_id, step=step.title, outcome=("running", "$text-accent"), detail="")
            try:
                result = await self.service.run_step(
                    account.vm_id, step, interaction=self.interaction, on_progress=self._progress_of(account.vm_id)
                )
            except asyncio.CancelledError:
                stopped = self.service.stopped_result(account.vm_id, step)
                if stopped is not None:
                    account.results.append(stopped)
                raise
            account.running = ""
            account.results.append(result)
            label, style = OUTCOME_STYLE.get(result.outcome, (result.outcome, ""))
            self._set(account.vm_id, outcome=(label, style), detail=result.message)
            await self.service.recheck(account.vm_id)
            settled = self.service.settled_result(account.vm_id, step)
            if settled is not None and result.outcome is not Outcome.OK:  # the re-check found it done after all
                result = account.results[-1] = settled
                self._set(account.vm_id, outcome=OUTCOME_STYLE[Outcome.OK], detail=settled.message)
            if result.outcome is not Outcome.OK:
                return

    def _progress_of(self, vm_id: str) -> Callable[[str], None]:
        """What the service calls with each progress line of one VM's step."""

        def progress(text: str) -> None:
            self._set(vm_id, detail=text)

        return progress

    def _set(
        self, vm_id: str, *, step: str | None = None, outcome: tuple[str, str] | None = None, detail: str | None = None
    ) -> None:
        """Update one VM's row; every value is plain text (messages can carry remote error text)."""
        if not self.is_attached:
            return
        table = self.query_one("#batch-table", DataTable)
        if step is not None:
            table.update_cell(vm_id, "step", safe.text(step, limit=120))
        if outcome is not None:
            table.update_cell(vm_id, "outcome", Content.styled(*outcome))
        if detail is not None:
            table.update_cell(vm_id, "detail", safe.text(detail, limit=200))

    def _finish(self) -> None:
        """The summary and each row's final word: what happened to every VM, with why when it is not fixed."""
        if not self.is_attached:
            return
        self.worker = None
        diagnosis = self.session.diagnosis
        for account in self.accounts:
            if diagnosis is not None and diagnosis.for_vm(account.vm_id) is not None:
                account.left = steps_left(diagnosis, account.vm_id, account.tried)
            category = account.category
            self._set(account.vm_id, outcome=(category, CATEGORY_STYLE.get(category, "")), detail=account.why)
        counts = " · ".join(f"{count} {label}" for label, count in summary_counts(self.accounts))
        rows = [Content.styled(f"Done: {counts}" if counts else "Done.", "bold")]
        for account in self.accounts:
            if account.category not in ("fixed", "nothing"):
                rows.append(safe.assemble((account.name, "bold"), f" — {account.category}: ", account.why, limit=400))
        self._show_summary(Content("\n").join(rows))
        self.summarised = True
        self._show_buttons()
