"""Issue 11's simulator fidelity through the real pypsrp client and the loopback endpoint: the ESU add-on is
ignored, and a domain account logs on in both of Windows' forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from avma_tui.core.model import GuestErrorKind, LicenseState
from avma_tui.hyperv.host import HyperVHost, hresult_of
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.sim.simkit import HOST_2022_DC, avma_key, guest
from tests.sim.test_windows_fidelity import DOMAIN_GUESTS, ESU_GUEST, unactivated_host
from tests.transport.transport_support import PASSWORD, USER, fixed_clock


async def test_esu_add_on_and_domain_accounts_over_winrm(connect: Callable[..., Any]) -> None:
    engine = SimHost(parse_scenario(HOST_2022_DC + ESU_GUEST + DOMAIN_GUESTS, "fidelity.toml"), clock=fixed_clock)
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        host = HyperVHost(connect(endpoint))
        ids = {vm.name: vm.id for vm in (await host.inventory()).vms}
        legacy = (await host.guest_licenses([ids["LEGACY01"]], Credential("Administrator", "Passw0rd!")))[
            ids["LEGACY01"]
        ]
        assert legacy.license is not None and legacy.license.partial_product_key == "W3GNR"
        for user in ("CORP\\svc-avma", "svc-avma@corp.example.com"):
            reads = await host.guest_licenses([ids["NETBIOS"], ids["UPN"]], Credential(user, "S3cret!"))
            assert {read.state for read in reads.values()} == {LicenseState.READ}, user
        wrong = await host.guest_licenses([ids["NETBIOS"]], Credential("OTHER\\svc-avma", "S3cret!"))
        assert wrong[ids["NETBIOS"]].error_kind is GuestErrorKind.CREDENTIAL


async def test_a_failed_activation_over_winrm_in_german_with_named_event_data(connect: Callable[..., Any]) -> None:
    key = avma_key("2022", "Standard")
    text = (
        unactivated_host("de-DE", "named")
        + '[[vms]]\nname = "APP01"\n'
        + guest("2022", "Standard")
        + f'[vms.license]\nstatus = 2\nreason = "0x4004F00C"\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\n'
        f'partial_product_key = "{key[-5:]}"\ngrace_minutes = 20000\n'
    )
    engine = SimHost(parse_scenario(text, "denied.toml"), clock=fixed_clock)
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        host = HyperVHost(connect(endpoint))
        vm_id = (await host.inventory()).vms[0].id
        with pytest.raises(RemoteError) as caught:
            await host.activate_guest(vm_id, Credential("Administrator", "Passw0rd!"))
        assert hresult_of(caught.value) == 0xC004FD02
        (event,) = (await host.inventory()).events
        assert (event.vm_id, event.notification, event.hresult) == (vm_id, "Invalid Host", 0xC004FD02)
        assert event.message.startswith("Der Virtualisierungshost")
