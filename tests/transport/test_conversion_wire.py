"""An edition conversion over the real wire (issue 11, "Long changes survive"): pypsrp against the loopback
endpoint, whose simulated host runs DISM in the background on the real clock ([sim] conversion_s). The
operation returns at once; a wait that ends early, by its limit or by a cancel, never stops the conversion,
and a later re-check records it done."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import Step, plan_for_vm
from avma_tui.hyperv.host import ConversionTask, HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.fixing import FixService
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER

GUEST = Credential("Administrator", "Passw0rd!")
VM = "TEST-EVAL01"
CONVERSION_S = 3.0


@pytest.fixture
def slow_dism(tmp_path: Path) -> Iterator[WinRMEndpoint]:
    """The demo host on the real clock, DISM taking 3 s and a restart 1 s."""
    demo = asset("scenarios", "demo.toml").read_text(encoding="utf-8")
    demo = demo.replace("conversion_s = 20.0", f"conversion_s = {CONVERSION_S}", 1)
    demo = demo.replace("boot_delay_s = 3.0", "boot_delay_s = 1.0", 1).replace("latency_ms = 40", "latency_ms = 0", 1)
    path = tmp_path / "slow-dism.toml"
    path.write_text(demo, encoding="utf-8")
    with WinRMEndpoint(SimHost(load_scenario(path)), username=USER, password=PASSWORD) as server:
        yield server


async def _service(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport], tmp_path: Path, **timing: float
) -> tuple[FixService, str, Step]:
    session = Session(HyperVHost(connect(endpoint)), guest_credential=GUEST, remote_user="admin")
    service = FixService(session, AuditLog(tmp_path / "audit.jsonl"), poll_interval=0.1, slow_poll_interval=0.2)
    service.waits.update(timing)
    diagnosis = await session.refresh()
    (vm_id,) = [vm.id for vm in diagnosis.inventory.vms if vm.name == VM]
    (remedy,) = [r for r in plan_for_vm(diagnosis, vm_id) if r.finding.code == "GUEST_EVALUATION"]
    return service, vm_id, remedy.steps[0]


def _records(service: FixService) -> list[dict]:
    return [r for r in service.audit.records() if r["action"] in ("set_edition", "recheck")]


def _seconds_between(first: dict, second: dict) -> float:
    return (datetime.fromisoformat(second["time"]) - datetime.fromisoformat(first["time"])).total_seconds()


async def test_the_conversion_returns_at_once_and_verifies_when_the_guest_is_back(
    slow_dism: WinRMEndpoint, connect: Callable[..., PsrpTransport], tmp_path: Path
) -> None:
    service, vm_id, step = await _service(slow_dism, connect, tmp_path)
    result = await service.run_step(vm_id, step, interaction="t")
    assert result.outcome is Outcome.OK, result
    intent, started, closing = _records(service)
    assert [r["phase"] for r in (intent, started, closing)] == ["intent", "started", "result"]
    assert _seconds_between(intent, started) < 5  # the operation returned within seconds, DISM still running
    assert _seconds_between(started, closing) >= CONVERSION_S  # verified only once the conversion was done
    assert closing["outcome"] == "ok" and service.audit.verify().ok
    assert await service.session.host.conversion_status(vm_id, GUEST) == ConversionTask("Ready", 0)  # DISM's exit 0


async def test_a_conversion_that_outlives_the_wait_completes_and_a_recheck_records_it(
    slow_dism: WinRMEndpoint, connect: Callable[..., PsrpTransport], tmp_path: Path
) -> None:
    service, vm_id, step = await _service(slow_dism, connect, tmp_path, set_edition=0.5)
    began = time.monotonic()
    result = await service.run_step(vm_id, step, interaction="t")
    assert time.monotonic() - began < CONVERSION_S  # the wait ended; the conversion had not
    assert result.outcome is Outcome.NOT_VERIFIED and "goes on in the guest" in result.message
    assert (_records(service)[-1]["outcome"], _records(service)[-1]["error"]["code"]) == ("unknown", "not_verified")
    await asyncio.sleep(CONVERSION_S + 1.5)
    await service.recheck(vm_id)
    assert [(r["action"], r["outcome"]) for r in _records(service)][-1] == ("recheck", "ok")
    assert "GUEST_EVALUATION" not in [f.code for f in service.session.diagnosis.for_vm(vm_id).findings]


async def test_a_cancelled_wait_is_not_verified_and_a_later_recheck_records_it_done(
    slow_dism: WinRMEndpoint, connect: Callable[..., PsrpTransport], tmp_path: Path
) -> None:
    service, vm_id, step = await _service(slow_dism, connect, tmp_path)
    task = asyncio.create_task(service.run_step(vm_id, step, interaction="t"))
    for _ in range(100):  # until the conversion has started in the guest
        if any(r["phase"] == "started" for r in _records(service)):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stopped = service.stopped_result(vm_id, step)
    assert stopped is not None and stopped.outcome is Outcome.NOT_VERIFIED
    closing = _records(service)[-1]
    assert (closing["phase"], closing["outcome"], closing["error"]["code"]) == ("result", "unknown", "not_verified")
    await asyncio.sleep(CONVERSION_S + 1.5)  # nobody waits; the conversion goes on in the guest
    await service.recheck(vm_id)
    assert [(r["action"], r["outcome"]) for r in _records(service)][-1] == ("recheck", "ok")
    assert service.audit.pending() == [] and service.audit.verify().ok
