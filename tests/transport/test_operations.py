"""Every operation through the real pypsrp client, NTLM and message encryption, against the simulated host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pypsrp.exceptions
import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from avma_tui.core.catalog import load_catalog
from avma_tui.core.model import GuestErrorKind, LicenseState
from avma_tui.hyperv.host import HyperVHost, hresult_of
from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.sim.engine import SimHost
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER, make_engine

SQL01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c09"  # 2019 Standard with a KMS client key
PRINT01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b"  # Data Exchange switched off
INJECTION = "[red]x[/]'; Remove-VM *"


async def test_inventory_matches_the_engine(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    transport = connect(endpoint)
    assert transport.description == endpoint.url
    assert await transport.run("inventory") == engine.run("inventory", {})
    inventory = await HyperVHost(transport).inventory()
    assert inventory.host.name == "HV01"
    assert len(inventory.vms) == 24
    assert inventory.cluster is not None and [n.name for n in inventory.cluster.nodes] == ["HV02", "HV03"]


async def test_the_connection_is_reused(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    transport = connect(endpoint)
    await transport.run("inventory")
    endpoint.reset_counters()
    await transport.run("inventory")
    assert endpoint.requests <= 4  # Command, Receive(s), Signal: no new shell, no key exchange


async def test_guest_licenses_with_the_right_password(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    host = HyperVHost(connect(endpoint))
    inventory = await host.inventory()
    running = [vm.id for vm in inventory.vms if vm.running]
    assert engine.guest_credentials is not None
    reads = await host.guest_licenses(running, engine.guest_credentials)
    assert set(reads) == set(running)
    sql01 = reads[SQL01]
    assert sql01.state == LicenseState.READ and sql01.license is not None
    assert sql01.license.channel == "VOLUME_KMSCLIENT"


async def test_guest_licenses_with_a_wrong_password(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    host = HyperVHost(connect(endpoint))
    assert engine.guest_credentials is not None
    wrong = Credential(engine.guest_credentials.username, "not-the-password")
    reads = await host.guest_licenses([SQL01, PRINT01], wrong)
    assert {read.error_kind for read in reads.values()} == {GuestErrorKind.CREDENTIAL}
    assert reads[SQL01].error == "The credential is invalid."


async def test_enable_kvp(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    host = HyperVHost(connect(endpoint))
    before = (await host.inventory()).vm(PRINT01)
    assert before is not None and not before.kvp.enabled
    after = await host.enable_kvp(PRINT01)
    assert after.kvp.enabled and after.id == PRINT01
    assert (await host.vm(PRINT01)).kvp.enabled


async def test_install_an_avma_key_and_activate(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    host = HyperVHost(connect(endpoint))
    key = load_catalog().avma_key("2019", "Standard")
    assert key is not None and engine.guest_credentials is not None
    installed = await host.install_key(SQL01, key.key, engine.guest_credentials)
    assert installed is not None and installed.is_avma and installed.partial_product_key == key.last5
    activated = await host.activate_guest(SQL01, engine.guest_credentials)
    assert activated is not None and activated.is_avma


async def test_a_refused_key_is_a_remote_error_with_the_hresult(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    host = HyperVHost(connect(endpoint))
    assert engine.guest_credentials is not None
    with pytest.raises(RemoteError) as caught:
        await host.install_key(SQL01, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", engine.guest_credentials)
    assert hresult_of(caught.value) == 0xC004F050


async def test_hostile_names_travel_as_data(hostile_engine: SimHost, connect: Callable[..., PsrpTransport]) -> None:
    with WinRMEndpoint(hostile_engine, username=USER, password=PASSWORD) as endpoint:
        host = HyperVHost(connect(endpoint))
        inventory = await host.inventory()
        victim = next(vm for vm in inventory.vms if vm.name == INJECTION)
        assert (await host.vm(victim.id)).name == INJECTION
        with pytest.raises(RemoteError) as caught:
            await host.vm(INJECTION)  # a parameter, bound verbatim: no VM has this Id, nothing else happens
        assert INJECTION in caught.value.remote_message
        assert len((await host.inventory()).vms) == len(inventory.vms)


def _wsman(endpoint: WinRMEndpoint, **options: str) -> WSMan:
    """pypsrp used directly, to send what PsrpTransport never would."""
    return WSMan(
        endpoint.host,
        port=endpoint.port,
        ssl=False,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        operation_timeout=5,
        read_timeout=8,
        **options,
    )


def test_a_script_spliced_with_data_is_refused(endpoint: WinRMEndpoint) -> None:
    spliced = script_text("vm").replace("$VmId)", "'" + INJECTION + "')", 1)
    assert spliced != script_text("vm")
    wsman = WSMan(
        endpoint.host,
        port=endpoint.port,
        ssl=False,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        operation_timeout=5,
        read_timeout=8,
    )
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool).add_script(spliced, use_local_scope=True)
        ps.invoke()
        assert ps.had_errors and "refused" in str(ps.streams.error[-1])
        genuine = PowerShell(pool).add_script(script_text("inventory"), use_local_scope=True)
        assert len(genuine.invoke()) == 1 and not genuine.had_errors


def test_an_unencrypted_request_over_http_is_rejected(endpoint: WinRMEndpoint) -> None:
    """As on Windows (AllowUnencrypted = false): the endpoint never accepts clear SOAP over HTTP."""
    wsman = WSMan(
        endpoint.host,
        port=endpoint.port,
        ssl=False,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        encryption="never",
        operation_timeout=5,
        read_timeout=8,
    )
    with wsman, pytest.raises(pypsrp.exceptions.WinRMTransportError) as caught, RunspacePool(wsman):
        pass
    assert caught.value.code == 400


async def test_a_large_host_arrives_whole(tmp_path: Path, connect: Callable[..., PsrpTransport]) -> None:
    """Hundreds of VMs: the JSON (about 270 KB) spans many 32 KiB PSRP fragments, reassembled by pypsrp."""
    vms = "".join(
        f'[[vms]]\nname = "VM{n:04d}"\nstate = "Running"\n[vms.guest]\nOSName = "Windows Server 2019 {"x" * 400}"\n'
        for n in range(600)
    )
    scenario = tmp_path / "large.toml"
    scenario.write_text(
        f'format = 1\n[host]\nname = "BIG"\nbuild = 20348\nsku = 8\nlicense_status = 1\n{vms}', encoding="utf-8"
    )
    engine = make_engine(scenario)
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as endpoint:
        doc = await connect(endpoint).run("inventory")
    assert len(doc["vms"]) == 600 and doc == engine.run("inventory", {})
