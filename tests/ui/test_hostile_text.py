"""One table of hostile strings, run through every output: the TUI, the report (text, CSV, JSON), `audit show`
and the audit exports, notifications and error lines. None may write a control character (C0, DEL, C1 such
as the one-byte CSI U+009B), a bidi control or a lone surrogate; the exports keep the exact value as escapes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input

from avma_tui.cli.main import main
from avma_tui.core import text
from avma_tui.core.findings import diagnose
from avma_tui.core.model import (
    GuestLicense,
    GuestOs,
    Host,
    Inventory,
    Kvp,
    KvpStatus,
    LicenseRead,
    LicenseState,
    Vm,
)
from avma_tui.hyperv.transport import RemoteError
from avma_tui.services.audit import AuditLog, Target
from avma_tui.services.report import render
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated
from avma_tui.ui import safe
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.audit import AuditScreen
from avma_tui.ui.screens.events import EventsScreen

#: name → a hostile string. Each starts with its own letter, so names stay distinct after cleaning.
HOSTILE: dict[str, str] = {
    "esc": "A\x1b[2J\x1b]0;title\x07",
    "c1-csi": "B\x9b6n\x9b?1049h",
    "rlo": "C\u202egnp.exe",
    "isolates": "D\u2066\u2067\u2068x\u2069",
    "marks": "E\u200e\u200f\u061c",
    "c0-del": "F\x00\x01\x7f",
    "nel": "G\x85x",
    "line-breaks": "H\nI\r\tJ\u2028K\u2029",
    "markup": "[@click=app.quit]M[/]",
    "formula": '=HYPERLINK("http://x")',
    "surrogate": "N\ud800x",
}
#: TOML (the scenario format) cannot hold a lone surrogate; the TUI scenario uses the rest.
TOML_SAFE = {name: value for name, value in HOSTILE.items() if name != "surrogate"}


def assert_safe(output: str, *, newlines: bool = False) -> None:
    """No character that could drive, split or reorder what a terminal or a spreadsheet shows."""
    bad = [f"U+{ord(ch):04X}" for ch in output if text.unsafe(ch) and not (newlines and ch == "\n")]
    assert not bad, bad
    output.encode("utf-8")  # a lone surrogate would raise here, as it would at sys.stdout.write


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_sanitiser(value: str) -> None:
    assert_safe(text.clean(value))
    assert_safe(text.escape(value))
    assert_safe(text.csv_cell(value))
    assert not text.csv_cell(value).startswith(("=", "+", "-", "@"))
    document = json.dumps({"v": value}, ensure_ascii=False, indent=2)
    assert_safe(text.json_text(document), newlines=True)
    assert json.loads(text.json_text(document)) == {"v": value}
    assert text.clean(value, limit=3) == text.clean(value)[:2] + "…" or len(text.clean(value)) <= 3
    assert safe.clean(value) == text.clean(value, safe.CELL_LIMIT)


def hostile_inventory() -> Inventory:
    host = Host("HV01", "contoso.local", "Windows Server 2022 Datacenter", 20348, 8, 1, "ABCDE", True, False)
    vms = []
    for index, value in enumerate(HOSTILE.values()):
        guest = GuestOs(value, "10.0.17763", 17763, 7, 3, 2, value, items=(("OSName", value),))
        license_ = GuestLicense(value, f"{value}, VOLUME_MAK channel", 0, 0, 0, "ABCDE", value, value, value)
        vms.append(
            Vm(
                id=f"6f1e4d7a-0000-4000-8000-{index:012d}",
                name=value,
                state="Running",
                generation=2,
                kvp=Kvp(True, KvpStatus.OK, "OK"),
                guest=guest,
                license=LicenseRead(LicenseState.READ, license_),
            )
        )
    return Inventory(host=host, cluster=None, vms=tuple(vms), events=(), read_at="2026-11-27T22:00:00Z")


def test_report_text_csv_and_json() -> None:
    diagnosis = diagnose(hostile_inventory())
    assert diagnosis.findings  # MAK keys, not activated: the hostile values reach details and evidence
    for fmt in ("text", "csv", "json"):
        assert_safe(render(diagnosis, fmt), newlines=True)
    doc = json.loads(render(diagnosis, "json"))
    assert [vm["name"] for vm in doc["vms"]] == list(HOSTILE.values())  # JSON keeps the exact value
    rows = list(csv.reader(io.StringIO(render(diagnosis, "csv"))))[1:]
    assert [row[0] for row in rows] == [text.csv_cell(value) for value in HOSTILE.values()]


@pytest.fixture
def hostile_log() -> AuditLog:
    log = AuditLog(operator=TOML_SAFE["rlo"])
    for value in TOML_SAFE.values():
        intent = log.intent(
            host=value, remote_user=value, target=Target("vm", value, value), action="install_key",
            interaction="i", params={"ProductKey": value, value: value},
        )  # fmt: skip
        log.result(intent, outcome="failed", error={"code": value, "message": value})
    return log


def test_audit_show_and_exports(hostile_log: AuditLog, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["audit", "show"]) == 0
    shown = capsysbinary.readouterr().out.decode("utf-8")
    assert_safe(shown, newlines=True)
    assert text.clean(TOML_SAFE["rlo"]) in shown
    assert main(["audit", "export", "--format", "csv"]) == 0
    exported = capsysbinary.readouterr().out.decode("utf-8")
    assert_safe(exported, newlines=True)
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    lines = capsysbinary.readouterr().out.decode("utf-8")
    assert_safe(lines, newlines=True)
    assert [json.loads(line) for line in lines.splitlines()[:-1]] == hostile_log.records()  # the exact records


def test_error_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in HOSTILE.values():
        assert main(["report", "--scenario", str(tmp_path / f"{value}.toml")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("avma-tui: error: ") and err.count("\n") == 1
        assert_safe(err, newlines=True)


def screen_text(app: App[Any]) -> str:
    """Every character the screen holds (what the terminal receives, minus Textual's own escape codes)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def hostile_scenario(tmp_path: Path) -> Path:
    lines = [
        'format = 1\n[host]\nname = "HV01"\nos_name = "Windows Server 2022 Datacenter"\nbuild = 20348\nsku = 8\n'
        "license_status = 1\n"
    ]
    for index, value in enumerate(TOML_SAFE.values()):
        quoted = json.dumps(value)  # a JSON string without surrogates is a TOML basic string
        lines.append(
            f'[[vms]]\nname = {quoted}\nid = "6f1e4d7a-0000-4000-8000-{index:012d}"\n[vms.guest]\n'
            f'OSName = {quoted}\nOSBuildNumber = "17763"\nOSEditionId = "7"\nProductType = "3"\n'
            f'[[events]]\ntime = "2026-11-27T08:00:00Z"\nvm = {quoted}\nnotification = "Invalid Data"\n'
            f"message = {quoted}\n"
        )
    path = tmp_path / "hostile.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


async def test_tui_dashboard_details_events_errors_and_notifications(tmp_path: Path, settle, transport_of) -> None:
    app = AvmaApp(Session(open_simulated(hostile_scenario(tmp_path))), refresh_interval=0)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        assert {d.vm.name for d in app.session.diagnosis.vms} == set(TOML_SAFE.values())
        table = app.screen.query_one("VmTable")
        for row in range(table.row_count):
            table.move_cursor(row=row)
            await pilot.pause()
            assert_safe(screen_text(app), newlines=True)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EventsScreen)
        assert_safe(screen_text(app), newlines=True)
        await pilot.press("escape")
        transport_of(app).fail_next(RemoteError(" ".join(HOSTILE.values())))
        await pilot.press("r")
        await settle(pilot)
        for value in HOSTILE.values():
            app.notify(safe.clean(value), markup=False)
        await pilot.pause()
        assert_safe(screen_text(app), newlines=True)
        assert app.is_running


class AuditHarness(App[None]):
    def __init__(self, log: AuditLog, host: str) -> None:
        super().__init__()
        self.audit_log, self.host = log, host

    def on_mount(self) -> None:
        self.push_screen(AuditScreen(self.audit_log, host=self.host))


@pytest.mark.parametrize("host", TOML_SAFE.values(), ids=TOML_SAFE.keys())
async def test_audit_screen_filter_and_records(hostile_log: AuditLog, host: str) -> None:
    app = AuditHarness(hostile_log, host)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        field = app.screen.query_one("#audit-filter", Input)
        assert_safe(field.value)
        assert field.value == f"host:{safe.clean(host, limit=64)}"
        table = app.screen.query_one("#audit-records")
        assert table.row_count >= 2  # the cleaned filter still finds the host's records
        assert_safe(screen_text(app), newlines=True)
