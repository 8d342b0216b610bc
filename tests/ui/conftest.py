"""UI test setup: apps on the simulated host with a frozen clock, and a steady cursor for snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from avma_tui.paths import asset
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated
from avma_tui.sim.transport import SimTransport
from avma_tui.ui.app import AvmaApp

FIXED_TIME = datetime(2026, 11, 27, 9, 0, 0)

AppFactory = Callable[..., AvmaApp]


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make every snapshot with a focused input flaky."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture
def make_app() -> AppFactory:
    """An app on a scenario from assets/scenarios (what --scenario does), clock frozen, no auto-refresh."""

    def factory(scenario: str = "demo.toml", **kwargs: Any) -> AvmaApp:
        kwargs.setdefault("refresh_interval", 0)
        kwargs.setdefault("clock", lambda: FIXED_TIME)
        return AvmaApp(Session(open_simulated(asset("scenarios", scenario))), **kwargs)

    return factory


def transport_of(app: AvmaApp) -> SimTransport:
    assert app.session is not None
    transport = app.session.host.transport
    assert isinstance(transport, SimTransport)
    return transport


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker (refreshes, the license reads they start, connections) finish and the screen catch up."""
    while any(not worker.is_finished for worker in pilot.app.workers):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause()


Settle = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(name="settle")
def settle_fixture() -> Settle:
    return settle


@pytest.fixture(name="transport_of")
def transport_of_fixture() -> Callable[[AvmaApp], SimTransport]:
    return transport_of
