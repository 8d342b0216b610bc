"""PowerShell Direct only where it can work (issue 10 item 7): one decision, core.catalog.ps_direct."""

from __future__ import annotations

import dataclasses

import pytest

from avma_tui.core.catalog import PsDirectVerdict, ps_direct
from avma_tui.core.findings import diagnose
from avma_tui.core.model import LicenseState
from avma_tui.hyperv.host import parse_host, parse_inventory, parse_vm
from avma_tui.services.session import Session
from tests.sim.simkit import GOOD, HOST_2022_DC, guest

HOST = parse_host({"name": "HV01", "build": 20348, "ps_version": "5.1.20348.2849"})
GUEST = {"OSBuildNumber": "20348"}


@pytest.mark.parametrize(
    ("host", "vm", "verdict"),
    [
        ({}, {}, PsDirectVerdict.YES),
        ({"build": 9600}, {}, PsDirectVerdict.NO_HOST),  # a 2012 R2 host
        ({"ps_version": "4.0"}, {}, PsDirectVerdict.NO_HOST),  # Windows Management Framework 4
        ({"ps_version": ""}, {}, PsDirectVerdict.MAY),  # not reported: not ruled out
        ({"build": None}, {}, PsDirectVerdict.MAY),
        ({}, {"state": "Off"}, PsDirectVerdict.NOT_RUNNING),
        ({"build": 9600}, {"state": "Off"}, PsDirectVerdict.NO_HOST),  # starting it would not help
        ({}, {"intrinsic": {"OSBuildNumber": "9600"}}, PsDirectVerdict.NO_VM),  # a 2012 R2 guest
        ({}, {"intrinsic": {"OSPlatformId": "100", "OSName": "Ubuntu"}}, PsDirectVerdict.NO_VM),  # not Windows
        ({}, {"intrinsic": {}}, PsDirectVerdict.MAY),  # no KVP data: try it (the license read also reads the OS)
    ],
)
def test_the_decision(host, vm, verdict) -> None:
    host_doc = {"name": "HV01", "build": 20348, "ps_version": "5.1", **host}
    vm_doc = {"id": "a", "name": "A", "state": "Running", "intrinsic": GUEST, **vm}
    decision = ps_direct(parse_host(host_doc), parse_vm(vm_doc))
    assert decision.verdict is verdict and decision.reason
    assert decision.possible is (verdict in (PsDirectVerdict.YES, PsDirectVerdict.MAY))


def test_the_host_alone_and_a_2012_r2_guest_known_by_its_family() -> None:
    host = parse_host({"name": "HV01", "build": 20348, "ps_version": "5.1"})
    assert ps_direct(host).verdict is PsDirectVerdict.YES
    assert ps_direct(parse_host({"name": "HV01", "build": 20348})).verdict is PsDirectVerdict.MAY
    vm = parse_vm({"id": "a", "name": "A", "state": "Running", "intrinsic": {"OSName": "Windows Server 2012 R2"}})
    assert ps_direct(host, vm, "2012 R2").verdict is PsDirectVerdict.NO_VM
    assert ps_direct(host, vm).verdict is PsDirectVerdict.MAY


async def test_an_old_host_gets_no_guest_logon_and_the_console_path(make_sim) -> None:
    header = HOST_2022_DC.replace("build = 20348", "build = 9600").replace("sku = 8", 'sku = 8\nps_version = "4.0"')
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2016", "Standard"), header)
    diagnosis = await Session(sim.host, guest_credential=GOOD).refresh()
    assert "guest_licenses" not in sim.transport.calls  # no logon attempt that cannot help
    vmd = diagnosis.vms[0]
    assert vmd.vm.license.state is not LicenseState.READ
    assert "PS_DIRECT_UNAVAILABLE" in [f.code for f in vmd.findings]


async def test_a_new_host_reads_the_guests_it_can(make_sim) -> None:
    vms = '[[vms]]\nname = "APP01"\n' + guest("2022", "Standard")
    vms += '[[vms]]\nname = "OLD"\n' + guest("2012 R2", "Standard")
    sim = make_sim(vms)
    diagnosis = await Session(sim.host, guest_credential=GOOD).refresh()
    states = {d.vm.name: d.vm.license.state for d in diagnosis.vms}
    assert states == {"APP01": LicenseState.READ, "OLD": LicenseState.NOT_READ}


def test_a_vm_that_failed_mid_read_keeps_its_own_error_and_the_rest_stands() -> None:
    error = {"fqeid": "ObjectNotFound,Microsoft.HyperV.PowerShell.Commands.GetVMIntegrationService", "message": "gone"}
    inventory = parse_inventory(
        {
            "host": {"name": "HV01"},
            "vms": [
                {"id": "a", "name": "GONE", "state": "Unknown", "kvp": None, "intrinsic": None, "error": error},
                {"id": "b", "name": "B", "state": "Running", "error": None},
            ],
        }
    )
    assert [vm.name for vm in inventory.vms] == ["GONE", "B"]
    assert inventory.read_errors == ("VM GONE: gone",)
    assert dataclasses.replace(inventory, read_errors=()).vms[1].name == "B"
    assert diagnose(inventory).for_vm("b") is not None
