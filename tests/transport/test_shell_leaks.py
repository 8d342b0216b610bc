"""Timed-out and cancelled operations delete their remote shell (issue 10 item 4).

The loopback endpoint enforces WinRM's MaxShellsPerUser with Windows' QuotaLimit fault, so a client
that leaked one shell per timeout would be refused after a few; this one never is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import TimedOut, TransportError
from avma_tui.sim.winrm.server import WinRMEndpoint
from avma_tui.sim.winrm.wsman import MAX_SHELLS_PER_USER
from tests.transport.transport_support import until


def test_the_quota_defaults_to_windows_30(endpoint: WinRMEndpoint) -> None:
    assert endpoint.max_shells_per_user == MAX_SHELLS_PER_USER == 30


async def test_a_create_beyond_the_quota_is_refused_clearly(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    endpoint.max_shells_per_user = 2
    for _ in range(2):
        await connect(endpoint).run("inventory")
    with pytest.raises(TransportError) as caught:
        await connect(endpoint).run("inventory")
    message = str(caught.value)
    assert "MaxShellsPerUser" in message and "0x803381A5" in message and "\n" not in message
    assert endpoint.open_shells() == 2


@pytest.mark.slow
async def test_timeouts_in_a_row_leave_no_shell_open(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    """Ten hung operations in a row under a quota of 3: each times out, deletes its shell, and says so."""
    endpoint.max_shells_per_user = 3
    transport = connect(endpoint, timeout=1.0)
    for _ in range(10):
        endpoint.fail_next("hang")
        with pytest.raises(TimedOut) as caught:
            await transport.run("inventory")
        assert "remote session was deleted" in str(caught.value)
    assert endpoint.open_shells() == 0
    endpoint.clear_faults()  # on a busy machine an attempt may time out before its operation took the fault
    assert (await connect(endpoint).run("inventory"))["host"]["name"] == "HV01"  # and the host still serves us


async def test_a_cancelled_operation_deletes_its_shell_in_the_background(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = connect(endpoint)
    await transport.run("inventory")
    endpoint.fail_next("hang")
    task = asyncio.create_task(transport.run("inventory"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await until(lambda: endpoint.open_shells() == 0, 3.0)


async def test_close_deletes_the_shell(endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]) -> None:
    transport = connect(endpoint)
    await transport.run("inventory")
    assert endpoint.open_shells() == 1
    await transport.close()
    assert endpoint.open_shells() == 0
