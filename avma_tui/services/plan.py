"""What the fix wizard decides without a screen: the next step, how a batch groups, how each VM ended.

Kept apart from the widgets so the rules (which step comes next after a re-plan, what one batch
confirmation covers, when a VM counts as fixed) are plain functions over plans and StepResults.
A plan is recomputed after every step (remedies.py says why), so "what was tried" is remembered
here by step id: a failed or skipped step is not offered again unless the admin asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avma_tui.core.findings.registry import ORDER
from avma_tui.core.model import Diagnosis, Finding
from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import NEEDS_HOST_PRODUCT_KEY, Remedy, Step, StepKind, plan_for_host, plan_for_vm
from avma_tui.services.audit import AuditLog
from avma_tui.services.fixing import FixService, StepResult
from avma_tui.services.session import Session


@dataclass(frozen=True)
class FixTiming:
    """How long a change may take to read back, and how often it is read: tests shorten them."""

    verify_timeout: float = 120.0
    poll_interval: float = 1.0
    conversion_wait: float | None = None  # None: the operation table's (30 min)
    slow_poll_interval: float = 5.0  # between read-backs of a detached change (the conversion)


#: Batch fixes run at most this many VMs at once: a host (and its WinRM quota) is shared.
BATCH_PARALLELISM = 4
#: Step titles that name a key or an edition, and so differ per VM: a batch group uses these instead.
GROUP_TITLES = {
    "install_avma_key": "Install the AVMA key",
    "manual_install_avma_key": "Install the AVMA key at the VM's console",
    "set_edition": "Convert the Evaluation edition (DISM) with the AVMA key",
    "manual_set_edition": "Convert the Evaluation edition at the VM's console",
}
#: Results after which a VM's remaining steps are not started (they would fail the same way).
STOPPING_OUTCOMES = frozenset(
    {Outcome.FAILED, Outcome.UNKNOWN, Outcome.NOT_VERIFIED, Outcome.CANCELLED, Outcome.SKIPPED}
)


def make_service(session: Session, audit: AuditLog, timing: FixTiming = FixTiming()) -> FixService:
    """The fix service a wizard runs on; `timing` is the app's (tests pass a fast one to AvmaApp)."""
    return FixService(
        session,
        audit,
        verify_timeout=timing.verify_timeout,
        poll_interval=timing.poll_interval,
        waits={"set_edition": timing.conversion_wait} if timing.conversion_wait else None,
        slow_poll_interval=timing.slow_poll_interval,
    )


@dataclass(frozen=True)
class PlannedStep:
    """A step with the finding it fixes (None for the `k` key step); `on_host` steps run against the host."""

    finding: Finding | None
    step: Step

    @property
    def on_host(self) -> bool:
        return self.finding is not None and self.finding.subject_kind != "vm"


def plan_steps(diagnosis: Diagnosis, vm_id: str | None) -> list[PlannedStep]:
    """A VM's plan (the host's when `vm_id` is None) as one ordered list of steps.

    A step two findings share (activation fixes both "not activated" and "grace period") is listed
    once, under the first.
    """
    remedies = plan_for_vm(diagnosis, vm_id) if vm_id else plan_for_host(diagnosis)
    steps: dict[str, PlannedStep] = {}
    for remedy in remedies:
        for step in remedy.steps:
            steps.setdefault(step.id, PlannedStep(remedy.finding, step))
    return list(steps.values())


def left_open(diagnosis: Diagnosis, vm_id: str | None, history: list[StepResult]) -> list[str]:
    """What is still open for a VM (the host when `vm_id` is None) once the wizard has no step left to offer.

    One line per finding, with why the tool does not do it: a refusal, a step that is the admin's at the
    console, a step that failed or was skipped (in the service's words), or a finding with nothing to change.
    """
    remedies = plan_for_vm(diagnosis, vm_id) if vm_id else plan_for_host(diagnosis)
    last = {result.step.id: result for result in history}
    return [f"{remedy.finding.code} — {remedy.finding.title}: {_why_left(remedy, last)}" for remedy in remedies]


def _why_left(remedy: Remedy, last: dict[str, StepResult]) -> str:
    if not remedy.steps:
        return f"nothing the tool changes ({remedy.finding.remedy_summary})"
    step = next((s for s in remedy.steps if (r := last.get(s.id)) is None or r.outcome is not Outcome.OK), None)
    if step is None:
        return f"“{remedy.steps[-1].title}” is done, yet the finding remains: re-check in a minute"
    if step.refusal:
        return f"the tool will not “{step.title}”: {step.refusal}"
    if step.kind is StepKind.MANUAL:
        return f"“{step.title}” is yours to do (Re-check shows the commands again)"
    result = last.get(step.id)
    if result is None:
        return f"“{step.title}” has not run: Re-check offers it"
    if result.outcome is Outcome.SKIPPED:
        return f"you skipped “{step.title}” (Re-check offers it again)"
    return f"“{step.title}” {result.outcome}: {result.message}"


def next_step(steps: list[PlannedStep], tried: set[str]) -> PlannedStep | None:
    """The first step not tried yet; a step id that appears under two findings is one step."""
    return next((planned for planned in steps if planned.step.id not in tried), None)


def runnable(planned: PlannedStep) -> bool:
    """Whether a batch may run this step unattended: an operation, not refused, nothing typed by hand."""
    step = planned.step
    return (
        step.kind is not StepKind.MANUAL
        and not step.refusal
        and not planned.on_host
        and NEEDS_HOST_PRODUCT_KEY not in step.needs
    )


# --- batches -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepGroup:
    """One line of a batch plan: a step and the VMs it applies to."""

    step_id: str
    title: str
    kind: str  # "run" | "manual" | "refused" | "host"
    vm_names: tuple[str, ...]
    note: str = ""


def _group_kind(planned: PlannedStep) -> tuple[str, str]:
    step = planned.step
    if planned.on_host:
        return "host", "fix the host first (H on the dashboard)"
    if step.refusal:
        return "refused", step.refusal
    if runnable(planned):
        return "run", ""
    return "manual", "yours to do; the wizard for one VM shows the commands"


def group_plan(diagnosis: Diagnosis, vm_ids: list[str]) -> list[StepGroup]:
    """The batch plan grouped by step, in fix order (the findings' order, then each remedy's own order)."""
    rank = {code: index for index, code in enumerate(ORDER)}
    order: dict[tuple[str, str], tuple[int, int]] = {}
    titles: dict[tuple[str, str], set[str]] = {}
    names: dict[tuple[str, str], list[str]] = {}
    notes: dict[tuple[str, str], str] = {}
    for vm_id in vm_ids:
        vmd = diagnosis.for_vm(vm_id)
        if vmd is None:
            continue
        for position, planned in enumerate(plan_steps(diagnosis, vm_id)):
            kind, note = _group_kind(planned)
            key = (planned.step.id, kind)
            place = (rank.get(planned.finding.code if planned.finding else "", len(rank)), position)
            order[key] = min(order.get(key, place), place)
            if key not in names:
                names[key], titles[key] = [], set()
            titles[key].add(planned.step.title)
            notes[key] = notes.get(key) or note
            if vmd.vm.name not in names[key]:
                names[key].append(vmd.vm.name)
    groups = []
    for key in sorted(order, key=order.__getitem__):
        step_id, kind = key
        shared = titles[key].pop() if len(titles[key]) == 1 else GROUP_TITLES.get(step_id, step_id)
        note = notes[key] if kind != "refused" or len(names[key]) == 1 else "refused: see each VM's wizard for why"
        groups.append(StepGroup(step_id, shared, kind, tuple(names[key]), note))
    return groups


def consent(step: Step) -> tuple[str, str, str, bool]:
    """What one confirmation agrees to for a step: the step, the key it replaces, whether the guest restarts.

    A batch runs a step only while this is what the plan showed: a license read that lands between the
    plan and the run (a MAK key appears) makes it another step, left for the admin, never run unseen.
    """
    return step.id, step.replaces_key, step.replaced_last5, step.restarts_guest


def confirmed_steps(diagnosis: Diagnosis, vm_id: str) -> frozenset[tuple[str, str, str, bool]]:
    """What one batch confirmation covers for this VM: only the runnable steps the plan showed, as shown."""
    return frozenset(consent(planned.step) for planned in plan_steps(diagnosis, vm_id) if runnable(planned))


@dataclass(frozen=True)
class VmWarning:
    """A warning (or a refusal) a single fix would show, for one VM's step of a batch."""

    vm_name: str
    step_title: str
    text: str
    refused: bool = False
    grave: bool = False  # the step replaces a key or restarts the guest: the confirmation repeats it


def batch_warnings(diagnosis: Diagnosis, vm_ids: list[str]) -> list[VmWarning]:
    """Every warning of a step the batch would run, and every refusal, VM by VM in the marked order."""
    warnings = []
    for vm_id in vm_ids:
        vmd = diagnosis.for_vm(vm_id)
        if vmd is None:
            continue
        for planned in plan_steps(diagnosis, vm_id):
            step = planned.step
            if step.refusal and not planned.on_host:
                warnings.append(VmWarning(vmd.vm.name, step.title, step.refusal, refused=True))
            elif step.warning and runnable(planned):
                grave = bool(step.replaces_key) or step.restarts_guest
                warnings.append(VmWarning(vmd.vm.name, step.title, step.warning, grave=grave))
    return warnings


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def consequences(diagnosis: Diagnosis, vm_ids: list[str]) -> str:
    """ "This replaces 1 MAK key and restarts 1 guest." for the confirmed steps of these VMs ("" when neither)."""
    replaced: dict[str, int] = {}
    restarts = 0
    for vm_id in vm_ids:
        if diagnosis.for_vm(vm_id) is None:
            continue
        for planned in plan_steps(diagnosis, vm_id):
            if not runnable(planned):
                continue
            if planned.step.replaces_key:
                replaced[planned.step.replaces_key] = replaced.get(planned.step.replaces_key, 0) + 1
            restarts += planned.step.restarts_guest
    parts = []
    if replaced:
        parts.append("replaces " + _and([_count(count, label) for label, count in replaced.items()]))
    if restarts:
        parts.append("restarts " + _count(restarts, "guest"))
    return f"This {_and(parts)}." if parts else ""


def batch_question(diagnosis: Diagnosis, vm_ids: list[str]) -> str:
    """The batch confirmation's first line: "Run 5 steps on 3 VMs? This replaces 1 MAK key and restarts 1 guest." """
    per_vm = {vm_id: confirmed_steps(diagnosis, vm_id) for vm_id in vm_ids if diagnosis.for_vm(vm_id) is not None}
    steps = sum(len(steps) for steps in per_vm.values())
    vms = sum(1 for steps in per_vm.values() if steps)
    question = f"Run {_count(steps, 'step')} on {_count(vms, 'VM')}?"
    effects = consequences(diagnosis, [vm_id for vm_id, steps in per_vm.items() if steps])
    return f"{question} {effects}" if effects else question


@dataclass
class VmAccount:
    """What a batch did to one VM: the true record the summary is made of."""

    vm_id: str
    name: str
    confirmed: frozenset[tuple[str, str, str, bool]]  # consent() of each step the confirmation covers
    results: list[StepResult] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    left: tuple[PlannedStep, ...] = ()  # steps of the fresh plan still open afterwards
    running: str = ""  # the title of the step running now
    stopped: bool = False  # the admin stopped the batch before all its steps ran
    interrupted: str = ""  # the step that was running when the admin cancelled it
    changed: str = ""  # a confirmed step that is no longer what the plan showed (so it did not run), and why
    problem: str = ""  # reading the host or writing the audit log failed

    @property
    def category(self) -> str:
        """unknown | not verified | failed | stopped | more to do | manual | fixed | nothing: the first that applies.

        "more to do": every step that ran is done, and the fresh plan has a step the tool can run that
        the confirmation did not cover (after a conversion, the activation): the VM's wizard runs it.
        """
        if self.interrupted and not self.results_include(Outcome.NOT_VERIFIED):
            return "unknown"
        if self.results_include(Outcome.UNKNOWN):
            return "unknown"
        if self.results_include(Outcome.NOT_VERIFIED):
            return "not verified"
        if self.problem or any(result.outcome is not Outcome.OK for result in self.results):
            return "failed"
        if self.stopped:
            return "stopped"
        if any(runnable(planned) for planned in self.left):
            return "more to do"
        if self.left:
            return "manual"
        return "fixed" if self.results else "nothing"

    @property
    def confirmed_ids(self) -> frozenset[str]:
        return frozenset(step_id for step_id, *_ in self.confirmed)

    def results_include(self, outcome: Outcome) -> bool:
        return any(result.outcome is outcome for result in self.results)

    @property
    def why(self) -> str:
        """The first thing that went wrong, in the service's plain words."""
        if self.interrupted and self.results_include(Outcome.NOT_VERIFIED):
            return f"{self.interrupted}: stopped while verifying, not verified — re-check this VM"
        if self.interrupted:
            return f"{self.interrupted}: cancelled mid-step, its outcome is unknown — re-check this VM"
        bad = next((result for result in self.results if result.outcome is not Outcome.OK), None)
        if bad is not None:
            return f"{bad.step.title}: {bad.outcome} — {bad.message}"
        if self.problem:
            return self.problem
        if self.changed:
            return self.changed
        if self.stopped:
            return "stopped before all its steps ran"
        new = [planned.step.title for planned in self.left if runnable(planned)]
        done = self.results[-1].step.title + ": done. " if self.results else ""
        if new:
            return f"{done}Next: {'; '.join(new)} — not confirmed here: open its wizard (f) to run it"
        if self.left:
            titles = "; ".join(planned.step.title for planned in self.left)
            return f"{done}Left for you: {titles} — its wizard (f) shows how"
        return ""


SUMMARY_LABELS = (
    ("fixed", "fixed"),
    ("failed", "failed"),
    ("unknown", "outcome unknown"),
    ("not verified", "not verified"),
    ("more to do", "have a next step"),
    ("manual", "need manual work"),
    ("stopped", "stopped"),
    ("nothing", "nothing to do"),
)


def summary_counts(accounts: list[VmAccount]) -> list[tuple[str, int]]:
    """(label, count) for every category that occurred, in a fixed order."""
    counts = {category: 0 for category, _ in SUMMARY_LABELS}
    for account in accounts:
        counts[account.category] += 1
    return [(label, counts[category]) for category, label in SUMMARY_LABELS if counts[category]]


def steps_left(diagnosis: Diagnosis, vm_id: str, tried: set[str]) -> tuple[PlannedStep, ...]:
    """The steps of the VM's fresh plan a batch leaves to the admin (manual, refused, new)."""
    return tuple(planned for planned in plan_steps(diagnosis, vm_id) if planned.step.id not in tried)
