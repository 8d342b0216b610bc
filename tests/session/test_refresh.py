"""The refresh of issue 10: inventory first, licenses after in chunks, cached; credentials protected;
PowerShell Direct only where it can work (services/licenses.py, docs/architecture.md "Refresh")."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from avma_tui.core.model import GuestErrorKind, LicenseState
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential, TimedOut
from avma_tui.services.licenses import LicenseOptions
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.transport import SimTransport

GOOD = Credential("Administrator", "Passw0rd!")
BAD = Credential("Administrator", "wrong")


class Spy(SimTransport):
    """A SimTransport that remembers the VM Ids of every guest_licenses call."""

    def __init__(self, engine: SimHost) -> None:
        super().__init__(engine)
        self.chunks: list[list[str]] = []
        self.time_out_chunks = 0  # the next guest_licenses calls that time out
        self.chunk_seconds = 0.0  # how long each guest_licenses call takes

    async def run(self, op: str, params: Any = None) -> Any:
        if op == "guest_licenses":
            self.chunks.append(list(params["VmIds"]))
            if self.time_out_chunks:
                self.time_out_chunks -= 1
                raise TimedOut("guest_licenses ran out of time")
            await asyncio.sleep(self.chunk_seconds)
        return await super().run(op, params)


def make(vms: int = 200, *, host_build: int | None = None, **options: Any) -> tuple[Session, Spy]:
    scenario = parse_scenario(generate_scenario(vms), "big.toml")
    if host_build is not None:
        scenario = replace(scenario, host=replace(scenario.host, build=host_build))
    spy = Spy(SimHost(scenario))
    session = Session(HyperVHost(spy), license_options=LicenseOptions(**options) if options else None)
    return session, spy


def states(session: Session) -> dict[str, LicenseState]:
    assert session.diagnosis is not None
    return {vm.id: vm.license.state for vm in session.diagnosis.inventory.vms}


async def test_the_inventory_comes_first_and_licenses_arrive_in_chunks() -> None:
    session, spy = make()
    session.guest_credential = GOOD
    diagnosis = await session.refresh(licenses=False)
    assert spy.calls == ["inventory"]  # on screen after one round trip
    assert len(diagnosis.vms) == 200
    seen = [diagnosis async for diagnosis in session.read_licenses()]
    first = {vm.license.state for vm in seen[0].inventory.vms}
    assert LicenseState.READING in first  # the rows say they are being read
    assert all(len(chunk) <= 25 for chunk in spy.chunks)
    assert spy.chunks[0] == spy.chunks[0][:1]  # an unproven credential is tried on one guest first
    final = states(session)
    assert LicenseState.READING not in final.values()
    assert sum(s is LicenseState.READ for s in final.values()) > 150


async def test_licenses_are_cached_until_something_changes() -> None:
    session, spy = make()
    session.guest_credential = GOOD
    await session.refresh()
    calls, sessions = len(spy.chunks), spy.engine.guest_sessions
    await session.refresh()  # nothing changed: the inventory only
    assert (len(spy.chunks), spy.engine.guest_sessions) == (calls, sessions)
    assert spy.calls[-1] == "inventory"
    vm = next(v for v in session.diagnosis.inventory.vms if v.license.state is LicenseState.READ)
    session.forget_license(vm.id)  # the tool changed it
    await session.refresh()
    assert spy.chunks[-1] == [vm.id]
    await session.refresh(force=True)  # r: every license again
    assert sum(len(c) for c in spy.chunks[calls + 1 :]) == calls_read(session)


def calls_read(session: Session) -> int:
    assert session.diagnosis is not None
    return sum(vm.license.state is LicenseState.READ for vm in session.diagnosis.inventory.vms)


async def test_a_license_older_than_the_maximum_age_is_read_again() -> None:
    session, spy = make(20, max_age=0.0)
    session.guest_credential = GOOD
    await session.refresh()
    before = sum(len(c) for c in spy.chunks)
    await session.refresh()
    assert sum(len(c) for c in spy.chunks) == 2 * before


async def test_a_chunk_that_times_out_costs_only_its_guests() -> None:
    session, spy = make(120, lanes=1)
    session.guest_credential = GOOD
    spy.time_out_chunks = 1  # the probe's chunk
    diagnosis = await session.refresh()
    timed_out = [vm for vm in diagnosis.inventory.vms if vm.license.error_kind is GuestErrorKind.TIMEOUT]
    assert len(timed_out) == len(spy.chunks[0]) == 1
    assert "did not finish within" in timed_out[0].license.error
    assert len(diagnosis.vms) == 120  # the inventory stands
    assert calls_read(session) > 80


async def test_a_wrong_guest_password_costs_one_logon_on_a_200_vm_host() -> None:
    session, spy = make(200)
    session.guest_credential = BAD
    await session.refresh()
    await session.refresh()
    await session.refresh(force=True)
    assert spy.engine.guest_logons == 1
    assert session.guest_login_rejected
    failed = [vm.license for vm in session.diagnosis.inventory.vms if vm.license.state is LicenseState.FAILED]
    assert failed and all(read.error_kind is GuestErrorKind.CREDENTIAL for read in failed)
    assert any("Not tried" in read.error for read in failed)
    session.guest_credential = BAD  # entered again: one more attempt
    await session.refresh()
    assert spy.engine.guest_logons == 2
    session.guest_credential = GOOD
    await session.refresh()
    assert not session.guest_login_rejected
    assert calls_read(session) > 150


async def test_powershell_direct_is_not_tried_where_it_cannot_work() -> None:
    session, spy = make(100)
    session.guest_credential = GOOD
    await session.refresh()
    tried = {vm_id for chunk in spy.chunks for vm_id in chunk}
    for vm in session.diagnosis.inventory.vms:
        build = vm.guest.build if vm.guest else None
        if not vm.running or (build is not None and build < 14393):
            assert vm.id not in tried, vm.name
    old_host, spy = make(50, host_build=9600)  # a 2012 R2 host: no PowerShell Direct at all
    old_host.guest_credential = GOOD
    diagnosis = await old_host.refresh()
    assert spy.chunks == [] and spy.engine.guest_logons == 0
    running = [vm for vm in diagnosis.inventory.vms if vm.running and vm.guest and (vm.guest.build or 0) >= 14393]
    assert running and all(vm.license.error_kind is GuestErrorKind.PS_DIRECT for vm in running)
    assert all("build 9600" in vm.license.error for vm in running)


CLUSTER = """format = 1
[sim]
node_timeout_s = 0.5
[host]
name = "HV01"
build = 20348
sku = 8
[cluster]
name = "CL01"
[[cluster.nodes]]
name = "HV02"
build = 20348
sku = 8
[[cluster.nodes]]
name = "HV03"
build = 17763
sku = 7
license_status = 5
[[cluster.nodes]]
name = "HV04"
state = "Down"
[[cluster.nodes]]
name = "HV05"
reachable = false
"""


class NodeSpy(SimTransport):
    def __init__(self, engine: SimHost) -> None:
        super().__init__(engine)
        self.nodes_opened: list[str] = []

    def for_node(self, name: str) -> Any:
        self.nodes_opened.append(name)
        return super().for_node(name)


async def test_cluster_nodes_are_read_by_the_client_and_never_hold_up_the_inventory() -> None:
    spy = NodeSpy(SimHost(parse_scenario(CLUSTER, "cluster.toml")))
    session = Session(HyperVHost(spy))
    diagnosis = await session.refresh(licenses=False)
    nodes = {node.name: node for node in diagnosis.inventory.cluster.nodes}
    assert nodes["HV05"].pending  # the silent node (0.5 s) has not answered: the inventory did not wait
    assert not nodes["HV04"].reachable and "Down" in nodes["HV04"].error
    shown = [d async for d in session.read_nodes()]
    assert shown  # each node's answer arrives as a new diagnosis
    nodes = {node.name: node for node in session.diagnosis.inventory.cluster.nodes}
    assert (nodes["HV02"].build, nodes["HV02"].reachable) == (20348, True)
    assert (nodes["HV03"].license_status, nodes["HV03"].sku) == (5, 7)
    assert not nodes["HV05"].reachable and "WinRM cannot complete" in nodes["HV05"].error
    assert sorted(spy.nodes_opened) == ["HV02", "HV03", "HV05"]  # HV04 is Down: not contacted
    codes = {(f.code, f.subject) for f in session.diagnosis.host_findings}
    assert ("CLUSTER_NODE_UNREACHABLE", "HV05") in codes and ("CLUSTER_NODE_NOT_ACTIVATED", "HV03") in codes
    await session.refresh()  # cached: no node is read again within 15 minutes
    assert len(spy.nodes_opened) == 3


async def test_chunks_that_answer_together_are_shown_together() -> None:
    """A diagnosis costs the whole host: the TUI gets one per `every` seconds, not one per chunk."""
    session, spy = make(400)
    session.guest_credential = GOOD
    await session.refresh(licenses=False)
    seen = [diagnosis async for diagnosis in session.read_licenses(every=0.5)]
    assert len(spy.chunks) > 8
    assert 2 <= len(seen) < len(spy.chunks)  # "being read" at once, then the answers together
    assert LicenseState.READING in {vm.license.state for vm in seen[0].inventory.vms}
    assert LicenseState.READING not in {vm.license.state for vm in seen[-1].inventory.vms}
    assert seen[-1] is session.diagnosis
    assert calls_read(session) > 300


async def test_a_reader_that_stops_early_leaves_no_guest_shown_as_being_read() -> None:
    session, spy = make(200, lanes=1)
    session.guest_credential = GOOD
    spy.chunk_seconds = 0.1  # 9 calls, one lane: the read takes about 0.9 s
    await session.refresh(licenses=False)
    reading = session.read_licenses(every=0.5)
    first = await anext(reading)
    assert LicenseState.READING in {vm.license.state for vm in first.inventory.vms}
    await anext(reading)  # the credential is proven: the chunks are on their way
    await reading.aclose()  # the operator pressed r again, or quit
    chunks = len(spy.chunks)
    await session.refresh(licenses=False)
    assert LicenseState.READING not in set(states(session).values())
    for _ in range(20):  # time for any chunk left running to take the lane and read
        await asyncio.sleep(0.01)
    assert len(spy.chunks) == chunks  # nothing goes on reading behind the caller's back
    assert not [task for task in asyncio.all_tasks() if "_chunk" in repr(task.get_coro())]
