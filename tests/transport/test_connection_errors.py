"""Connecting: authentication, TLS trust, closed ports and refused configurations, each one clear line."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pypsrp.exceptions
import pytest
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import AuthenticationFailed, CertificateRejected, TransportError, Unreachable
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER, settings_for


async def test_wrong_host_password(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    wrong = "Wrong-Pa55word!"
    with pytest.raises(AuthenticationFailed) as caught:
        await connect(endpoint, password=wrong).run("inventory")
    message = str(caught.value)
    assert USER in message and "TrustedHosts" in message
    # issue 11 item 8: the groups that admit an account to WinRM, and the UAC setting, in plain words
    assert "Administrators or Remote Management Users" in message and "LocalAccountTokenFilterPolicy" in message
    assert "Hyper-V Administrators alone does not" in message
    assert wrong not in message and PASSWORD not in message
    assert "\n" not in message


async def test_wrong_user(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    with pytest.raises(AuthenticationFailed):
        await connect(endpoint, username="intruder").run("inventory")


async def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ConnectionSettings(host="127.0.0.1", port=port, https=False, auth="ntlm", username=USER, timeout=5)
    transport = PsrpTransport(settings, PASSWORD)
    with pytest.raises(Unreachable) as caught:
        await transport.run("inventory")
    await transport.close()
    assert "Enable-PSRemoting" in str(caught.value) and str(port) in str(caught.value)
    assert "(connection refused)" in str(caught.value)


async def test_a_name_that_does_not_resolve_says_so() -> None:
    settings = ConnectionSettings(host="hv01.invalid", https=False, auth="ntlm", username=USER, timeout=5)
    transport = PsrpTransport(settings, PASSWORD)
    with pytest.raises(Unreachable) as caught:
        await transport.run("inventory")
    await transport.close()
    message = str(caught.value)
    assert "does not resolve" in message and "check the host name" in message
    assert "\n" not in message and "HTTPConnectionPool" not in message


async def test_https_with_the_generated_ca(
    https_endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    assert https_endpoint.url.startswith("https://")
    doc = await connect(https_endpoint).run("inventory")
    assert doc["host"]["name"] == "HV01"


async def test_https_without_the_ca_is_rejected(
    https_endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    with pytest.raises(CertificateRejected) as caught:
        await connect(https_endpoint, ca_cert="").run("inventory")
    assert "--ca-cert" in str(caught.value) and "--insecure" in str(caught.value)


async def test_https_insecure_skips_validation(
    https_endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    doc = await connect(https_endpoint, ca_cert="", insecure=True).run("inventory")
    assert doc["host"]["name"] == "HV01"


async def test_basic_over_https(https_endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    doc = await connect(https_endpoint, auth="basic").run("vm", {"VmId": "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c01"})
    assert doc["name"] == "DC01"


async def test_basic_over_http_is_refused_before_connecting(endpoint: WinRMEndpoint) -> None:
    transport = PsrpTransport(settings_for(endpoint, auth="basic"), PASSWORD)
    endpoint.reset_counters()
    with pytest.raises(TransportError) as caught:
        await transport.run("inventory")
    assert "HTTPS" in str(caught.value) and PASSWORD not in str(caught.value)
    assert endpoint.requests == 0


def test_ntlm_over_https_is_bound_to_the_certificate(https_endpoint: WinRMEndpoint) -> None:
    """The endpoint checks channel binding (CbtHardeningLevel Strict): PsrpTransport's NTLM, which sends it,
    passes in test_https_with_the_generated_ca; a client that does not send it is turned away."""
    wsman = WSMan(
        https_endpoint.host,
        port=https_endpoint.port,
        ssl=True,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        cert_validation=str(https_endpoint.ca_cert_path),
        negotiate_send_cbt=False,
    )
    with pytest.raises(pypsrp.exceptions.AuthenticationError), wsman:
        RunspacePool(wsman).open()


async def test_close_is_safe_twice_and_the_transport_reconnects(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = connect(endpoint)
    await transport.run("inventory")
    await transport.close()
    await transport.close()
    assert (await transport.run("inventory"))["host"]["name"] == "HV01"


async def test_https_to_an_http_port_says_use_http(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    with pytest.raises(Unreachable) as caught:
        await connect(endpoint, https=True).run("inventory")
    message = str(caught.value)
    assert "answers plain HTTP, not HTTPS" in message and "--http " in message
    assert "certificate" not in message and "\n" not in message


async def test_http_to_an_https_port_says_use_https(
    https_endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    with pytest.raises(Unreachable) as caught:
        await connect(https_endpoint, https=False).run("inventory")
    message = str(caught.value)
    assert "--https" in message and "outcome" not in message and "\n" not in message


@pytest.mark.parametrize("host", ["[::1]", "::1"])
async def test_an_ipv6_literal_is_bracketed_once(host: str) -> None:
    settings = ConnectionSettings(host=host, port=9, https=False, auth="ntlm", username=USER, timeout=3)
    assert settings.url == "http://[::1]:9/wsman"
    transport = PsrpTransport(settings, PASSWORD)
    with pytest.raises(TransportError) as caught:
        await transport.run("inventory")  # nothing listens on port 9 (discard) of ::1
    await transport.close()
    assert "http://[::1]:9/wsman" in str(caught.value) and "[[" not in str(caught.value)
