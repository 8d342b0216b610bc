"""Many clients at once against one loopback endpoint (issue 15 item 10): none is turned away.

100 parallel `report` processes used to lose 14 to "is WinRM listening?" (the endpoint's listen backlog
was socketserver's default of 5). Here 30 real pypsrp clients connect at the same moment, in-process.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import pytest

from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.sim.winrm.server import WinRMEndpoint

CLIENTS = 30


@pytest.mark.slow
async def test_thirty_clients_at_once_all_get_the_inventory(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transports = [connect(endpoint, timeout=60.0) for _ in range(CLIENTS)]

    async def one(transport: PsrpTransport) -> str:
        try:
            return (await transport.run("inventory"))["host"]["name"]
        finally:
            await transport.close()

    names = await asyncio.gather(*(one(t) for t in transports), return_exceptions=True)
    assert names == ["HV01"] * CLIENTS, [str(n) for n in names if n != "HV01"][:3]
    assert endpoint.open_shells() == 0


def test_a_burst_of_connections_is_queued_not_dropped(endpoint: WinRMEndpoint) -> None:
    """200 TCP connections at once, each given 0.8 s (less than the client's 1 s SYN retransmission): with a
    listen backlog of 5, 70-97 of them failed here; every one must get through."""
    failures: list[str] = []
    opened: list[socket.socket] = []

    def one() -> None:
        connection = socket.socket()
        connection.settimeout(0.8)
        try:
            connection.connect((endpoint.host, endpoint.port))
        except OSError as err:
            failures.append(type(err).__name__)
            connection.close()
        else:
            opened.append(connection)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    for connection in opened:
        connection.close()
    assert failures == []
