"""The audit's before/after state has one shape per kind of target: the fix service and the re-check agree."""

from __future__ import annotations

from avma_tui.core.findings import diagnose
from avma_tui.core.model import GuestLicense, Host, Inventory, Kvp, KvpStatus, LicenseRead, LicenseState, Vm
from avma_tui.services.recheck import target_state
from avma_tui.services.snapshot import host_state, license_state, vm_state

VM_ID = "6f1e4d7a-0000-4000-8000-000000000001"
HOST = Host("HV01", "contoso.local", "Windows Server 2022 Datacenter", 20348, 8, 1, "ABCDE", True, False)
LICENSE = GuestLicense(
    "Windows(R), ServerStandard edition",
    "Windows(R) Operating System, VOLUME_MAK channel",
    1,
    0,
    0,
    "ABCDE",
    "",
    "",
    "",
)


def inventory(lic: LicenseRead) -> Inventory:
    vm = Vm(VM_ID, "APP01", "Running", 2, Kvp(True, KvpStatus.OK, "OK"), None, lic)
    return Inventory(host=HOST, cluster=None, vms=(vm,), events=(), read_at="2026-11-27T22:00:00Z")


def test_the_recheck_records_the_fix_services_shape_plus_the_diagnosis() -> None:
    for read in (LicenseRead(LicenseState.READ, LICENSE), LicenseRead(LicenseState.NOT_READ)):
        diagnosis = diagnose(inventory(read))
        vm = diagnosis.vms[0].vm
        after, _ = target_state(diagnosis, {"target": {"kind": "vm", "id": VM_ID}, "params": {"step": "x"}})
        assert after is not None
        assert {k: v for k, v in after.items() if k not in ("status", "findings")} == vm_state(vm)
    host_after, _ = target_state(diagnosis, {"target": {"kind": "host", "name": "HV01"}})
    assert host_after == {**host_state(HOST), "findings": [f.code for f in diagnosis.host_findings]}


def test_license_state_is_the_license_part_of_the_vm_state() -> None:
    diagnosis = diagnose(inventory(LicenseRead(LicenseState.READ, LICENSE)))
    assert vm_state(diagnosis.vms[0].vm).items() >= license_state(LICENSE).items()
    assert license_state(None) == {"license_status": None}
    assert vm_state(None) == {}
