"""What goes wrong with real hosts, injected into the endpoint: each failure is reported clearly, promptly,
and the next call recovers on a fresh connection. Every test here is bounded by a short timeout."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Cancelled, ConnectionLost, TimedOut, TransportError
from avma_tui.sim.winrm.server import WinRMEndpoint

PRINT01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b"


async def _connected(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport], **changes: object
) -> PsrpTransport:
    transport = connect(endpoint, **changes)
    await transport.run("inventory")  # the shell is open: faults below hit a session in use
    return transport


async def test_latency_slows_but_does_not_break(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    transport = await _connected(endpoint, connect)
    endpoint.latency_ms = 150
    endpoint.reset_counters()
    started = time.monotonic()
    doc = await transport.run("vm", {"VmId": PRINT01})
    assert doc["name"] == "PRINT01"
    assert time.monotonic() - started >= 0.15 * endpoint.requests


async def test_dropped_connection_during_a_change(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("drop")
    with pytest.raises(ConnectionLost) as caught:
        await transport.run("enable_kvp", {"VmId": PRINT01})
    assert "outcome on the host is unknown" in str(caught.value)
    assert (await transport.run("vm", {"VmId": PRINT01}))["name"] == "PRINT01"  # rebuilt


async def test_dropped_connection_during_a_read_is_retried_on_a_fresh_one(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("drop")
    endpoint.reset_counters()
    assert (await transport.run("inventory"))["host"]["name"] == "HV01"
    assert endpoint.requests > 4  # a new shell and key exchange, after the dropped request


async def test_401_mid_session_is_rebuilt(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    """The host forgets the connection's authentication: the command is rejected unrun, so it is resent."""
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("401")
    endpoint.reset_counters()
    assert (await transport.run("enable_kvp", {"VmId": PRINT01}))["vm"]["kvp"]["enabled"] is True
    assert endpoint.requests > 4  # a new shell after the rejected command


async def test_401_on_a_fresh_connection_is_reported(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = connect(endpoint)
    endpoint.fail_next("401")
    with pytest.raises(TransportError) as caught:
        await transport.run("enable_kvp", {"VmId": PRINT01})
    assert "HTTP 400" in str(caught.value) and "re-authenticated" in str(caught.value)
    assert (await transport.run("enable_kvp", {"VmId": PRINT01}))["vm"]["kvp"]["enabled"] is True


async def test_wsman_fault_is_one_readable_line(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("500")
    with pytest.raises(TransportError) as caught:
        await transport.run("enable_kvp", {"VmId": PRINT01})
    message = str(caught.value)
    assert "0x80338000" in message and "told to fail" in message and "\n" not in message
    assert (await transport.run("vm", {"VmId": PRINT01}))["name"] == "PRINT01"


async def test_shell_gone_after_a_restart_is_rebuilt(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("shell_gone")
    doc = await transport.run("enable_kvp", {"VmId": PRINT01})  # refused before it ran: safe to resend
    assert doc["vm"]["kvp"]["enabled"] is True


@pytest.mark.slow
async def test_slow_receive_times_out_quickly(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    transport = await _connected(endpoint, connect, timeout=2.0)
    endpoint.slow_receive_seconds = 30
    endpoint.fail_next("slow_receive", count=3)
    started = time.monotonic()
    with pytest.raises(TimedOut) as caught:
        await transport.run("enable_kvp", {"VmId": PRINT01})
    assert time.monotonic() - started < 4.0
    assert "2 s" in str(caught.value) and "--timeout" in str(caught.value)


@pytest.mark.slow
async def test_a_single_slow_receive_is_absorbed_by_the_retry(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    """pypsrp re-sends a timed-out Receive; the endpoint replays the answer by MessageID: no output is lost."""
    transport = await _connected(endpoint, connect, timeout=8.0)
    endpoint.slow_receive_seconds = 30
    endpoint.fail_next("slow_receive")
    assert (await transport.run("vm", {"VmId": PRINT01}))["name"] == "PRINT01"


async def test_cancellation(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    """Cancelling the awaiting task returns at once; the next call runs on a fresh connection."""
    transport = await _connected(endpoint, connect)
    endpoint.slow_receive_seconds = 30
    endpoint.fail_next("slow_receive", count=5)
    task = asyncio.create_task(transport.run("inventory"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    endpoint.slow_receive_seconds = 0
    assert (await transport.run("vm", {"VmId": PRINT01}))["name"] == "PRINT01"


async def test_close_during_an_operation_reports_cancelled(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    """close() (quitting) while an operation runs: the operation says Cancelled, close returns promptly."""
    transport = await _connected(endpoint, connect)
    endpoint.slow_receive_seconds = 30
    endpoint.fail_next("slow_receive", count=5)
    task = asyncio.create_task(transport.run("inventory"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await transport.close()
    with pytest.raises(Cancelled) as caught:
        await task
    assert time.monotonic() - started < 2.0
    assert "outcome on the host is unknown" in str(caught.value)


@pytest.mark.slow
async def test_a_host_that_never_answers_times_out() -> None:
    """TCP accepted, nothing ever said (a hung WinRM service): bounded by settings.timeout, not by pypsrp."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = ConnectionSettings(
            host="127.0.0.1", port=silent.getsockname()[1], https=False, auth="ntlm", username="admin", timeout=1.5
        )
        transport = PsrpTransport(settings, "unused")
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await transport.run("inventory")
        assert time.monotonic() - started < 3.0
        await transport.close()


async def test_concurrent_calls_that_both_fail(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    """Two calls queued on one connection, both dropped: each gets its own clear error, nothing else escapes."""
    transport = await _connected(endpoint, connect)
    endpoint.fail_next("drop", count=2)
    outcomes = await asyncio.gather(
        transport.run("enable_kvp", {"VmId": PRINT01}),
        transport.run("start_vm", {"VmId": PRINT01}),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, (ConnectionLost, dict)) for outcome in outcomes), outcomes
    assert any(isinstance(outcome, ConnectionLost) for outcome in outcomes)
    assert (await transport.run("vm", {"VmId": PRINT01}))["name"] == "PRINT01"
