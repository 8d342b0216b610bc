"""`avma-tui report`: the JSON contract, every finding code and status, exit codes, output file, safety."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avma_tui.cli.main import main
from avma_tui.core.findings.registry import SPEC
from avma_tui.paths import asset
from avma_tui.sim.scenario import load_scenario

ALL_CODES = frozenset(SPEC)
ALL_STATUSES = {"activated-avma", "activated-other", "not-activated", "not-eligible", "unknown"}
REMEDY_KINDS = {"automatic", "assisted", "manual", "none"}
HOST_SCENARIOS = ("standard-host", "unactivated-host", "nested-eval-host", "no-hyperv", "old-host")
GUEST_PASSWORD = "Passw0rd!"

HEALTHY = """
format = 1
[host]
name = "HV09"
os_name = "Windows Server 2022 Datacenter"
build = 20348
sku = 8
license_status = 1
[[vms]]
name = "LNX01"
[vms.guest]
OSName = "Ubuntu 24.04 LTS"
OSPlatformId = "1"
"""


def codes_of(doc: dict) -> set[str]:
    found = {f["code"] for f in doc["host"]["findings"]}
    return found | {f["code"] for vm in doc["vms"] for f in vm["findings"]}


def report_json(capsys, *args: str) -> tuple[int, dict]:
    status = main(["report", *args, "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.fixture
def demo_json() -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "AVMA_GUEST_PASSWORD": GUEST_PASSWORD}
    proc = subprocess.run(
        [sys.executable, "-m", "avma_tui", "report", "--demo", "--format", "json", "--guest-user", "Administrator"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return proc, json.loads(proc.stdout)


def test_demo_json_via_the_command_line(demo_json) -> None:
    proc, doc = demo_json
    assert proc.returncode == 1, proc.stderr  # the demo has error findings
    assert proc.stderr == ""
    assert doc["format"] == 1 and doc["tool"] == {"name": "avma-tui", "version": "0.1.0"}
    assert doc["host"]["name"] == "HV01" and doc["host"]["fqdn"] == "HV01.contoso.local"
    assert doc["host"]["os"] == {
        "name": "Windows Server 2022 Datacenter", "build": 20348, "family": "2022", "edition": "Datacenter"
    }  # fmt: skip
    assert doc["host"]["activated"] is True and doc["host"]["license_status"] == 1
    assert {vm["status"] for vm in doc["vms"]} == ALL_STATUSES
    for vm in doc["vms"]:
        assert set(vm) >= {"name", "id", "state", "kvp", "guest", "license", "status", "recommended_key_last5"}
        for f in vm["findings"]:
            assert f["code"] in ALL_CODES and f["subject"] == vm["name"]
            assert f["severity"] in {"error", "warning", "info"} and f["remedy"]["kind"] in REMEDY_KINDS
    summary = doc["summary"]
    assert summary["vms"] == len(doc["vms"]) == sum(summary[s] for s in ALL_STATUSES)
    all_findings = doc["host"]["findings"] + [f for vm in doc["vms"] for f in vm["findings"]]
    assert summary["errors"] == sum(f["severity"] == "error" for f in all_findings) > 0
    assert GUEST_PASSWORD not in proc.stdout


def test_demo_plus_the_small_host_scenarios_cover_every_finding_code(demo_json, capsys) -> None:
    covered = codes_of(demo_json[1])
    for name in HOST_SCENARIOS:
        _, doc = report_json(capsys, "--scenario", str(asset("scenarios", f"{name}.toml")))
        covered |= codes_of(doc)
    assert covered == ALL_CODES, f"missing: {sorted(ALL_CODES - covered)}"


def test_licensed_avma_vm_and_recommended_key(demo_json) -> None:
    vms = {vm["name"]: vm for vm in demo_json[1]["vms"]}
    app01 = vms["APP01"]
    assert app01["status"] == "activated-avma"
    assert app01["license"]["channel"] == "VIRTUAL_MACHINE_ACTIVATION"
    assert app01["recommended_key_last5"] == app01["license"]["partial_product_key"] == "4GF74"
    assert vms["lnx-web02"]["recommended_key_last5"] is None


def test_without_guest_credentials_licenses_are_unknown(capsys) -> None:
    _, doc = report_json(capsys, "--demo")
    running = [vm for vm in doc["vms"] if vm["state"] == "Running" and vm["status"] != "not-eligible"]
    assert running and all(vm["license"] is None for vm in running)
    assert all("LICENSE_UNKNOWN" in {f["code"] for f in vm["findings"]} for vm in running)


def test_exit_zero_without_error_findings(tmp_path: Path, capsys) -> None:
    path = tmp_path / "healthy.toml"
    path.write_text(HEALTHY, encoding="utf-8")
    status, doc = report_json(capsys, "--scenario", str(path))
    assert status == 0 and doc["summary"]["errors"] == 0


def test_bad_scenario_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("format = 1\n[host]\nname = 'HV'\nbuild = 'x'\n", encoding="utf-8")
    assert main(["report", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml" in err and "Traceback" not in err


def test_demo_and_scenario_together_exit_2(capsys) -> None:
    assert main(["report", "--demo", "--scenario", "x.toml"]) == 2
    assert "cannot be used together" in capsys.readouterr().err


def test_output_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.csv"
    assert main(["report", "--demo", "--format", "csv", "--output", str(out)]) == 1
    assert capsys.readouterr().out == ""
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["name", "state", "guest_os", "kvp", "activation", "worst_finding", "findings", "id"]
    assert len(rows) == 1 + len(load_scenario(asset("scenarios", "demo.toml")).vms)


def test_unwritable_output_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["report", "--demo", "--output", str(tmp_path / "missing" / "r.txt")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_csv_defuses_formulas(tmp_path: Path, capsys) -> None:
    names = ['=HYPERLINK("http://x")', "+SUM(1)", "-2+3", "@cmd", "\tTAB", "plain"]
    vms = "".join(f'\n[[vms]]\nname = {json.dumps(n)}\nstate = "Off"\n' for n in names)
    path = tmp_path / "formula.toml"
    path.write_text(HEALTHY.split("[[vms]]")[0] + vms, encoding="utf-8")
    main(["report", "--scenario", str(path), "--format", "csv"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    cells = [row[0] for row in rows]
    assert cells == ['\'=HYPERLINK("http://x")', "'+SUM(1)", "'-2+3", "'@cmd", "\\u0009TAB", "plain"]
    assert all(not c.startswith(("=", "+", "-", "@")) for row in rows for c in row)


def test_hostile_scenario_renders_and_names_survive_in_json(capsys) -> None:
    path = str(asset("scenarios", "hostile.toml"))
    names = [vm.name for vm in load_scenario(path).vms]
    _, doc = report_json(capsys, "--scenario", path)
    assert [vm["name"] for vm in doc["vms"]] == names
    for fmt in ("text", "csv"):
        main(["report", "--scenario", path, "--format", fmt])
        out = capsys.readouterr().out
        assert not any(ord(ch) < 32 and ch not in "\n" for ch in out), fmt
        assert "\x1b" not in out and "\u202e" not in out
    main(["report", "--scenario", path])
    assert "[red]x[/]'; Remove-VM *" in capsys.readouterr().out


def test_text_table_is_aligned(capsys) -> None:
    main(["report", "--demo"])
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    column = lines[header].index("STATE")
    rows = lines[header + 1 : lines.index("", header)]
    assert len(rows) == len(load_scenario(asset("scenarios", "demo.toml")).vms)
    assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows)


def test_unreachable_host_exits_2_with_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("AVMA_PASSWORD", "Host-Passw0rd!")
    args = ["127.0.0.1", "--port", "9", "--http", "--auth", "ntlm", "--user", "admin", "--timeout", "5"]
    assert main(["report", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "cannot reach" in captured.err and "Host-Passw0rd!" not in captured.err


def test_report_does_not_load_textual(tmp_path: Path) -> None:
    code = (
        "import sys; from avma_tui.cli.main import main; "
        f"main(['report', '--demo', '--format', 'json', '--output', {str(tmp_path / 'r.json')!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'pypsrp')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_text_shows_under_a_day_of_grace_as_less_than_one_day(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "grace.toml"
    path.write_text(
        HEALTHY.replace('name = "LNX01"', 'name = "APP01"').split("[vms.guest]")[0]
        + '[vms.guest]\nOSName = "Windows Server 2019 Standard"\nOSBuildNumber = "17763"\nOSEditionId = "7"\n'
        'ProductType = "3"\n[vms.license]\nstatus = 2\nchannel = "VIRTUAL_MACHINE_ACTIVATION"\n'
        'partial_product_key = "4GF74"\ngrace_minutes = 100\n'
        f'[guest_credentials]\nusername = "Administrator"\npassword = "{GUEST_PASSWORD}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", GUEST_PASSWORD)
    assert main(["report", "--scenario", str(path), "--guest-user", "Administrator"]) == 0
    out = capsys.readouterr().out
    assert "grace <1d" in out and "Grace period: less than a day left" in out
