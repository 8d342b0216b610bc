"""FixService: the one way the TUI and the `fix` command change anything.

Every change follows the same path (docs/architecture.md, docs/audit.md): audit "intent" (fsynced) → run the
operation → verify by reading the state back until it matches or the time is up → audit "result"
with the state before and after. A link that drops mid-change leaves the outcome "unknown" and the
admin is offered a re-check; every other failure is explained in plain words with the next step.

Secrets (guest password, product keys) go to the operation only; the audit log and every message
get the last five characters of a key at most. Remote error text is untrusted: it is capped here and
shown as plain text by whoever prints it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from avma_tui.core.catalog import Catalog, load_catalog
from avma_tui.core.model import (
    Diagnosis,
    GuestErrorKind,
    GuestLicense,
    Host,
    KvpStatus,
    LicenseRead,
    LicenseState,
    Vm,
    VmDiagnosis,
)
from avma_tui.core.operations import (
    CREDENTIAL,
    PRODUCT_KEY,
    VM_ID,
    WAITS_FOR,
    Check,
    Operation,
    Outcome,
    ReadBack,
    Subject,
    operation,
)
from avma_tui.core.remedies import (
    NEEDS_GUEST_CREDENTIALS,
    NEEDS_HOST_PRODUCT_KEY,
    NEEDS_VM_RUNNING,
    Step,
    StepKind,
    console_commands,
    mask_key,
    plan_for_host,
    plan_for_vm,
)
from avma_tui.hyperv.host import ACCESS_HINT, classify_guest_error, hresult_of
from avma_tui.hyperv.transport import (
    OUTCOME_UNKNOWN_ERRORS,
    AuthenticationFailed,
    Cancelled,
    CertificateRejected,
    Credential,
    RemoteError,
    TransportError,
    Unreachable,
)
from avma_tui.services.audit import AuditLog, Target, redact
from avma_tui.services.session import Session
from avma_tui.services.snapshot import host_state, license_state, vm_state

#: Longest piece of remote error text kept in a message.
MAX_REMOTE_TEXT = 300
_RECHECK = "Re-check this VM to see where it stands."
_STOPPED = "Stopped while verifying: the change ran, but it is not verified"
#: While a conversion's edition has not changed, how often the wait reads its task in the guest (a guest logon).
STATUS_EVERY_S = 60.0
#: A conversion task's last results that are no failure: success, restart required / initiated (3010, 1641), and
#: Task Scheduler's "running" / "has not run" (0x00041301, 0x00041303) — winerror.h values, UNCONFIRMED here.
_DISM_NOT_FAILED = frozenset({0, 3010, 1641, 0x00041301, 0x00041303})


class _DismFailed(Exception):
    """The conversion's task ended with an error, twice seen a minute apart, while the edition stayed Evaluation."""

    def __init__(self, code: int, after: dict[str, Any]) -> None:
        super().__init__(f"0x{code:08X}")
        self.code = code
        self.after = after


#: A detached change (Operation.detached) goes on in the guest whatever the wait does.
_GOES_ON = "The conversion goes on in the guest (nothing was stopped there); re-check later to see it done."

#: Console steps whose effect only the guest's license shows: when the host cannot read that license
#: (no PowerShell Direct), a re-check cannot tell, and says so instead of calling the step failed.
_LICENSE_ONLY_AT_CONSOLE = frozenset({"manual_install_avma_key", "manual_activate_guest", "manual_kms_alternative"})


@dataclass(frozen=True)
class StepResult:
    step: Step
    outcome: Outcome
    message: str  # what happened, in plain words
    next_step: str  # what to do next

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # "ok" given as text is Outcome.OK


@dataclass(frozen=True)
class _Failure:
    """A failure explained: the outcome, plain words, the next step, and the code the audit log records.

    `refused`: Windows named why it would not make the change (an HRESULT, a DISM error).
    """

    outcome: Outcome
    message: str
    next_step: str
    code: str
    refused: bool = False


@dataclass(frozen=True)
class _Unsettled:
    """A change whose outcome is unknown: its intent, kept until a re-check finds the change done."""

    intent: dict[str, Any]
    vm_id: str | None
    step: Step
    verifying: bool = False  # the operation returned; only its verification was cut short


def _key(vm_id: str | None, step: Step) -> tuple[str, str]:
    return (vm_id or "", step.id)


def _fresh(diagnosis: Diagnosis, vm_id: str | None, op: Operation) -> Any:
    """What a read of the whole host shows of an operation's effect, shaped like its read-back; None when gone."""
    if op.read_back is ReadBack.HOST:
        return diagnosis.inventory.host
    vm = diagnosis.inventory.vm(vm_id or "")
    if vm is None:
        return None
    return vm.license if op.read_back is ReadBack.LICENSE else vm


#: FullyQualifiedErrorId prefixes of parameter binding: PowerShell binds a script's parameters before any
#: line of it runs (PowerShell/PowerShell src/System.Management.Automation/engine/ParameterBinderBase.cs,
#: "ParameterArgumentValidationError", "ParameterArgumentTransformationError"; ParameterBindingException).
_BINDING_ERROR_IDS = ("ParameterArgumentValidationError", "ParameterArgumentTransformationError", "ParameterBinding")
#: The VM the script was given does not exist; Get-VM runs before any change: FQEID
#: InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM (a public transcript, pluralsight/PS-AutoLab-Env#133;
#: ObjectNotFound is Hyper-V's other not-found ErrorId). Invoke-Command -VMId says InvalidVMIdNotSingle
#: (classified NOT_FOUND by hyperv/host.py).
_GET_VM_NOT_FOUND = ("InvalidParameter", "ObjectNotFound")
#: ErrorIds the scripts raise themselves before their change (docs/operations.md, "Errors").
_SCRIPT_GUARD_IDS = ("KvpServiceNotFound",)
#: How set_edition.ps1 reports a DISM run that refused the conversion (its exit code and output).
_DISM_FAILED_IDS = ("DismFailed", "DismError")
#: Exceptions whose HRESULT is a decision of Windows (the provider's or the script's own), not a .NET default.
_REFUSING_EXCEPTIONS = ("CimException", "COMException")


def _before_change(err: TransportError) -> bool:
    """True only for an error that proves the change never started; every other error needs a read-back.

    - nothing reached the host: it could not be reached, its certificate or the account was refused;
    - the script stopped at its guard: a parameter failed to bind, the VM does not exist, the VM is not
      running, the guest refused the credential, or PowerShell Direct could not open a session. The
      session-open failures are PowerShell resources thrown while the session opens, before the guest
      runs anything: "The credential is invalid." (InvalidCredential) and "An error has occurred which
      Windows PowerShell cannot handle. A remote session might have ended." (FatalErrorCausingClose), in
      PowerShell/PowerShell src/System.Management.Automation/resources/RemotingErrorIdStrings.resx. A
      session that breaks *while* the guest runs the block reports "The Hyper-V socket target process
      has ended." or PSSessionStateBroken instead, which are not matched here, so they are read back.
    """
    if isinstance(err, (Unreachable, AuthenticationFailed, CertificateRejected)):
        return True
    if not isinstance(err, RemoteError):
        return False
    record = err.record
    if classify_guest_error(err) in (GuestErrorKind.CREDENTIAL, GuestErrorKind.NOT_RUNNING, GuestErrorKind.NOT_FOUND):
        return True
    if record.exception_name == "PSRemotingDataStructureException":  # FatalErrorCausingClose, while opening
        return True
    if record.error_id in _GET_VM_NOT_FOUND and record.fqeid.endswith(".Commands.GetVM"):
        return True
    return record.error_id.startswith(_BINDING_ERROR_IDS) or record.error_id in _SCRIPT_GUARD_IDS


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 30 min: how long a wait took or may take, as the wizard, the batch and `fix` show it."""
    if seconds < 1:
        return f"{seconds:g} s"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min" if rest == 0 else f"{minutes} min {rest:02d} s"


def _started_params(returned: Any) -> dict[str, Any]:
    """What the `started` record keeps of a detached operation's answer (set_edition: the guest's task)."""
    task = returned.get("task") if isinstance(returned, dict) else None
    return {"task": task} if isinstance(task, str) else {}


def _remote_text(err: BaseException) -> str:
    """Remote error text fit for a message: one line, capped, any product key cut to its last five."""
    text = err.remote_message if isinstance(err, RemoteError) else str(err)
    text = redact({"text": " ".join(text.split())})["text"]
    return text if len(text) <= MAX_REMOTE_TEXT else text[: MAX_REMOTE_TEXT - 1] + "…"


class FixService:
    """Runs remedy steps against one session's host, audited and verified."""

    def __init__(
        self,
        session: Session,
        audit: AuditLog,
        *,
        verify_timeout: float = 120.0,
        poll_interval: float = 1.0,
        waits: Mapping[str, float] | None = None,
        slow_poll_interval: float = 5.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        catalog: Catalog | None = None,
    ) -> None:
        """`verify_timeout`: how long a change without a wait of its own (Operation.wait_s) may take to verify;
        `waits`: seconds by operation name, overriding the table's (the conversion's `--conversion-wait`);
        `poll_interval`: between read-backs, `slow_poll_interval` for a detached change (minutes-long)."""
        self.session = session
        self.audit = audit
        self.verify_timeout = verify_timeout
        self.poll_interval = poll_interval
        self.waits = dict(waits or {})
        self.slow_poll_interval = slow_poll_interval
        #: Waits for a detached change now running: stopping one stops nothing on the host (the wizard says so).
        self.detached_waits = 0
        self._sleep = sleep
        self.catalog = catalog or load_catalog()
        self._unsettled: dict[tuple[str, str], _Unsettled] = {}
        self._latest: dict[tuple[str, str], dict[str, Any]] = {}  # the last intent written per step
        #: Steps a re-check found done after all, by (VM Id or "", step id); the callers replace their result.
        self.settled: dict[tuple[str, str], StepResult] = {}

    # --- public ------------------------------------------------------------------------------------

    async def recheck(self, vm_id: str) -> VmDiagnosis:
        """Read the host again, the VM's license too; the VM's fresh diagnosis (KeyError when the VM is gone).

        Every change left `unknown` whose effect the fresh read shows is settled: the audit log gets a
        `recheck` record with outcome `ok`, and `settled` gets the corrected StepResult.
        """
        self.session.forget_license(vm_id)
        diagnosis = await self.refresh(licenses=[vm_id])
        vmd = diagnosis.for_vm(vm_id)
        if vmd is None:
            raise KeyError(f"VM {vm_id} is no longer on the host")
        return vmd

    async def run_step(
        self,
        vm_id: str | None,
        step: Step,
        *,
        interaction: str,
        host_product_key: str | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> StepResult:
        """Run one step: audit intent → operation → verify → audit result. Manual steps only say so."""
        progress = on_progress or (lambda _text: None)
        not_run = await self._precheck(vm_id, step, host_product_key)
        if not_run is not None:
            return not_run
        op = operation(step.op or "")
        if not op.changes:
            return await self._read_license(vm_id or "", step, progress)
        intent = await self._intent(vm_id, step, op, interaction, host_product_key)
        self._latest[_key(vm_id, step)] = intent
        self.settled.pop(_key(vm_id, step), None)  # what a re-check found before is not about this run
        progress(f"{step.title}…")
        if vm_id:
            self.session.forget_license(vm_id)  # whatever happens next, the cached license may be wrong now
        try:
            returned = await self._run_op(vm_id, step, op, host_product_key)
        except asyncio.CancelledError:
            # Written in place, not in a thread: a cancelled task must not end before its record is on disk.
            self.audit.result(
                intent, outcome=Outcome.UNKNOWN, error={"code": "cancelled", "message": "cancelled mid-step"}
            )
            self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step)
            raise
        except TransportError as err:
            return await self._change_failed(intent, vm_id, step, err, progress)
        if op.detached:  # the change is under way in the guest: say so before the long wait (docs/audit.md)
            await asyncio.to_thread(self.audit.started, intent, params=_started_params(returned))
            progress(f"{step.title}: started in the guest")
        return await self._verified(intent, vm_id, step, returned, progress)

    async def _change_failed(
        self,
        intent: dict[str, Any],
        vm_id: str | None,
        step: Step,
        err: TransportError,
        progress: Callable[[str], None],
    ) -> StepResult:
        """The operation raised. Once its change may have started, only a read-back decides (docs/audit.md).

        An error that proves the change never started (_before_change) is `failed`. Any other error is
        followed by one read-back: the change shows → `ok`; it does not show, Windows named why it refused
        (an HRESULT, a DISM error) and the change would show at once → `failed`; otherwise, or when the
        read-back fails too → `unknown`, kept for a re-check that corrects the record when it finds the
        change done. (For a change that shows only later, an HRESULT cannot be told from one raised after
        the change call, e.g. by RefreshLicenseStatus after Activate: unknown.)
        """
        failure = self._explain(err, step, vm_id)
        error = {"code": failure.code, "message": failure.message}
        if _before_change(err):
            await self._result(intent, outcome=Outcome.FAILED, error=error)
            return StepResult(step, Outcome.FAILED, failure.message, failure.next_step)
        seen = "it could not be read back"
        after: dict[str, Any] | None = None
        if not isinstance(err, Cancelled):  # a closed session reads nothing back
            progress("Reading the state back…")
            try:
                ok, after, detail = self._check(step, await self._read_back(vm_id, step))
            except TransportError as again:
                seen = f"reading it back failed too ({_remote_text(again)})"
            else:
                if ok:
                    await self._result(intent, outcome=Outcome.OK, after=after, error=error)
                    message = f"Done and verified by reading it back ({detail}), although the host reported: "
                    return StepResult(step, Outcome.OK, message + failure.message, "")
                if failure.refused and not operation(step.op or "").shows_later:
                    await self._result(intent, outcome=Outcome.FAILED, after=after, error=error)
                    return StepResult(step, Outcome.FAILED, failure.message, failure.next_step)
                seen = f"read back: {detail}"
        message = failure.message
        if failure.outcome is not Outcome.UNKNOWN:
            message = f"{message}\nThe change may or may not have happened"
        message = f"{message}; {seen}."
        await self._result(intent, outcome=Outcome.UNKNOWN, after=after, error=error)
        self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step)
        return StepResult(step, Outcome.UNKNOWN, message, _RECHECK)

    async def _intent(
        self, vm_id: str | None, step: Step, op: Operation, interaction: str, host_product_key: str | None
    ) -> dict[str, Any]:
        """Write (and fsync) the intent record: who is about to change what, and the state before."""
        diagnosis = self.session.diagnosis
        assert diagnosis is not None  # _precheck refreshed it
        vm = diagnosis.inventory.vm(vm_id) if vm_id and op.subject is Subject.VM else None
        target = Target("vm", vm.name, vm.id) if vm else Target("host", diagnosis.inventory.host.fqdn)
        before = vm_state(vm) if vm else host_state(diagnosis.inventory.host)
        params: dict[str, Any] = {"step": step.id, **dict(step.params)}
        if NEEDS_HOST_PRODUCT_KEY in step.needs and host_product_key:
            params[PRODUCT_KEY] = mask_key(host_product_key)
        return await asyncio.to_thread(
            self.audit.intent,
            host=self.session.host_name,
            remote_user=self.session.remote_user,
            target=target,
            action=op.audit_action,
            interaction=interaction,
            params=params,
            before=before,
        )

    async def _verified(
        self,
        intent: dict[str, Any],
        vm_id: str | None,
        step: Step,
        returned: Any,
        progress: Callable[[str], None],
    ) -> StepResult:
        """The change ran: read it back until it shows or the time is up, and close the intent with what was seen."""
        op = operation(step.op or "")
        progress(f"Verifying: waiting for {WAITS_FOR[op.check]}" if op.check else "Verifying…")
        try:
            ok, after, detail = await self._verify(vm_id, step, returned, progress)
        except asyncio.CancelledError:
            # The change ran; the wait for it to show was stopped: not verified (audit: unknown), re-checkable.
            stopped = f"{_STOPPED}. {_GOES_ON}" if op.detached else _STOPPED
            self.audit.result(intent, outcome=Outcome.UNKNOWN, error={"code": "not_verified", "message": stopped})
            self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step, verifying=True)
            raise
        except _DismFailed as failed:
            return await self._dism_failed(intent, step, failed)
        except TransportError as err:
            outcome = Outcome.NOT_VERIFIED if isinstance(err, Cancelled) else Outcome.UNKNOWN
            message = f"The change ran, but reading it back failed: {_remote_text(err)}"
            if isinstance(err, Cancelled):
                message = f"{_STOPPED} ({_remote_text(err)})"
            await self._result(intent, outcome=Outcome.UNKNOWN, error={"code": type(err).__name__, "message": message})
            self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step, verifying=True)
            return StepResult(step, outcome, message, _RECHECK)
        if ok:
            await self._result(intent, outcome=Outcome.OK, after=after)
            return StepResult(step, Outcome.OK, f"Done and verified: {step.verify}", "")
        message = f"The change ran but did not verify within {duration(self._timeout(step))}: {detail}"
        if op.detached:  # it may still finish: not verified, never failed, and open for a re-check
            message = f"{message}. {_GOES_ON}"
            await self._result(
                intent, outcome=Outcome.UNKNOWN, after=after, error={"code": "not_verified", "message": message}
            )
            self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step, verifying=True)
            return StepResult(step, Outcome.NOT_VERIFIED, message, op.unverified_hint or _RECHECK)
        await self._result(
            intent, outcome=Outcome.FAILED, after=after, error={"code": "not_verified", "message": message}
        )
        self._unsettled[_key(vm_id, step)] = _Unsettled(intent, vm_id, step, verifying=True)  # AVMA may be late
        return StepResult(step, Outcome.FAILED, message, operation(step.op or "").unverified_hint or _RECHECK)

    async def _dism_failed(self, intent: dict[str, Any], step: Step, failed: _DismFailed) -> StepResult:
        """DISM ended with an error in the guest and the edition did not change: the conversion failed."""
        entry = self.catalog.error(failed.code)
        why = f" ({entry.symbol}: {entry.text})" if entry else ""
        message = (
            f"DISM ended in the guest with 0x{failed.code:08X}{why}, and the edition is still Evaluation: "
            "the conversion did not happen."
        )
        await self._result(
            intent,
            outcome=Outcome.FAILED,
            after=failed.after,
            error={"code": f"0x{failed.code:08X}", "message": message},
        )
        next_step = (
            "In the guest, %WINDIR%\\Logs\\DISM\\dism.log says why (Get-ScheduledTaskInfo -TaskPath \\avma-tui\\ "
            "-TaskName set-edition shows the exit code); fix that, then run the step again."
        )
        return StepResult(step, Outcome.FAILED, message, (entry.meaning + " " if entry else "") + next_step)

    def stopped_result(self, vm_id: str | None, step: Step) -> StepResult | None:
        """What a step the admin stopped amounts to: not verified (stopped while it was read back), outcome
        unknown (stopped while the operation ran), or None (stopped before its intent was written)."""
        open_change = self._unsettled.get(_key(vm_id, step))
        if open_change is None or open_change.intent is not self._latest.get(_key(vm_id, step)):
            return None
        if open_change.verifying:
            if operation(step.op or "").detached:
                return StepResult(step, Outcome.NOT_VERIFIED, f"{_STOPPED}. {_GOES_ON}", _RECHECK)
            return StepResult(
                step, Outcome.NOT_VERIFIED, _STOPPED + ": re-check to see whether it took effect.", _RECHECK
            )
        message = "Stopped while it ran: the change may or may not have happened."
        return StepResult(step, Outcome.UNKNOWN, message, _RECHECK)

    async def refresh(self, *, licenses: bool | list[str] = True) -> Diagnosis:
        """Read the host again and settle what the fresh read shows done (see `recheck`)."""
        diagnosis = await self.session.refresh(licenses=licenses)
        await self._settle(diagnosis)
        return diagnosis

    def settled_result(self, vm_id: str | None, step: Step) -> StepResult | None:
        """The corrected result of a step a re-check found done after all, if any."""
        return self.settled.get(_key(vm_id, step))

    async def _settle(self, diagnosis: Diagnosis) -> None:
        for key, open_change in list(self._unsettled.items()):
            seen = _fresh(diagnosis, open_change.vm_id, operation(open_change.step.op or ""))
            if seen is None:
                continue
            ok, after, detail = self._check(open_change.step, seen)
            if not ok:
                continue
            await asyncio.to_thread(self.audit.record_recheck, open_change.intent, after=after, outcome=Outcome.OK)
            del self._unsettled[key]
            self.settled[key] = StepResult(
                open_change.step, Outcome.OK, f"Re-checked: the change is in effect ({detail}).", ""
            )

    async def confirm_manual(self, vm_id: str | None, step: Step, *, interaction: str) -> StepResult:
        """The admin says a manual step is done: re-check, and record whether the plan still needs it."""
        if vm_id:
            self.session.forget_license(vm_id)
        else:
            self.session.nodes.forget_all()  # a host step may be about a cluster node: read them again
        diagnosis = await self.session.refresh(licenses=[vm_id] if vm_id else [])
        vmd = diagnosis.for_vm(vm_id) if vm_id else None
        if vm_id and vmd is None:
            return StepResult(step, Outcome.FAILED, "The VM is no longer on the host.", "Refresh the host.")
        remedies = plan_for_vm(diagnosis, vm_id) if vm_id else plan_for_host(diagnosis)
        still = any(s.id == step.id for r in remedies for s in r.steps)
        unseen = (
            still
            and vmd is not None
            and step.id in _LICENSE_ONLY_AT_CONSOLE
            and vmd.vm.license.state is not LicenseState.READ
        )
        outcome = Outcome.UNKNOWN if unseen else Outcome.FAILED if still else Outcome.OK
        target = Target("vm", vmd.vm.name, vmd.vm.id) if vmd else Target("host", diagnosis.inventory.host.fqdn)
        await asyncio.to_thread(
            self.audit.append,
            host=self.session.host_name,
            remote_user=self.session.remote_user,
            target=target,
            action="manual_step_confirmed",
            phase="result",
            interaction=interaction,
            params={"step": step.id},
            after=vm_state(vmd.vm) if vmd else host_state(diagnosis.inventory.host),
            outcome=outcome,
        )
        if unseen:
            return StepResult(
                step,
                Outcome.UNKNOWN,
                "The host cannot read this guest's license (PowerShell Direct does not reach it), so it cannot tell.",
                "At the guest's console, slmgr /dlv should say Licensed, on the VIRTUAL_MACHINE_ACTIVATION channel.",
            )
        if still:
            return StepResult(
                step, Outcome.FAILED, "Re-checked: the problem is still there.", "Check the commands ran."
            )
        return StepResult(step, Outcome.OK, "Re-checked: the problem is gone.", "")

    async def _result(self, intent: dict[str, Any], **fields: Any) -> None:
        """Close `intent` in the audit log; the fsync runs in a thread so the UI's event loop never waits on disk."""
        await asyncio.to_thread(self.audit.result, intent, **fields)

    # --- before running ----------------------------------------------------------------------------

    async def _precheck(self, vm_id: str | None, step: Step, host_product_key: str | None) -> StepResult | None:
        """A StepResult when the step must not run now (refused, manual, something missing); else None."""
        if step.refusal:
            return StepResult(
                step, Outcome.SKIPPED, f"Not run: {step.refusal}", "Fix what it names first, then re-check."
            )
        if step.kind is StepKind.MANUAL:
            return StepResult(
                step, Outcome.MANUAL, "Run these commands yourself:\n" + step.script, "Then confirm to re-check."
            )
        if NEEDS_GUEST_CREDENTIALS in step.needs and self.session.guest_credential is None:
            return StepResult(
                step,
                Outcome.SKIPPED,
                "Not run: this step needs guest credentials.",
                "Enter the guest's administrator account (c in the TUI; --guest-user with AVMA_GUEST_PASSWORD).",
            )
        if NEEDS_GUEST_CREDENTIALS in step.needs and self.session.guest_login_rejected:
            return StepResult(
                step,
                Outcome.SKIPPED,
                "Not run: a guest rejected the guest credentials; no further logon is tried with them.",
                "Enter the guest's administrator account again (c in the TUI; --guest-user with AVMA_GUEST_PASSWORD).",
            )
        if NEEDS_HOST_PRODUCT_KEY in step.needs and not host_product_key:
            return StepResult(
                step, Outcome.SKIPPED, "Not run: this step needs the host's product key.", "Type it first."
            )
        diagnosis = self.session.diagnosis or await self.session.refresh()
        if vm_id:
            vm = diagnosis.inventory.vm(vm_id)
            if vm is None:
                return StepResult(step, Outcome.FAILED, "The VM is no longer on the host.", "Refresh the host.")
            if NEEDS_VM_RUNNING in step.needs and not vm.running:
                return StepResult(step, Outcome.SKIPPED, f"Not run: the VM is {vm.state}.", "Start the VM first.")
        return None

    # --- running -----------------------------------------------------------------------------------

    def _credential(self) -> Credential:
        """The session's guest credential; _precheck made sure there is one."""
        assert self.session.guest_credential is not None
        return self.session.guest_credential

    def _bind(self, vm_id: str | None, step: Step, op: Operation, host_product_key: str | None) -> dict[str, Any]:
        """The operation's parameters: the step's values, its secrets, the VM, the credential, the typed key."""
        values: dict[str, Any] = {**dict(step.params), **dict(step.secret_params), VM_ID: vm_id or ""}
        if NEEDS_HOST_PRODUCT_KEY in step.needs:
            values[PRODUCT_KEY] = host_product_key or ""
        if CREDENTIAL in op.params:
            values[CREDENTIAL] = self._credential()
        missing = [name for name in op.params if name not in values]
        if missing:
            raise ValueError(f"step {step.id} gives operation {op.name} no {', '.join(missing)}")
        return {name: values[name] for name in op.params}

    async def _run_op(self, vm_id: str | None, step: Step, op: Operation, host_product_key: str | None) -> Any:
        return await self.session.host.change(op.name, self._bind(vm_id, step, op, host_product_key))

    async def _read_license(self, vm_id: str, step: Step, progress: Callable[[str], None]) -> StepResult:
        """The read-only step: read the guest's license with the session's guest credentials."""
        progress("Reading the guest's license…")
        try:
            reads = await self.session.host.guest_licenses([vm_id], self._credential())
        except TransportError as err:
            failure = self._explain(err, step, vm_id)
            return StepResult(step, failure.outcome, failure.message, failure.next_step)
        read = reads.get(vm_id, LicenseRead(LicenseState.FAILED, error="no answer for this VM"))
        if read.state is LicenseState.READ:
            return StepResult(step, Outcome.OK, "The guest's license was read.", "")
        failure = self._explain(RemoteError(read.error, record=read.error_record), step, vm_id)
        return StepResult(step, failure.outcome, failure.message, failure.next_step)

    # --- verifying ---------------------------------------------------------------------------------

    async def _verify(
        self, vm_id: str | None, step: Step, returned: Any, progress: Callable[[str], None]
    ) -> tuple[bool, dict[str, Any], str]:
        """Poll until the step's effect reads back: (verified, state after, what was last seen).

        Bounded twice: by a number of polls (what an injected clock sees) and by the wall-clock deadline,
        because each read-back itself takes time (a PowerShell Direct read takes seconds) and the admin
        was promised an answer within the step's wait. A step whose operation has a `confirm` check is
        verified in two stages within the same wait: its `check` (the KVP edition), then `confirm` read
        from the guest's license (the new key), so a guest still restarting is simply read again.
        """
        op = operation(step.op or "")
        if not op.detached:
            return await self._poll(vm_id, step, returned, progress)
        self.detached_waits += 1
        try:
            return await self._poll(vm_id, step, returned, progress)
        finally:
            self.detached_waits -= 1

    async def _poll(
        self, vm_id: str | None, step: Step, returned: Any, progress: Callable[[str], None]
    ) -> tuple[bool, dict[str, Any], str]:
        op = operation(step.op or "")
        timeout = self._timeout(step)
        interval = self.slow_poll_interval if op.detached else self.poll_interval
        attempts = max(1, math.ceil(timeout / interval))
        started = time.monotonic()
        deadline = started + timeout
        seen: Any = None if op.detached else returned  # a detached change returns before anything shows
        confirming = False
        next_status, strikes = STATUS_EVERY_S, 0
        for attempt in range(attempts + 1):
            if seen is not None:
                ok, after, detail = self._confirmed(step, seen) if confirming else self._check(step, seen)
                if ok and op.confirm is not None and not confirming:  # the first stage holds: now the license
                    confirming = True
                    progress("The new edition shows in KVP; reading the guest's license for the new key")
                    seen = await self._read_back_license(vm_id)
                    ok, after, detail = self._confirmed(step, seen)
                if ok:
                    return True, after, detail
            if attempt == attempts or time.monotonic() >= deadline:
                break
            await self._sleep(min(interval, max(0.0, deadline - time.monotonic())))  # never past the wait
            if op.detached:
                elapsed = max((attempt + 1) * interval, time.monotonic() - started)
                what = "reading the guest's license" if confirming else "waiting for the new edition in KVP"
                # The elapsed time first: the batch table's detail column shows the first 44 characters.
                progress(f"DISM running in the guest, {duration(elapsed)} of up to {duration(timeout)}: {what}")
            elif op.check is not None:  # the time first: the batch table's detail column is narrow
                so_far = duration(round(max((attempt + 1) * interval, time.monotonic() - started)))
                progress(f"Verifying, {so_far} of up to {duration(timeout)}: waiting for {WAITS_FOR[op.check]}")
            seen = await self._read_back_license(vm_id) if confirming else await self._read_back(vm_id, step)
            if op.detached and not confirming and elapsed >= next_status and self._still_evaluation(seen):
                next_status += STATUS_EVERY_S
                failed = await self._task_failed(vm_id)
                strikes = strikes + 1 if failed is not None else 0
                if failed is not None and strikes >= 2:  # not a restart's moment: the guest stayed up a minute
                    raise _DismFailed(failed, self._check(step, seen)[1])
        if confirming:
            return False, *self._confirmed(step, seen)[1:]
        return False, *self._check(step, seen)[1:]

    def _still_evaluation(self, seen: Any) -> bool:
        """The guest is up (its KVP reports) and still an Evaluation edition."""
        if not isinstance(seen, Vm) or seen.guest is None or not seen.guest.reported:
            return False
        return self.catalog.edition(seen.guest.edition_id, seen.guest.os_name).evaluation

    async def _task_failed(self, vm_id: str | None) -> int | None:
        """The conversion task's failing last result, when it ended with one; None: running, done, or unreadable."""
        try:
            task = await self.session.host.conversion_status(vm_id or "", self._credential())
        except TransportError:
            return None  # the guest may be restarting: nothing concluded
        if task is None or task.state in ("Running", "Queued") or task.last_result in _DISM_NOT_FAILED:
            return None
        return task.last_result

    def _timeout(self, step: Step) -> float:
        op = operation(step.op or "")
        return self.waits.get(op.name) or op.wait_s or self.verify_timeout

    async def _read_back_license(self, vm_id: str | None) -> LicenseRead:
        reads = await self.session.host.guest_licenses([vm_id or ""], self._credential())
        return reads.get(vm_id or "", LicenseRead(LicenseState.FAILED, error="no answer for this VM"))

    def _confirmed(self, step: Step, seen: Any) -> tuple[bool, dict[str, Any], str]:
        """The second stage of a two-stage check (Operation.confirm), read from the guest's license."""
        op = operation(step.op or "")
        assert op.confirm is not None
        if isinstance(seen, LicenseRead):
            if seen.state is not LicenseState.READ:
                why = _remote_text(RemoteError(seen.error))
                return False, {}, f"the new edition shows; the license could not be read yet ({why})"
            seen = seen.license
        if not isinstance(seen, GuestLicense):
            return False, license_state(None), "the new edition shows; no product key is installed yet"
        ok, detail = _CHECKS[op.confirm](self, step, seen)
        return ok, license_state(seen), f"the new edition shows; {detail}"

    async def _read_back(self, vm_id: str | None, step: Step) -> Any:
        host = self.session.host
        how = operation(step.op or "").read_back
        if how is ReadBack.HOST:
            return (await host.inventory()).host
        if how is ReadBack.LICENSE:
            reads = await host.guest_licenses([vm_id or ""], self._credential())
            return reads.get(vm_id or "", LicenseRead(LicenseState.FAILED, error="no answer for this VM"))
        return await host.vm(vm_id or "")

    def _check(self, step: Step, seen: Any) -> tuple[bool, dict[str, Any], str]:
        """Whether `seen` (what the op returned or a read-back) shows the step's effect: (ok, state after, detail)."""
        op = operation(step.op or "")
        assert op.check is not None and op.read_back is not None  # the table says so for every change
        if op.read_back is ReadBack.LICENSE:
            if isinstance(seen, LicenseRead):
                if seen.state is not LicenseState.READ:
                    return False, {}, f"the license could not be read ({_remote_text(RemoteError(seen.error))})"
                seen = seen.license
            if seen is not None and not isinstance(seen, GuestLicense):
                return False, {}, "nothing read back yet"
            if seen is None:
                return False, license_state(None), "no product key is installed"
            after = license_state(seen)
        elif op.read_back is ReadBack.HOST and isinstance(seen, Host):
            after = host_state(seen)
        elif op.read_back is ReadBack.VM and isinstance(seen, Vm):
            after = vm_state(seen)
        else:
            return False, {}, "nothing read back yet"
        ok, detail = _CHECKS[op.check](self, step, seen)
        return ok, after, detail

    def _host_licensed(self, step: Step, host: Host) -> tuple[bool, str]:
        return host.license_status == 1, f"host license status {host.license_status}"

    def _kvp_enabled(self, step: Step, vm: Vm) -> tuple[bool, str]:
        ok = vm.kvp.enabled and (vm.kvp.status is KvpStatus.OK or not vm.running)
        return ok, f"KVP {'enabled' if vm.kvp.enabled else 'disabled'}, status {vm.kvp.raw_status or '-'}"

    def _vm_running(self, step: Step, vm: Vm) -> tuple[bool, str]:
        return vm.running, f"state {vm.state}"

    def _guest_kvp(self, step: Step, vm: Vm) -> tuple[bool, str]:
        ok = vm.kvp.status is KvpStatus.OK and vm.guest is not None and vm.guest.reported
        return ok, f"KVP status {vm.kvp.raw_status or '-'}, guest data {'present' if vm.guest else 'missing'}"

    def _not_evaluation(self, step: Step, vm: Vm) -> tuple[bool, str]:
        if vm.guest is None or not vm.guest.reported:
            return False, "the guest has not reported its edition yet (restarting?)"
        edition = self.catalog.edition(vm.guest.edition_id, vm.guest.os_name)
        return not edition.evaluation, f"edition {edition.label or 'unknown'}"

    def _key_installed(self, step: Step, lic: GuestLicense) -> tuple[bool, str]:
        wanted = dict(step.secret_params).get(PRODUCT_KEY, "")[-5:].upper()
        ok = lic.partial_product_key.upper() == wanted
        return ok, f"partial product key {lic.partial_product_key or '-'} (expected {wanted})"

    def _avma_activated(self, step: Step, lic: GuestLicense) -> tuple[bool, str]:
        host = self.session.diagnosis.inventory.host if self.session.diagnosis else None
        names = {host.name.lower(), host.fqdn.lower()} if host else set()
        ok = lic.status == 1 and lic.is_avma and lic.avma_host.lower() in names
        detail = f"license status {lic.status} on {lic.channel or 'no'} channel, AVMA host {lic.avma_host or '-'}"
        error = self.catalog.error(lic.reason) if lic.reason else None
        if error:
            detail += f"; {error.hex}: {error.meaning}"
        return ok, detail

    # --- explaining failures -----------------------------------------------------------------------

    def _explain(self, err: TransportError, step: Step, vm_id: str | None = None) -> _Failure:
        """A transport or remote failure in plain words, with what to do next (`vm_id`: the guest it ran in)."""
        if isinstance(err, OUTCOME_UNKNOWN_ERRORS):
            return _Failure(
                Outcome.UNKNOWN,
                f"The connection failed while the step ran ({_remote_text(err)}): "
                "the change may or may not have happened",
                _RECHECK,
                type(err).__name__,
            )
        if isinstance(err, (Unreachable, AuthenticationFailed, CertificateRejected)):
            return _Failure(Outcome.FAILED, _remote_text(err), "Reconnect to the host, then retry.", type(err).__name__)
        text = _remote_text(err)
        kind = classify_guest_error(err) if isinstance(err, RemoteError) else GuestErrorKind.OTHER
        if kind is GuestErrorKind.CREDENTIAL:
            vmd = self.session.diagnosis.for_vm(vm_id) if vm_id and self.session.diagnosis else None
            # no further logon with it until one is entered again; `c` and the wizard's login say who refused it
            self.session.reject_guest_credential(vmd.vm.name if vmd else "", message=text)
            return _Failure(
                Outcome.FAILED,
                "The guest rejected the credentials: wrong guest user name or password.",
                "Enter the guest's administrator account again (c in the TUI; --guest-user with "
                "AVMA_GUEST_PASSWORD), then retry.",
                "credential",
            )
        if kind is GuestErrorKind.PS_DIRECT:
            commands = console_commands(step)
            return _Failure(
                Outcome.FAILED,
                "PowerShell Direct cannot reach this guest (Windows Server 2012 R2 or older, still starting, "
                "or its VM session service is stopped).",
                "At the VM's console run:\n" + commands + "\nthen re-check." if commands else "Use the VM's console.",
                "ps_direct",
            )
        if kind is GuestErrorKind.NOT_RUNNING:
            return _Failure(Outcome.FAILED, "The VM is not running.", "Start the VM first, then retry.", "not_running")
        if kind is GuestErrorKind.NOT_FOUND:
            return _Failure(
                Outcome.FAILED,
                f"Hyper-V did not find this VM for the connected account ({text}).",
                "PowerShell Direct runs as the host account: it must be a Hyper-V Administrator or a local "
                "Administrator of the host. If it is, the VM was removed or moved: refresh.",
                "not_found",
            )
        if kind is GuestErrorKind.ACCESS:
            return _Failure(
                Outcome.FAILED,
                f"Access denied ({text}).",
                ACCESS_HINT,
                "access",
            )
        code = hresult_of(err)
        error = self.catalog.error(code)
        if error is not None:
            message = f"{error.hex} {error.symbol}: {error.text}"
            return _Failure(Outcome.FAILED, message, error.meaning, error.hex, refused=True)
        # A provider's (CimException) or the script's own (COMException) HRESULT is Windows refusing the change;
        # any other exception's HResult is only its .NET type's default and proves nothing.
        if code is not None and isinstance(err, RemoteError) and err.record.exception_name in _REFUSING_EXCEPTIONS:
            message = f"Windows reported 0x{code:08X}: {text}"
            return _Failure(Outcome.FAILED, message, _RECHECK, f"0x{code:08X}", refused=True)
        dism = isinstance(err, RemoteError) and err.record.error_id in _DISM_FAILED_IDS
        return _Failure(
            Outcome.FAILED, f"The host reported an error: {text}", _RECHECK + " Then retry.", "remote", refused=dism
        )


#: The function that judges each kind of check (core/operations.py, `Operation.check`); one per Check.
_CHECKS: dict[Check, Callable[[FixService, Step, Any], tuple[bool, str]]] = {
    Check.HOST_LICENSED: FixService._host_licensed,
    Check.KVP_ENABLED: FixService._kvp_enabled,
    Check.VM_RUNNING: FixService._vm_running,
    Check.GUEST_KVP: FixService._guest_kvp,
    Check.NOT_EVALUATION: FixService._not_evaluation,
    Check.KEY_INSTALLED: FixService._key_installed,
    Check.AVMA_ACTIVATED: FixService._avma_activated,
}
if set(_CHECKS) != set(Check):
    raise ImportError(f"services/fixing.py judges no check {sorted(set(Check) - set(_CHECKS))}")
