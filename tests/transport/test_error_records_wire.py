"""Error records cross the real wire intact (pypsrp against the loopback endpoint): per-VM attribution of
PowerShell Direct failures and classification by record, in English and in German."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from avma_tui.core.model import LicenseState
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.sim.simkit import EXPECTED, FIVE, GOOD, HOST_2022_DC, MISSING, german
from tests.transport.transport_support import PASSWORD, USER, fixed_clock


@pytest.mark.parametrize("language", ["en-US", "de-DE"])
async def test_five_guests_five_errors_over_winrm(language: str, connect: Callable[..., Any]) -> None:
    header = HOST_2022_DC if language == "en-US" else german(HOST_2022_DC)
    engine = SimHost(parse_scenario(header + FIVE, "five.toml"), clock=fixed_clock)
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        host = HyperVHost(connect(endpoint))
        names = {vm.name: vm.id for vm in (await host.inventory()).vms}
        ids = {"missing": MISSING, **{n: names[n] for n in ("OFF01", "OLD01", "OWNPW", "SPPOFF", "GOOD01")}}
        reads = await host.guest_licenses(list(ids.values()), GOOD)
        by_name = {name: reads[vm_id] for name, vm_id in ids.items()}
        assert by_name["GOOD01"].state is LicenseState.READ
        for name, (kind, error_id) in EXPECTED.items():
            record = by_name[name].error_record
            assert record is not None and record.error_id == error_id, name
            assert by_name[name].error_kind is kind, name
        with pytest.raises(RemoteError) as caught:
            await host.activate_guest(names["OWNPW"], GOOD)
        assert caught.value.record.exception.endswith("PSDirectException")
        assert caught.value.record.target == names["OWNPW"]
        with pytest.raises(RemoteError) as caught:
            await host.install_key(names["GOOD01"], "BCDFG-HJKMN-PQRTV-WXY23-4678Z", Credential("x", "y"))
        assert caught.value.record.exception.endswith("PSDirectException")
