"""The diagnosis: every finding code (a case that raises it and a near miss that does not), statuses, order.

Inventories are built from the model classes directly: the diagnosis is pure, so no simulator is needed.
The healthy baseline is a 2022 Datacenter host with one 2019 Standard guest activated by AVMA; each case
changes one thing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from avma_tui.core.findings import ORDER, SPEC, diagnose
from avma_tui.core.model import (
    AvmaEvent,
    Cluster,
    ClusterNode,
    Diagnosis,
    GuestErrorKind,
    GuestLicense,
    GuestOs,
    Host,
    Inventory,
    Kvp,
    KvpStatus,
    LicenseRead,
    LicenseState,
    RemedyKind,
    Severity,
    Vm,
    VmDiagnosis,
    VmStatus,
)

AVMA = "Windows(R) Operating System, VIRTUAL_MACHINE_ACTIVATION channel"
KMS = "Windows(R) Operating System, VOLUME_KMSCLIENT channel"
MAK = "Windows(R) Operating System, VOLUME_MAK channel"
PS_DIRECT_ERROR = "An error has occurred which Windows PowerShell cannot handle. A remote session might have ended."
VM_ID = "6f1e4d7a-0000-4000-8000-000000000001"

# --- builders -------------------------------------------------------------------------------------


def make_host(**changes: object) -> Host:
    base = Host(
        name="HV01",
        domain="contoso.local",
        os_name="Windows Server 2022 Datacenter",
        build=20348,
        sku=8,
        license_status=1,
        partial_product_key="ABCDE",
        hyperv=True,
        virtual=False,
    )
    return replace(base, **changes)


def make_guest(
    name: str = "Windows Server 2019 Standard",
    build: str = "17763",
    sku: str = "7",
    product_type: str = "3",
    platform: str = "2",
    **extra: str,
) -> GuestOs:
    """A GuestOs as hyperv.host would parse it from these raw intrinsic items ("" = item absent)."""
    raw = {"OSName": name, "OSBuildNumber": build, "OSEditionId": sku, "ProductType": product_type}
    raw |= {"OSPlatformId": platform, **extra}
    raw = {k: v for k, v in raw.items() if v != ""}

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return GuestOs(
        os_name=raw.get("OSName", ""),
        os_version=raw.get("OSVersion", ""),
        build=number(raw.get("OSBuildNumber", "")),
        edition_id=number(raw.get("OSEditionId", "")),
        product_type=number(raw.get("ProductType", "")),
        platform_id=number(raw.get("OSPlatformId", "")),
        fqdn="",
        items=tuple(sorted(raw.items())),
    )


def make_license(**changes: object) -> GuestLicense:
    base = GuestLicense(
        name="Windows(R), ServerStandard edition",
        description=AVMA,
        status=1,
        reason=0,
        grace_minutes=10080,
        partial_product_key="4GF74",
        product_key_channel="Volume:GVLK",
        avma_host="HV01",
        avma_last_activation="2026-11-20T10:00:00Z",
    )
    return replace(base, **changes)


def read(license_: GuestLicense | None) -> LicenseRead:
    return LicenseRead(LicenseState.READ, license=license_)


def make_vm(**changes: object) -> Vm:
    base = Vm(
        id=VM_ID,
        name="APP01",
        state="Running",
        generation=2,
        kvp=Kvp(True, KvpStatus.OK, "OK"),
        guest=make_guest(),
        license=read(make_license()),
    )
    return replace(base, **changes)


def make_inventory(*vms: Vm, host: Host | None = None, cluster: Cluster | None = None, events=()) -> Inventory:
    return Inventory(
        host=host or make_host(),
        cluster=cluster,
        vms=vms if vms else (make_vm(),),
        events=tuple(events),
        read_at="2026-11-27T22:00:00Z",
    )


def event(notification: str, time: str, vm_id: str = VM_ID, vm_name: str = "APP01") -> AvmaEvent:
    return AvmaEvent(time=time, vm_name=vm_name, vm_id=vm_id, notification=notification, message="")


def node(name: str = "HV02", **changes: object) -> ClusterNode:
    return replace(ClusterNode(name=name, build=20348, sku=8, license_status=1, reachable=True), **changes)


def cluster(*nodes: ClusterNode) -> Cluster:
    return Cluster("CL01", nodes)


def one(diagnosis: Diagnosis) -> VmDiagnosis:
    assert len(diagnosis.vms) == 1
    return diagnosis.vms[0]


def all_codes(diagnosis: Diagnosis) -> list[str]:
    return [f.code for f in diagnosis.findings]


# --- the contract ---------------------------------------------------------------------------------


def test_findings_are_made_with_the_registry_severity_and_kind_and_subject() -> None:
    for code, positive, _ in CASES:
        for finding in (f for f in diagnose(positive).findings if f.code == code):
            spec = SPEC[code]
            assert (finding.severity, finding.remedy_kind, finding.subject_kind) == (
                spec.severity,
                spec.remedy,
                spec.subject.value,
            )


def test_healthy_baseline_has_no_findings() -> None:
    diagnosis = diagnose(make_inventory())
    assert diagnosis.findings == ()
    vm = one(diagnosis)
    assert vm.status is VmStatus.ACTIVATED_AVMA
    assert (vm.family, vm.edition, vm.recommended_key_last5) == ("2019", "Standard", "4GF74")
    assert diagnosis.host_can_activate
    assert diagnosis.host_can_activate_reason == (
        "Yes: Windows Server 2022 Datacenter, activated, can activate 2012 R2–2022 guests."
    )


# Each row: code, an inventory that raises it, a near miss that does not.
CASES: list[tuple[str, Inventory, Inventory]] = [
    ("HOST_NOT_HYPERV", make_inventory(host=make_host(hyperv=False)), make_inventory()),
    (
        "HOST_VERSION_UNSUPPORTED",
        make_inventory(host=make_host(build=9200, os_name="Windows Server 2012 Datacenter")),
        make_inventory(host=make_host(build=9600, os_name="Windows Server 2012 R2 Datacenter")),
    ),
    ("HOST_NOT_DATACENTER", make_inventory(host=make_host(sku=7)), make_inventory(host=make_host(sku=80))),
    ("HOST_EVALUATION", make_inventory(host=make_host(sku=80)), make_inventory(host=make_host(sku=8))),
    ("HOST_NOT_ACTIVATED", make_inventory(host=make_host(license_status=5)), make_inventory()),
    ("HOST_IS_VIRTUAL", make_inventory(host=make_host(virtual=True)), make_inventory()),
    (
        "CLUSTER_NODE_UNREACHABLE",
        make_inventory(cluster=cluster(node(reachable=False, build=None, sku=None, license_status=None))),
        make_inventory(cluster=cluster(node())),
    ),
    (
        "CLUSTER_NODE_NOT_DATACENTER",
        make_inventory(cluster=cluster(node(sku=7))),
        make_inventory(cluster=cluster(node(sku=8))),
    ),
    (
        "CLUSTER_NODE_NOT_ACTIVATED",
        make_inventory(cluster=cluster(node(license_status=0))),
        make_inventory(cluster=cluster(node(license_status=1))),
    ),
    (
        "CLUSTER_NODE_TOO_OLD",
        make_inventory(
            make_vm(guest=make_guest("Windows Server 2022 Standard", "20348")), cluster=cluster(node(build=17763))
        ),
        make_inventory(make_vm(guest=make_guest()), cluster=cluster(node(build=17763))),
    ),
    ("VM_NOT_RUNNING", make_inventory(make_vm(state="Off", guest=None)), make_inventory()),
    ("KVP_DISABLED", make_inventory(make_vm(kvp=Kvp(False, KvpStatus.NONE), guest=None)), make_inventory()),
    (
        "KVP_NO_CONTACT",
        make_inventory(make_vm(kvp=Kvp(True, KvpStatus.NO_CONTACT, "No Contact"))),
        make_inventory(make_vm(kvp=Kvp(True, KvpStatus.OTHER, "Degraded"))),
    ),
    (
        "GUEST_OS_UNKNOWN",
        make_inventory(make_vm(guest=make_guest(name="", build="abc", sku="[red]x"))),
        make_inventory(make_vm(guest=make_guest(name="Windows Server 2019 Standard", build="abc", sku="[red]x"))),
    ),
    (
        "GUEST_NOT_WINDOWS_SERVER",
        make_inventory(make_vm(guest=make_guest("Windows 10 Enterprise", "17763", "4", "1"))),
        make_inventory(make_vm(guest=make_guest("Windows Server 2019 Standard", "17763", "7", "3"))),
    ),
    (
        "GUEST_TOO_OLD",
        make_inventory(make_vm(guest=make_guest("Windows Server 2012 Standard", "9200"))),
        make_inventory(
            make_vm(
                guest=make_guest("Windows Server 2012 R2 Standard", "9600"),
                license=read(make_license(partial_product_key="MTB6V")),
            )
        ),
    ),
    (
        "GUEST_NEWER_THAN_HOST",
        make_inventory(
            make_vm(guest=make_guest("Windows Server 2022 Standard", "20348")),
            host=make_host(build=17763, os_name="Windows Server 2019 Datacenter"),
        ),
        make_inventory(make_vm(guest=make_guest("Windows Server 2022 Standard", "20348"))),
    ),
    (
        "GUEST_AZURE_EDITION",
        make_inventory(make_vm(guest=make_guest("Windows Server 2022 Datacenter: Azure Edition", "20348", "407"))),
        make_inventory(make_vm(guest=make_guest("Windows Server 2022 Datacenter", "20348", "8"))),
    ),
    (
        "NO_AVMA_KEY",
        make_inventory(make_vm(guest=make_guest("Windows Server 2022 Essentials", "20348", "50"))),
        make_inventory(make_vm(guest=make_guest("Windows Server 2019 Essentials", "17763", "50"))),
    ),
    (
        "GUEST_EVALUATION",
        make_inventory(make_vm(guest=make_guest("Windows Server 2019 Standard Evaluation", "17763", "79"))),
        make_inventory(make_vm(guest=make_guest("Windows Server 2019 Standard", "17763", "7"))),
    ),
    ("LICENSE_UNKNOWN", make_inventory(make_vm(license=LicenseRead(LicenseState.NOT_READ))), make_inventory()),
    (
        "PS_DIRECT_UNAVAILABLE",
        make_inventory(
            make_vm(
                license=LicenseRead(
                    LicenseState.FAILED,
                    error=PS_DIRECT_ERROR,
                    error_kind=GuestErrorKind.PS_DIRECT,
                )
            )
        ),
        make_inventory(
            make_vm(
                license=LicenseRead(
                    LicenseState.FAILED, error="The credential is invalid.", error_kind=GuestErrorKind.CREDENTIAL
                )
            )
        ),
    ),
    (
        "KEY_NOT_AVMA",
        make_inventory(make_vm(license=read(make_license(description=KMS, partial_product_key="J464C")))),
        make_inventory(),
    ),
    (
        "NOT_ACTIVATED",
        make_inventory(make_vm(license=read(make_license(status=5, reason=0xC004FD02, grace_minutes=0)))),
        make_inventory(make_vm(license=read(make_license(status=2, grace_minutes=4320)))),
    ),
    (
        "GRACE_PERIOD",
        make_inventory(make_vm(license=read(make_license(status=2, grace_minutes=4320)))),
        make_inventory(make_vm(license=read(make_license(status=2, grace_minutes=0)))),
    ),
    (
        "ACTIVATED_BY_OTHER_HOST",
        make_inventory(make_vm(license=read(make_license(avma_host="HV02")))),
        make_inventory(make_vm(license=read(make_license(avma_host="hv01.CONTOSO.local")))),
    ),
    (
        "AVMA_DATA_AFTER_KEY_CHANGE",
        make_inventory(make_vm(license=read(make_license(description=MAK, partial_product_key="QWERT")))),
        make_inventory(
            make_vm(license=read(make_license(description=MAK, partial_product_key="QWERT", avma_last_activation="")))
        ),
    ),
    (
        "AVMA_EVENT_FAILURE",
        make_inventory(
            events=[event("Activation Denied", "2026-11-27T08:00:00Z"), event("AVMA Success", "2026-11-26T08:00:00Z")]
        ),
        make_inventory(
            events=[event("Activation Denied", "2026-11-25T08:00:00Z"), event("AVMA Success", "2026-11-26T08:00:00Z")]
        ),
    ),
]


def test_cases_cover_every_code() -> None:
    assert sorted(code for code, _, _ in CASES) == sorted(SPEC)


@pytest.mark.parametrize(("code", "positive", "negative"), CASES, ids=[c[0] for c in CASES])
def test_code_raised_and_not_raised(code: str, positive: Inventory, negative: Inventory) -> None:
    raised = diagnose(positive)
    hits = [f for f in raised.findings if f.code == code]
    assert hits, all_codes(raised)
    for finding in hits:
        assert (finding.severity, finding.remedy_kind) == (SPEC[code].severity, SPEC[code].remedy)
        assert finding.title and finding.detail and finding.evidence and finding.remedy_summary
        assert "\n" not in finding.title + finding.remedy_summary
    assert code not in all_codes(diagnose(negative))


# --- statuses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vm", "status"),
    [
        (make_vm(), VmStatus.ACTIVATED_AVMA),
        (make_vm(license=read(make_license(description=KMS, partial_product_key="J464C"))), VmStatus.ACTIVATED_OTHER),
        (make_vm(license=read(make_license(status=5, reason=0xC004FD02))), VmStatus.NOT_ACTIVATED),
        (make_vm(license=read(None)), VmStatus.NOT_ACTIVATED),
        (make_vm(guest=make_guest("Ubuntu 22.04", "", "", "", "")), VmStatus.NOT_ELIGIBLE),
        (make_vm(license=LicenseRead(LicenseState.NOT_READ)), VmStatus.UNKNOWN),
        (make_vm(state="Off", guest=None, license=LicenseRead(LicenseState.NOT_READ)), VmStatus.UNKNOWN),
    ],
)
def test_status(vm: Vm, status: VmStatus) -> None:
    assert one(diagnose(make_inventory(vm))).status is status


def test_no_key_installed_is_not_activated_with_install_remedy() -> None:
    vm = one(diagnose(make_inventory(make_vm(license=read(None)))))
    codes = [f.code for f in vm.findings]
    assert codes == ["KEY_NOT_AVMA", "NOT_ACTIVATED"]
    assert "4GF74" in vm.findings[0].remedy_summary


# --- details that carry the facts -----------------------------------------------------------------


def test_grace_period_says_days_left() -> None:
    vm = one(diagnose(make_inventory(make_vm(license=read(make_license(status=2, grace_minutes=3 * 1440 + 100))))))
    (finding,) = vm.findings
    assert finding.code == "GRACE_PERIOD" and "3 days left" in finding.title and "3 days" in finding.detail
    assert vm.status is VmStatus.NOT_ACTIVATED


def test_not_activated_decodes_reason() -> None:
    vm = one(diagnose(make_inventory(make_vm(license=read(make_license(status=5, reason=0xC004FD02))))))
    (finding,) = vm.findings
    assert "0xC004FD02" in finding.detail and "isn't activated on the host machine" in finding.detail
    assert "Notification" in finding.detail
    assert "LicenseStatusReason = 0xC004FD02" in finding.evidence


def test_unknown_reason_is_shown_as_hex() -> None:
    vm = one(diagnose(make_inventory(make_vm(license=read(make_license(status=0, reason=0xC0041234))))))
    assert "0xC0041234 (not in the catalog)" in vm.findings[0].detail


def test_key_not_avma_names_channel_and_kms_key() -> None:
    lic = make_license(description=KMS, partial_product_key="J464C", avma_last_activation="")
    vm = one(diagnose(make_inventory(make_vm(license=read(lic)))))
    (finding,) = vm.findings
    assert "KMS client" in finding.title
    assert "KMS client key for Windows Server 2019 Standard" in finding.detail
    assert "4GF74" in finding.remedy_summary and "confirm" not in finding.remedy_summary


def test_key_not_avma_asks_to_confirm_replacing_a_mak() -> None:
    lic = make_license(description=MAK, partial_product_key="QWERT", avma_last_activation="")
    (finding,) = one(diagnose(make_inventory(make_vm(license=read(lic))))).findings
    assert "MAK" in finding.title and "confirm before replacing the MAK key" in finding.remedy_summary


def test_avma_event_failure_shows_time_and_meaning() -> None:
    inv = make_inventory(events=[event("Invalid Data", "2026-11-27T08:00:00Z")])
    (finding,) = one(diagnose(inv)).findings
    assert finding.code == "AVMA_EVENT_FAILURE"
    assert "2026-11-27T08:00:00Z" in finding.detail and "no success on record" in finding.detail
    assert "failure in communication" in finding.detail


def test_avma_event_matches_by_id_else_by_name() -> None:
    other_id = event("Invalid Host", "2026-11-27T08:00:00Z", vm_id="ffffffff-0000-4000-8000-000000000000")
    by_name = event("Invalid Host", "2026-11-27T08:00:00Z", vm_id="", vm_name="app01")
    assert one(diagnose(make_inventory(events=[other_id]))).findings == ()
    assert [f.code for f in one(diagnose(make_inventory(events=[by_name]))).findings] == ["AVMA_EVENT_FAILURE"]


def test_unknown_notification_is_not_a_failure() -> None:
    assert one(diagnose(make_inventory(events=[event("Something odd", "2026-11-27T08:00:00Z")]))).findings == ()


def test_license_unknown_says_why() -> None:
    not_read = one(diagnose(make_inventory(make_vm(license=LicenseRead(LicenseState.NOT_READ))))).findings
    assert [f.code for f in not_read] == ["LICENSE_UNKNOWN"] and "no guest credentials" in not_read[0].detail.lower()
    failed = LicenseRead(LicenseState.FAILED, error="The credential is invalid.", error_kind=GuestErrorKind.CREDENTIAL)
    (finding,) = one(diagnose(make_inventory(make_vm(license=failed)))).findings
    assert "The credential is invalid." in finding.detail and "credentials" in finding.remedy_summary


def test_2012_r2_guest_cannot_use_powershell_direct() -> None:
    guest = make_guest("Windows Server 2012 R2 Datacenter", "9600", "8")
    vm = one(diagnose(make_inventory(make_vm(guest=guest, license=LicenseRead(LicenseState.NOT_READ)))))
    assert [f.code for f in vm.findings] == ["LICENSE_UNKNOWN", "PS_DIRECT_UNAVAILABLE"]
    assert vm.recommended_key_last5 == "DV4TW"
    failed = LicenseRead(LicenseState.FAILED, error="boom", error_kind=GuestErrorKind.OTHER)
    vm = one(diagnose(make_inventory(make_vm(guest=guest, license=failed))))
    assert "PS_DIRECT_UNAVAILABLE" in [f.code for f in vm.findings]


def test_guest_newer_than_host_explains_the_matrix() -> None:
    host = make_host(build=14393, os_name="Windows Server 2016 Datacenter")
    (finding,) = one(diagnose(make_inventory(host=host))).findings
    assert "2012 R2–2016" in finding.detail and "0xC004FD03" in finding.detail
    assert "Windows Server 2019 or newer" in finding.remedy_summary


# --- host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (make_host(sku=7), "No: the host is Standard (AVMA needs Datacenter)."),
        (make_host(license_status=0), "No: the host is not activated."),
        (
            make_host(sku=7, license_status=0),
            "No: the host is Standard (AVMA needs Datacenter); the host is not activated.",
        ),
        (make_host(sku=42), "No: the host is Hyper-V Server (AVMA needs Datacenter)."),
        (
            make_host(build=26100, os_name="Windows Server 2025 Datacenter"),
            "Yes: Windows Server 2025 Datacenter, activated, can activate 2012 R2–2025 guests "
            "(the 2025 row is inferred).",
        ),
    ],
)
def test_host_can_activate_reason(host: Host, reason: str) -> None:
    diagnosis = diagnose(make_inventory(host=host))
    assert diagnosis.host_can_activate_reason == reason
    assert diagnosis.host_can_activate == reason.startswith("Yes")


def test_evaluation_datacenter_host_is_a_warning_only() -> None:
    diagnosis = diagnose(make_inventory(host=make_host(sku=80)))
    assert [f.code for f in diagnosis.host_findings] == ["HOST_EVALUATION"]
    assert diagnosis.host_can_activate and diagnosis.host_edition == "Datacenter Evaluation"


def test_host_findings_in_fix_order_and_subjects() -> None:
    host = make_host(sku=79, license_status=0, virtual=True, build=9200)
    diagnosis = diagnose(
        make_inventory(host=host, cluster=cluster(node("HV03", sku=7), node("HV02", license_status=0)))
    )
    assert [(f.code, f.subject) for f in diagnosis.host_findings] == [
        ("HOST_IS_VIRTUAL", "HV01"),
        ("HOST_VERSION_UNSUPPORTED", "HV01"),
        ("HOST_NOT_DATACENTER", "HV01"),
        ("HOST_EVALUATION", "HV01"),
        ("HOST_NOT_ACTIVATED", "HV01"),
        ("CLUSTER_NODE_NOT_ACTIVATED", "HV02"),
        ("CLUSTER_NODE_NOT_DATACENTER", "HV03"),
    ]
    node_finding = diagnosis.host_findings[-1]
    assert (node_finding.subject_kind, node_finding.subject_id) == ("node", "HV03")
    assert diagnosis.host_findings[0].subject_kind == "host"


def test_cluster_node_too_old_ignores_ineligible_guests() -> None:
    azure = make_vm(guest=make_guest("Windows Server 2022 Datacenter: Azure Edition", "20348", "407"))
    assert "CLUSTER_NODE_TOO_OLD" not in all_codes(diagnose(make_inventory(azure, cluster=cluster(node(build=17763)))))


# --- VM edge cases --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["Off", "Saved", "Paused"])
def test_vm_not_running_has_only_vm_not_running(state: str) -> None:
    vm = make_vm(state=state, guest=None, kvp=Kvp(True, KvpStatus.NONE), license=LicenseRead(LicenseState.NOT_READ))
    result = one(diagnose(make_inventory(vm)))
    assert [f.code for f in result.findings] == ["VM_NOT_RUNNING"]
    assert result.findings[0].title == f"VM is {state}"
    remedy = {"Off": "Start the VM,", "Saved": "saved state", "Paused": "Resume the VM"}[state]
    assert remedy in result.findings[0].remedy_summary
    assert result.status is VmStatus.UNKNOWN and result.recommended_key_last5 is None


def test_kvp_disabled_is_reported_while_the_vm_is_off() -> None:
    """KVP_DISABLED is a host setting (spec: no "running" condition, unlike KVP_NO_CONTACT): shown for an off VM."""
    vm = make_vm(state="Off", guest=None, kvp=Kvp(False, KvpStatus.NONE), license=LicenseRead(LicenseState.NOT_READ))
    result = one(diagnose(make_inventory(vm)))
    assert [f.code for f in result.findings] == ["VM_NOT_RUNNING", "KVP_DISABLED"]
    assert result.status is VmStatus.UNKNOWN


@pytest.mark.parametrize(("minutes", "left"), [(100, "less than a day"), (1440, "1 day"), (3 * 1440 + 5, "3 days")])
@pytest.mark.parametrize("status", [2, 3, 4, 6])
def test_grace_states_say_the_time_left(status: int, minutes: int, left: str) -> None:
    lic = make_license(status=status, grace_minutes=minutes)
    (finding,) = one(diagnose(make_inventory(make_vm(license=read(lic))))).findings
    assert finding.code == "GRACE_PERIOD" and finding.title == f"Grace period: {left} left"


def test_notification_with_fd04_is_not_activated_and_decoded() -> None:
    lic = make_license(status=5, reason=0xC004FD04, grace_minutes=0)
    (finding,) = one(diagnose(make_inventory(make_vm(license=read(lic))))).findings
    assert finding.code == "NOT_ACTIVATED" and "Notification" in finding.detail
    assert "0xC004FD04" in finding.detail and "not been bound" in finding.detail


def test_unlicensed_without_a_reason_is_not_activated() -> None:
    (finding,) = one(diagnose(make_inventory(make_vm(license=read(make_license(status=0, reason=0)))))).findings
    assert finding.code == "NOT_ACTIVATED" and finding.detail == "Windows in the guest is Unlicensed."


def test_unconfirmed_facts_are_not_stated_as_facts() -> None:
    """Reference §6 V7: the error an AVMA key gives on an Evaluation edition is UNCONFIRMED."""
    guest = make_guest("Windows Server 2019 Standard Evaluation", "17763", "79")
    evaluation = one(diagnose(make_inventory(make_vm(guest=guest)))).findings[0]
    assert evaluation.code == "GUEST_EVALUATION" and "not confirmed" in evaluation.detail
    (virtual,) = diagnose(make_inventory(host=make_host(virtual=True))).host_findings
    assert "typically" not in virtual.detail and "in Azure" in virtual.detail


def test_kvp_disabled_hides_guest_os_unknown() -> None:
    vm = make_vm(kvp=Kvp(False, KvpStatus.NONE), guest=None, license=LicenseRead(LicenseState.NOT_READ))
    assert [f.code for f in one(diagnose(make_inventory(vm))).findings] == ["KVP_DISABLED", "LICENSE_UNKNOWN"]


def test_kvp_enabled_without_intrinsic_data_is_no_contact() -> None:
    vm = one(diagnose(make_inventory(make_vm(guest=None))))
    assert [f.code for f in vm.findings] == ["KVP_NO_CONTACT"]
    assert vm.status is VmStatus.ACTIVATED_AVMA and vm.recommended_key_last5 is None


@pytest.mark.parametrize(
    ("guest", "code", "family", "last5"),
    [
        (make_guest("Windows Server Datacenter", "16299", "8"), None, "2016", "CWG3J"),  # SAC 1709
        (make_guest("Windows Server Standard", "18363", "7"), None, "2019", "4GF74"),  # SAC 1909
        (make_guest("Windows Server Datacenter", "19041", "8"), "NO_AVMA_KEY", None, None),  # SAC 2004
        (make_guest("Windows Server Datacenter", "30000", "8"), "NO_AVMA_KEY", None, None),  # not in the catalog
        (make_guest("Windows 10 Pro", "19041", "48", "1"), "GUEST_NOT_WINDOWS_SERVER", None, None),
        (make_guest("Windows 11 Pro", "22000", "48", ""), "GUEST_NOT_WINDOWS_SERVER", None, None),
        (make_guest("", "22000", "", ""), "GUEST_NOT_WINDOWS_SERVER", None, None),  # client-only build
        (
            make_guest("Ubuntu 22.04.3 LTS", "", "", "", "", OSVersion="5.15.0-91-generic"),
            "GUEST_NOT_WINDOWS_SERVER",
            None,
            None,
        ),
        (make_guest("", "", "", "", "1"), "GUEST_NOT_WINDOWS_SERVER", None, None),  # OSPlatformId 1
        (make_guest("Windows Server 2022 Essentials", "20348", "50"), "NO_AVMA_KEY", "2022", None),
        (make_guest("Windows Server 2019 Essentials", "17763", "50"), None, "2019", "HFV28"),
        (make_guest("Microsoft Hyper-V Server 2019", "17763", "42"), "NO_AVMA_KEY", "2019", None),
        (make_guest("Windows Server 2022 Datacenter: Azure Edition", "20348", ""), "GUEST_AZURE_EDITION", "2022", None),
        (make_guest("Windows Server 2008 R2 Standard", "7601", "7"), "GUEST_TOO_OLD", None, None),
        (make_guest("Windows Server 2012 Standard", "abc", "7"), "GUEST_TOO_OLD", None, None),  # from the name
        (make_guest("Windows Server 2019 Datacenter", "abc", "8"), None, "2019", "WMBMW"),  # family from the name
        (make_guest("Windows Server", "abc", "[red]x"), "GUEST_OS_UNKNOWN", None, None),
        (make_guest("Windows Server 2019", "17763", "[red]x"), "GUEST_OS_UNKNOWN", "2019", None),
        (make_guest("", "", "", "", "", FullyQualifiedDomainName="app01"), "GUEST_OS_UNKNOWN", None, None),
    ],
)
def test_guest_edge_cases(guest: GuestOs, code: str | None, family: str | None, last5: str | None) -> None:
    lic = make_license(partial_product_key=last5 or "XXXXX")
    result = one(diagnose(make_inventory(make_vm(guest=guest, license=read(lic)))))
    codes = [f.code for f in result.findings]
    if code is None:
        assert codes == [], codes
    else:
        assert code in codes, codes
    assert (result.family, result.recommended_key_last5) == (family, last5)
    if code in ("NO_AVMA_KEY", "GUEST_NOT_WINDOWS_SERVER", "GUEST_TOO_OLD", "GUEST_AZURE_EDITION"):
        assert result.status is VmStatus.NOT_ELIGIBLE and codes == [code]


def test_garbled_kvp_is_quoted_in_evidence() -> None:
    guest = make_guest("\x1b[31mevil[/]", "abc", "[red]x", "")
    (finding,) = one(diagnose(make_inventory(make_vm(guest=guest)))).findings
    assert finding.code == "GUEST_NOT_WINDOWS_SERVER"
    assert "KVP OSName = '\\x1b[31mevil[/]'" in finding.evidence
    assert all("\x1b" not in text for text in (finding.detail, *finding.evidence))


def test_evaluation_guest_recommends_dism_with_base_edition_key() -> None:
    guest = make_guest("Windows Server 2022 Datacenter Evaluation", "20348", "80")
    lic = make_license(
        name="Windows(R), ServerDatacenterEval edition",
        description="Windows(R) Operating System, TIMEBASED_EVAL channel",
        partial_product_key="ZZZZZ",
        avma_last_activation="",
    )
    result = one(diagnose(make_inventory(make_vm(guest=guest, license=read(lic)))))
    assert [f.code for f in result.findings] == ["GUEST_EVALUATION"]
    assert result.edition == "Datacenter Evaluation" and result.recommended_key_last5 == "DV9BG"
    assert "/Set-Edition:ServerDatacenter" in result.findings[0].remedy_summary
    assert result.status is VmStatus.ACTIVATED_OTHER


def test_evaluation_known_from_license_name_alone() -> None:
    lic = make_license(
        name="Windows(R), ServerStandardEval edition", description="Windows(R) Operating System, TIMEBASED_EVAL channel"
    )
    result = one(diagnose(make_inventory(make_vm(license=read(lic)))))
    assert "GUEST_EVALUATION" in [f.code for f in result.findings]


def test_evaluation_domain_controller_cannot_be_converted() -> None:
    guest = make_guest("Windows Server 2019 Standard Evaluation", "17763", "79", "2")
    result = one(diagnose(make_inventory(make_vm(guest=guest, license=LicenseRead(LicenseState.NOT_READ)))))
    assert [f.code for f in result.findings] == ["LICENSE_UNKNOWN", "GUEST_EVALUATION"]
    finding = result.findings[1]
    assert "domain controller" in finding.detail and "/Set-Edition:" not in finding.remedy_summary


def test_duplicate_vm_names_get_distinct_diagnoses() -> None:
    first = make_vm()
    second = make_vm(id="6f1e4d7a-0000-4000-8000-000000000002", license=LicenseRead(LicenseState.NOT_READ))
    diagnosis = diagnose(make_inventory(first, second))
    assert [d.status for d in diagnosis.vms] == [VmStatus.ACTIVATED_AVMA, VmStatus.UNKNOWN]
    assert diagnosis.for_vm(second.id).findings[0].subject_id == second.id


def test_vm_findings_in_fix_order() -> None:
    lic = make_license(status=5, reason=0xC004FD03, description=KMS, partial_product_key="J464C", avma_host="")
    inv = make_inventory(
        make_vm(kvp=Kvp(True, KvpStatus.LOST_COMMUNICATION, "Lost Communication"), license=read(lic)),
        host=make_host(build=14393, os_name="Windows Server 2016 Datacenter"),
        events=[event("Activation Denied", "2026-11-27T08:00:00Z")],
    )
    codes = [f.code for f in one(diagnose(inv)).findings]
    assert codes == [
        "KVP_NO_CONTACT",
        "GUEST_NEWER_THAN_HOST",
        "KEY_NOT_AVMA",
        "AVMA_DATA_AFTER_KEY_CHANGE",
        "NOT_ACTIVATED",
        "AVMA_EVENT_FAILURE",
    ]
    assert codes == sorted(codes, key=ORDER.index)


def test_worst_finding_and_severity_types() -> None:
    vm = one(diagnose(make_inventory(make_vm(license=read(make_license(status=5, description=KMS))))))
    assert vm.worst is not None and vm.worst.severity is Severity.ERROR
    assert all(isinstance(f.remedy_kind, RemedyKind) for f in vm.findings)


def test_license_unknown_on_a_2012_r2_guest_does_not_ask_for_credentials() -> None:
    guest = make_guest("Windows Server 2012 R2 Datacenter", "9600", "8")
    vm = one(diagnose(make_inventory(make_vm(guest=guest, license=LicenseRead(LicenseState.NOT_READ)))))
    unknown = vm.findings[0]
    assert unknown.code == "LICENSE_UNKNOWN" and "credentials" not in unknown.remedy_summary.lower()
    assert "slmgr /dlv" in unknown.remedy_summary and "cannot reach" in unknown.detail


@pytest.mark.parametrize(("build", "too_old"), [(17763, True), (9200, True), (None, False), (26200, False)])
def test_cluster_node_too_old_only_when_known_to_be_older(build: int | None, too_old: bool) -> None:
    """A node whose build is unreported, or newer than the catalog knows, is not claimed to be too old."""
    guest = make_vm(guest=make_guest("Windows Server 2022 Standard", "20348"))
    codes = all_codes(diagnose(make_inventory(guest, cluster=cluster(node(build=build)))))
    assert ("CLUSTER_NODE_TOO_OLD" in codes) is too_old


def test_not_activated_names_an_avma_key_of_another_version() -> None:
    """Reference §6 V10: the 2016 AVMA key left on a 2019 guest (in-place upgrade) is named, with the right one."""
    lic = make_license(status=5, reason=0xC004FD03, grace_minutes=0, partial_product_key="4RHYD")
    vm = one(diagnose(make_inventory(make_vm(license=read(lic)))))
    (finding,) = vm.findings
    assert finding.code == "NOT_ACTIVATED"
    assert "…4RHYD is the AVMA key for Windows Server 2016 Standard" in finding.detail
    assert "needs …4GF74" in finding.detail and "PartialProductKey = '4RHYD'" in finding.evidence


def test_a_2012_r2_guest_denied_by_a_2025_host_says_the_row_is_inferred() -> None:
    host = make_host(build=26100, os_name="Windows Server 2025 Datacenter")
    guest = make_guest("Windows Server 2012 R2 Standard", "9600", "7")
    denied = make_license(status=5, reason=0xC004FD03, grace_minutes=0, partial_product_key="MTB6V")
    vm = one(diagnose(make_inventory(make_vm(guest=guest, license=read(denied)), host=host)))
    assert [f.code for f in vm.findings] == ["NOT_ACTIVATED"]  # the matrix row allows it: not GUEST_NEWER_THAN_HOST
    assert "inferred, not published" in vm.findings[0].detail
    on_2022 = one(diagnose(make_inventory(make_vm(guest=guest, license=read(denied)))))
    assert "inferred" not in on_2022.findings[0].detail


def test_host_license_not_reported_is_not_called_not_activated() -> None:
    (finding,) = diagnose(make_inventory(host=make_host(license_status=None))).host_findings
    assert finding.code == "HOST_NOT_ACTIVATED" and finding.title == "Host activation not reported"
    assert "fail" not in finding.detail and "slmgr /dlv" in finding.remedy_summary
    (finding,) = diagnose(make_inventory(host=make_host(license_status=5))).host_findings
    assert finding.title == "Host is not activated" and "in Notification mode" in finding.detail


def test_avma_data_remedy_does_not_claim_to_know_the_kvp_items() -> None:
    lic = make_license(description=MAK, partial_product_key="QWERT")
    vm = one(diagnose(make_inventory(make_vm(license=read(lic)))))
    (stale,) = [f for f in vm.findings if f.code == "AVMA_DATA_AFTER_KEY_CHANGE"]
    assert "does not name them" in stale.remedy_summary


def test_no_avma_key_for_2025_essentials_does_not_claim_none_exists() -> None:
    """Reference §1.4: whether a 2025 Essentials AVMA key exists is UNCONFIRMED; only the catalog has none."""
    guest = make_guest("Windows Server 2025 Essentials", "26100", "50")
    host = make_host(build=26100, os_name="Windows Server 2025 Datacenter")
    (finding,) = one(diagnose(make_inventory(make_vm(guest=guest), host=host))).findings
    assert finding.code == "NO_AVMA_KEY" and "catalog" in finding.detail and "is published" not in finding.detail


def test_a_diagnosis_with_the_previous_one_checks_only_the_vms_that_changed() -> None:
    """A license chunk changes a few VMs of many: the others keep their diagnosis (the same object), and the
    result is what a diagnosis from scratch gives."""
    vms = [make_vm(id=f"00000000-0000-4000-8000-{n:012d}", name=f"VM{n}") for n in range(5)]
    first = diagnose(make_inventory(*vms))
    changed = replace(vms[2], license=read(make_license(description=KMS)))
    inventory = make_inventory(*vms[:2], changed, *vms[3:])
    again = diagnose(inventory, previous=first)
    assert again == diagnose(inventory)
    assert [a is b for a, b in zip(again.vms, first.vms, strict=True)] == [True, True, False, True, True]
    assert "KEY_NOT_AVMA" in [f.code for f in again.vms[2].findings]
    # Another host, other events, or one Id twice: every VM is checked again.
    other_host = make_inventory(*vms, host=make_host(build=17763))
    assert not any(a is b for a, b in zip(diagnose(other_host, previous=first).vms, first.vms, strict=True))
    with_event = make_inventory(*vms, events=(event("Activation Denied", "2026-11-20T10:00:00Z", vms[0].id),))
    assert diagnose(with_event, previous=first) == diagnose(with_event)
    twice = make_inventory(vms[0], vms[0])
    assert diagnose(twice, previous=diagnose(twice)) == diagnose(twice)
