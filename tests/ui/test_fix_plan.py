"""The wizard's rules without a screen: next step, what a batch runs, how a VM's batch ended."""

from __future__ import annotations

import pytest

from avma_tui.core.model import Diagnosis
from avma_tui.core.remedies import Step, StepKind, plan_for_host, plan_for_vm
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.fixing import StepResult
from avma_tui.services.plan import (
    FixTiming,
    PlannedStep,
    StepGroup,
    VmAccount,
    confirmed_steps,
    group_plan,
    make_service,
    next_step,
    plan_steps,
    runnable,
    summary_counts,
)
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated


async def _diagnosis(scenario: str = "demo.toml") -> tuple[Session, Diagnosis]:
    session = Session(
        open_simulated(asset("scenarios", scenario)), guest_credential=Credential("Administrator", "Passw0rd!")
    )
    return session, await session.refresh()


def _id(diagnosis: Diagnosis, name: str) -> str:
    return next(d.vm.id for d in diagnosis.vms if d.vm.name == name)


async def test_next_step_skips_what_was_tried_and_treats_a_repeated_id_as_one_step() -> None:
    _, diagnosis = await _diagnosis()
    steps = plan_steps(diagnosis, _id(diagnosis, "SQL01"))
    # activation fixes two of SQL01's findings: it is listed once
    assert [p.step.id for p in steps] == ["install_avma_key", "activate_guest"]
    assert next_step(steps, set()).step.id == "install_avma_key"
    assert next_step(steps, {"install_avma_key"}).step.id == "activate_guest"
    assert next_step(steps, {"install_avma_key", "activate_guest"}) is None


async def test_host_plan_when_no_vm_is_given() -> None:
    _, diagnosis = await _diagnosis("unactivated-host.toml")
    steps = plan_steps(diagnosis, None)
    assert [p.step.id for p in steps] == [s.id for r in plan_for_host(diagnosis) for s in r.steps]
    assert all(p.on_host for p in steps)


async def test_a_batch_runs_only_unattended_vm_steps() -> None:
    _, diagnosis = await _diagnosis("unactivated-host.toml")
    vm = diagnosis.vms[0].vm.id
    steps = plan_steps(diagnosis, vm)
    host_step = next(p for p in steps if p.step.id == "activate_host")
    assert host_step.on_host and not runnable(host_step)  # needs the host's key typed by the admin
    refused = [p for p in steps if p.step.refusal]
    assert refused and not any(runnable(p) for p in refused)
    _, demo = await _diagnosis()
    manual = plan_steps(demo, _id(demo, "APP2025"))[0]
    assert manual.step.id == "manual_move_vm" and not runnable(manual)
    assert confirmed_steps(demo, _id(demo, "APP2025")) == frozenset()
    assert {step_id for step_id, *_ in confirmed_steps(demo, _id(demo, "PRINT01"))} == {"enable_kvp", "activate_guest"}


async def test_group_plan_names_each_vm_once_per_step_in_fix_order() -> None:
    _, diagnosis = await _diagnosis("unactivated-host.toml")
    ids = [vmd.vm.id for vmd in diagnosis.vms]
    groups = group_plan(diagnosis, ids)
    host = [g for g in groups if g.kind == "host"]
    assert [g.step_id for g in host] == ["activate_host"]
    assert host[0].vm_names == tuple(
        dict.fromkeys(vmd.vm.name for vmd in diagnosis.vms if plan_for_vm(diagnosis, vmd.vm.id))
    )
    assert groups.index(host[0]) == 0
    assert all(len(set(g.vm_names)) == len(g.vm_names) for g in groups)


async def test_group_plan_follows_fix_order_not_the_order_of_the_marked_vms() -> None:
    _, diagnosis = await _diagnosis()
    groups = group_plan(diagnosis, [_id(diagnosis, n) for n in ("SQL01", "PRINT01", "WSUS01")])
    steps = [g.step_id for g in groups]
    assert steps.index("enable_kvp") < steps.index("install_avma_key") < steps.index("activate_guest")
    assert "refused" not in {g.kind for g in groups}  # PRINT01 and WSUS01 keep their AVMA keys


async def test_group_titles_that_differ_per_vm_get_a_shared_one() -> None:
    _, diagnosis = await _diagnosis()
    names = ["SQL01", "SQL02"]
    [install] = [
        g for g in group_plan(diagnosis, [_id(diagnosis, n) for n in names]) if g.step_id == "install_avma_key"
    ]
    assert install == StepGroup("install_avma_key", "Install the AVMA key", "run", ("SQL01", "SQL02"), "")


def _step(title: str = "step", kind: StepKind = StepKind.AUTOMATIC) -> Step:
    return Step(
        id=title,
        title=title,
        why="",
        kind=kind,
        op=None if kind is StepKind.MANUAL else "enable_kvp",
        params=(),
        script="",
        changes="",
        verify="",
        needs=(),
    )


def _result(outcome: str, title: str = "step") -> StepResult:
    return StepResult(_step(title), outcome, f"{outcome} message", "")


def _left(count: int, kind: StepKind = StepKind.MANUAL) -> tuple[PlannedStep, ...]:
    return tuple(PlannedStep(None, _step(f"left {n}", kind)) for n in range(count))


@pytest.mark.parametrize(
    ("results", "extra", "category"),
    [
        ([], {}, "nothing"),
        (["ok"], {}, "fixed"),
        (["ok"], {"left": _left(2)}, "manual"),
        (["ok"], {"left": _left(1, StepKind.ASSISTED)}, "more to do"),
        (["ok"], {"stopped": True, "left": _left(1)}, "stopped"),
        (["ok", "failed"], {"stopped": True}, "failed"),
        (["skipped"], {}, "failed"),
        (["ok", "unknown"], {}, "unknown"),
        (["ok"], {"interrupted": "Install the key"}, "unknown"),
        (["ok", "not verified"], {"interrupted": "Start the VM"}, "not verified"),
        (["not verified", "unknown"], {}, "unknown"),
        ([], {"problem": "reading the host failed: gone"}, "failed"),
    ],
)
def test_a_vm_account_says_the_worst_that_happened(results: list[str], extra: dict, category: str) -> None:
    account = VmAccount("id", "VM", frozenset({"step"}), results=[_result(o) for o in results], **extra)
    assert account.category == category
    assert bool(account.why) == (category not in ("fixed", "nothing"))


def test_why_names_the_first_failure_in_the_services_words() -> None:
    account = VmAccount("id", "VM", frozenset(), results=[_result("ok", "A"), _result("failed", "B")])
    assert account.why == "B: failed — failed message"


def test_summary_counts_in_a_fixed_order_leaving_out_zeros() -> None:
    accounts = [
        VmAccount("1", "a", frozenset(), results=[_result("failed")]),
        VmAccount("2", "b", frozenset(), results=[_result("ok")]),
        VmAccount("3", "c", frozenset(), left=_left(1)),
        VmAccount("4", "d", frozenset(), results=[_result("ok")]),
    ]
    assert summary_counts(accounts) == [("fixed", 2), ("failed", 1), ("need manual work", 1)]


async def test_make_service_takes_the_timing_it_is_given() -> None:
    session, _ = await _diagnosis()
    service = make_service(session, AuditLog())
    assert (service.verify_timeout, service.poll_interval) == (120.0, 1.0)
    explicit = make_service(session, AuditLog(), FixTiming(verify_timeout=1.0, poll_interval=0.1))
    assert (explicit.verify_timeout, explicit.poll_interval) == (1.0, 0.1)
