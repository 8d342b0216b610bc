"""An edition conversion survives (issue 11, "Long changes survive"): DISM runs detached in the guest, the
operation returns at once, the tool polls the KVP edition and then the license for up to 30 minutes, and a
wait that ends early (its limit, or the admin's Stop) never stops the conversion: it is recorded `not
verified`, and a later re-check records it done. The simulated host's clock is fake: waits cost no time."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from avma_tui.core.operations import OPERATIONS, Outcome
from avma_tui.core.remedies import Step, plan_for_vm
from avma_tui.paths import asset
from avma_tui.services.recheck import target_state

from .conftest import Rig

VM = "TEST-EVAL01"  # the demo's Evaluation guest; its [sim] conversion_s is 20, boot_delay_s 3


def conversion_step(rig: Rig, vm: str = VM) -> Step:
    diagnosis = rig.session.diagnosis
    assert diagnosis is not None
    (remedy,) = [r for r in plan_for_vm(diagnosis, rig.vm_id(vm)) if r.finding.code == "GUEST_EVALUATION"]
    (step,) = remedy.steps
    assert step.op == "set_edition"
    return step


def records_of(rig: Rig, action: str = "set_edition") -> list[dict]:
    return [r for r in rig.audit.records() if r["action"] in (action, "recheck")]


def test_the_conversion_waits_30_minutes_and_polls_detached() -> None:
    op = OPERATIONS["set_edition"]
    assert op.wait_s == 1800 and op.detached and op.confirm is not None


async def test_the_conversion_starts_returns_and_verifies_edition_then_license(make_rig) -> None:
    rig = await make_rig()
    step = conversion_step(rig)
    assert "restarts" in step.warning  # the warning still comes with the step
    lines: list[str] = []
    result = await rig.service.run_step(rig.vm_id(VM), step, interaction="t", on_progress=lines.append)
    assert result.outcome is Outcome.OK, result
    assert rig.clock.now - 1000.0 >= 20 + 3  # DISM's run and the restart, on the simulated clock
    intent, started, closing = records_of(rig)
    assert (intent["phase"], started["phase"], closing["phase"]) == ("intent", "started", "result")
    assert started["params"]["task"] == "\\avma-tui\\set-edition" and started["outcome"] is None
    assert closing["outcome"] == "ok" and closing["after"]["partial_product_key"] == step.params[-2][1][-5:]
    assert "started in the guest" in lines[1]
    assert any("waiting for the new edition in KVP" in line and "of up to 30 min" in line for line in lines)
    assert any("reading the guest's license for the new key" in line for line in lines)  # stage two
    assert rig.audit.pending() == [] and rig.audit.verify().ok


async def test_a_conversion_that_outlives_the_wait_is_not_verified_and_a_recheck_finds_it_done(make_rig) -> None:
    rig = await make_rig()
    rig.service.waits["set_edition"] = 10  # the wait ends 10 s in; DISM needs 20
    step = conversion_step(rig)
    result = await rig.service.run_step(rig.vm_id(VM), step, interaction="t")
    assert result.outcome is Outcome.NOT_VERIFIED, result
    assert "did not verify within 10 s" in result.message and "goes on in the guest" in result.message
    closing = records_of(rig)[-1]
    assert (closing["outcome"], closing["error"]["code"]) == ("unknown", "not_verified")
    rig.clock.now += 60  # the conversion went on without anyone waiting for it
    await rig.service.recheck(rig.vm_id(VM))
    recheck = records_of(rig)[-1]
    assert (recheck["action"], recheck["outcome"]) == ("recheck", "ok")
    assert recheck["params"]["intent_seq"] == records_of(rig)[0]["seq"]
    settled = rig.service.settled_result(rig.vm_id(VM), step)
    assert settled is not None and settled.outcome is Outcome.OK
    assert "GUEST_EVALUATION" not in rig.codes(VM)


async def test_stopping_the_wait_leaves_the_conversion_running_and_a_recheck_records_it(make_rig) -> None:
    rig = await make_rig()
    step = conversion_step(rig)
    waiting = asyncio.Event()

    async def sleep_until_stopped(seconds: float) -> None:  # 10 s into the wait, the admin presses Stop
        await rig.clock.sleep(seconds)
        if rig.clock.now >= 1010:
            waiting.set()
            await asyncio.Event().wait()

    rig.service._sleep = sleep_until_stopped
    task = asyncio.create_task(rig.service.run_step(rig.vm_id(VM), step, interaction="t"))
    await asyncio.wait_for(waiting.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stopped = rig.service.stopped_result(rig.vm_id(VM), step)
    assert stopped is not None and stopped.outcome is Outcome.NOT_VERIFIED
    assert "goes on in the guest" in stopped.message
    closing = records_of(rig)[-1]
    assert (closing["phase"], closing["outcome"], closing["error"]["code"]) == ("result", "unknown", "not_verified")
    assert "goes on in the guest" in closing["error"]["message"]
    rig.clock.now += 60
    vmd = await rig.service.recheck(rig.vm_id(VM))
    assert vmd.vm.guest is not None and not rig.service.catalog.edition(vmd.vm.guest.edition_id, "").evaluation
    assert [r["outcome"] for r in records_of(rig) if r["action"] == "recheck"] == ["ok"]
    assert rig.audit.verify().ok


async def test_an_evaluation_domain_controller_is_still_refused(make_rig, tmp_path: Path) -> None:
    demo = asset("scenarios", "demo.toml").read_text(encoding="utf-8")
    head, tail = demo.split(f'name = "{VM}"', 1)
    path = tmp_path / "eval-dc.toml"
    path.write_text(head + f'name = "{VM}"' + tail.replace('ProductType = "3"', 'ProductType = "2"', 1), "utf-8")
    rig = await make_rig(path)
    step = conversion_step(rig)
    assert "domain controller" in step.refusal
    result = await rig.service.run_step(rig.vm_id(VM), step, interaction="t")
    assert result.outcome is Outcome.SKIPPED and records_of(rig) == []


async def test_an_interrupted_conversion_still_running_is_not_called_failed(make_rig) -> None:
    """The tool died during the wait: the next start's re-check of the open intent cannot call a conversion
    that may still be running failed; once it shows, the re-check says it is in effect."""
    rig = await make_rig()
    vm_id = rig.vm_id(VM)
    rig.service.waits["set_edition"] = 5
    await rig.service.run_step(vm_id, conversion_step(rig), interaction="t")
    intent = records_of(rig)[0]
    assert target_state(await rig.session.refresh(), intent)[1] is Outcome.UNKNOWN  # DISM still runs
    rig.clock.now += 60
    assert target_state(await rig.session.refresh(), intent)[1] is Outcome.OK


async def test_a_dism_failure_in_the_guest_ends_the_wait_as_failed_long_before_30_minutes(make_rig) -> None:
    """A key DISM refuses (here the Standard key for a Datacenter conversion): the task ends with 0xC004F069 while
    the guest stays up as Evaluation; the wait reads the task once a minute and, seeing it twice, says so."""
    rig = await make_rig()
    step = conversion_step(rig)
    wrong = next(k.key for k in rig.service.catalog.avma_keys if k.family == "2022" and k.edition == "Standard")
    result = await rig.service.run_step(
        rig.vm_id(VM), replace(step, secret_params=(("ProductKey", wrong),)), interaction="t"
    )
    assert result.outcome is Outcome.FAILED, result
    assert "DISM ended in the guest with 0xC004F069" in result.message and "dism.log" in result.next_step
    assert rig.clock.now - 1000.0 < 20 + 3 * 60  # DISM's 20 s, then two task reads a minute apart
    closing = records_of(rig)[-1]
    assert (closing["outcome"], closing["error"]["code"]) == ("failed", "0xC004F069")
