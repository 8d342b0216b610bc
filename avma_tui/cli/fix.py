"""`avma-tui fix … --vm NAME`: the remedies for one VM without the TUI (docs/cli.md).

It walks the plan the way an admin would: take the first step that can run, show it, ask, run it
through FixService (audited, verified), re-check, plan again — because each fix changes what the
guest reports. Manual steps are printed with their commands. Exit 0 only when everything it could
fix verified green, 1 otherwise, 2 for usage and connection problems (CliError).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import sys
import textwrap
import time
from collections.abc import Callable

from avma_tui.core.model import Diagnosis, LicenseState, Vm, VmDiagnosis, VmStatus
from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import NEEDS_GUEST_CREDENTIALS, NEEDS_HOST_PRODUCT_KEY, Remedy, Step, StepKind, plan_for_vm
from avma_tui.errors import CliError
from avma_tui.hyperv.operations import step_script
from avma_tui.hyperv.transport import TransportError
from avma_tui.services.audit import AuditError, AuditLog, new_interaction
from avma_tui.services.fixing import FixService, StepResult
from avma_tui.services.report import printable
from avma_tui.services.session import Session
from avma_tui.services.targets import guest_credential, open_target, remote_user_of

#: Environment variable that may carry the host's product key for a headless run (never the command line).
HOST_KEY_ENV = "AVMA_HOST_PRODUCT_KEY"
#: Bound on plan → run → re-check rounds; a plan that keeps producing new steps is a bug, not a reason to loop.
MAX_ROUNDS = 25
#: A long wait (the edition conversion) prints its progress line, with the elapsed time, at most this often.
PROGRESS_EVERY_S = 60.0


def resolve_vm(diagnosis: Diagnosis, wanted: str) -> Vm:
    """The VM whose Id or name is `wanted` (names match case-insensitively, as Hyper-V Manager's search
    does); CliError when none matches, or when several do (listed with their Ids)."""
    vms = diagnosis.inventory.vms
    by_id = [vm for vm in vms if vm.id == wanted.strip().strip("{}").lower()]
    matches = by_id or [vm for vm in vms if vm.name == wanted]
    if not matches:
        matches = [vm for vm in vms if vm.name.casefold() == wanted.casefold()]
    if not matches:
        raise CliError(f"no VM with the name or Id {printable(wanted)!r} on {printable(diagnosis.inventory.host.fqdn)}")
    if len(matches) > 1:
        listed = ", ".join(f"{printable(vm.name)} ({vm.id})" for vm in matches)
        raise CliError(f"{len(matches)} VMs match {printable(wanted)!r}: pass --vm with one of their Ids: {listed}")
    return matches[0]


#: Width the dry-run plan wraps its prose at (a key or a path is never split).
PLAN_WIDTH = 80


def _wrapped(text: str, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(
        printable(text),
        width=PLAN_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def brief_step(number: int, step: Step, *, guest_login: bool) -> list[str]:
    """A step in a few lines: what (and how), a warning or refusal, the parameters, effect and check."""
    needs_login = NEEDS_GUEST_CREDENTIALS in step.needs and not guest_login
    how = step.kind.value + (", needs a guest login: --guest-user" if needs_login else "")
    lines = _wrapped(f"{step.title} ({how})", "     ", f"  {number}. ")
    if step.refusal:
        lines += _wrapped(f"REFUSED: {step.refusal}", "       ", "     ")
    if step.warning:
        lines += _wrapped(f"WARNING: {step.warning}", "       ", "     ")
    if step.kind is StepKind.MANUAL:
        lines += ["     at the console:", _indent(printable_lines(step.script), "       ")]
    else:
        lines.append(f"     runs {step.op}.ps1" + (" with parameters:" if step.params else ""))
        for name, value in step.params:  # one a line: an Id or a masked key is never split
            lines += _wrapped(f"{name} = {value}", "         ", "       ")
    lines += _wrapped(f"changes: {step.changes}", "       ", "     ")
    lines += _wrapped(f"verified by: {step.verify}", "       ", "     ")
    return lines


def after_login(vmd: VmDiagnosis) -> list[str]:
    """Without a guest login the license is not read: say which steps may follow once it is."""
    if vmd.vm.license.state is not LicenseState.NOT_READ or vmd.status is VmStatus.NOT_ELIGIBLE:
        return []
    key = (
        f"install the Windows Server {vmd.family} {vmd.edition} AVMA key (…{vmd.recommended_key_last5}) if "
        "the guest carries another key, then "
        if vmd.recommended_key_last5
        else ""
    )
    return _wrapped(
        "Without a guest login the guest's license is not read. With --guest-user (and AVMA_GUEST_PASSWORD) "
        f"the plan reads it first; then, by what it finds: {key}trigger activation in the guest and verify it.",
        "",
    )


def _prose(text: str, first: str, indent: str) -> list[str]:
    """Text of one or more lines, each wrapped at PLAN_WIDTH (commands are printed with `_indent`, never wrapped)."""
    lines: list[str] = []
    for number, line in enumerate(text.split("\n")):
        lines += _wrapped(line, indent, first if number == 0 else indent) or [first.rstrip()]
    return lines


def _indent(text: str, prefix: str = "       ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def describe_step(number: int, step: Step, *, with_script: bool = True) -> str:
    """A step as the plan prints it: what, why, parameters, the exact script or commands, effect, check."""
    lines = _wrapped(f"({step.kind.value}) {step.title}", "       ", f"  {number}. ")
    lines += _wrapped(f"why: {step.why}", "         ", "       ")
    if step.refusal:
        lines += _wrapped(f"REFUSED: {step.refusal}", "         ", "       ")
    if step.warning:
        lines += _wrapped(f"WARNING: {step.warning}", "         ", "       ")
    if step.needs:
        lines += _wrapped(f"needs: {', '.join(step.needs)}", "         ", "       ")
    if step.params:
        lines.append("       parameters:")
        for name, value in step.params:  # one a line: an Id or a masked key is never split
            lines += _wrapped(f"{name} = {value}", "           ", "         ")
    if with_script and step.kind is StepKind.MANUAL:
        lines += ["       commands:", _indent(step.script, "         ")]
    elif with_script:
        lines += [
            f"       script ({step.op}.ps1, run with the parameters above):",
            _indent(step_script(step), "         "),
        ]
    lines += _wrapped(f"changes: {step.changes}", "         ", "       ")
    lines += _wrapped(f"verified by: {step.verify}", "         ", "       ")
    return "\n".join(lines)


def describe_plan(
    remedies: list[Remedy], *, show_scripts: bool = False, guest_login: bool = True, vmd: VmDiagnosis | None = None
) -> str:
    """The dry-run plan: a few lines per step, or every step's full PowerShell with `show_scripts`."""
    parts: list[str] = []
    if not remedies:
        parts.append("Nothing to fix: no findings for this VM.")
    for remedy in remedies:
        f = remedy.finding
        parts += _wrapped(f"[{f.severity.value}] {f.code} — {f.subject}: {f.title}", "    ", "")
        if not remedy.steps:
            parts.append("  nothing to do (information only)")
        for number, step in enumerate(remedy.steps, 1):
            parts += (
                [describe_step(number, step)] if show_scripts else brief_step(number, step, guest_login=guest_login)
            )
    if not guest_login and vmd is not None:
        parts += ["", *after_login(vmd)]
    if not show_scripts and any(s.kind is not StepKind.MANUAL for r in remedies for s in r.steps):
        parts += ["", "--show-scripts prints the exact PowerShell of each step."]
    return "\n".join(parts).rstrip("\n") + "\n"


def _runnable(step: Step) -> bool:
    return step.kind is not StepKind.MANUAL and not step.refusal


class _Fixer:
    """One `fix` run: the loop of plan → confirm → run → re-check, and what it did."""

    def __init__(self, session: Session, args: argparse.Namespace, out: Callable[[str], None]) -> None:
        self.session = session
        self.args = args
        self.out = out
        audit = session.audit or AuditLog()
        waits = {"set_edition": args.conversion_wait} if getattr(args, "conversion_wait", None) else {}
        self.service = FixService(session, audit, verify_timeout=args.verify_timeout, poll_interval=0.5, waits=waits)
        self._last_progress = ("", 0.0)  # what was printed last and when: a 30-minute wait prints a line a minute
        self.interaction = new_interaction()
        self.done: set[tuple[str, str]] = set()  # (finding code, step id) run, declined or shown
        self.results: list[StepResult] = []
        self.host_key: str | None = None

    def _next(self, remedies: list[Remedy]) -> tuple[Remedy, Step] | None:
        """The first runnable step not tried yet; manual and refused steps are printed once on the way."""
        for remedy in remedies:
            for step in remedy.steps:
                key = (remedy.finding.code, step.id)
                if key in self.done:
                    continue
                if _runnable(step):
                    return remedy, step
                self.done.add(key)
                what = "refused" if step.refusal else "yours to do at the console"
                shown = describe_step(1, step, with_script=step.kind is StepKind.MANUAL)
                self.out(f"\n{remedy.finding.code}: {what} —\n{shown}")
        return None

    def _ask(self, step: Step) -> bool:
        self.out("\n" + describe_step(1, step))
        try:
            answer = input("Run this step? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def _host_product_key(self) -> str | None:
        if self.host_key is None:
            self.host_key = os.environ.get(HOST_KEY_ENV) or None
        if self.host_key is None and sys.stdin is not None and sys.stdin.isatty():
            self.host_key = getpass.getpass("The host's product key (input hidden): ").strip() or None
        return self.host_key

    async def run(self, vm: Vm) -> int:
        for _ in range(MAX_ROUNDS):
            diagnosis = self.session.diagnosis
            assert diagnosis is not None
            found = self._next(plan_for_vm(diagnosis, vm.id))
            if found is None:
                break
            remedy, step = found
            self.done.add((remedy.finding.code, step.id))
            if not self.args.yes and not self._ask(step):
                self.out("  declined: nothing changed")
                self.results.append(StepResult(step, Outcome.SKIPPED, "declined", ""))
                self._skip_rest(remedy)
                continue
            key = self._host_product_key() if NEEDS_HOST_PRODUCT_KEY in step.needs else None
            self.out("\n" + "\n".join(_wrapped(step.title, "  ", "→ ")))
            if self.args.yes and step.warning:  # unasked, but never unsaid (e.g. the MAK key it replaces)
                self.out("\n".join(_wrapped(f"WARNING: {step.warning}", "    ", "  ")))
            result = await self.service.run_step(
                vm.id, step, interaction=self.interaction, host_product_key=key, on_progress=self._progress
            )
            self.results.append(result)
            self._print_result(result)
            if result.outcome is not Outcome.OK:
                self._skip_rest(remedy)
            try:
                await self.service.recheck(vm.id)
            except KeyError:
                raise CliError(f"{printable(vm.name)} ({vm.id}) is no longer on the host") from None
            self._apply_settled(vm.id)
        return self._finish(vm)

    def _apply_settled(self, vm_id: str) -> None:
        """A step whose outcome was open and that the re-check found done counts as done, and says so."""
        for index, result in enumerate(self.results):
            if result.outcome is Outcome.OK:
                continue
            settled = self.service.settled_result(vm_id, result.step) or self.service.settled_result(None, result.step)
            if settled is not None:
                self.results[index] = settled
                self.out("\n".join(_prose(f"RE-CHECKED {settled.step.title}: {settled.message}", "  ", "    ")))

    def _skip_rest(self, remedy: Remedy) -> None:
        """After a failed or declined step the rest of its remedy would only fail the same way."""
        self.done.update((remedy.finding.code, s.id) for s in remedy.steps)

    def _progress(self, text: str) -> None:
        """Each progress line; a line that repeats with other numbers (a wait's elapsed time, its poll count)
        is printed at most once a minute, so a 30-minute conversion prints about 30 lines, not 360."""
        kind = re.sub(r"\d+", "#", text)
        now = time.monotonic()
        last_kind, last_time = self._last_progress
        if kind == last_kind and now - last_time < PROGRESS_EVERY_S:
            return
        self._last_progress = (kind, now)
        self.out("\n".join(_wrapped(text, "    ", "  … ")))

    def _print_result(self, result: StepResult) -> None:
        self.out("\n".join(_prose(f"{result.outcome.value.upper()}: {result.message}", "  ", "    ")))
        if result.next_step:
            self.out(_indent(printable_lines(result.next_step), "  next: "))

    def _finish(self, vm: Vm) -> int:
        diagnosis = self.session.diagnosis
        assert diagnosis is not None
        vmd = diagnosis.for_vm(vm.id)
        left = [r for r in plan_for_vm(diagnosis, vm.id) if any(_runnable(s) for s in r.steps)]
        status = vmd.status.value if vmd else "gone"
        remaining = ", ".join(f.code for f in vmd.findings) if vmd and vmd.findings else "none"
        self.out("\n" + "\n".join(_wrapped(f"{vm.name}: {status}; remaining findings: {remaining}", "  ", "")))
        failed = [r for r in self.results if r.outcome is not Outcome.OK]
        if failed or left:
            open_items = [f"{r.step.id} {r.outcome}" for r in failed] + [f"{r.finding.code} still open" for r in left]
            summary = "Not everything the tool can fix is green: " + ", ".join(open_items)
            self.out("\n".join(_wrapped(summary, "  ", "")))
            return 1
        return 0


def printable_lines(text: str) -> str:
    """Like `printable`, but keeps line breaks (multi-line next steps and commands)."""
    return "\n".join(printable(line) for line in text.split("\n"))


async def _fix(session: Session, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    try:
        diagnosis = await session.refresh()
        vm = resolve_vm(diagnosis, args.vm)
        vmd = diagnosis.for_vm(vm.id)
        # Two lines, so an 80-column terminal never wraps the Id (copied whole into `--vm`).
        out(f"{printable(vm.name)} on {printable(session.host_name)}: {vmd.status.value if vmd else ''}\nId {vm.id}")
        if args.dry_run:
            plan = describe_plan(
                plan_for_vm(diagnosis, vm.id),
                show_scripts=args.show_scripts,
                guest_login=session.guest_credential is not None,
                vmd=vmd,
            )
            out("Plan (dry run: nothing is changed)\n" + plan)
            return 0
        return await _Fixer(session, args, out).run(vm)
    finally:
        await session.close()


def run(args: argparse.Namespace) -> int:
    """`avma-tui fix`: 0 everything fixable verified green, 1 not, CliError (exit 2) for usage/connection."""
    if not args.dry_run and not args.yes and not (sys.stdin is not None and sys.stdin.isatty()):
        raise CliError("no terminal to confirm each change: pass --yes to run without asking, or --dry-run")
    session = Session(
        open_target(args), guest_credential=guest_credential(args), remote_user=remote_user_of(args), audit=AuditLog()
    )

    def out(text: str) -> None:
        print(text, flush=True)

    try:
        return asyncio.run(_fix(session, args, out))
    except (TransportError, AuditError) as err:
        raise CliError(printable(str(err))) from None
