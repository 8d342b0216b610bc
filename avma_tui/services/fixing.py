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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from avma_tui.core.catalog import Catalog, load_catalog
from avma_tui.core.model import (
    GuestErrorKind,
    GuestLicense,
    Host,
    KvpStatus,
    LicenseRead,
    LicenseState,
    Vm,
    VmDiagnosis,
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
from avma_tui.hyperv.host import classify_guest_error, hresult_of
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

#: StepResult.outcome values. "skipped": not run (refused, or something it needs is missing);
#: "manual": the admin runs it; the others as in the audit log.
OUTCOMES = ("ok", "failed", "cancelled", "unknown", "skipped", "manual")
#: The audit action of each operation (docs/audit.md names activation "activate").
ACTIONS = {"activate_guest": "activate"}
#: Longest piece of remote error text kept in a message.
MAX_REMOTE_TEXT = 300
_READ_ONLY_OPS = frozenset({"guest_licenses"})
#: Operations on the host itself: their target is the host even when run from a VM's plan.
_HOST_OPS = frozenset({"activate_host"})
_RECHECK = "Re-check this VM to see where it stands."

#: Console steps whose effect only the guest's license shows: when the host cannot read that license
#: (no PowerShell Direct), a re-check cannot tell, and says so instead of calling the step failed.
_LICENSE_ONLY_AT_CONSOLE = frozenset({"manual_install_avma_key", "manual_activate_guest", "manual_kms_alternative"})
#: Operations whose effect takes far longer to show than a key or a service: DISM /Set-Edition runs for
#: minutes and restarts the guest (more than once), so its verification gets this many verify_timeouts.
_SLOW_OPS = {"set_edition": 10}


@dataclass(frozen=True)
class StepResult:
    step: Step
    outcome: str
    message: str  # what happened, in plain words
    next_step: str  # what to do next


@dataclass(frozen=True)
class _Failure:
    """A failure explained: the outcome, plain words, the next step, and the code the audit log records."""

    outcome: str
    message: str
    next_step: str
    code: str


def _remote_text(err: BaseException) -> str:
    """Remote error text fit for a message: one line, capped, any product key cut to its last five."""
    text = err.remote_message if isinstance(err, RemoteError) else str(err)
    text = redact({"text": " ".join(text.split())})["text"]
    return text if len(text) <= MAX_REMOTE_TEXT else text[: MAX_REMOTE_TEXT - 1] + "…"


def _vm_state(vm: Vm | None, lic: GuestLicense | None = None) -> dict[str, Any]:
    """The state the audit log records before and after a VM change."""
    if vm is None:
        return {}
    state: dict[str, Any] = {
        "state": vm.state,
        "kvp_enabled": vm.kvp.enabled,
        "kvp_status": vm.kvp.raw_status or vm.kvp.status.value,
        "guest_os": vm.guest.os_name if vm.guest else None,
    }
    lic = lic or vm.license.license
    if lic is not None:
        state.update(
            license_status=lic.status,
            channel=lic.channel,
            partial_product_key=lic.partial_product_key,
            avma_host=lic.avma_host,
        )
    return state


def _host_state(host: Host) -> dict[str, Any]:
    return {"license_status": host.license_status, "partial_product_key": host.partial_product_key}


class FixService:
    """Runs remedy steps against one session's host, audited and verified."""

    def __init__(
        self,
        session: Session,
        audit: AuditLog,
        *,
        verify_timeout: float = 120.0,
        poll_interval: float = 1.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        catalog: Catalog | None = None,
    ) -> None:
        self.session = session
        self.audit = audit
        self.verify_timeout = verify_timeout
        self.poll_interval = poll_interval
        self._sleep = sleep
        self.catalog = catalog or load_catalog()

    # --- public ------------------------------------------------------------------------------------

    async def recheck(self, vm_id: str) -> VmDiagnosis:
        """Read the host again; the VM's fresh diagnosis (KeyError when the VM is gone)."""
        diagnosis = await self.session.refresh()
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
        if step.op in _READ_ONLY_OPS:
            return await self._read_license(vm_id or "", step, progress)
        diagnosis = self.session.diagnosis
        assert diagnosis is not None  # _precheck refreshed it
        vm = diagnosis.inventory.vm(vm_id) if vm_id and step.op not in _HOST_OPS else None
        target = Target("vm", vm.name, vm.id) if vm else Target("host", diagnosis.inventory.host.fqdn)
        before = _vm_state(vm) if vm else _host_state(diagnosis.inventory.host)
        params: dict[str, Any] = {"step": step.id, **dict(step.params)}
        if step.op == "activate_host" and host_product_key:
            params["ProductKey"] = mask_key(host_product_key)
        intent = await asyncio.to_thread(
            self.audit.intent,
            host=self.session.host_name,
            remote_user=self.session.remote_user,
            target=target,
            action=ACTIONS.get(step.op or "", step.op or step.id),
            interaction=interaction,
            params=params,
            before=before,
        )
        progress(f"{step.title}…")
        try:
            returned = await self._run_op(vm_id, step, host_product_key)
        except asyncio.CancelledError:
            # Written in place, not in a thread: a cancelled task must not end before its record is on disk.
            self.audit.result(intent, outcome="unknown", error={"code": "cancelled", "message": "cancelled mid-step"})
            raise
        except TransportError as err:
            failure = self._explain(err, step)
            await self._result(
                intent, outcome=failure.outcome, error={"code": failure.code, "message": failure.message}
            )
            return StepResult(step, failure.outcome, failure.message, failure.next_step)
        progress("Verifying…")
        try:
            ok, after, detail = await self._verify(vm_id, step, returned, progress)
        except asyncio.CancelledError:
            self.audit.result(
                intent, outcome="cancelled", error={"code": "cancelled", "message": "verification cancelled"}
            )
            raise
        except TransportError as err:
            outcome = "cancelled" if isinstance(err, Cancelled) else "unknown"
            message = f"The change ran, but reading it back failed: {_remote_text(err)}"
            await self._result(intent, outcome=outcome, error={"code": type(err).__name__, "message": message})
            return StepResult(step, outcome, message, _RECHECK)
        if ok:
            await self._result(intent, outcome="ok", after=after)
            return StepResult(step, "ok", f"Done and verified: {step.verify}", "")
        message = f"The change ran but did not verify within {self._timeout(step):g} s: {detail}"
        await self._result(intent, outcome="failed", after=after, error={"code": "not_verified", "message": message})
        return StepResult(step, "failed", message, self._after_unverified(step))

    async def confirm_manual(self, vm_id: str | None, step: Step, *, interaction: str) -> StepResult:
        """The admin says a manual step is done: re-check, and record whether the plan still needs it."""
        diagnosis = await self.session.refresh()
        vmd = diagnosis.for_vm(vm_id) if vm_id else None
        if vm_id and vmd is None:
            return StepResult(step, "failed", "The VM is no longer on the host.", "Refresh the host.")
        remedies = plan_for_vm(diagnosis, vm_id) if vm_id else plan_for_host(diagnosis)
        still = any(s.id == step.id for r in remedies for s in r.steps)
        unseen = (
            still
            and vmd is not None
            and step.id in _LICENSE_ONLY_AT_CONSOLE
            and vmd.vm.license.state is not LicenseState.READ
        )
        outcome = "unknown" if unseen else "failed" if still else "ok"
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
            after=_vm_state(vmd.vm) if vmd else _host_state(diagnosis.inventory.host),
            outcome=outcome,
        )
        if unseen:
            return StepResult(
                step,
                "unknown",
                "The host cannot read this guest's license (PowerShell Direct does not reach it), so it cannot tell.",
                "At the guest's console, slmgr /dlv should say Licensed, on the VIRTUAL_MACHINE_ACTIVATION channel.",
            )
        if still:
            return StepResult(step, "failed", "Re-checked: the problem is still there.", "Check the commands ran.")
        return StepResult(step, "ok", "Re-checked: the problem is gone.", "")

    async def _result(self, intent: dict[str, Any], **fields: Any) -> None:
        """Close `intent` in the audit log; the fsync runs in a thread so the UI's event loop never waits on disk."""
        await asyncio.to_thread(self.audit.result, intent, **fields)

    # --- before running ----------------------------------------------------------------------------

    async def _precheck(self, vm_id: str | None, step: Step, host_product_key: str | None) -> StepResult | None:
        """A StepResult when the step must not run now (refused, manual, something missing); else None."""
        if step.refusal:
            return StepResult(step, "skipped", f"Not run: {step.refusal}", "Fix what it names first, then re-check.")
        if step.kind is StepKind.MANUAL:
            return StepResult(
                step, "manual", "Run these commands yourself:\n" + step.script, "Then confirm to re-check."
            )
        if NEEDS_GUEST_CREDENTIALS in step.needs and self.session.guest_credential is None:
            return StepResult(
                step,
                "skipped",
                "Not run: this step needs guest credentials.",
                "Enter the guest's administrator account (c in the TUI; --guest-user with AVMA_GUEST_PASSWORD).",
            )
        if NEEDS_HOST_PRODUCT_KEY in step.needs and not host_product_key:
            return StepResult(step, "skipped", "Not run: this step needs the host's product key.", "Type it first.")
        diagnosis = self.session.diagnosis or await self.session.refresh()
        if vm_id:
            vm = diagnosis.inventory.vm(vm_id)
            if vm is None:
                return StepResult(step, "failed", "The VM is no longer on the host.", "Refresh the host.")
            if NEEDS_VM_RUNNING in step.needs and not vm.running:
                return StepResult(step, "skipped", f"Not run: the VM is {vm.state}.", "Start the VM first.")
        return None

    # --- running -----------------------------------------------------------------------------------

    def _credential(self) -> Credential:
        """The session's guest credential; _precheck made sure there is one."""
        assert self.session.guest_credential is not None
        return self.session.guest_credential

    async def _run_op(self, vm_id: str | None, step: Step, host_product_key: str | None) -> Any:
        host = self.session.host
        secret = dict(step.secret_params)
        params = dict(step.params)
        vm = vm_id or ""
        if step.op == "enable_kvp":
            return await host.enable_kvp(vm)
        if step.op == "start_vm":
            return await host.start_vm(vm)
        if step.op == "start_guest_kvp":
            return await host.start_guest_kvp(vm, self._credential())
        if step.op == "install_key":
            return await host.install_key(vm, secret["ProductKey"], self._credential())
        if step.op == "activate_guest":
            return await host.activate_guest(vm, self._credential())
        if step.op == "set_edition":
            return await host.set_edition(vm, params["Edition"], secret["ProductKey"], self._credential())
        if step.op == "activate_host":
            return await host.activate_host(host_product_key or "")
        raise ValueError(f"step {step.id} has no runnable operation ({step.op!r})")

    async def _read_license(self, vm_id: str, step: Step, progress: Callable[[str], None]) -> StepResult:
        """The read-only step: read the guest's license with the session's guest credentials."""
        progress("Reading the guest's license…")
        try:
            reads = await self.session.host.guest_licenses([vm_id], self._credential())
        except TransportError as err:
            failure = self._explain(err, step)
            return StepResult(step, failure.outcome, failure.message, failure.next_step)
        read = reads.get(vm_id, LicenseRead(LicenseState.FAILED, error="no answer for this VM"))
        if read.state is LicenseState.READ:
            return StepResult(step, "ok", "The guest's license was read.", "")
        failure = self._explain(RemoteError(read.error), step)
        return StepResult(step, failure.outcome, failure.message, failure.next_step)

    # --- verifying ---------------------------------------------------------------------------------

    async def _verify(
        self, vm_id: str | None, step: Step, returned: Any, progress: Callable[[str], None]
    ) -> tuple[bool, dict[str, Any], str]:
        """Poll until the step's effect reads back: (verified, state after, what was last seen).

        Bounded twice: by a number of polls (what an injected clock sees) and by the wall-clock deadline,
        because each read-back itself takes time (a PowerShell Direct read takes seconds) and the admin
        was promised an answer within `verify_timeout`.
        """
        timeout = self._timeout(step)
        attempts = max(1, math.ceil(timeout / self.poll_interval))
        deadline = time.monotonic() + timeout
        seen = returned
        for attempt in range(attempts + 1):
            if seen is not None:
                ok, after, detail = self._check(step, seen)
                if ok:
                    return True, after, detail
            if attempt == attempts or time.monotonic() >= deadline:
                break
            await self._sleep(self.poll_interval)
            progress(f"Verifying… ({attempt + 1})")
            seen = await self._read_back(vm_id, step)
        return False, *self._check(step, seen)[1:]

    def _timeout(self, step: Step) -> float:
        return self.verify_timeout * _SLOW_OPS.get(step.op or "", 1)

    async def _read_back(self, vm_id: str | None, step: Step) -> Any:
        host = self.session.host
        if step.op == "activate_host":
            return (await host.inventory()).host
        if step.op in ("install_key", "activate_guest"):
            reads = await host.guest_licenses([vm_id or ""], self._credential())
            return reads.get(vm_id or "", LicenseRead(LicenseState.FAILED, error="no answer for this VM"))
        return await host.vm(vm_id or "")

    def _check(self, step: Step, seen: Any) -> tuple[bool, dict[str, Any], str]:
        """Whether `seen` (what the op returned or a read-back) shows the step's effect."""
        if isinstance(seen, Host):
            ok = seen.license_status == 1
            return ok, _host_state(seen), f"host license status {seen.license_status}"
        if isinstance(seen, LicenseRead):
            if seen.state is not LicenseState.READ:
                return False, {}, f"the license could not be read ({_remote_text(RemoteError(seen.error))})"
            seen = seen.license
        if isinstance(seen, GuestLicense) or (seen is None and step.op in ("install_key", "activate_guest")):
            return self._check_license(step, seen)
        if not isinstance(seen, Vm):
            return False, {}, "nothing read back yet"
        vm = seen
        after = _vm_state(vm)
        if step.op == "enable_kvp":
            ok = vm.kvp.enabled and (vm.kvp.status is KvpStatus.OK or not vm.running)
            return ok, after, f"KVP {'enabled' if vm.kvp.enabled else 'disabled'}, status {vm.kvp.raw_status or '-'}"
        if step.op == "start_vm":
            return vm.running, after, f"state {vm.state}"
        if step.op == "start_guest_kvp":
            ok = vm.kvp.status is KvpStatus.OK and vm.guest is not None and vm.guest.reported
            return (
                ok,
                after,
                f"KVP status {vm.kvp.raw_status or '-'}, guest data {'present' if vm.guest else 'missing'}",
            )
        if step.op == "set_edition":
            if vm.guest is None or not vm.guest.reported:
                return False, after, "the guest has not reported its edition yet (restarting?)"
            edition = self.catalog.edition(vm.guest.edition_id, vm.guest.os_name)
            return not edition.evaluation, after, f"edition {edition.label or 'unknown'}"
        return False, after, "no verification for this step"

    def _check_license(self, step: Step, lic: GuestLicense | None) -> tuple[bool, dict[str, Any], str]:
        if lic is None:
            return False, {"license_status": None}, "no product key is installed"
        after = {
            "license_status": lic.status,
            "channel": lic.channel,
            "partial_product_key": lic.partial_product_key,
            "avma_host": lic.avma_host,
        }
        if step.op == "install_key":
            wanted = dict(step.secret_params).get("ProductKey", "")[-5:].upper()
            ok = lic.partial_product_key.upper() == wanted
            return ok, after, f"partial product key {lic.partial_product_key or '-'} (expected {wanted})"
        host = self.session.diagnosis.inventory.host if self.session.diagnosis else None
        names = {host.name.lower(), host.fqdn.lower()} if host else set()
        ok = lic.status == 1 and lic.is_avma and lic.avma_host.lower() in names
        detail = f"license status {lic.status} on {lic.channel or 'no'} channel, AVMA host {lic.avma_host or '-'}"
        error = self.catalog.error(lic.reason) if lic.reason else None
        if error:
            detail += f"; {error.hex}: {error.meaning}"
        return ok, after, detail

    def _after_unverified(self, step: Step) -> str:
        if step.op in ("activate_guest", "install_key"):
            return "AVMA can take a few minutes: re-check shortly; if it stays, read the reason above."
        if step.op == "set_edition":
            return "The guest may still be restarting: re-check in a few minutes."
        return _RECHECK

    # --- explaining failures -----------------------------------------------------------------------

    def _explain(self, err: TransportError, step: Step) -> _Failure:
        """A transport or remote failure in plain words, with what to do next."""
        if isinstance(err, OUTCOME_UNKNOWN_ERRORS):
            return _Failure(
                "unknown",
                f"The connection failed while the step ran ({_remote_text(err)}): "
                "the change may or may not have happened.",
                _RECHECK + " (re-check offered)",
                type(err).__name__,
            )
        if isinstance(err, (Unreachable, AuthenticationFailed, CertificateRejected)):
            return _Failure("failed", _remote_text(err), "Reconnect to the host, then retry.", type(err).__name__)
        text = _remote_text(err)
        kind = classify_guest_error(text)
        if kind is GuestErrorKind.CREDENTIAL:
            return _Failure(
                "failed",
                "The guest rejected the credentials: wrong guest user name or password.",
                "Enter the guest's administrator account again (c in the TUI; --guest-user with "
                "AVMA_GUEST_PASSWORD), then retry.",
                "credential",
            )
        if kind is GuestErrorKind.PS_DIRECT:
            commands = console_commands(step)
            return _Failure(
                "failed",
                "PowerShell Direct cannot reach this guest (Windows Server 2012 R2 or older, still starting, "
                "or its VM session service is stopped).",
                "At the VM's console run:\n" + commands + "\nthen re-check." if commands else "Use the VM's console.",
                "ps_direct",
            )
        if kind is GuestErrorKind.NOT_RUNNING:
            return _Failure("failed", "The VM is not running.", "Start the VM first, then retry.", "not_running")
        code = hresult_of(text)
        error = self.catalog.error(code)
        if error is not None:
            return _Failure("failed", f"{error.hex} {error.symbol}: {error.text}", error.meaning, error.hex)
        if code is not None:
            return _Failure("failed", f"Windows reported 0x{code:08X}: {text}", _RECHECK, f"0x{code:08X}")
        return _Failure("failed", f"The host reported an error: {text}", _RECHECK + " Then retry.", "remote")
