"""Error translation and secrecy of PsrpTransport, for failures the endpoint cannot easily produce."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import spnego.exceptions
from pypsrp.exceptions import InvalidPSRPOperation, WSManFaultError

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import (
    AuthenticationFailed,
    ConnectionLost,
    Credential,
    TransportError,
)
from avma_tui.sim.engine import SimHost
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD

SETTINGS = ConnectionSettings(host="hv01.contoso.local", auth="negotiate", username="CONTOSO\\admin")


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (WSManFaultError(0x8033805B, "hv01", "The shell was not found", None, None, None), ConnectionLost, "restarted"),
        (WSManFaultError(5, "hv01", "Access is denied.", None, None, None), AuthenticationFailed, "Hyper-V Admin"),
        (WSManFaultError(0x803381A6, "hv01", "Quota\nexceeded", None, None, None), TransportError, "0x803381A6"),
        (InvalidPSRPOperation("Received a broken RunspacePoolState message"), TransportError, "endpoint configuration"),
        (ImportError("GSSAPIProxy requires the Python gssapi library"), TransportError, "--auth ntlm"),
        (spnego.exceptions.NoCredentialError(context_msg="no ticket"), AuthenticationFailed, "kinit"),
        (RuntimeError(f"odd failure mentioning {PASSWORD}"), TransportError, "RuntimeError"),
    ],
)
def test_every_failure_becomes_one_actionable_line(error: BaseException, kind: type, words: str) -> None:
    translated = PsrpTransport(SETTINGS, PASSWORD)._translate(error, "inventory")
    assert type(translated) is kind
    message = str(translated)
    assert words in message and "\n" not in message
    assert PASSWORD not in message


async def test_unavailable_kerberos_is_one_clear_line(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    with pytest.raises(TransportError) as caught:
        await connect(endpoint, auth="kerberos").run("inventory")
    assert "kerberos" in str(caught.value).lower() and "\n" not in str(caught.value)


async def test_debug_logging_never_shows_a_password(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport], caplog: pytest.LogCaptureFixture
) -> None:
    guest = Credential("Administrator", "Guest-Secret-42")
    caplog.set_level(logging.DEBUG)
    await connect(endpoint).run(
        "guest_licenses", {"VmIds": ["3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c09"], "Credential": guest}
    )
    for name in ("pypsrp", "spnego", "urllib3", "requests"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    assert PASSWORD not in caplog.text and guest.password not in caplog.text
