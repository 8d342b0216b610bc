"""Changes on the simulated host and their timing, driven by a fake clock through the real facade."""

from __future__ import annotations

import pytest

from avma_tui.core.model import GuestErrorKind, KvpStatus
from avma_tui.hyperv.host import ConversionTask, hresult_of
from avma_tui.hyperv.transport import Credential, RemoteError
from tests.sim.simkit import GOOD, avma_key, guest, kms_key

AVMA_LICENSE = '[vms.license]\nstatus = 5\nreason = "0xC004FD04"\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\n'


def header(**host: object) -> str:
    """A host table with overrides, and the demo's guest credentials."""
    fields = {"name": '"HV01"', "build": 20348, "sku": 8, "license_status": 1} | {
        k: v if not isinstance(v, str) else f'"{v}"' for k, v in host.items()
    }
    body = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in fields.items())
    return (
        "format = 1\n[sim]\nactivation_delay_s = 2.0\n[host]\n"
        + body
        + '[guest_credentials]\nusername = "Administrator"\npassword = "Passw0rd!"\n'
    )


async def events_for(sim, vm_id: str) -> list[str]:
    return [e.notification for e in (await sim.host.inventory()).events if e.vm_id == vm_id]


# --- KVP and VM state ---------------------------------------------------------------------------


async def test_enable_kvp_makes_status_ok_and_guest_data_appear(make_sim):
    sim = make_sim('[[vms]]\nname = "PRINT01"\nkvp_enabled = false\n' + guest("2019", "Standard"))
    vm_id = await sim.vm_id("PRINT01")
    vm = await sim.host.enable_kvp(vm_id)
    assert vm.kvp.enabled and vm.kvp.status is KvpStatus.OK
    assert vm.guest is not None and vm.guest.os_name == "Windows Server 2019 Standard"


async def test_enable_kvp_makes_status_ok_even_where_the_scenario_gave_another(make_sim):
    """docs/scenario.md: enabling KVP on a running VM makes the status OK, whatever it was set to."""
    sim = make_sim('[[vms]]\nname = "A"\nkvp_enabled = false\nkvp_status = "NoContact"\n' + guest("2019", "Standard"))
    vm = await sim.host.enable_kvp(await sim.vm_id("A"))
    assert vm.kvp.status is KvpStatus.OK and vm.guest is not None


async def test_enable_kvp_on_a_vm_that_is_off_shows_data_only_once_it_runs(make_sim):
    sim = make_sim('[[vms]]\nname = "OFF01"\nstate = "Off"\nkvp_enabled = false\n' + guest("2022", "Standard"))
    vm_id = await sim.vm_id("OFF01")
    vm = await sim.host.enable_kvp(vm_id)
    assert vm.kvp.enabled and vm.guest is None


async def test_start_vm_is_starting_until_the_boot_delay_has_passed(make_sim):
    sim = make_sim('[[vms]]\nname = "OFF01"\nstate = "Off"\n' + guest("2022", "Standard"))
    vm_id = await sim.vm_id("OFF01")
    assert (await sim.host.start_vm(vm_id)).state == "Starting"
    sim.clock.advance(2.9)
    assert (await sim.host.vm(vm_id)).state == "Starting"
    sim.clock.advance(0.2)
    vm = await sim.host.vm(vm_id)
    assert vm.state == "Running" and vm.kvp.status is KvpStatus.OK and vm.guest is not None


async def test_start_vm_on_a_running_vm_changes_nothing(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    assert (await sim.host.start_vm(await sim.vm_id("A"))).state == "Running"


async def test_start_guest_kvp_fixes_no_contact(make_sim):
    sim = make_sim('[[vms]]\nname = "WSUS01"\nkvp_status = "NoContact"\n' + guest("2016", "Datacenter"))
    vm_id = await sim.vm_id("WSUS01")
    await sim.host.start_guest_kvp(vm_id, GOOD)
    vm = await sim.host.vm(vm_id)
    assert vm.kvp.status is KvpStatus.OK and vm.guest is not None


async def test_start_guest_kvp_needs_the_guest_credentials(make_sim):
    sim = make_sim('[[vms]]\nname = "CA01"\nkvp_status = "LostCommunication"\n' + guest("2019", "Datacenter"))
    vm_id = await sim.vm_id("CA01")
    with pytest.raises(RemoteError, match="The credential is invalid"):
        await sim.host.start_guest_kvp(vm_id, Credential("Administrator", "nope"))
    assert (await sim.host.vm(vm_id)).kvp.status is KvpStatus.LOST_COMMUNICATION


async def test_unknown_vm_id_is_a_remote_error(make_sim):
    sim = make_sim("")
    with pytest.raises(RemoteError, match="unable to find a virtual machine"):
        await sim.host.enable_kvp("00000000-0000-4000-8000-000000000000")


async def test_missing_parameter_is_a_binding_error(make_sim):
    sim = make_sim("")
    with pytest.raises(RemoteError, match="Cannot bind argument to parameter 'VmId'"):
        await sim.transport.run("enable_kvp", {})


async def test_unknown_operation_is_a_remote_error(make_sim):
    with pytest.raises(RemoteError, match="not recognized"):
        await make_sim("").transport.run("format_c", {})


# --- installing keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["ABCDE", "TNK62-RXVTB-4P47B-2D623", "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", "'; Remove-VM *"],
    ids=["short", "four-groups", "outside-alphabet", "injection"],
)
async def test_malformed_key_is_0xC004F050(make_sim, key):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    with pytest.raises(RemoteError) as caught:
        await sim.host.install_key(await sim.vm_id("APP01"), key, GOOD)
    assert hresult_of(caught.value) == 0xC004F050
    assert key not in str(caught.value)  # a key never echoes back into a message


async def test_catalog_key_with_a_typo_is_0xC004F050(make_sim):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    good = avma_key("2019", "Standard")
    typo = ("B" if good[0] != "B" else "C") + good[1:]
    with pytest.raises(RemoteError) as caught:
        await sim.host.install_key(await sim.vm_id("APP01"), typo, GOOD)
    assert hresult_of(caught.value) == 0xC004F050


@pytest.mark.parametrize(
    ("family", "edition", "key_family", "key_edition"),
    [("2019", "Standard", "2019", "Datacenter"), ("2019", "Standard", "2022", "Standard")],
    ids=["other-edition", "other-version"],
)
async def test_avma_key_of_other_edition_or_version_is_0xC004F069(make_sim, family, edition, key_family, key_edition):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest(family, edition))
    with pytest.raises(RemoteError) as caught:
        await sim.host.install_key(await sim.vm_id("APP01"), avma_key(key_family, key_edition), GOOD)
    assert hresult_of(caught.value) == 0xC004F069


async def test_any_avma_key_on_an_evaluation_guest_is_0xC004F069(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "EVAL01"\n'
        + guest("2022", "Datacenter", sku=80, os_name="Windows Server 2022 Datacenter Evaluation")
    )
    with pytest.raises(RemoteError) as caught:
        await sim.host.install_key(await sim.vm_id("EVAL01"), avma_key("2022", "Datacenter"), GOOD)
    assert hresult_of(caught.value) == 0xC004F069


async def test_avma_key_activates_after_the_delay_and_logs_avma_success(make_sim):
    sim = make_sim('[[vms]]\nname = "SQL01"\n' + guest("2019", "Standard"))
    vm_id = await sim.vm_id("SQL01")
    installed = await sim.host.install_key(vm_id, avma_key("2019", "Standard"), GOOD)
    assert installed is not None and installed.is_avma and installed.status != 1
    assert installed.partial_product_key == avma_key("2019", "Standard")[-5:]
    sim.clock.advance(1.9)
    assert (await sim.license(vm_id)).license.status != 1
    sim.clock.advance(0.2)
    lic = (await sim.license(vm_id)).license
    assert (lic.status, lic.reason, lic.avma_host) == (1, 0, "HV01") and lic.avma_last_activation
    assert await events_for(sim, vm_id) == ["AVMA Success"]


async def test_kms_client_key_installs_on_the_kms_channel_and_does_not_activate(make_sim):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    vm_id = await sim.vm_id("APP01")
    lic = await sim.host.install_key(vm_id, kms_key("2019", "Standard"), GOOD)
    assert lic is not None and lic.channel == "VOLUME_KMSCLIENT"
    sim.clock.advance(10)
    assert (await sim.license(vm_id)).license.status != 1
    with pytest.raises(RemoteError) as caught:  # no KMS host answers in the sim
        await sim.host.activate_guest(vm_id, GOOD)
    assert hresult_of(caught.value) == 0xC004F074


async def test_other_valid_looking_key_installs_as_retail(make_sim):
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2019", "Standard"))
    lic = await sim.host.install_key(await sim.vm_id("APP01"), "BCDFG-HJKMN-PQRTV-WXY23-46789", GOOD)
    assert lic is not None and lic.channel == "RETAIL" and lic.partial_product_key == "46789"


async def test_install_key_on_a_vm_that_is_off_fails_as_not_running(make_sim):
    sim = make_sim('[[vms]]\nname = "OFF01"\nstate = "Off"\n' + guest("2019", "Standard"))
    with pytest.raises(RemoteError, match="is not in running state"):
        await sim.host.install_key(await sim.vm_id("OFF01"), avma_key("2019", "Standard"), GOOD)


async def test_install_key_on_a_2012_r2_guest_fails_as_ps_direct_unavailable(make_sim):
    sim = make_sim('[[vms]]\nname = "OLD01"\n' + guest("2012 R2", "Standard"))
    with pytest.raises(RemoteError, match="remote session might have ended"):
        await sim.host.install_key(await sim.vm_id("OLD01"), avma_key("2012 R2", "Standard"), GOOD)


# --- denied activations -------------------------------------------------------------------------


#: A key installed and not activated: OOB grace, SL_I_OOB_GRACE_PERIOD (docs/avma-reference.md §2.3).
GRACE = (2, 0x4004F00C)


async def denied(sim, vm_name: str, key: str) -> tuple[int, int, list[str], int | None, list[int | None]]:
    """Install `key`, let the background AVMA attempt run, then Activate(): (status, reason, the events of the
    background attempt, the HRESULT Activate() raised, the HRESULTs the events carry). Windows keeps a product
    whose activation failed in its grace state and reports the failure in Activate()'s error and the events."""
    vm_id = await sim.vm_id(vm_name)
    await sim.host.install_key(vm_id, key, GOOD)
    sim.clock.advance(2.5)
    lic = (await sim.license(vm_id)).license
    events = await events_for(sim, vm_id)
    with pytest.raises(RemoteError) as caught:
        await sim.host.activate_guest(vm_id, GOOD)
    assert caught.value.record.exception.endswith("CimException")
    after = (await sim.license(vm_id)).license
    assert (after.status, after.reason) == (lic.status, lic.reason), "a failed Activate() changes no state"
    hresults = [e.hresult for e in (await sim.host.inventory()).events if e.vm_id == vm_id]
    return lic.status, lic.reason, events, hresult_of(caught.value), hresults


async def test_unactivated_host_denies_with_fd02_and_invalid_host(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), header=header(license_status=5))
    assert await denied(sim, "A", avma_key("2022", "Standard")) == (
        *GRACE,
        ["Invalid Host"],
        0xC004FD02,
        [0xC004FD02, 0xC004FD02],
    )


async def test_guest_newer_than_host_is_denied_with_fd03(make_sim):
    sim = make_sim('[[vms]]\nname = "NEW"\n' + guest("2025", "Datacenter"))
    assert (await denied(sim, "NEW", avma_key("2025", "Datacenter")))[:4] == (*GRACE, ["Activation Denied"], 0xC004FD03)


async def test_azure_edition_guest_on_plain_hyperv_is_denied_with_fd03(make_sim):
    vm = '[[vms]]\nname = "AZ"\n' + guest("2022", "Datacenter: Azure Edition", sku=407)
    sim = make_sim(vm)
    assert (await denied(sim, "AZ", avma_key("2022", "Datacenter: Azure Edition")))[:4] == (
        *GRACE,
        ["Activation Denied"],
        0xC004FD03,
    )


@pytest.mark.parametrize(
    ("host", "reason"),
    [({"sku": 7, "os_name": "Windows Server 2022 Standard"}, 0xC004FD01), ({"virtual": True}, 0xC004FD02)],
    ids=["standard-host", "virtual-host"],
)
async def test_unsupported_host_denies_with_invalid_host(make_sim, host, reason):
    """A virtual host gives 0xC004FD02: what the reference's one real report (nested in Azure) saw."""
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"), header=header(**host))
    assert (await denied(sim, "A", avma_key("2022", "Standard")))[:4] == (*GRACE, ["Invalid Host"], reason)


async def test_kvp_disabled_activation_fails_without_reaching_the_host(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\nkvp_enabled = false\n' + guest("2022", "Standard"))
    assert await denied(sim, "A", avma_key("2022", "Standard")) == (*GRACE, [], 0xC004FD04, [])


async def test_a_failed_guest_stays_in_grace_until_the_grace_period_ends(make_sim):
    """Grace counts down on the sim's clock; when it runs out the license is Notification, "grace time expired"
    (slmgr.vbs HR_SL_E_GRACE_TIME_EXPIRED, 0xC004F009), and a new key keeps that state until it is activated."""
    sim = make_sim(
        '[[vms]]\nname = "A"\n'
        + guest("2022", "Standard")
        + '[vms.license]\nstatus = 2\nreason = "0x4004F00C"\nchannel = "RETAIL"\npartial_product_key = "46789"\n'
        "grace_minutes = 10\n",
        header=header(license_status=5),
    )
    vm_id = await sim.vm_id("A")
    sim.clock.advance(5 * 60 + 1)
    lic = (await sim.license(vm_id)).license
    assert (lic.status, lic.reason, lic.grace_minutes) == (2, 0x4004F00C, 5)
    await sim.host.install_key(vm_id, avma_key("2022", "Standard"), GOOD)
    sim.clock.advance(3)
    lic = (await sim.license(vm_id)).license
    assert (lic.status, lic.reason, lic.grace_minutes) == (2, 0x4004F00C, 5), "the install keeps the grace left"
    sim.clock.advance(5 * 60)
    lic = (await sim.license(vm_id)).license
    assert (lic.status, lic.reason, lic.grace_minutes) == (5, 0xC004F009, 0)
    await sim.host.install_key(vm_id, avma_key("2022", "Standard"), GOOD)
    lic = (await sim.license(vm_id)).license
    assert (lic.status, lic.reason) == (5, 0xC004F009)


async def test_a_key_install_reports_the_grace_reason_not_zero(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    lic = await sim.host.install_key(await sim.vm_id("A"), "BCDFG-HJKMN-PQRTV-WXY23-46789", GOOD)
    assert lic is not None and (lic.status, lic.reason) == GRACE and lic.grace_minutes == 14400


async def test_activate_is_synchronous_with_no_activating_state(make_sim):
    """Activate() returns once the guest is activated (no clock advance needed) or raises its HRESULT."""
    sim = make_sim(
        '[[vms]]\nname = "A"\n'
        + guest("2022", "Standard")
        + AVMA_LICENSE
        + f'partial_product_key = "{avma_key("2022", "Standard")[-5:]}"\n'
    )
    vm_id = await sim.vm_id("A")
    returned = await sim.host.activate_guest(vm_id, GOOD)
    assert returned is not None and returned.status == 1 and returned.avma_host == "HV01"
    assert await events_for(sim, vm_id) == ["AVMA Success"]


async def test_fixing_kvp_then_activate_guest_succeeds(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "PRINT01"\nkvp_enabled = false\n'
        + guest("2019", "Standard")
        + AVMA_LICENSE
        + f'partial_product_key = "{avma_key("2019", "Standard")[-5:]}"\n'
    )
    vm_id = await sim.vm_id("PRINT01")
    await sim.host.enable_kvp(vm_id)
    await sim.host.activate_guest(vm_id, GOOD)
    sim.clock.advance(2)
    lic = (await sim.license(vm_id)).license
    assert lic.status == 1 and lic.avma_host == "HV01"


async def test_activate_guest_rebinds_a_migrated_vm_to_this_host(make_sim):
    sim = make_sim(
        '[[vms]]\nname = "WEB01"\n'
        + guest("2022", "Standard")
        + '[vms.license]\nstatus = 1\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\n'
        f'partial_product_key = "{avma_key("2022", "Standard")[-5:]}"\navma_host = "HV-OLD01"\n'
    )
    vm_id = await sim.vm_id("WEB01")
    await sim.host.activate_guest(vm_id, GOOD)
    sim.clock.advance(2)
    assert (await sim.license(vm_id)).license.avma_host == "HV01"


async def test_activate_guest_without_a_key_is_0xC004F014(make_sim):
    """slmgr.vbs: no product found is HR_SL_E_PKEY_NOT_INSTALLED (0xC004F014); activate_guest.ps1 says the same."""
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    with pytest.raises(RemoteError) as caught:
        await sim.host.activate_guest(await sim.vm_id("A"), GOOD)
    assert hresult_of(caught.value) == 0xC004F014
    assert caught.value.record.error_id == "NoProductKey"


# --- DISM /Set-Edition --------------------------------------------------------------------------


EVAL_DC = guest("2022", "Datacenter", sku=80, os_name="Windows Server 2022 Datacenter Evaluation")


async def test_set_edition_starts_dism_detached_and_the_guest_restarts_into_retail_at_its_end(make_sim):
    """set_edition.ps1 starts DISM in a scheduled task and returns: the conversion runs `conversion_s` (60 s here)
    in the background, then the guest restarts (the VM stays Running; KVP and PowerShell Direct are gone until it
    is back) with the new edition and key, and AVMA activates it."""
    sim = make_sim(
        '[[vms]]\nname = "EVAL01"\n'
        + EVAL_DC
        + '[vms.license]\nstatus = 1\nchannel = "TIMEBASED_EVAL"\ngrace_minutes = 43200\n'
    )
    vm_id = await sim.vm_id("EVAL01")
    await sim.host.set_edition(vm_id, "ServerDatacenter", avma_key("2022", "Datacenter"), GOOD)
    sim.clock.advance(59)  # DISM still runs: nothing shows yet, and the guest answers as before
    vm = await sim.host.vm(vm_id)
    assert vm.state == "Running" and vm.guest is not None and vm.guest.edition_id == 80
    assert (await sim.license(vm_id)).license.channel == "TIMEBASED_EVAL"
    sim.clock.advance(1)  # DISM is done: the guest restarts
    restarting = await sim.host.vm(vm_id)
    assert restarting.state == "Running" and restarting.guest is None
    assert (await sim.license(vm_id)).error_kind is GuestErrorKind.PS_DIRECT
    sim.clock.advance(3)  # boot_delay_s
    vm = await sim.host.vm(vm_id)
    assert vm.guest is not None and vm.guest.edition_id == 8 and vm.guest.os_name == "Windows Server 2022 Datacenter"
    lic = (await sim.license(vm_id)).license
    assert lic.is_avma and lic.status != 1 and lic.name == "Windows(R), ServerDatacenter edition"
    sim.clock.advance(2)  # activation_delay_s after the restart
    lic = (await sim.license(vm_id)).license
    assert lic.status == 1 and lic.avma_host == "HV01"
    assert await events_for(sim, vm_id) == ["AVMA Success"]


async def test_a_second_start_while_dism_runs_starts_nothing(make_sim):
    sim = make_sim('[[vms]]\nname = "EVAL01"\n' + EVAL_DC)
    vm_id = await sim.vm_id("EVAL01")
    key = avma_key("2022", "Datacenter")
    await sim.host.set_edition(vm_id, "ServerDatacenter", key, GOOD)
    sim.clock.advance(30)
    await sim.host.set_edition(vm_id, "ServerDatacenter", key, GOOD)
    sim.clock.advance(30)  # done when the first run is, not 60 s after the second start
    assert (await sim.host.vm(vm_id)).guest is None  # restarting


async def test_set_edition_refuses_a_wrong_target_at_once_and_a_wrong_key_fails_in_the_background(make_sim):
    sim = make_sim('[[vms]]\nname = "EVAL01"\n' + EVAL_DC)
    vm_id = await sim.vm_id("EVAL01")
    with pytest.raises(RemoteError):  # Datacenter Evaluation converts to Datacenter only: refused before DISM starts
        await sim.host.set_edition(vm_id, "ServerStandard", avma_key("2022", "Standard"), GOOD)
    # A key of another edition: DISM fails inside its task (0xC004F069); the start itself succeeds.
    await sim.host.set_edition(vm_id, "ServerDatacenter", avma_key("2022", "Standard"), GOOD)
    sim.clock.advance(120)
    vm = await sim.host.vm(vm_id)
    assert vm.state == "Running" and vm.guest is not None and vm.guest.edition_id == 80
    task = await sim.host.conversion_status(vm_id, GOOD)
    assert task is not None and (task.state, task.last_result) == ("Ready", 0xC004F069)


async def test_the_conversion_task_reads_running_then_done(make_sim):
    sim = make_sim('[[vms]]\nname = "EVAL01"\n' + EVAL_DC)
    vm_id = await sim.vm_id("EVAL01")
    assert await sim.host.conversion_status(vm_id, GOOD) is None  # no task yet
    await sim.host.set_edition(vm_id, "ServerDatacenter", avma_key("2022", "Datacenter"), GOOD)
    assert await sim.host.conversion_status(vm_id, GOOD) == ConversionTask("Running", 0x00041301)
    sim.clock.advance(60 + 3)
    assert await sim.host.conversion_status(vm_id, GOOD) == ConversionTask("Ready", 0)


async def test_set_edition_on_a_retail_guest_is_refused(make_sim):
    sim = make_sim('[[vms]]\nname = "A"\n' + guest("2022", "Standard"))
    with pytest.raises(RemoteError, match="cannot be upgraded"):
        await sim.host.set_edition(await sim.vm_id("A"), "ServerDatacenter", avma_key("2022", "Datacenter"), GOOD)


# --- the host's own activation ------------------------------------------------------------------


async def test_activate_host_with_its_product_key_then_guests_activate(make_sim):
    key = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"
    sim = make_sim(
        '[[vms]]\nname = "A"\n' + guest("2022", "Standard"), header=header(license_status=5, product_key=key)
    )
    vm_id = await sim.vm_id("A")
    assert (await denied(sim, "A", avma_key("2022", "Standard")))[:4] == (*GRACE, ["Invalid Host"], 0xC004FD02)
    host = await sim.host.activate_host(key)
    assert host.license_status == 1 and host.partial_product_key == "XXXXX"
    await sim.host.activate_guest(vm_id, GOOD)
    sim.clock.advance(2)
    assert (await sim.license(vm_id)).license.status == 1
    assert await events_for(sim, vm_id) == ["AVMA Success", "Invalid Host", "Invalid Host"]


async def test_activate_host_with_a_wrong_key_is_0xC004F050(make_sim):
    sim = make_sim("", header=header(license_status=5, product_key="XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"))
    with pytest.raises(RemoteError) as caught:
        await sim.host.activate_host("BCDFG-HJKMN-PQRTV-WXY23-46789")
    assert hresult_of(caught.value) == 0xC004F050
    assert (await sim.host.inventory()).host.license_status == 5
