"""Shared set-up for the fix wizard and re-check tests: a fast simulated host and a fast FixService.

The demo's simulated host waits 2 s for an AVMA activation and 3 s for a boot, and the service polls
once a second for two minutes; these tests shorten all of it so a whole wizard runs in well under
a second while still polling (activation stays asynchronous, just quick).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Static

from avma_tui.core.operations import OPERATIONS
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services import plan as fix_plan
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.transport import SimTransport
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.screens.fix import FixWizardScreen

FAST = fix_plan.FixTiming(verify_timeout=3.0, poll_interval=0.02, slow_poll_interval=0.02)
GUEST = Credential("Administrator", "Passw0rd!")


def fast_app(
    scenario: str = "demo.toml",
    *,
    credential: Credential | None = None,
    timing: fix_plan.FixTiming = FAST,
    latency_ms: float = 0.0,
    boot_s: float = 0.0,
    activation_s: float = 0.05,
    conversion_s: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
) -> AvmaApp:
    """An app on a packaged scenario with quick activations (still asynchronous) and, by default, instant boots.

    Every wizard it opens verifies on `timing`, the app's fix timing.
    """
    loaded = load_scenario(asset("scenarios", scenario))
    knobs = replace(
        loaded.sim,
        latency_ms=latency_ms,
        activation_delay_s=activation_s,
        boot_delay_s=boot_s,
        conversion_s=conversion_s,
    )
    host = HyperVHost(SimTransport(SimHost(replace(loaded, sim=knobs), clock=clock)))
    return AvmaApp(Session(host, guest_credential=credential), refresh_interval=0, fix_timing=timing)


def vm_id(app: AvmaApp, name: str) -> str:
    assert app.session is not None and app.session.diagnosis is not None
    return next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == name)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_on(pilot: Pilot[Any], name: str, key: str) -> None:
    """Select the VM on the dashboard and press the wizard's key (f, k)."""
    app = pilot.app
    assert isinstance(app, AvmaApp)
    await settle(pilot)
    dashboard = app.screen
    assert isinstance(dashboard, DashboardScreen)
    dashboard.go_to_vm(vm_id(app, name))
    await pilot.press(key)
    await settle(pilot)


def wizard(app: AvmaApp) -> FixWizardScreen:
    screen = app.screen
    assert isinstance(screen, FixWizardScreen), f"expected the fix wizard, got {type(screen).__name__}"
    return screen


def shown(app: AvmaApp, selector: str) -> str:
    """The plain text of a Static on the current screen."""
    return app.screen.query_one(selector, Static).render().plain


def visible_buttons(app: AvmaApp) -> set[str]:
    return {str(button.id) for button in app.screen.query(Button) if button.display}


#: The operations that change something on the host (docs/operations.md).
CHANGES = frozenset(name for name, op in OPERATIONS.items() if op.changes)


class Gate:
    """Holds every change on the simulated host until `release` is set: tests act while steps are mid-flight.

    The transport stays the real SimTransport; only its `run` is wrapped, so a held change is exactly
    what a slow host looks like to the wizard.
    """

    def __init__(self, app: AvmaApp) -> None:
        assert app.session is not None
        transport = app.session.host.transport
        assert isinstance(transport, SimTransport)
        self.release = asyncio.Event()
        self.held = 0
        real = transport.run

        async def run(op: str, params: Mapping[str, Any] | None = None) -> Any:
            if op in CHANGES:
                self.held += 1
                await self.release.wait()
            return await real(op, params)

        transport.run = run  # type: ignore[method-assign]

    async def until_held(self, count: int) -> None:
        for _ in range(500):
            if self.held >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{count} change(s) never started (held: {self.held})")


async def click(pilot: Pilot[Any], selector: str) -> None:
    """Click a button once its last press has faded: a Button ignores clicks during its 0.2 s press effect."""
    button = pilot.app.screen.query_one(selector, Button)
    for _ in range(50):
        if not button.has_class("-active"):
            break
        await pilot.pause(0.05)
    await pilot.click(selector)
