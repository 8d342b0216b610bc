"""Fixtures for driving the real pypsrp client (PsrpTransport) against the loopback WinRM endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.paths import asset
from avma_tui.sim.engine import SimHost
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER, make_engine, settings_for


@pytest.fixture
def engine() -> SimHost:
    return make_engine()


@pytest.fixture
def hostile_engine() -> SimHost:
    return make_engine(asset("scenarios", "hostile.toml"))


@pytest.fixture
def endpoint(engine: SimHost) -> Iterator[WinRMEndpoint]:
    with WinRMEndpoint(engine, username=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture
def https_endpoint(engine: SimHost) -> Iterator[WinRMEndpoint]:
    with WinRMEndpoint(engine, username=USER, password=PASSWORD, https=True) as server:
        yield server


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., PsrpTransport]]:
    """A factory of transports to an endpoint, all closed at the end of the test."""
    made: list[PsrpTransport] = []

    def factory(endpoint: WinRMEndpoint, password: str = PASSWORD, **changes: object) -> PsrpTransport:
        transport = PsrpTransport(settings_for(endpoint, **changes), password)
        made.append(transport)
        return transport

    yield factory
    for transport in made:
        await transport.close()
