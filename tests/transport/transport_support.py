"""Shared helpers of the transport tests: the endpoint account, engines on a fixed clock, settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from avma_tui.config import ConnectionSettings
from avma_tui.paths import demo_scenario
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

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


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    """Wait (polling every 50 ms) until `condition()` holds or `seconds` pass; its final value."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()
