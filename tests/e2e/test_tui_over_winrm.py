"""End to end: the TUI's connection screen reaches `avma-tui sim serve` over real WinRM (pypsrp, NTLM,
message encryption), opens the dashboard, and a wrong password is shown in place."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from avma_tui.cli.main import _parser
from avma_tui.config import load_profiles
from avma_tui.services.audit import AuditLog
from avma_tui.ui.app import AvmaApp, build
from avma_tui.ui.screens.connection import ConnectScreen
from avma_tui.ui.screens.dashboard import DashboardScreen

PASSWORD = "Sim-S3cret!"


@pytest.fixture
def served_demo(avma_home) -> Iterator[int]:
    """`avma-tui sim serve --demo` on a free loopback port, as an admin would start it; yields the port."""
    env = {**os.environ, "AVMA_SIM_PASSWORD": PASSWORD, "AVMA_TUI_HOME": str(avma_home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "sim", "serve", "--demo", "--user", "admin"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"127\.0\.0\.1:(\d+)/wsman", line)
        assert match, f"no connection line: {line!r}"
        yield int(match.group(1))
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def _connect(app: AvmaApp, pilot, port: int, password: str) -> None:
    screen = app.screen
    assert isinstance(screen, ConnectScreen)
    screen.query_one("#host", Input).value = "127.0.0.1"
    screen.query_one("#port", Input).value = str(port)
    screen.query_one("#https", Select).value = False
    screen.query_one("#auth", Select).value = "ntlm"
    screen.query_one("#user", Input).value = "admin"
    screen.query_one("#password", Input).value = password
    await pilot.click("#connect")
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.slow
async def test_the_tui_connects_to_sim_serve_and_shows_the_host(served_demo: int) -> None:
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await _connect(app, pilot, served_demo, "Bad-Pa55-x")
        assert isinstance(app.screen, ConnectScreen)
        status = app.screen.query_one("#connect-status", Static).render().plain
        assert "rejected the credentials of admin" in status
        assert "Bad-Pa55-x" not in status

        await _connect(app, pilot, served_demo, PASSWORD)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        diagnosis = app.session.diagnosis
        assert diagnosis.inventory.host.fqdn == "HV01.contoso.local"
        assert app.screen.query_one("#vms").row_count == len(diagnosis.vms) == 24
        await pilot.press("q")
    actions = [(r["action"], r["outcome"]) for r in AuditLog().records()]
    assert actions == [("connect", "failed"), ("connect", "ok"), ("disconnect", "ok")]
    assert PASSWORD not in AuditLog().path.read_text(encoding="utf-8")


@pytest.mark.slow
async def test_a_host_on_the_command_line_connects_at_once_with_avma_password(
    served_demo: int, monkeypatch: pytest.MonkeyPatch, avma_home: Path
) -> None:
    """`AVMA_PASSWORD=… avma-tui 127.0.0.1 --port N --http --auth ntlm --user admin`, as the README shows it."""
    monkeypatch.setenv("AVMA_PASSWORD", PASSWORD)
    argv = ["127.0.0.1", "--port", str(served_demo), "--http", "--auth", "ntlm", "--user", "admin"]
    app = build(_parser().parse_args(argv))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert app.session.diagnosis.inventory.host.fqdn == "HV01.contoso.local"
        await pilot.press("q")
    assert [(p.host, p.username) for p in load_profiles()] == [("127.0.0.1", "admin")]
    assert _files_holding(avma_home, PASSWORD) == []


def _files_holding(root: Path, secret: str) -> list[Path]:
    written = [path for path in root.rglob("*") if path.is_file()]
    assert written  # the profile and the audit log at least
    return [path for path in written if secret.encode() in path.read_bytes()]


async def test_without_avma_password_the_host_waits_for_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(_parser().parse_args(["hv01.example", "--user", "admin"]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConnectScreen)
        assert app.focused is app.screen.query_one("#password", Input)
        assert app.screen.query_one("#password", Input).value == ""
