"""SimTransport behaves like a remote transport: it awaits, copies, fails on demand and can be closed."""

from __future__ import annotations

import asyncio
import time

import pytest

from avma_tui.hyperv.transport import ConnectionLost, Credential, TimedOut, Unreachable
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.transport import SimTransport
from tests.sim.simkit import FakeClock, guest, make_sim


def test_description_names_host_and_file(clock: FakeClock):
    sim = make_sim("", clock)
    assert sim.transport.description == "simulated host HV01 (test.toml)"


async def test_results_are_copies_the_caller_cannot_use_to_change_the_engine(clock: FakeClock):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), clock)
    first = await sim.transport.run("inventory")
    first["vms"][0]["intrinsic"]["OSName"] = "tampered"
    first["vms"][0]["name"] = "tampered"
    second = await sim.transport.run("inventory")
    assert second["vms"][0]["name"] == "A"
    assert second["vms"][0]["intrinsic"]["OSName"] == "Windows Server 2022 Standard"


async def test_fail_next_raises_the_given_errors_then_recovers(clock: FakeClock):
    sim = make_sim("", clock)
    sim.transport.fail_next(TimedOut("the operation timed out"), count=2)
    for _ in range(2):
        with pytest.raises(TimedOut):
            await sim.host.inventory()
    assert (await sim.host.inventory()).host.name == "HV01"
    assert sim.transport.calls == ["inventory", "inventory", "inventory"]


async def test_a_failed_call_changes_nothing_on_the_host(clock: FakeClock):
    sim = make_sim('[[vms]]\nname = "A"\nkvp_enabled = false\n' + guest("2022", "Standard"), clock)
    vm_id = await sim.vm_id("A")
    sim.transport.fail_next(Unreachable("no route to host"))
    with pytest.raises(Unreachable):
        await sim.host.enable_kvp(vm_id)
    assert not (await sim.host.vm(vm_id)).kvp.enabled


async def test_calls_record_every_operation_in_order(clock: FakeClock):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), clock)
    vm_id = await sim.vm_id("A")
    await sim.host.guest_licenses([vm_id], Credential("Administrator", "Passw0rd!"))
    await sim.host.enable_kvp(vm_id)
    assert sim.transport.calls == ["inventory", "guest_licenses", "enable_kvp"]


async def test_closed_transport_refuses_further_calls(clock: FakeClock):
    sim = make_sim("", clock)
    await sim.host.close()
    await sim.host.close()  # safe twice
    with pytest.raises(ConnectionLost):
        await sim.host.inventory()


async def test_latency_comes_from_the_scenario_and_can_be_overridden():
    scenario = parse_scenario('format = 1\n[sim]\nlatency_ms = 80\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8\n')
    assert SimTransport(SimHost(scenario)).latency_ms == 80
    fast = SimTransport(SimHost(scenario), latency_ms=0)
    start = time.perf_counter()
    await fast.run("inventory")
    assert time.perf_counter() - start < 0.05
    slow = SimTransport(SimHost(scenario))
    start = time.perf_counter()
    await slow.run("inventory")
    assert time.perf_counter() - start >= 0.075


async def test_calls_overlap_while_they_wait(clock: FakeClock):
    """Latency is awaited, not slept: ten calls of 50 ms each finish together, not in half a second."""
    sim = make_sim("", clock)
    sim.transport.latency_ms = 50
    start = time.perf_counter()
    await asyncio.gather(*(sim.host.inventory() for _ in range(10)))
    assert time.perf_counter() - start < 0.3


async def test_the_password_never_reaches_a_result_or_an_error(clock: FakeClock):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), clock)
    vm_id = await sim.vm_id("A")
    secret = "S3cret-Value!"
    doc = await sim.transport.run("guest_licenses", {"VmIds": [vm_id], "Credential": Credential("x", secret)})
    assert secret not in repr(doc) and secret not in repr(sim.engine.__dict__)


def test_scenario_and_engine_reprs_hide_the_guest_password_and_the_host_key():
    text = (
        'format = 1\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8\nproduct_key = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"\n'
        '[guest_credentials]\nusername = "Administrator"\npassword = "Passw0rd!"\n'
    )
    scenario = parse_scenario(text)
    engine = SimHost(scenario)
    for shown in (repr(scenario), repr(engine.guest_credentials), repr(engine.__dict__)):
        assert "Passw0rd!" not in shown and "XXXXX-XXXXX" not in shown
