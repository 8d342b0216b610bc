"""A FixService on the real simulated host with a fake clock: verification polls advance time, not wait."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from avma_tui.core.model import VmDiagnosis
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.fixing import FixService
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.transport import SimTransport

GUEST = Credential("Administrator", "Passw0rd!")


class FakeClock:
    """The engine's clock; `sleep` moves it forward, so a 2 s activation costs no real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Rig:
    service: FixService
    session: Session
    transport: SimTransport
    audit: AuditLog
    clock: FakeClock

    def vm_id(self, name: str) -> str:
        assert self.session.diagnosis is not None
        (vm,) = [vm for vm in self.session.diagnosis.inventory.vms if vm.name == name]
        return vm.id

    def vmd(self, name: str) -> VmDiagnosis:
        assert self.session.diagnosis is not None
        found = self.session.diagnosis.for_vm(self.vm_id(name))
        assert found is not None
        return found

    def codes(self, name: str) -> list[str]:
        return [f.code for f in self.vmd(name).findings]


@pytest.fixture
def make_rig(tmp_path: Path):
    async def make(scenario: str | Path = "demo", credential: Credential | None = GUEST) -> Rig:
        path = asset("scenarios", f"{scenario}.toml") if isinstance(scenario, str) else scenario
        clock = FakeClock()
        transport = SimTransport(SimHost(load_scenario(path), clock=clock), latency_ms=0)
        session = Session(HyperVHost(transport), guest_credential=credential, remote_user="hvadmin")
        audit = AuditLog(tmp_path / "audit" / "audit.jsonl")
        service = FixService(session, audit, verify_timeout=60, poll_interval=0.5, sleep=clock.sleep)
        await session.refresh()
        return Rig(service, session, transport, audit, clock)

    return make
