"""The dashboard's refresh (issue 10): the inventory first, rows that say "reading…", a rejected guest
login said where the eye is, and an auto-refresh that backs off while the host keeps failing."""

from __future__ import annotations

import asyncio
from typing import Any

from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential, Unreachable
from avma_tui.paths import asset
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.transport import SimTransport
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.widgets.host_summary import HostSummary
from avma_tui.ui.widgets.vm_table import VmTable


class Gated(SimTransport):
    """guest_licenses waits for `gate`: the licenses are still being read while the test looks."""

    def __init__(self, engine: SimHost) -> None:
        super().__init__(engine)
        self.gate = asyncio.Event()

    async def run(self, op: str, params: Any = None) -> Any:
        if op == "guest_licenses":
            await self.gate.wait()
        return await super().run(op, params)


def app_on(credential: Credential | None, *, interval: float = 0) -> tuple[AvmaApp, Gated]:
    transport = Gated(SimHost(load_scenario(asset("scenarios", "demo.toml"))))
    session = Session(HyperVHost(transport), guest_credential=credential)
    return AvmaApp(session, refresh_interval=interval), transport


def cell(app: AvmaApp, name: str, column: str) -> str:
    assert app.session is not None and app.session.diagnosis is not None
    vm_id = next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == name)
    return app.screen.query_one(VmTable).get_cell(vm_id, column).plain


async def test_rows_say_reading_until_their_license_arrives(settle) -> None:
    app, transport = app_on(Credential("Administrator", "Passw0rd!"))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):  # the inventory is on screen while the licenses are still being read
            await pilot.pause()
            if app.session.diagnosis is not None and app.screen.query(VmTable):
                break
        assert cell(app, "SQL01", "activation") == "reading…"
        assert "reading " in app.screen.query_one(HostSummary).render().plain
        transport.gate.set()
        await settle(pilot)
        assert cell(app, "SQL01", "activation") != "reading…"
        assert "reading " not in app.screen.query_one(HostSummary).render().plain


async def test_a_rejected_guest_login_is_said_in_the_header_and_a_notification(settle) -> None:
    app, transport = app_on(Credential("Administrator", "wrong"))
    transport.gate.set()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "guest login: rejected" in app.screen.query_one(HostSummary).render().plain
        assert any(n.title == "Guest login rejected" for n in app._notifications)
        await pilot.press("r")
        await settle(pilot)
        assert transport.engine.guest_logons == 1  # r tries no logon with a rejected credential


async def test_auto_refresh_backs_off_while_the_host_fails_and_resets_on_success(settle) -> None:
    app, transport = app_on(None, interval=30)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.next_refresh_in == 30
        waits = []
        for _ in range(5):
            transport.fail_next(Unreachable("hv01 did not answer"))
            await app.refresh_now()
            waits.append(app.next_refresh_in)
        assert waits == [60, 120, 240, 300, 300]
        await app.refresh_now()
        assert app.next_refresh_in == 30
