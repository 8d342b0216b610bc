"""The simulator behaves as Windows does where issue 11 found it did not: the right licensing product (an ESU
add-on is ignored, by the scripts' own filter) and domain accounts in [guest_credentials]."""

from __future__ import annotations

import re

import pytest

from avma_tui.core.model import GuestErrorKind, LicenseState
from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.transport import Credential
from avma_tui.sim.wql import first_match, windows_license_filter
from tests.sim.simkit import guest

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
