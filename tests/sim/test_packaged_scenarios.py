"""The packaged scenarios: they load, the demo shows everything the tool can find, hostile data survives."""

from __future__ import annotations

from pathlib import Path

import pytest

from avma_tui.core.findings.registry import SPEC, Subject
from avma_tui.core.model import VmStatus
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset, demo_scenario
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import load_scenario, parse_scenario
from avma_tui.sim.transport import SimTransport
from tests.sim.simkit import FakeClock

SCENARIOS = sorted(asset("scenarios").glob("*.toml"))
DEMO_GUEST = Credential("Administrator", "Passw0rd!")


def session_for(path: Path) -> Session:
    host = HyperVHost(SimTransport(SimHost(load_scenario(path), clock=FakeClock()), latency_ms=0))
    return Session(host, guest_credential=DEMO_GUEST)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_packaged_scenario_loads(path: Path):
    scenario = load_scenario(path)
    assert scenario.host.name


def test_demo_is_the_believable_shop_the_brief_asks_for():
    demo = load_scenario(demo_scenario())
    assert (demo.host.name, demo.host.domain, demo.host.build, demo.host.sku) == ("HV01", "contoso.local", 20348, 8)
    assert 15 <= len(demo.vms) <= 25
    assert demo.cluster is not None and 1 <= len(demo.cluster.nodes) <= 2
    assert demo.guest_credentials is not None
    assert (demo.guest_credentials.username, demo.guest_credentials.password) == ("Administrator", "Passw0rd!")
    assert demo.sim.activation_delay_s == 2.0


async def test_packaged_scenarios_together_show_every_finding_and_the_demo_every_status():
    codes: set[str] = set()
    for path in SCENARIOS:
        diagnosis = await session_for(path).refresh()
        codes |= {finding.code for finding in diagnosis.findings}
        if path == demo_scenario():
            demo_codes = {finding.code for finding in diagnosis.findings}
            assert {vm.status for vm in diagnosis.vms} == set(VmStatus)
    assert set(SPEC) <= codes  # every code of the finding registry
    host_only = {code for code, spec in SPEC.items() if spec.subject is Subject.HOST}
    assert set(SPEC) - host_only <= demo_codes  # every VM and cluster code in the demo itself


def test_hostile_names_and_values_round_trip_byte_exact():
    hostile = load_scenario(asset("scenarios", "hostile.toml"))
    names = [vm.name for vm in hostile.vms]
    assert "[red]x[/]'; Remove-VM *" in names
    assert names.count("[red]x[/]'; Remove-VM *") == 2  # duplicate names are allowed
    assert any(len(name) == 500 for name in names)
    assert any("\x1b" in name and "\x07" in name for name in names)
    values = [value for vm in hostile.vms for _, value in vm.guest]
    assert any("\x00" in value for value in values)
    assert any("\u202e" in name for name in names) and any("🔥" in name for name in names)


async def test_hostile_data_reaches_the_model_unchanged():
    path = asset("scenarios", "hostile.toml")
    scenario = load_scenario(path)
    inventory = await session_for(path).read()
    by_id = {vm.id: vm for vm in inventory.vms}
    for spec in scenario.vms:
        vm = by_id[spec.id]
        assert vm.name == spec.name
        if vm.guest is not None:  # items come back exactly as the guest reported them (the model caps at 1024)
            assert dict(vm.guest.items) == {k[:1024]: v[:1024] for k, v in spec.guest}
    garbled = next(vm for vm in inventory.vms if vm.name == "GARBLED-BUILD")
    assert garbled.guest is not None and garbled.guest.build is None


@pytest.mark.parametrize("count", [0, 3, 500])
def test_generator_output_loads_with_the_requested_vm_count(count: int):
    scenario = parse_scenario(generate_scenario(count, seed=4), "generated.toml")
    assert len(scenario.vms) == count


def test_generator_is_deterministic_and_varied():
    assert generate_scenario(200, seed=2) == generate_scenario(200, seed=2)
    assert generate_scenario(200, seed=2) != generate_scenario(200, seed=3)


async def test_generated_big_host_has_a_realistic_mix():
    scenario = parse_scenario(generate_scenario(2000), "big.toml")
    host = HyperVHost(SimTransport(SimHost(scenario, clock=FakeClock()), latency_ms=0))
    diagnosis = await Session(host, guest_credential=DEMO_GUEST).refresh()
    statuses = [vm.status for vm in diagnosis.vms]
    assert len(statuses) == 2000
    assert statuses.count(VmStatus.ACTIVATED_AVMA) > 1000  # mostly healthy…
    assert set(statuses) == set(VmStatus)  # …with every kind of problem in the tail
