"""FixService end to end on the simulated host: each fixable finding of the demo fixed and verified,
the failures explained in plain words, the audit trail complete and free of secrets."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from avma_tui.core.catalog import load_catalog
from avma_tui.core.model import VmStatus
from avma_tui.core.remedies import Step, StepKind, key_step, plan_for_vm
from avma_tui.hyperv.operations import step_script
from avma_tui.hyperv.transport import ConnectionLost, Credential, TimedOut
from avma_tui.paths import asset

from .conftest import GUEST, Rig

HOST_KEY = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"  # the unactivated-host scenario's (fake) host key


def steps_for(rig: Rig, name: str, code: str) -> list[Step]:
    assert rig.session.diagnosis is not None
    plan = plan_for_vm(rig.session.diagnosis, rig.vm_id(name))
    (remedy,) = [r for r in plan if r.finding.code == code]
    return list(remedy.steps)


async def fix(rig: Rig, name: str, code: str, **kwargs) -> list[str]:
    """Run every step of `code`'s remedy for VM `name`; the outcomes; then re-check."""
    vm_id = rig.vm_id(name)
    outcomes = []
    for step in steps_for(rig, name, code):
        result = await rig.service.run_step(vm_id, step, interaction="test", **kwargs)
        outcomes.append(result.outcome)
        assert result.outcome == "ok", (step.id, result)
    await rig.service.recheck(vm_id)
    return outcomes


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("PRINT01", "KVP_DISABLED"),
        ("ARCHIVE01", "VM_NOT_RUNNING"),
        ("WSUS01", "KVP_NO_CONTACT"),
        ("CA01", "KVP_NO_CONTACT"),
        ("SQL01", "KEY_NOT_AVMA"),
        ("RDS01", "KEY_NOT_AVMA"),
        ("WEB01", "ACTIVATED_BY_OTHER_HOST"),
        ("TEST-EVAL01", "GUEST_EVALUATION"),
    ],
)
async def test_fixes_a_demo_finding_end_to_end(make_rig, name: str, code: str) -> None:
    rig = await make_rig()
    assert code in rig.codes(name)
    await fix(rig, name, code)
    assert code not in rig.codes(name)


async def test_grace_period_goes_once_the_plan_is_walked_in_order(make_rig) -> None:
    rig = await make_rig()
    assert rig.codes("SQL01") == ["KEY_NOT_AVMA", "GRACE_PERIOD"]
    await fix(rig, "SQL01", "KEY_NOT_AVMA")
    assert rig.codes("SQL01") == [] and rig.vmd("SQL01").status is VmStatus.ACTIVATED_AVMA


async def test_not_activated_after_kvp_is_fixed(make_rig) -> None:
    rig = await make_rig()
    await fix(rig, "PRINT01", "KVP_DISABLED")
    assert "NOT_ACTIVATED" in rig.codes("PRINT01")
    await fix(rig, "PRINT01", "NOT_ACTIVATED")
    vmd = rig.vmd("PRINT01")
    assert vmd.status is VmStatus.ACTIVATED_AVMA and vmd.findings == ()
    assert vmd.vm.license.license is not None and vmd.vm.license.license.avma_host == "HV01"


async def test_key_not_avma_ends_licensed_by_this_host(make_rig) -> None:
    rig = await make_rig()
    step = key_step(rig.session.diagnosis, rig.vm_id("SQL02"))
    assert step.warning.startswith("replaces a MAK key")
    await fix(rig, "SQL02", "KEY_NOT_AVMA")
    vmd = rig.vmd("SQL02")
    assert vmd.status is VmStatus.ACTIVATED_AVMA
    assert vmd.vm.license.license.partial_product_key == load_catalog().avma_key("2022", "Datacenter").last5


async def test_evaluation_guest_is_converted_and_activates(make_rig) -> None:
    rig = await make_rig()
    await fix(rig, "TEST-EVAL01", "GUEST_EVALUATION")
    for remedy in plan_for_vm(rig.session.diagnosis, rig.vm_id("TEST-EVAL01")):
        for step in remedy.steps:
            assert (await rig.service.run_step(rig.vm_id("TEST-EVAL01"), step, interaction="t")).outcome == "ok"
    vmd = await rig.service.recheck(rig.vm_id("TEST-EVAL01"))
    assert vmd.status is VmStatus.ACTIVATED_AVMA and "Evaluation" not in vmd.edition


async def test_host_not_activated_with_the_typed_host_key(make_rig) -> None:
    rig = await make_rig("unactivated-host")
    plan = plan_for_vm(rig.session.diagnosis, rig.vm_id("APP11"))
    assert plan[0].finding.code == "HOST_NOT_ACTIVATED"
    (step,) = plan[0].steps
    skipped = await rig.service.run_step(None, step, interaction="t")
    assert skipped.outcome == "skipped" and "product key" in skipped.message
    result = await rig.service.run_step(None, step, interaction="t", host_product_key=HOST_KEY)
    assert result.outcome == "ok", result
    diagnosis = await rig.session.refresh()
    assert "HOST_NOT_ACTIVATED" not in {f.code for f in diagnosis.host_findings}
    # Then the guests activate against the host again.
    await fix(rig, "APP11", "NOT_ACTIVATED")
    assert rig.vmd("APP11").status is VmStatus.ACTIVATED_AVMA
    intent = next(r for r in rig.audit.records() if r["action"] == "activate_host")
    assert intent["target"]["kind"] == "host" and intent["params"]["ProductKey"].endswith("-XXXXX")


async def test_wrong_host_key_is_decoded(make_rig) -> None:
    rig = await make_rig("unactivated-host")
    (step,) = plan_for_vm(rig.session.diagnosis, rig.vm_id("APP11"))[0].steps
    result = await rig.service.run_step(None, step, interaction="t", host_product_key="ABCDE-ABCDE-ABCDE-ABCDE-ABCDE")
    assert result.outcome == "failed" and result.message.startswith("0xC004F050")
    assert result.next_step == load_catalog().error(0xC004F050).meaning


async def test_license_unknown_is_fixed_by_giving_credentials(make_rig) -> None:
    rig = await make_rig(credential=None)
    assert "LICENSE_UNKNOWN" in rig.codes("APP01")
    (step,) = steps_for(rig, "APP01", "LICENSE_UNKNOWN")
    skipped = await rig.service.run_step(rig.vm_id("APP01"), step, interaction="t")
    assert skipped.outcome == "skipped" and "guest credentials" in skipped.message
    rig.session.guest_credential = GUEST
    assert (await rig.service.run_step(rig.vm_id("APP01"), step, interaction="t")).outcome == "ok"
    vmd = await rig.service.recheck(rig.vm_id("APP01"))
    assert "LICENSE_UNKNOWN" not in [f.code for f in vmd.findings]
    assert vmd.status is VmStatus.ACTIVATED_AVMA
    assert rig.audit.records() == []  # reading is not a change


async def test_wrong_guest_password(make_rig) -> None:
    rig = await make_rig()
    step = key_step(rig.session.diagnosis, rig.vm_id("SQL01"))
    rig.session.guest_credential = Credential("Administrator", "wrong-Passw0rd")
    result = await rig.service.run_step(rig.vm_id("SQL01"), step, interaction="t")
    assert result.outcome == "failed"
    assert "wrong guest user name or password" in result.message and "AVMA_GUEST_PASSWORD" in result.next_step
    assert rig.audit.records()[-1]["outcome"] == "failed"


async def test_ps_direct_unavailable_gives_console_commands(make_rig, tmp_path: Path) -> None:
    text = (Path(__file__).parent / "no_ps_direct.toml").read_text(encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    rig = await make_rig(path, credential=None)
    step = key_step(rig.session.diagnosis, rig.vm_id("NOSESSION01"))  # license unread: PS Direct not ruled out
    assert step.kind is StepKind.ASSISTED
    rig.session.guest_credential = GUEST
    result = await rig.service.run_step(rig.vm_id("NOSESSION01"), step, interaction="t")
    assert result.outcome == "failed" and "PowerShell Direct cannot reach this guest" in result.message
    key = load_catalog().avma_key("2019", "Standard").key
    assert f"slmgr /ipk {key}\nslmgr /ato" in result.next_step


async def test_f069_avma_key_on_evaluation_is_decoded(make_rig) -> None:
    rig = await make_rig()
    install = key_step(rig.session.diagnosis, rig.vm_id("SQL01"))
    result = await rig.service.run_step(rig.vm_id("TEST-EVAL01"), install, interaction="t")
    error = load_catalog().error(0xC004F069)
    assert result.outcome == "failed" and result.message == f"0xC004F069 {error.symbol}: {error.text}"
    assert result.next_step == error.meaning
    assert rig.audit.records()[-1]["error"]["code"] == "0xC004F069"


async def test_f050_invalid_key_is_decoded(make_rig) -> None:
    rig = await make_rig()
    install = key_step(rig.session.diagnosis, rig.vm_id("SQL01"))
    bogus = replace(install, secret_params=(("ProductKey", "ABCDE-FGHJK-MNPQR-STVWX-YZ234"),))
    result = await rig.service.run_step(rig.vm_id("SQL01"), bogus, interaction="t")
    assert result.outcome == "failed" and result.message.startswith("0xC004F050")


@pytest.mark.parametrize("error", [ConnectionLost("the connection to HV01 was reset"), TimedOut("no answer in 30 s")])
async def test_connection_lost_mid_step_is_unknown_and_offers_a_recheck(make_rig, error) -> None:
    rig = await make_rig()
    (step,) = steps_for(rig, "PRINT01", "KVP_DISABLED")
    rig.transport.fail_next(error)
    result = await rig.service.run_step(rig.vm_id("PRINT01"), step, interaction="t")
    assert result.outcome == "unknown" and "may or may not have happened" in result.message
    assert "re-check" in result.next_step.lower()
    intent, outcome = rig.audit.records()[-2:]
    assert (intent["phase"], outcome["phase"], outcome["outcome"]) == ("intent", "result", "unknown")
    assert rig.audit.pending() == []


async def test_cancelled_during_verification_is_recorded(make_rig) -> None:
    rig = await make_rig()
    verifying, never = asyncio.Event(), asyncio.Event()

    async def stuck(_seconds: float) -> None:
        verifying.set()
        await never.wait()

    # Verification waits for the VM to boot, forever (Activate() itself is synchronous: nothing to wait for).
    rig.service._sleep = stuck
    (step,) = steps_for(rig, "ARCHIVE01", "VM_NOT_RUNNING")
    task = asyncio.create_task(rig.service.run_step(rig.vm_id("ARCHIVE01"), step, interaction="t"))
    await verifying.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The change ran; only its verification was stopped: not verified (the audit's "unknown"), never "cancelled".
    last = rig.audit.records()[-1]
    assert (last["outcome"], last["error"]["code"]) == ("unknown", "not_verified")
    stopped = rig.service.stopped_result(rig.vm_id("ARCHIVE01"), step)
    assert stopped is not None and stopped.outcome == "not verified"
    await rig.clock.sleep(60)  # the VM boots meanwhile
    await rig.service.recheck(rig.vm_id("ARCHIVE01"))
    settled = rig.service.settled_result(rig.vm_id("ARCHIVE01"), step)
    assert settled is not None and settled.outcome == "ok"
    assert (rig.audit.records()[-1]["action"], rig.audit.records()[-1]["outcome"]) == ("recheck", "ok")


async def test_unverified_activation_fails_with_the_reason(make_rig) -> None:
    rig = await make_rig()
    # APP2025 is newer than the host: its activation is refused by the plan; run it anyway.
    (activate,) = [s for s in steps_for(rig, "APP2025", "NOT_ACTIVATED") if s.op == "activate_guest"]
    assert activate.refusal.startswith("GUEST_NEWER_THAN_HOST")
    refused = await rig.service.run_step(rig.vm_id("APP2025"), activate, interaction="t")
    assert refused.outcome == "skipped" and rig.audit.records() == []
    result = await rig.service.run_step(rig.vm_id("APP2025"), replace(activate, refusal=""), interaction="t")
    assert result.outcome == "failed" and "0xC004FD03" in result.message
    # Activate() raised SL_E_IA_ID_MISMATCH and the guest stays in its grace state: a refusal, not "unknown";
    # the audit keeps the code, and the host's 12310 event carries it for the findings.
    last = rig.audit.records()[-1]
    assert (last["action"], last["outcome"], last["error"]["code"]) == ("activate", "failed", "0xC004FD03")
    await rig.service.recheck(rig.vm_id("APP2025"))
    event = next(f for f in rig.vmd("APP2025").findings if f.code == "AVMA_EVENT_FAILURE")
    assert "0xC004FD03" in event.detail


async def test_manual_step_confirmation_rechecks_and_is_audited(make_rig) -> None:
    rig = await make_rig()
    (step,) = steps_for(rig, "FS-OLD01", "PS_DIRECT_UNAVAILABLE")
    shown = await rig.service.run_step(rig.vm_id("FS-OLD01"), step, interaction="t")
    assert shown.outcome == "manual" and "slmgr /ipk" in shown.message
    result = await rig.service.confirm_manual(rig.vm_id("FS-OLD01"), step, interaction="t")
    # The host cannot read a 2012 R2 guest's license: it cannot tell whether the commands ran, and says so.
    assert result.outcome == "unknown" and "slmgr /dlv" in result.next_step
    (record,) = rig.audit.records()
    assert (record["action"], record["phase"], record["outcome"]) == ("manual_step_confirmed", "result", "unknown")


async def test_a_manual_step_the_host_can_see_is_failed_while_its_problem_remains(make_rig) -> None:
    rig = await make_rig()
    (step,) = steps_for(rig, "APP03", "GUEST_OS_UNKNOWN")
    result = await rig.service.confirm_manual(rig.vm_id("APP03"), step, interaction="t")
    assert result.outcome == "failed" and "still there" in result.message
    (record,) = rig.audit.records()
    assert record["outcome"] == "failed"


async def test_audit_has_intent_and_result_per_change_and_no_secret(make_rig, tmp_path: Path) -> None:
    rig = await make_rig()
    await fix(rig, "PRINT01", "KVP_DISABLED")
    await fix(rig, "SQL01", "KEY_NOT_AVMA")
    records = rig.audit.records()
    assert [(r["action"], r["phase"]) for r in records] == [
        ("enable_kvp", "intent"), ("enable_kvp", "result"), ("install_key", "intent"), ("install_key", "result"),
        ("activate", "intent"), ("activate", "result"),
    ]  # fmt: skip
    assert all(r["outcome"] == "ok" for r in records if r["phase"] == "result")
    assert records[3]["before"]["channel"] == "VOLUME_KMSCLIENT"
    assert records[3]["after"]["partial_product_key"] == "4GF74"
    assert all(r["host"] == "HV01.contoso.local" and r["remote_user"] == "hvadmin" for r in records)
    assert rig.audit.verify().ok and rig.audit.pending() == []
    text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "audit").iterdir())
    assert "Passw0rd!" not in text
    assert load_catalog().avma_key("2019", "Standard").key not in text
    assert "XXXXX-XXXXX-XXXXX-XXXXX-4GF74" in text


async def test_hostile_vm_name_through_a_whole_fix(make_rig) -> None:
    rig = await make_rig("hostile")
    name = "[red]x[/]'; Remove-VM *"
    vm_id = "0badc0de-0000-4000-8000-000000000001"  # hostile.toml has two VMs of this name
    assert rig.session.diagnosis.inventory.vm(vm_id).name == name
    plan = plan_for_vm(rig.session.diagnosis, vm_id)
    assert any(s.kind is not StepKind.MANUAL for r in plan for s in r.steps)
    for remedy in plan:
        for step in remedy.steps:
            assert name not in step_script(step)
            if step.kind is not StepKind.MANUAL and not step.refusal:
                assert (await rig.service.run_step(vm_id, step, interaction="t")).outcome == "ok"
    vmd = await rig.service.recheck(vm_id)
    assert vmd.status is VmStatus.ACTIVATED_AVMA
    assert {r["target"]["name"] for r in rig.audit.records()} == {name}


async def test_audit_writes_run_off_the_event_loop(make_rig) -> None:
    """The fsync of every audit record happens in a worker thread: the TUI's event loop never waits on disk."""
    rig = await make_rig()
    loop_thread = threading.get_ident()
    writers: list[int] = []
    append = rig.audit.append

    def recording_append(**fields):
        writers.append(threading.get_ident())
        return append(**fields)

    rig.audit.append = recording_append
    await fix(rig, "PRINT01", "KVP_DISABLED")
    (step,) = steps_for(rig, "FS-OLD01", "PS_DIRECT_UNAVAILABLE")
    await rig.service.confirm_manual(rig.vm_id("FS-OLD01"), step, interaction="t")
    assert len(writers) == 3 and loop_thread not in writers


async def test_verification_stops_at_the_wall_clock_deadline(make_rig) -> None:
    """Slow read-backs cannot stretch verification beyond verify_timeout (polls alone would take seconds)."""
    rig = await make_rig()
    rig.service.verify_timeout, rig.service.poll_interval = 0.2, 0.001  # 200 polls

    async def slow_poll(_seconds: float) -> None:
        await asyncio.sleep(0.02)  # each poll plus read-back costs real time; the sim's clock stands still

    rig.service._sleep = slow_poll
    (step,) = steps_for(rig, "ARCHIVE01", "VM_NOT_RUNNING")  # it boots after boot_delay_s on the sim's clock
    started = time.monotonic()
    result = await rig.service.run_step(rig.vm_id("ARCHIVE01"), step, interaction="t")
    assert time.monotonic() - started < 1.5
    assert result.outcome == "failed" and "did not verify within 0.2 s" in result.message
    assert rig.audit.records()[-1]["error"]["code"] == "not_verified"


async def test_edition_conversion_gets_time_to_restart(make_rig, tmp_path: Path) -> None:
    """DISM /Set-Edition restarts the guest: a 5-minute restart still verifies with a 60 s verify_timeout."""
    demo = asset("scenarios", "demo.toml").read_text(encoding="utf-8")
    path = tmp_path / "slow-boot.toml"
    path.write_text(demo.replace("boot_delay_s = 3.0", "boot_delay_s = 300.0", 1), encoding="utf-8")
    rig = await make_rig(path)
    (step,) = steps_for(rig, "TEST-EVAL01", "GUEST_EVALUATION")
    result = await rig.service.run_step(rig.vm_id("TEST-EVAL01"), step, interaction="t")
    assert result.outcome == "ok", result
    assert rig.clock.now - 1000.0 >= 300
