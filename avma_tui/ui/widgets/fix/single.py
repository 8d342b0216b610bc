"""The guided fix for one target: a VM's remedies (`f`), the host's (`f` with no VM), or a VM's AVMA key (`k`).

One step at a time: preview (StepView) → what it needs (guest credentials, the host's product key)
→ confirmation with Cancel focused → run in a worker with visible progress and elapsed time →
FixService verifies → the host is read again and the plan recomputed, because every fix changes
what the guest reports. Manual steps show the commands (copyable) and a Re-check. The worker is in
the app's operation group and not exclusive: a second worker must never silently cancel a change (Textual cancels the
running worker of an exclusive group); the screen asks before anything stops it.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState

from avma_tui.core.catalog import license_status_name
from avma_tui.core.operations import KEY_OPS, OPERATIONS, Outcome, operation
from avma_tui.core.remedies import NEEDS_GUEST_CREDENTIALS, NEEDS_HOST_PRODUCT_KEY, Step, StepKind, key_step
from avma_tui.hyperv.transport import Credential, TransportError
from avma_tui.services.audit import AuditError
from avma_tui.services.fixing import FixService, StepResult, duration
from avma_tui.services.plan import PlannedStep, left_open, next_step, plan_steps
from avma_tui.ui import safe
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.widgets.cells import STATUS_WORDS, channel_name
from avma_tui.ui.widgets.fix.body import FixBody
from avma_tui.ui.widgets.fix.step import LINE_LIMIT, StepView, lines, result_text
from avma_tui.ui.workers import OPERATION_GROUP

if TYPE_CHECKING:
    from avma_tui.core.model import Diagnosis

#: A Windows product key as typed: five groups of five letters and digits.
PRODUCT_KEY = re.compile(r"^[A-Z0-9]{5}(-[A-Z0-9]{5}){4}$")
#: The next step of a result that needs the guest login again (it replaces the service's "c in the TUI").
LOGIN_AGAIN = "Enter the guest's administrator account again: Guest login… (l), then the step is offered again."
#: The wizard's buttons; each state shows a subset.
BUTTONS = ("close", "skip", "login", "copy", "show-key", "recheck", "run", "stop")
MARKS = {
    Outcome.OK: ("✔", "$text-success"),
    Outcome.MANUAL: ("•", "$text-accent"),
    Outcome.NOT_VERIFIED: ("?", "$text-warning"),
}


def failure_line(err: TransportError | AuditError | KeyError) -> Content:
    """What stopped the wizard, in one plain line (the error text may come from the host)."""
    if isinstance(err, AuditError):
        what = "The audit log could not be written, so nothing more is run"
    elif isinstance(err, KeyError):
        what = "The VM is no longer on the host"
    else:
        what = "Reading the host failed"
    return lines(f"{what}: {err.args[0] if err.args else type(err).__name__}", "$text-error")


def sentence_case(title: str) -> str:
    """ "Install the … key" → "install the … key", to follow "SQL02: "; "DISM …" and "KVP …" keep their capitals."""
    word = title.split(" ", 1)[0]
    return title if len(word) > 1 and word[1].isupper() else title[:1].lower() + title[1:]


def _mark(outcome: Outcome) -> tuple[str, str]:
    return MARKS.get(
        outcome, ("✘", "$text-error") if outcome in (Outcome.FAILED, Outcome.UNKNOWN) else ("–", "$text-warning")
    )


class SingleFix(FixBody):
    """The wizard body for one VM (`vm_id`), or the host (`vm_id` None); `key_mode` for the `k` flow."""

    DEFAULT_CSS = """
    SingleFix #fix-heading { text-style: bold; padding: 0 1; }
    SingleFix #fix-plan { height: auto; max-height: 8; padding: 0 1; color: $text-muted; }
    SingleFix #fix-host-key-row { height: auto; display: none; padding: 0 1; }
    SingleFix #fix-host-key-row Label { width: 18; color: $text-muted; }
    SingleFix #fix-host-key { width: 40; }
    SingleFix #fix-progress-row { height: auto; display: none; padding: 0 1; }
    SingleFix #fix-bar { width: 22; }
    SingleFix #fix-progress { width: 1fr; }
    SingleFix #fix-result { height: auto; max-height: 12; padding: 0 1; border-top: solid $primary-muted; }
    """

    BINDINGS = [
        Binding("c", "copy", "Copy commands", id="fix-copy", tooltip="Copy the manual step's commands"),
        Binding("s", "toggle_key", "Show key", id="fix-show-key", tooltip="Show or hide the full AVMA key"),
        Binding("l", "login", "Guest login", id="fix-login", tooltip="Enter the guest credentials (again)"),
    ]

    def __init__(self, service: FixService, interaction: str, vm_id: str | None, *, key_mode: bool = False) -> None:
        super().__init__(service, interaction, id="single-fix")
        self.vm_id = vm_id
        self.key_mode = key_mode
        self.current: PlannedStep | None = None
        self.tried: set[str] = set()
        self.history: list[StepResult] = []
        self.reveal = False
        self._login_asked = False
        self._progress_text = ""
        self._started = 0.0
        self._ticker: Timer | None = None

    # --- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="fix-heading")
        yield Static(id="fix-plan")
        yield StepView(id="fix-step")
        with Horizontal(id="fix-host-key-row"):
            yield Label("Host product key")
            yield Input(password=True, placeholder="XXXXX-XXXXX-XXXXX-XXXXX-XXXXX", id="fix-host-key", compact=True)
        with Horizontal(id="fix-progress-row"):
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="fix-bar")
            yield Static(id="fix-progress")
        yield Static(id="fix-result")
        with Horizontal(classes="dialog-buttons"):
            yield Button("Close", id="close", compact=True)
            yield Button("Skip", id="skip", compact=True)
            yield Button("Guest login…", id="login", compact=True)
            yield Button("Copy commands", id="copy", compact=True)
            yield Button("Show key", id="show-key", compact=True)
            yield Button("Re-check", id="recheck", compact=True)
            yield Button("Run…", variant="warning", id="run", compact=True)
            yield Button("Stop", variant="error", id="stop", compact=True)

    def on_mount(self) -> None:
        self.query_one("#fix-result", Static).display = False
        if self.session.diagnosis is None:
            self._read(reset=False)
        else:
            self._advance()

    # --- what is shown -------------------------------------------------------------------------------

    @property
    def diagnosis(self) -> Diagnosis | None:
        return self.session.diagnosis

    def _subject(self) -> str:
        diagnosis = self.diagnosis
        if self.vm_id is None:
            return diagnosis.inventory.host.fqdn if diagnosis else "the host"
        vmd = diagnosis.for_vm(self.vm_id) if diagnosis else None
        return vmd.vm.name if vmd else self.vm_id

    def _advance(self) -> None:
        """Choose the next step from the current diagnosis and show it."""
        diagnosis = self.diagnosis
        self.current = None
        if diagnosis is not None and (self.vm_id is None or diagnosis.for_vm(self.vm_id) is not None):
            if self.key_mode:
                step = key_step(diagnosis, self.vm_id or "")
                self.current = None if step.id in self.tried else PlannedStep(None, step)
            else:
                self.current = next_step(plan_steps(diagnosis, self.vm_id), self.tried)
        self._show()
        if self._needs_login_first():
            self._ask_login()

    def _needs_login_first(self) -> bool:
        """The `k` flow asks for guest credentials up front: the key's warning depends on the license read."""
        step = self.current.step if self.current else None
        return (
            self.key_mode
            and step is not None
            and not step.refusal
            and NEEDS_GUEST_CREDENTIALS in step.needs
            and (self.session.guest_credential is None or self.session.guest_login_rejected)
            and not self._login_asked
        )

    def _shown_step(self) -> PlannedStep | None:
        """The current step as displayed: in the `k` flow with the full key when the admin asked for it."""
        if self.current is None or not (self.key_mode and self.reveal and self.diagnosis):
            return self.current
        return PlannedStep(None, key_step(self.diagnosis, self.vm_id or "", reveal=True))

    def _show(self) -> None:
        self._show_heading()
        self._show_plan()
        shown = self._shown_step()
        view = self.query_one("#fix-step", StepView)
        if shown is not None:
            view.show(shown.step, subject="the host" if shown.on_host else "")
        else:
            view.show_text(self._final_text())
        needs_key = shown is not None and NEEDS_HOST_PRODUCT_KEY in shown.step.needs and not shown.step.refusal
        self.query_one("#fix-host-key-row").display = needs_key
        self._show_buttons()

    def _show_heading(self) -> None:
        verb = "Install the AVMA key on" if self.key_mode else "Fix"
        if self.vm_id is None:
            verb = "Fix the host"
        heading = safe.assemble(f"{verb} ", (self._subject(), "bold $text-primary"))
        vmd = self.diagnosis.for_vm(self.vm_id) if self.diagnosis and self.vm_id else None
        if vmd is not None:
            heading = Content.assemble(heading, (f"  · {STATUS_WORDS[vmd.status]}", "$text-muted"))
        elif self.vm_id and self.diagnosis:
            heading = Content.assemble(heading, ("  · no longer on the host", "$text-error"))
        self.query_one("#fix-heading", Static).update(heading)

    def _show_plan(self) -> None:
        """Done steps with their outcome, then the step now shown and what the plan has after it."""
        rows: list[Content] = []
        for result in self.history:
            mark, style = _mark(result.outcome)
            rows.append(safe.assemble((f"{mark} ", style), result.step.title, (f"  {result.outcome}", style)))
        if self.current is not None:
            rows.append(safe.assemble(("▶ ", "$text-accent"), (self.current.step.title, "bold")))
            if not self.key_mode and self.diagnosis is not None:
                later = [p for p in plan_steps(self.diagnosis, self.vm_id) if p.step.id not in self.tried]
                rows += [safe.assemble("· ", p.step.title) for p in later if p.step.id != self.current.step.id]
        self.query_one("#fix-plan", Static).update(Content("\n").join(rows))

    def _final_text(self) -> Content:
        """When nothing is left: where the target stands now."""
        diagnosis = self.diagnosis
        if diagnosis is None:
            return Content("Reading the host…")
        unsettled = [r for r in self.history if r.outcome in (Outcome.UNKNOWN, Outcome.NOT_VERIFIED)]
        if unsettled:  # never "Nothing left to do" while a change may be under way
            last = unsettled[-1]
            state = "is not verified" if last.outcome is Outcome.NOT_VERIFIED else "has an unknown outcome"
            return safe.assemble(
                (f"“{last.step.title}” {state}.", "bold $text-warning"), " Re-check to see whether it took effect."
            )
        left = left_open(diagnosis, self.vm_id, self.history)
        if self.vm_id is None:
            if not left:
                return Content("Nothing left to do: the host has no finding left.")
            return self._left_text(Content.styled(f"Not done: the host has {len(left)} finding(s) left.", "bold"), left)
        vmd = diagnosis.for_vm(self.vm_id)
        if vmd is None:
            return Content("The VM is no longer on the host.")
        parts: list[str | Content | tuple[object, str]] = [(vmd.vm.name, "bold"), ": "]
        parts.append((STATUS_WORDS[vmd.status], "bold"))
        lic = vmd.vm.license.license
        if lic is not None:
            status = license_status_name(lic.status)
            parts += [f" — {status} on the ", (channel_name(lic), "bold"), " channel"]
            if lic.avma_host:
                parts += [", AVMA host ", (lic.avma_host, "bold")]
        where = safe.assemble(*parts)
        if not left:
            return Content.assemble("Nothing left to do. ", where)
        heading = Content.styled(f"Not done: {len(left)} finding(s) left.", "bold")
        return self._left_text(Content("\n").join([heading, where]), left)

    @staticmethod
    def _left_text(heading: Content, left: list[str]) -> Content:
        """The heading, then each open finding with why the tool does not do it (plain text: it holds host data)."""
        return Content("\n").join([heading, *(safe.assemble("• ", line, limit=LINE_LIMIT) for line in left)])

    def _show_buttons(self) -> None:
        step = self.current.step if self.current else None
        busy = self.busy
        wanted: set[str] = {"stop"} if busy else {"close", "recheck"}
        if not busy and self.session.guest_login_rejected:
            wanted.add("login")  # a guest rejected the login: offer it again, whatever the step
        if step is not None and not busy:
            wanted.add("skip")
            if step.kind is StepKind.MANUAL:
                wanted.add("copy")
            elif not step.refusal:
                wanted.add("run")
            if NEEDS_GUEST_CREDENTIALS in step.needs and not step.refusal:
                wanted.add("login")
            if self.key_mode and dict(step.secret_params).get("ProductKey"):
                wanted.add("show-key")
        for name in BUTTONS:
            self.query_one(f"#{name}", Button).display = name in wanted
        self.query_one("#show-key", Button).label = "Hide key" if self.reveal else "Show key"
        reads_only = step is not None and step.op is not None and not OPERATIONS[step.op].changes
        self.query_one("#run", Button).label = "Read" if reads_only else "Run…"  # "…": a confirmation follows
        self.query_one("#recheck", Button).label = (
            "I ran them — re-check" if step is not None and step.kind is StepKind.MANUAL else "Re-check"
        )
        focus = "stop" if busy else next((n for n in ("run", "recheck") if n in wanted and step is not None), "close")
        if step is not None and step.refusal and not busy:
            focus = "skip"
        self.query_one(f"#{focus}", Button).focus()

    def _show_result(self, text: Content) -> None:
        self._show_box("#fix-result", text)

    # --- buttons and keys ----------------------------------------------------------------------------

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.screen.dismiss(None)

    @on(Button.Pressed, "#skip")
    def _skip(self) -> None:
        if self.current is not None:
            self.tried.add(self.current.step.id)
            self.history.append(StepResult(self.current.step, Outcome.SKIPPED, "Skipped by you.", ""))
            self._advance()

    @on(Button.Pressed, "#stop")
    def _stop(self) -> None:
        self.cancel()

    @on(Button.Pressed, "#login")
    def action_login(self) -> None:
        if not self.busy:
            self._ask_login()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        step = self.current.step if self.current else None
        if step is not None and step.kind is StepKind.MANUAL:
            self.app.copy_to_clipboard(step.script)
            self.app.notify("Commands copied to the clipboard.", markup=False)

    @on(Button.Pressed, "#show-key")
    def action_toggle_key(self) -> None:
        if self.key_mode and self.current is not None and not self.busy:
            self.reveal = not self.reveal
            self._show()

    @on(Button.Pressed, "#recheck")
    def _recheck(self) -> None:
        step = self.current.step if self.current else None
        if step is not None and step.kind is StepKind.MANUAL and self.current is not None:
            self._confirm_manual(self.current)
        else:
            self._read(reset=True)

    @on(Button.Pressed, "#run")
    def _run_pressed(self) -> None:
        planned = self.current
        if planned is None or planned.step.refusal or planned.step.kind is StepKind.MANUAL or self.busy:
            return
        host_key = None
        if NEEDS_HOST_PRODUCT_KEY in planned.step.needs:
            field = self.query_one("#fix-host-key", Input)
            host_key = field.value.strip().upper()
            if not PRODUCT_KEY.match(host_key):
                self._show_result(
                    Content.styled("Type the host's product key: five groups of five characters.", "$text-error")
                )
                field.focus()
                return
        no_login = self.session.guest_credential is None or self.session.guest_login_rejected
        if NEEDS_GUEST_CREDENTIALS in planned.step.needs and no_login:
            self._ask_login()
            return
        if not OPERATIONS[planned.step.op or ""].changes:  # a read ("Changes: Nothing") needs no confirmation
            self._start(planned, host_key)
            return
        self._confirm(planned, host_key)

    def _ask_login(self) -> None:
        """Guest credentials, kept in the session; afterwards the host is read again (licenses change the plan)."""
        self._login_asked = True
        current = self.session.guest_credential
        self.app.push_screen(
            CredentialsScreen(current.username if current else "", failure=self.session.guest_login_failure),
            self._login_given,
        )

    def _login_given(self, credential: Credential | None) -> None:
        """A new login: read the host again, and offer the steps that did not succeed (a rejected login) again."""
        if credential is not None:
            self.session.guest_credential = credential
            self._read(reset=True)

    def _said(self, result: StepResult) -> Content:
        """A result in plain words; one that wants the guest login again points at the wizard's own button."""
        if (
            result.outcome is not Outcome.OK
            and NEEDS_GUEST_CREDENTIALS in result.step.needs
            and (self.session.guest_login_rejected or self.session.guest_credential is None)
        ):
            result = replace(result, next_step=LOGIN_AGAIN)
        return result_text(result)

    def _confirm(self, planned: PlannedStep, host_key: str | None) -> None:
        step = planned.step
        subject = "the host" if planned.on_host or self.vm_id is None else self._subject()
        paragraphs = [
            safe.assemble((subject, "bold"), ": ", (sentence_case(step.title), "bold"), "?"),
            Content.assemble(("Changes: ", "bold"), lines(step.changes)),
        ]
        if self.key_mode and step.op in KEY_OPS:
            paragraphs.append(Content("Then activation is triggered and the wizard waits for Licensed (AVMA)."))
        if step.warning:
            paragraphs.append(lines("Warning: " + step.warning, "bold $text-warning"))
        replacing = step.op in KEY_OPS and step.warning.startswith("replaces")
        question = Content("\n\n").join(paragraphs)
        self.app.push_screen(
            ConfirmScreen("Run this step?", question, confirm="Replace key" if replacing else "Run"),
            lambda yes: self._start(planned, host_key) if yes else None,
        )

    # --- workers -------------------------------------------------------------------------------------

    def _start(self, planned: PlannedStep, host_key: str | None) -> None:
        self.query_one("#fix-host-key", Input).value = ""
        self.worker = self.run_worker(
            self._run(planned, host_key),
            name="fix-step",
            group=OPERATION_GROUP,
            exit_on_error=False,
            description="run one fix step",
        )

    async def _run(self, planned: PlannedStep, host_key: str | None) -> None:
        """Run one step (and, in the `k` flow, the activation after the key), then read the host again."""
        vm_id = None if planned.on_host else self.vm_id
        running: Step | None = planned.step  # what a cancel would interrupt; None between steps
        self._begin(planned.step.title)
        results: list[StepResult] = []
        try:
            result = await self.service.run_step(
                vm_id, planned.step, interaction=self.interaction, host_product_key=host_key, on_progress=self._progress
            )
            running = None
            results.append(result)
            self._record(result)
            activation = await self._follow_up(planned, result)
            if activation is not None:
                running = activation.step
                self._progress(f"{running.title}…")
                result = await self.service.run_step(
                    self.vm_id, running, interaction=self.interaction, on_progress=self._progress
                )
                running = None
                results.append(result)
                self._record(result)
            settled = {r.step.id: r for r in await self._reread()}
            results = [settled.get(r.step.id, r) for r in results]
        except asyncio.CancelledError:
            stopped = None
            if running is not None:
                stopped = self.service.stopped_result(vm_id if running is planned.step else self.vm_id, running)
                self._record(stopped or StepResult(running, Outcome.SKIPPED, "Stopped before it started.", ""))
            self._end(Content.styled(self._stopped_text(running, stopped), "$text-warning"))
            raise
        except (TransportError, AuditError, KeyError) as err:
            self._end(Content("\n").join([*(self._said(r) for r in results), failure_line(err)]))
            return
        self._end(Content("\n\n").join(self._said(r) for r in results))

    async def _follow_up(self, planned: PlannedStep, result: StepResult) -> PlannedStep | None:
        """In the `k` flow, after a new key: the activation step, unless the guest activated by itself already."""
        if not (self.key_mode and result.outcome is Outcome.OK and planned.step.op in KEY_OPS and self.vm_id):
            return None
        await self.service.recheck(self.vm_id)
        return self._activation_step()

    def _activation_step(self) -> PlannedStep | None:
        """After a new key: the plan's activation step, unless the guest activated by itself already."""
        if self.diagnosis is None:
            return None
        return next(
            (p for p in plan_steps(self.diagnosis, self.vm_id) if p.step.op == "activate_guest" and not p.step.refusal),
            None,
        )

    def _record(self, result: StepResult) -> None:
        self.history.append(result)
        self.tried.add(result.step.id)

    async def _reread(self) -> list[StepResult]:
        """Read the host again; the steps whose unknown outcome the fresh read settled (their rows updated)."""
        if self.vm_id is not None:
            await self.service.recheck(self.vm_id)
        else:
            await self.service.refresh()
        return self._apply_settled()

    def _apply_settled(self) -> list[StepResult]:
        """Replace each unsettled result in the step list by what a re-check found, when it found the change done."""
        settled = []
        for index, result in enumerate(self.history):
            if result.outcome not in (Outcome.UNKNOWN, Outcome.NOT_VERIFIED, Outcome.FAILED):
                continue
            found = self.service.settled_result(self.vm_id, result.step) or self.service.settled_result(
                None, result.step
            )
            if found is not None:
                self.history[index] = found
                settled.append(found)
        return settled

    def _stopped_text(self, running: Step | None, stopped: StepResult | None) -> str:
        if running is None:
            return "Stopped between steps: nothing was running. Re-check to see where the target stands."
        if stopped is None:
            return f"Stopped before “{running.title}” started: nothing was changed."
        if stopped.outcome is Outcome.NOT_VERIFIED and running.op and operation(running.op).detached:
            return (
                f"Stopped waiting for “{running.title}”: the conversion goes on in the guest (nothing was stopped "
                "there), and the audit log says not verified. Re-check in a few minutes to see it done."
            )
        if stopped.outcome is Outcome.NOT_VERIFIED:
            return (
                f"Stopped while verifying “{running.title}”: the change ran, but it is not verified (the audit "
                "log says so). Re-check to see whether it took effect."
            )
        return (
            f"Stopped while “{running.title}” ran: its outcome is unknown (the audit log says so). "
            "Re-check to see where the target stands."
        )

    def _read(self, *, reset: bool) -> None:
        """Read the host again and re-plan; `reset` offers steps that did not succeed once more."""
        if reset:
            self.tried -= {r.step.id for r in self.history if r.outcome is not Outcome.OK}
        self.worker = self.run_worker(
            self._read_now(), name="fix-read", group="fix-read", exit_on_error=False, description="read the host"
        )

    async def _read_now(self) -> None:
        self._begin("Reading the host")
        try:
            settled = await self._reread()
        except (TransportError, AuditError, KeyError) as err:
            self._end(failure_line(err))
            return
        self._end(Content("\n\n").join(self._said(r) for r in settled) if settled else None)

    def _confirm_manual(self, planned: PlannedStep) -> None:
        self.worker = self.run_worker(
            self._manual_done(planned),
            name="fix-recheck",
            group="fix-read",
            exit_on_error=False,
            description="re-check a manual step",
        )

    async def _manual_done(self, planned: PlannedStep) -> None:
        """The admin ran a manual step: re-check; it leaves the plan only if the problem is gone."""
        self._begin("Re-checking")
        vm_id = None if planned.on_host else self.vm_id
        try:
            result = await self.service.confirm_manual(vm_id, planned.step, interaction=self.interaction)
        except (TransportError, AuditError) as err:
            self._end(failure_line(err))
            return
        if result.outcome is Outcome.OK:
            self._record(result)
        self._end(self._said(result))

    # --- progress ------------------------------------------------------------------------------------

    def _begin(self, text: str) -> None:
        self._started = time.monotonic()
        self._progress_text = f"{text}…"
        self.query_one("#fix-progress-row").display = True
        self._tick()
        self._ticker = self.set_interval(0.5, self._tick)
        self._show_buttons()

    def _progress(self, text: str) -> None:
        self._progress_text = text
        self._tick()

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._started
        self.query_one("#fix-progress", Static).update(
            safe.assemble(self._progress_text, (f"  {duration(int(elapsed))}", "$text-muted"))
        )

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The workers catch the errors they expect; anything else still ends the step, in one plain line."""
        if event.worker is self.worker and event.state is WorkerState.ERROR:
            error = event.worker.error
            self._end(safe.text(f"Unexpected {type(error).__name__}: {error}", "$text-error", limit=400))

    def _end(self, result: Content | None) -> None:
        """The worker is done: show the result, re-plan from the fresh diagnosis, give the controls back."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if not self.is_attached:
            return
        self.query_one("#fix-progress-row").display = False
        self.worker = None
        if result is not None:
            self._show_result(result)
        self._advance()
