"""Fixtures for driving the real pypsrp client (PsrpTransport) against the loopback WinRM endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from avma_tui.assets import asset, demo_scenario
from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm import WinRMEndpoint

USER = "admin"
PASSWORD = "Sim-Pa55word!"


def fixed_clock() -> float:
    """Engines read time from here, so two engines (or two reads) agree to the minute."""
    return 1000.0


def make_engine(path: Path | None = None) -> SimHost:
    return SimHost(load_scenario(path or demo_scenario()), clock=fixed_clock)


def settings_for(endpoint: WinRMEndpoint, **changes: object) -> ConnectionSettings:
    values: dict[str, object] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "https": endpoint.https,
        "auth": "ntlm",
        "username": USER,
        "ca_cert": str(endpoint.ca_cert_path or ""),
        "timeout": 10.0,
    }
    values.update(changes)
    return ConnectionSettings(**values)  # type: ignore[arg-type]


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
