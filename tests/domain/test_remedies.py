"""Remedies: every finding code has a plan; steps carry their op's exact script; keys stay masked; refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from avma_tui.core.catalog import load_catalog
from avma_tui.core.findings.registry import REGISTRY, Subject
from avma_tui.core.model import (
    Diagnosis,
    Finding,
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
from avma_tui.core.remedies import (
    INFO_ONLY_CODES,
    StepKind,
    key_step,
    mask_key,
    plan_for_host,
    plan_for_vm,
)
from avma_tui.hyperv.operations import script_text, step_script

VM_ID = "6f1e4d7a-0000-4000-8000-000000000001"
CATALOG = load_catalog()
ALL_KEYS = [k.key for k in CATALOG.avma_keys] + [k.key for k in CATALOG.kms_keys]

#: code → remedy kind, from the finding registry.
HOST_CODES = {s.code: s.remedy for s in REGISTRY if s.subject is not Subject.VM}
VM_CODES = {s.code: s.remedy for s in REGISTRY if s.subject is Subject.VM}

HOST = Host("HV01", "contoso.local", "Windows Server 2022 Datacenter", 20348, 8, 1, "ABCDE", True, False)


def guest_os(build: int = 17763, sku: int = 7, name: str = "Windows Server 2019 Standard", ptype: int = 3) -> GuestOs:
    return GuestOs(name, f"10.0.{build}", build, sku, ptype, 2, "app01.contoso.local")


def lic(channel: str = "VOLUME_KMSCLIENT", partial: str = "J464C", status: int = 1, reason: int = 0) -> GuestLicense:
    return GuestLicense(
        name="Windows(R), ServerStandard edition",
        description=f"Windows(R) Operating System, {channel} channel",
        status=status,
        reason=reason,
        grace_minutes=0,
        partial_product_key=partial,
        product_key_channel="",
        avma_host="",
        avma_last_activation="",
    )


def finding(code: str, kind: RemedyKind, subject: str = "APP01", subject_kind: str = "vm") -> Finding:
    return Finding(
        code=code,
        severity=Severity.ERROR,
        subject=subject,
        subject_id=VM_ID if subject_kind == "vm" else subject,
        subject_kind=subject_kind,
        title=f"title of {code}",
        detail=f"detail of {code}",
        evidence=(),
        remedy_kind=kind,
        remedy_summary="",
    )


def diagnosis(
    *codes: str,
    guest: GuestOs | None = None,
    license_read: LicenseRead | None = None,
    state: str = "Running",
    host_codes: tuple[str, ...] = (),
    status: VmStatus = VmStatus.NOT_ACTIVATED,
    family: str | None = "2019",
    recommended: str | None = "4GF74",
    host: Host = HOST,
) -> Diagnosis:
    vm = Vm(
        id=VM_ID,
        name="APP01",
        state=state,
        generation=2,
        kvp=Kvp(True, KvpStatus.OK, "OK"),
        guest=guest if guest is not None else guest_os(),
        license=license_read or LicenseRead(LicenseState.READ, lic()),
    )
    vmd = VmDiagnosis(
        vm=vm,
        status=status,
        findings=tuple(finding(c, VM_CODES[c]) for c in codes),
        family=family,
        edition="Standard",
        recommended_key_last5=recommended,
    )
    host_findings = tuple(
        finding(
            c,
            HOST_CODES[c],
            "HV02" if c.startswith("CLUSTER") else "HV01",
            "node" if c.startswith("CLUSTER") else "host",
        )
        for c in host_codes
    )
    inventory = Inventory(host=host, cluster=None, vms=(vm,), events=(), read_at="2026-11-27T22:00:00Z")
    return Diagnosis(inventory, host_findings, "2022", "Datacenter", not host_codes, "", (vmd,))


def all_steps(remedies):
    return [step for remedy in remedies for step in remedy.steps]


@pytest.mark.parametrize("code", sorted(VM_CODES))
def test_every_vm_code_has_a_plan_of_its_kind(code: str) -> None:
    remedies = plan_for_vm(diagnosis(code), VM_ID)
    assert [r.finding.code for r in remedies] == [code]
    steps = remedies[0].steps
    if code in INFO_ONLY_CODES:
        assert VM_CODES[code] is RemedyKind.NONE and steps == ()
        return
    assert steps, f"{code} has no steps"
    kinds = {s.kind.value for s in steps}
    assert VM_CODES[code].value in kinds


@pytest.mark.parametrize("code", sorted(HOST_CODES))
def test_every_host_code_has_a_plan_of_its_kind(code: str) -> None:
    remedies = plan_for_host(diagnosis(host_codes=(code,)))
    assert [r.finding.code for r in remedies] == [code]
    (step,) = remedies[0].steps
    assert step.kind.value == HOST_CODES[code].value
    if step.kind is StepKind.MANUAL:
        assert step.op is None and step.script.strip()


def test_automatic_and_assisted_steps_show_the_exact_script_of_their_op() -> None:
    codes = [c for c in VM_CODES if c not in ("PS_DIRECT_UNAVAILABLE",)]
    steps = [s for c in codes for s in all_steps(plan_for_vm(diagnosis(c), VM_ID))]
    steps += all_steps(plan_for_host(diagnosis(host_codes=("HOST_NOT_ACTIVATED",))))
    ops = set()
    for step in steps:
        if step.kind is StepKind.MANUAL:
            assert step.op is None
            continue
        ops.add(step.op)
        assert step.script == "" and step_script(step) == script_text(step.op)  # rendered outside the domain
    assert ops >= {
        "start_vm",
        "enable_kvp",
        "start_guest_kvp",
        "install_key",
        "activate_guest",
        "set_edition",
        "activate_host",
        "guest_licenses",
    }


def test_params_never_show_a_full_key_unless_revealed() -> None:
    d = diagnosis("KEY_NOT_AVMA", "GUEST_EVALUATION", "NOT_ACTIVATED")
    for step in [*all_steps(plan_for_vm(d, VM_ID)), key_step(d, VM_ID)]:
        for _, value in step.params:
            assert not any(key in value for key in ALL_KEYS), step
    step = key_step(diagnosis("KEY_NOT_AVMA"), VM_ID)
    key = CATALOG.avma_key("2019", "Standard")
    assert dict(step.params)["ProductKey"] == mask_key(key.key) == "XXXXX-XXXXX-XXXXX-XXXXX-4GF74"
    assert dict(step.secret_params)["ProductKey"] == key.key
    revealed = key_step(diagnosis("KEY_NOT_AVMA"), VM_ID, reveal=True)
    assert dict(revealed.params)["ProductKey"] == key.key


def test_key_step_installs_the_catalog_key_for_version_and_edition() -> None:
    d = diagnosis(
        "KEY_NOT_AVMA", guest=guest_os(20348, 8, "Windows Server 2022 Datacenter"), family="2022", recommended="DV9BG"
    )
    step = key_step(d, VM_ID)
    assert step.op == "install_key" and step.kind is StepKind.ASSISTED and not step.refusal
    assert dict(step.secret_params)["ProductKey"] == CATALOG.avma_key("2022", "Datacenter").key
    assert set(step.needs) == {"guest_credentials", "vm_running"}


@pytest.mark.parametrize("code", ["NO_AVMA_KEY", "GUEST_NEWER_THAN_HOST", "GUEST_AZURE_EDITION"])
def test_key_step_refuses_with_the_reason(code: str) -> None:
    step = key_step(diagnosis(code, "KEY_NOT_AVMA", recommended=None if code == "NO_AVMA_KEY" else "4GF74"), VM_ID)
    assert step.refusal.startswith(code)
    assert not step.secret_params
    # The plan's install step is refused the same way; activation too.
    plan = plan_for_vm(diagnosis(code, "KEY_NOT_AVMA"), VM_ID)
    key_not_avma = next(r for r in plan if r.finding.code == "KEY_NOT_AVMA")
    assert all(s.refusal.startswith(code) for s in key_not_avma.steps)


def test_key_step_without_guest_data_refuses() -> None:
    d = diagnosis("NOT_ACTIVATED", family=None, recommended=None, guest=GuestOs("", "", None, None, None, None, ""))
    assert "not known" in key_step(d, VM_ID).refusal


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ("VOLUME_MAK", "replaces a MAK key (…ABCDE)"),
        ("RETAIL", "replaces a retail key (…ABCDE)"),
        ("OEM_DM", "replaces an OEM key (…ABCDE)"),
        ("VOLUME_KMSCLIENT", "replaces a KMS client key (…ABCDE)"),
    ],
)
def test_key_step_warns_before_replacing_a_key_worth_keeping(channel: str, words: str) -> None:
    d = diagnosis("KEY_NOT_AVMA", license_read=LicenseRead(LicenseState.READ, lic(channel, "ABCDE")))
    step = key_step(d, VM_ID)
    assert step.warning.startswith(words)
    # what a batch's one confirmation counts ("replaces 1 MAK key"), from the same facts as the warning
    assert f"replaces a{'n' if step.replaces_key[0] in 'AEIOU' else ''} {step.replaces_key} (…ABCDE)" == words
    assert step.replaced_last5 == "ABCDE" and not step.restarts_guest


def test_evaluation_guest_gets_dism_with_the_avma_key_and_a_reboot_warning() -> None:
    d = diagnosis(
        "GUEST_EVALUATION",
        guest=guest_os(20348, 80, "Windows Server 2022 Datacenter Evaluation"),
        family="2022",
        recommended="DV9BG",
    )
    step = key_step(d, VM_ID)
    assert step.op == "set_edition"
    assert dict(step.params)["Edition"] == "ServerDatacenter"
    assert dict(step.secret_params)["ProductKey"] == CATALOG.avma_key("2022", "Datacenter").key
    assert "restart" in step.warning and step.restarts_guest


def test_evaluation_domain_controller_is_refused() -> None:
    d = diagnosis("GUEST_EVALUATION", guest=guest_os(17763, 79, "Windows Server 2019 Standard Evaluation", ptype=2))
    (step,) = plan_for_vm(d, VM_ID)[0].steps
    assert step.op == "set_edition" and "domain controller" in step.refusal


def test_2012r2_guest_gets_exact_console_commands() -> None:
    d = diagnosis(
        "PS_DIRECT_UNAVAILABLE",
        "KEY_NOT_AVMA",
        guest=guest_os(9600, 7, "Windows Server 2012 R2 Standard"),
        family="2012 R2",
        recommended="MTB6V",
    )
    key = CATALOG.avma_key("2012 R2", "Standard").key
    for remedy in plan_for_vm(d, VM_ID):
        step = remedy.steps[0]
        assert step.kind is StepKind.MANUAL and step.op is None
        assert step.script.splitlines()[:2] == [f"slmgr /ipk {key}", "slmgr /ato"]


def test_evaluation_without_ps_direct_gets_the_dism_command() -> None:
    d = diagnosis(
        "GUEST_EVALUATION",
        "PS_DIRECT_UNAVAILABLE",
        guest=guest_os(9600, 79, "Windows Server 2012 R2 Standard Evaluation"),
        family="2012 R2",
        recommended="MTB6V",
    )
    step = plan_for_vm(d, VM_ID)[0].steps[0]
    key = CATALOG.avma_key("2012 R2", "Standard").key
    assert f"DISM /Online /Set-Edition:ServerStandard /ProductKey:{key} /AcceptEula" in step.script


def test_kvp_no_contact_is_manual_when_ps_direct_cannot_reach_the_guest() -> None:
    assisted = plan_for_vm(diagnosis("KVP_NO_CONTACT"), VM_ID)[0].steps[0]
    assert assisted.op == "start_guest_kvp" and "guest_credentials" in assisted.needs
    failed = LicenseRead(
        LicenseState.FAILED, error="…remote session might have ended.", error_kind=GuestErrorKind.PS_DIRECT
    )
    manual = plan_for_vm(diagnosis("KVP_NO_CONTACT", license_read=failed), VM_ID)[0].steps[0]
    assert manual.kind is StepKind.MANUAL and "Start-Service -Name vmickvpexchange" in manual.script


def test_host_findings_that_block_the_vm_come_first_and_refuse_activation() -> None:
    d = diagnosis(
        "NOT_ACTIVATED",
        host_codes=("HOST_NOT_ACTIVATED", "CLUSTER_NODE_TOO_OLD"),
        license_read=LicenseRead(LicenseState.READ, lic("VIRTUAL_MACHINE_ACTIVATION", "4GF74", 5, 0xC004FD02)),
    )
    plan = plan_for_vm(d, VM_ID)
    assert [r.finding.code for r in plan] == ["HOST_NOT_ACTIVATED", "NOT_ACTIVATED"]
    host_step = plan[0].steps[0]
    assert host_step.op == "activate_host" and host_step.needs == ("host_product_key",)
    assert host_step.secret_params == ()
    (activate,) = plan[1].steps
    assert activate.op == "activate_guest" and "HOST_NOT_ACTIVATED" in activate.refusal
    assert "0xC004FD02" in activate.warning


def test_not_activated_without_the_right_key_installs_it_first() -> None:
    d = diagnosis("NOT_ACTIVATED", license_read=LicenseRead(LicenseState.READ, None))
    assert [s.op for s in plan_for_vm(d, VM_ID)[0].steps] == ["install_key", "activate_guest"]
    right = LicenseRead(LicenseState.READ, lic("VIRTUAL_MACHINE_ACTIVATION", "4GF74", 0))
    assert [s.op for s in plan_for_vm(diagnosis("NOT_ACTIVATED", license_read=right), VM_ID)[0].steps] == [
        "activate_guest"
    ]


def test_an_avma_key_is_kept_while_the_guest_os_is_unknown() -> None:
    """KVP off: no OS data, so no key can be judged; the AVMA key there stays and only activation is planned."""
    avma = LicenseRead(LicenseState.READ, lic("VIRTUAL_MACHINE_ACTIVATION", "4GF74", 5, 0xC004FD04))
    d = diagnosis("NOT_ACTIVATED", license_read=avma, family=None, recommended=None)
    assert [s.op for s in plan_for_vm(d, VM_ID)[0].steps] == ["activate_guest"]
    kms = LicenseRead(LicenseState.READ, lic("VOLUME_KMSCLIENT", "J464C", 5, 0xC004FD04))
    d = diagnosis("NOT_ACTIVATED", license_read=kms, family=None, recommended=None)
    assert [s.op for s in plan_for_vm(d, VM_ID)[0].steps] == ["install_key", "activate_guest"]


def test_manual_commands_name_a_vm_by_id_never_by_a_hostile_name() -> None:
    d = diagnosis("GUEST_NEWER_THAN_HOST")
    hostile = "[red]x[/]'; Remove-VM *"
    vm = replace(d.inventory.vms[0], name=hostile)
    vmd = replace(d.vms[0], vm=vm)
    d = replace(d, inventory=replace(d.inventory, vms=(vm,)), vms=(vmd,))
    step = plan_for_vm(d, VM_ID)[0].steps[0]
    assert f"Get-VM -Id {VM_ID} | Move-VM" in step.script
    assert "Remove-VM" not in step.script and "[red]" not in step.script


@pytest.mark.parametrize("node", ["HV02; Stop-Computer", "HV02\nStop-Computer", "HV02`nStop-Computer"])
def test_hostile_node_names_become_placeholders(node: str) -> None:
    d = diagnosis(host_codes=("CLUSTER_NODE_NOT_ACTIVATED",))
    f = replace(d.host_findings[0], subject=node)
    step = plan_for_host(replace(d, host_findings=(f,)))[0].steps[0]
    assert "Stop-Computer" not in step.script and "<node name>" in step.script


def test_a_vm_id_that_is_not_a_guid_never_reaches_a_command() -> None:
    d = diagnosis("GUEST_NEWER_THAN_HOST")
    bad_id = VM_ID + "\nStop-Computer"
    vm = replace(d.inventory.vms[0], id=bad_id)
    d = replace(d, inventory=replace(d.inventory, vms=(vm,)), vms=(replace(d.vms[0], vm=vm),))
    step = plan_for_vm(d, bad_id)[0].steps[0]
    assert "Stop-Computer" not in step.script and "Get-VM -Id <VM Id>" in step.script


def test_not_eligible_vm_gets_no_host_remedies() -> None:
    d = diagnosis("GUEST_TOO_OLD", host_codes=("HOST_NOT_ACTIVATED",), status=VmStatus.NOT_ELIGIBLE)
    plan = plan_for_vm(d, VM_ID)
    assert [(r.finding.code, r.steps) for r in plan] == [("GUEST_TOO_OLD", ())]


def test_unknown_vm_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        plan_for_vm(diagnosis(), "00000000-0000-4000-8000-000000000000")


SCENARIOS = ("demo", "hostile", "standard-host", "unactivated-host", "nested-eval-host", "no-hyperv", "old-host")


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_real_diagnosis_has_a_plan_for_every_vm(scenario: str) -> None:
    from avma_tui.hyperv.host import HyperVHost
    from avma_tui.hyperv.transport import Credential
    from avma_tui.paths import asset
    from avma_tui.services.session import Session
    from avma_tui.sim.engine import SimHost
    from avma_tui.sim.scenario import load_scenario
    from avma_tui.sim.transport import SimTransport

    host = HyperVHost(SimTransport(SimHost(load_scenario(asset("scenarios", f"{scenario}.toml"))), latency_ms=0))
    d = await Session(host, guest_credential=Credential("Administrator", "Passw0rd!")).refresh()
    assert [r.finding for r in plan_for_host(d)] == list(d.host_findings)
    for vmd in d.vms:
        plan = plan_for_vm(d, vmd.vm.id)
        assert [r.finding for r in plan if r.finding.subject_kind == "vm"] == list(vmd.findings)
        for remedy in plan:
            assert remedy.steps or remedy.finding.code in INFO_ONLY_CODES
            for step in remedy.steps:
                if len(vmd.vm.name) > 8:  # hostile names never reach a script (short ones might by chance)
                    assert vmd.vm.name not in step.script
                assert not any(key in value for key in ALL_KEYS for _, value in step.params)


def test_reading_the_license_is_refused_where_ps_direct_cannot_reach_the_guest() -> None:
    """Credentials cannot help a 2012 R2 guest: the read step must not send the admin to type them."""
    not_read = LicenseRead(LicenseState.NOT_READ)
    old = diagnosis(
        "LICENSE_UNKNOWN",
        "PS_DIRECT_UNAVAILABLE",
        guest=guest_os(9600, 7, "Windows Server 2012 R2 Standard"),
        license_read=not_read,
        family="2012 R2",
        recommended="MTB6V",
    )
    (read_step,) = plan_for_vm(old, VM_ID)[0].steps
    assert read_step.op == "guest_licenses" and read_step.refusal.startswith("PS_DIRECT_UNAVAILABLE")
    (new_step,) = plan_for_vm(diagnosis("LICENSE_UNKNOWN", license_read=not_read), VM_ID)[0].steps
    assert new_step.op == "guest_licenses" and new_step.refusal == ""


def test_console_steps_say_how_to_check_them_where_the_host_cannot() -> None:
    """The host cannot read a 2012 R2 guest's license: the step must not promise that a re-check shows it."""
    d = diagnosis(
        "PS_DIRECT_UNAVAILABLE",
        "NOT_ACTIVATED",
        guest=guest_os(9600, 7, "Windows Server 2012 R2 Standard"),
        family="2012 R2",
        recommended="MTB6V",
    )
    steps = all_steps(plan_for_vm(d, VM_ID))
    assert {s.id for s in steps} >= {"manual_install_avma_key", "manual_activate_guest"}
    for step in steps:
        assert "slmgr /dlv" in step.verify and "cannot confirm" in step.verify


@pytest.mark.parametrize(("build", "kms_version"), [(18363, "SAC 20H2/2004/1909/1903/1809"), (17763, "2019")])
def test_kms_alternative_names_the_gvlk_of_the_guests_release(build: int, kms_version: str) -> None:
    """A 1909 guest takes the Semi-Annual Channel GVLK, not Windows Server 2019's (docs/avma-reference.md §1.5)."""
    host = Host("HV01", "", "Windows Server 2016 Datacenter", 14393, 8, 1, "ABCDE", True, False)
    d = diagnosis("GUEST_NEWER_THAN_HOST", guest=guest_os(build, 7, "Windows Server Standard"), host=host)
    (step,) = plan_for_vm(d, VM_ID)[0].steps
    (wanted,) = [k.key for k in CATALOG.kms_keys if k.version == kms_version and k.edition == "Standard"]
    assert f"slmgr /ipk {wanted}" in step.script
