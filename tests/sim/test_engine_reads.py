"""What the simulated host reports, read through the real facade (HyperVHost parses every document)."""

from __future__ import annotations

from avma_tui.core.model import GuestErrorKind, KvpStatus, LicenseState
from avma_tui.hyperv.transport import Credential
from tests.sim.simkit import GOOD, guest


async def test_running_vm_with_kvp_ok_reports_its_intrinsic_items(make_sim):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    [vm] = (await sim.host.inventory()).vms
    assert vm.state == "Running"
    assert vm.kvp.enabled and vm.kvp.status is KvpStatus.OK
    assert vm.guest is not None and vm.guest.build == 17763 and vm.guest.edition_id == 7


async def test_ids_are_derived_from_the_name_and_stable(make_sim):
    first = await make_sim('[[vms]]\nname = "APP01"\n').vm_id("APP01")
    second = await make_sim('[[vms]]\nname = "APP01"\n').vm_id("APP01")
    assert first == second and len(first) == 36


async def test_duplicate_names_get_distinct_ids(make_sim):
    inventory = await make_sim('[[vms]]\nname = "TWIN"\n[[vms]]\nname = "TWIN"\n').host.inventory()
    assert len({vm.id for vm in inventory.vms}) == 2


async def test_kvp_disabled_hides_guest_data_but_ps_direct_still_reads_the_license(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "PRINT01"\nkvp_enabled = false\n'
        + guest("2019", "Standard")
        + '[vms.license]\nstatus = 1\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\npartial_product_key = "4GF74"\n'
    )
    [vm] = (await sim.host.inventory()).vms
    assert not vm.kvp.enabled and vm.kvp.status is KvpStatus.NONE and vm.guest is None
    read = await sim.license(vm.id)
    assert read.state is LicenseState.READ and read.license is not None and read.license.is_avma


async def test_vm_off_reports_no_kvp_status_and_no_guest_data(make_sim):
    [vm] = (await make_sim('[[vms]]\nname = "OFF01"\nstate = "Off"\n' + guest("2022", "Standard")).host.inventory()).vms
    assert vm.state == "Off" and vm.kvp.status is KvpStatus.NONE and vm.guest is None


async def test_no_contact_hides_guest_data(make_sim):
    sim = make_sim('[[vms]]\nname = "WSUS01"\nkvp_status = "NoContact"\n' + guest("2016", "Datacenter"))
    [vm] = (await sim.host.inventory()).vms
    assert vm.kvp.status is KvpStatus.NO_CONTACT and vm.guest is None


async def test_no_license_table_means_no_key_installed(make_sim):
    sim = make_sim('[[vms]]\nname = "NEW01"\n' + guest("2022", "Standard"))
    read = await sim.license(await sim.vm_id("NEW01"))
    assert read.state is LicenseState.READ and read.license is None


async def test_license_document_carries_windows_names_and_channel(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "SQL01"\n'
        + guest("2019", "Standard")
        + '[vms.license]\nstatus = 2\nreason = "0xC004F074"\nchannel = "VOLUME_KMSCLIENT"\n'
        'partial_product_key = "J464C"\ngrace_minutes = 4320\n'
    )
    lic = (await sim.license(await sim.vm_id("SQL01"))).license
    assert lic is not None
    assert lic.name == "Windows(R), ServerStandard edition"
    assert lic.channel == "VOLUME_KMSCLIENT" and lic.status == 2 and lic.reason == 0xC004F074
    assert lic.grace_minutes == 4320 and lic.avma_host == "" and lic.avma_last_activation == ""


async def test_wrong_password_fails_every_guest_with_the_windows_message(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "A"\n' + guest("2022", "Standard") + '[[vms]]\nname = "B"\n' + guest("2019", "Standard")
    )
    ids = [vm.id for vm in (await sim.host.inventory()).vms]
    reads = await sim.host.guest_licenses(ids, Credential("Administrator", "wrong"))
    assert {r.error for r in reads.values()} == {"The credential is invalid."}
    assert {r.error_kind for r in reads.values()} == {GuestErrorKind.CREDENTIAL}


async def test_username_matches_case_insensitively_and_with_a_machine_prefix(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    vm_id = await sim.vm_id("A")
    for user in ("administrator", ".\\Administrator", "A\\ADMINISTRATOR"):
        assert (await sim.license(vm_id, Credential(user, "Passw0rd!"))).state is LicenseState.READ
    assert (await sim.license(vm_id, Credential("Administrator", "passw0rd!"))).state is LicenseState.FAILED


async def test_ps_direct_fails_on_a_vm_that_is_off_and_on_a_2012_r2_guest(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "OFF01"\nstate = "Off"\n'
        + guest("2022", "Standard")
        + '[[vms]]\nname = "OLD01"\n'
        + guest("2012 R2", "Standard")
    )
    inventory = await sim.host.inventory()
    reads = await sim.host.guest_licenses([vm.id for vm in inventory.vms], GOOD)
    off, old = (reads[vm.id] for vm in inventory.vms)
    assert off.error_kind is GuestErrorKind.NOT_RUNNING
    assert old.error_kind is GuestErrorKind.PS_DIRECT
    assert "remote session might have ended" in old.error


async def test_scenario_without_guest_credentials_accepts_none(make_sim):
    header = 'format = 1\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8\n'
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), header=header)
    assert sim.engine.guest_credentials is None
    assert (await sim.license(await sim.vm_id("A"))).error == "The credential is invalid."


async def test_unknown_vm_id_in_a_license_query_is_reported_per_vm(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    reads = await sim.host.guest_licenses(["00000000-0000-4000-8000-000000000000"], GOOD)
    assert reads["00000000-0000-4000-8000-000000000000"].state is LicenseState.FAILED


async def test_events_are_newest_first_with_vm_id_filled_from_a_unique_name(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "APP01"\n[[vms]]\nname = "TWIN"\n[[vms]]\nname = "TWIN"\n'
        '[[events]]\ntime = "2026-11-20T08:00:00Z"\nvm = "APP01"\nnotification = "AVMA Success"\n'
        '[[events]]\ntime = "2026-11-27T08:00:00Z"\nvm = "TWIN"\nnotification = "Invalid Data"\n'
    )
    inventory = await sim.host.inventory()
    newest, oldest = inventory.events
    assert newest.time == "2026-11-27T08:00:00Z" and newest.vm_id == ""  # ambiguous name: no id
    assert oldest.vm_id == inventory.vms[0].id
    assert oldest.message == "The VM was activated."  # the catalog's text when the file gives none


async def test_cluster_unreachable_node_reports_nulls_and_an_error(make_sim):
    sim = make_sim(
        '[cluster]\nname = "CL01"\n[[cluster.nodes]]\nname = "HV02"\nbuild = 17763\nsku = 7\nlicense_status = 5\n'
        '[[cluster.nodes]]\nname = "HV03"\nbuild = 20348\nreachable = false\n'
    )
    from avma_tui.services.session import Session

    # The client reads each node over its own connection (services/nodes.py); the sim serves each node.
    cluster = (await Session(sim.host).refresh()).inventory.cluster
    assert cluster is not None and cluster.name == "CL01"
    hv02, hv03 = cluster.nodes
    assert (hv02.build, hv02.sku, hv02.license_status, hv02.reachable) == (17763, 7, 5, True)
    assert (hv03.build, hv03.reachable) == (None, False) and "WinRM cannot complete" in hv03.error


async def test_host_document(make_sim):
    host = (await make_sim("").host.inventory()).host
    assert (host.name, host.fqdn, host.build, host.sku, host.license_status) == (
        "HV01",
        "HV01.contoso.local",
        20348,
        8,
        1,
    )
    assert host.hyperv and not host.virtual


async def test_single_vm_read_by_id(make_sim):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    vm = await sim.host.vm(await sim.vm_id("APP01"))
    assert vm.name == "APP01" and vm.guest is not None
