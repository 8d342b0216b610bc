"""The refresh of issue 10 over the wire: the real pypsrp client against the loopback WinRM endpoint,
which waits what Windows costs ([sim] cost knobs); license chunks on lanes of their own; cluster nodes
read over connections of their own (the test maps node names to endpoints: one endpoint, one host)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from avma_tui.core.model import LicenseState, OsSource
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.services.licenses import LicenseOptions
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transport"))
from transport_support import PASSWORD, USER, settings_for

from tests.sim.simkit import GOOD, HOST_2022_DC, avma_key, guest

OPEN_S = 0.05


@pytest.fixture
def engine() -> SimHost:
    text = generate_scenario(40).replace("[sim]\n", f"[sim]\nps_direct_open_s = {OPEN_S}\n", 1)
    return SimHost(parse_scenario(text, "wire.toml"))


async def test_licenses_in_chunks_on_lanes_and_nodes_over_their_own_connections(engine: SimHost) -> None:
    node_engine = engine.node("HV-BIG02")
    assert node_engine is not None
    with (
        WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint,
        WinRMEndpoint(node_engine, username=USER, password=PASSWORD) as node_endpoint,
    ):
        settings = settings_for(endpoint)
        addresses = {"HV-BIG02": settings_for(node_endpoint), "HV-BIG03": settings_for(endpoint, port=1)}
        session = Session(
            HyperVHost(PsrpTransport(settings, PASSWORD)),
            guest_credential=Credential("Administrator", "Passw0rd!"),
            license_options=LicenseOptions(chunk_size=5, lanes=3),
            open_node=lambda name: HyperVHost(PsrpTransport(addresses[name], PASSWORD)),
        )
        try:
            started = time.monotonic()
            diagnosis = await session.refresh()
            elapsed = time.monotonic() - started
        finally:
            await session.close()
    read = [vm for vm in diagnosis.inventory.vms if vm.license.state is LicenseState.READ]
    assert len(read) == engine.guest_sessions > 20
    assert elapsed >= OPEN_S * len(read) / 3  # the endpoint really waited the sessions' cost
    nodes = {node.name: node for node in diagnosis.inventory.cluster.nodes}
    assert (nodes["HV-BIG02"].reachable, nodes["HV-BIG02"].build) == (True, 20348)
    assert not nodes["HV-BIG03"].reachable and nodes["HV-BIG03"].error


async def test_a_wrong_guest_password_costs_one_logon_over_the_wire(engine: SimHost) -> None:
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        session = Session(
            HyperVHost(PsrpTransport(settings_for(endpoint), PASSWORD)),
            guest_credential=Credential("Administrator", "wrong"),
            open_node=lambda name: HyperVHost(PsrpTransport(settings_for(endpoint, port=1), PASSWORD)),
        )
        try:
            await session.refresh()
            await session.refresh(force=True)
        finally:
            await session.close()
    assert engine.guest_logons == 1
    assert session.guest_login_rejected


async def test_the_guest_os_read_inside_the_guest_crosses_the_wire() -> None:
    """A guest whose KVP is disabled: its OS comes back with its license through real pypsrp, and the
    diagnosis gives it its AVMA key."""
    text = (
        HOST_2022_DC
        + '[[vms]]\nname = "NOKVP"\nkvp_enabled = false\n'
        + guest("2022", "Datacenter")
        + '[vms.license]\nstatus = 5\nchannel = "RETAIL"\npartial_product_key = "ABCDE"\n'
    )
    engine = SimHost(parse_scenario(text, "inside.toml"))
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        session = Session(HyperVHost(PsrpTransport(settings_for(endpoint), PASSWORD)), guest_credential=GOOD)
        try:
            diagnosis = await session.refresh()
        finally:
            await session.close()
    vmd = diagnosis.vms[0]
    assert vmd.vm.guest is None and vmd.vm.os is not None and vmd.vm.os.source is OsSource.INSIDE
    assert (vmd.vm.os.build, vmd.vm.os.edition_id) == (20348, 8)
    assert (vmd.family, vmd.edition, vmd.recommended_key_last5) == (
        "2022",
        "Datacenter",
        avma_key("2022", "Datacenter")[-5:],
    )
    assert "GUEST_OS_UNKNOWN" not in [f.code for f in vmd.findings]


async def test_an_operation_slower_than_a_request_still_costs_three_requests() -> None:
    """Command, one Receive, Signal: the endpoint tells a pipeline's state only when it ends, as PowerShell's
    server does (ServerPowerShellDriver.cs), so a client waiting for a slow inventory needs no second Receive."""
    text = generate_scenario(20).replace("[sim]\n", "[sim]\ninventory_per_vm_s = 0.02\n", 1)  # 0.4 s on the host
    engine = SimHost(parse_scenario(text, "slow.toml"))
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        host = HyperVHost(PsrpTransport(settings_for(endpoint), PASSWORD))
        try:
            await host.inventory()  # opens the connection
            endpoint.reset_counters()
            await host.inventory()
            assert endpoint.requests == 3
        finally:
            await host.close()
