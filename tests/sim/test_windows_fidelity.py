"""The simulator behaves as Windows does where issue 11 found it did not: the right licensing product (an ESU
add-on is ignored, by the scripts' own filter) and domain accounts in [guest_credentials]."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from avma_tui.core.findings import diagnose
from avma_tui.core.model import GuestErrorKind, LicenseState
from avma_tui.hyperv.host import hresult_of
from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.sim.scenario import ScenarioError, parse_scenario
from avma_tui.sim.wql import first_match, windows_license_filter
from tests.sim.simkit import GOOD, HOST_2022_DC, avma_key, guest

ESU_GUEST = (
    '[[vms]]\nname = "LEGACY01"\n'
    + guest("2022", "Datacenter")
    + '[vms.license]\nstatus = 1\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\npartial_product_key = "W3GNR"\n'
    "grace_minutes = 10080\n"
    '[[vms.addons]]\npartial_product_key = "ESU42"\nstatus = 5\nreason = "0xC004F009"\n'
)


def test_the_scripts_ask_for_the_windows_product_only_and_name_their_properties() -> None:
    text = script_text("guest_licenses")
    assert "LicenseIsAddon = FALSE" in windows_license_filter()
    assert "PartialProductKey IS NOT NULL" in windows_license_filter()
    # Every property the LICENSE document reads is in the default -Property list, and the host's own lists
    # name what lib/host_license.ps1 and activate_host read.
    defaults = re.search(r"\[string\[\]\]\$Property = @\((?P<list>[^)]*)\)", text)
    assert defaults is not None
    listed = set(re.findall(r"'(\w+)'", defaults["list"]))
    read = set(re.findall(r"\$product\.(\w+)", text))
    assert read and read <= listed
    host = script_text("inventory")
    assert "Get-WindowsLicense -Property @('LicenseStatus', 'PartialProductKey')" in host
    assert set(re.findall(r"\$license\.(\w+)", host)) <= {"LicenseStatus", "PartialProductKey"}


async def test_an_esu_add_on_is_ignored_by_the_license_read(make_sim) -> None:
    sim = make_sim(ESU_GUEST)
    read = await sim.license(await sim.vm_id("LEGACY01"))
    assert read.state is LicenseState.READ and read.license is not None
    assert read.license.partial_product_key == "W3GNR" and read.license.status == 1
    assert read.license.channel == "VIRTUAL_MACHINE_ACTIVATION"


async def test_without_the_add_on_clause_the_add_on_would_be_read(make_sim) -> None:
    """The test above has teeth: the simulator lists the add-on first, so a filter that lost
    `LicenseIsAddon = FALSE` reads the ESU license, as Windows would."""
    sim = make_sim(ESU_GUEST)
    vm = sim.engine._by_id[await sim.vm_id("LEGACY01")]
    weaker = windows_license_filter().replace(" AND LicenseIsAddon = FALSE", "")
    assert weaker != windows_license_filter()
    chosen = first_match(sim.engine._products(vm), weaker)
    assert chosen is not None and chosen["PartialProductKey"] == "ESU42"


def test_an_unknown_wql_clause_is_an_error_not_true() -> None:
    with pytest.raises(ValueError, match="does not understand"):
        first_match([{"A": 1}], "A > 0")


DOMAIN_GUESTS = (
    '[[vms]]\nname = "NETBIOS"\n'
    + guest("2022", "Standard")
    + '[vms.guest_credentials]\nusername = "CORP\\\\svc-avma"\npassword = "S3cret!"\n'
    '[[vms]]\nname = "UPN"\n'
    + guest("2022", "Standard")
    + '[vms.guest_credentials]\nusername = "svc-avma@corp.example.com"\npassword = "S3cret!"\n'
    '[[vms]]\nname = "LOCAL"\n' + guest("2022", "Standard") + 'FullyQualifiedDomainName = "web07.corp.example.com"\n'
)


@pytest.mark.parametrize("vm", ["NETBIOS", "UPN"])
@pytest.mark.parametrize(
    "user", ["CORP\\svc-avma", "corp\\SVC-AVMA", "svc-avma@corp.example.com", "corp.example.com\\svc-avma"]
)
async def test_a_domain_account_logs_on_in_both_forms(make_sim, vm: str, user: str) -> None:
    sim = make_sim(DOMAIN_GUESTS)
    read = await sim.license(await sim.vm_id(vm), Credential(user, "S3cret!"))
    assert read.state is LicenseState.READ, (vm, user)


@pytest.mark.parametrize("vm", ["NETBIOS", "UPN"])
@pytest.mark.parametrize("user", ["OTHER\\svc-avma", "svc-avma@other.example.com", "svc-avma", ".\\svc-avma"])
async def test_a_domain_account_in_the_wrong_domain_or_bare_is_refused(make_sim, vm: str, user: str) -> None:
    sim = make_sim(DOMAIN_GUESTS)
    read = await sim.license(await sim.vm_id(vm), Credential(user, "S3cret!"))
    assert read.error_kind is GuestErrorKind.CREDENTIAL, (vm, user)


async def test_a_local_account_takes_the_guests_own_name_but_no_domain(make_sim) -> None:
    sim = make_sim(DOMAIN_GUESTS)
    vm_id = await sim.vm_id("LOCAL")
    for user in ("Administrator", ".\\administrator", "WEB07\\Administrator"):
        assert (await sim.license(vm_id, Credential(user, "Passw0rd!"))).state is LicenseState.READ, user
    for user in ("CORP\\Administrator", "Administrator@corp.example.com", "LOCAL\\Administrator"):
        assert (await sim.license(vm_id, Credential(user, "Passw0rd!"))).error_kind is GuestErrorKind.CREDENTIAL


# --- a failed activation as Windows reports it, and how the tool still finds its reason ------------------


def unactivated_host(language: str, layout: str) -> str:
    header = HOST_2022_DC.replace("license_status = 1", "license_status = 5")
    return header.replace("[sim]\n", f'[sim]\nlanguage = "{language}"\nevent_layout = "{layout}"\n', 1)


@pytest.mark.parametrize("language", ["en-US", "de-DE"])
@pytest.mark.parametrize("layout", ["positional", "named"])
async def test_a_guest_in_grace_after_a_failed_activation_shows_the_fd_reason(make_sim, language, layout) -> None:
    """Windows keeps the guest in OOB grace (2, 0x4004F00C) after a failed AVMA Activate(), which raises the
    SL_E_IA_* code; the tool finds that code in Activate()'s error record and in the host's 12310 event data,
    whatever the host's language and the data's layout."""
    key = avma_key("2022", "Standard")
    sim = make_sim(
        '[[vms]]\nname = "APP01"\n'
        + guest("2022", "Standard")
        + f'[vms.license]\nstatus = 2\nreason = "0x4004F00C"\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\n'
        f'partial_product_key = "{key[-5:]}"\ngrace_minutes = 20000\n',
        header=unactivated_host(language, layout),
    )
    vm_id = await sim.vm_id("APP01")
    with pytest.raises(RemoteError) as caught:
        await sim.host.activate_guest(vm_id, GOOD)
    assert hresult_of(caught.value) == 0xC004FD02 and caught.value.record.exception.endswith("CimException")
    inventory = await sim.host.inventory()
    reads = await sim.host.guest_licenses([vm_id], GOOD)
    lic = reads[vm_id].license
    assert lic is not None and (lic.status, lic.reason) == (2, 0x4004F00C)
    (event,) = [e for e in inventory.events if e.vm_id == vm_id]
    assert (event.notification, event.hresult) == ("Invalid Host", 0xC004FD02)
    vm = replace(inventory.vm(vm_id), license=reads[vm_id])
    vmd = diagnose(replace(inventory, vms=(vm,))).for_vm(vm_id)
    assert vmd is not None
    by_code = {f.code: f for f in vmd.findings}
    assert "0xC004FD02" in by_code["AVMA_EVENT_FAILURE"].detail
    assert "0x4004F00C" in by_code["GRACE_PERIOD"].detail


def test_the_scenario_takes_an_event_layout_and_an_event_hresult() -> None:
    scenario = parse_scenario(
        unactivated_host("en-US", "named")
        + '[[vms]]\nname = "A"\n[[events]]\ntime = "2026-11-27T08:00:00Z"\nvm = "A"\n'
        'notification = "Invalid Host"\nhresult = "0xC004FD01"\n'
    )
    assert scenario.sim.event_layout == "named" and scenario.events[0].hresult == 0xC004FD01
    with pytest.raises(ScenarioError, match="event_layout"):
        parse_scenario(unactivated_host("en-US", "xml"))
