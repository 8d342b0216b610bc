"""`avma-tui audit verify|show|export`, run as a user runs it: a subprocess on the fixture's AVMA_TUI_HOME."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from avma_tui.services import audit
from avma_tui.services.audit import AuditLog, Target, record_hash

HOSTILE = "=HYPERLINK(1)[red]x[/]\x1b[31m"
TIMES = ["2026-10-31T23:59:59.999Z", "2026-11-01T00:00:00.000Z", "2026-11-15T08:30:00.000Z", "2026-12-01T09:00:00.000Z"]


def avma(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", "audit", *args], capture_output=True, text=True, encoding="utf-8", timeout=60
    )


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    """Four records across three months and two hosts, one about a VM with a hostile name."""
    clock: Iterator[str] = iter(TIMES)
    monkeypatch.setattr(audit, "_now", lambda: next(clock))
    log = AuditLog(operator="alice")
    log.append(
        host="hv01.corp.example", remote_user="CORP\\admin", target=Target("host", "hv01"), action="connect",
        phase="result", interaction="i1", outcome="ok",
    )  # fmt: skip
    intent = log.intent(
        host="hv01.corp.example", remote_user="CORP\\admin", target=Target("vm", HOSTILE, "id-1"),
        action="enable_kvp", interaction="i2", params={"VmId": "id-1"},
    )  # fmt: skip
    log.result(intent, outcome="failed", error={"code": "E1", "message": "The virtual machine is not in a valid state"})
    log.append(
        host="hv02", remote_user="admin", target=Target("host", "hv02"), action="connect", phase="result",
        interaction="i3", outcome="ok",
    )  # fmt: skip
    return log


def test_verify_without_a_log() -> None:
    done = avma("verify")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("no audit log yet")


def test_verify_prints_count_and_head(log: AuditLog) -> None:
    done = avma("verify")
    assert done.returncode == 0
    assert done.stdout == f"intact: 4 records, head {log.verify().head}\n"


def test_verify_names_the_changed_record_and_exits_1(log: AuditLog) -> None:
    content = log.path.read_text(encoding="utf-8").splitlines(keepends=True)
    content[1] = content[1].replace('"enable_kvp"', '"start_vm"')
    log.path.write_text("".join(content), encoding="utf-8")
    done = avma("verify")
    assert (done.returncode, done.stdout) == (1, "BROKEN at record 2: record 2 (line 2) was changed\n")


def test_verify_mentions_a_recovered_torn_tail(log: AuditLog) -> None:
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq":5,')
    done = avma("verify")
    assert done.returncode == 0
    assert done.stdout.startswith("intact: 5 records")
    assert "note: record 5 says a torn last line was set aside in audit.jsonl.torn-" in done.stdout


def test_show_prints_oldest_first_with_hostile_text_defused(log: AuditLog) -> None:
    done = avma("show")
    assert done.returncode == 0
    shown = done.stdout.splitlines()
    assert [line.split()[1] for line in shown] == ["#1", "#2", "#3", "#4"]
    assert "\x1b" not in done.stdout
    assert "vm =HYPERLINK(1)[red]x[/][31m  enable_kvp  intent  by alice as CORP\\admin  VmId=id-1" in shown[1]
    assert shown[2].endswith(
        "result failed  by alice as CORP\\admin  VmId=id-1  error E1: The virtual machine is not in a valid state"
    )


def test_show_filters_by_host_and_date(log: AuditLog) -> None:
    by_host = avma("show", "--host", "HV01").stdout.splitlines()
    assert [line.split()[1] for line in by_host] == ["#1", "#2", "#3"]
    since = avma("show", "--host", "hv01", "--since", "2026-11-01").stdout.splitlines()
    assert [line.split()[1] for line in since] == ["#2", "#3"]
    nothing = avma("show", "--since", "2027-01-01")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "no audit records match\n")


def test_show_without_a_log_says_so_in_one_line() -> None:
    done = avma("show")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.startswith("no audit records yet") and done.stderr.count("\n") == 1


def test_bad_dates_get_one_line_and_status_2(log: AuditLog) -> None:
    for args, message in [
        (("show", "--since", "yesterday"), "avma-tui: error: --since expects a date as YYYY-MM-DD, not 'yesterday'\n"),
        (("export", "--month", "2026-13"), "avma-tui: error: --month expects YYYY-MM, not '2026-13'\n"),
    ]:
        done = avma(*args)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", message)


def test_export_jsonl_for_one_month_ends_with_the_head(log: AuditLog) -> None:
    done = avma("export", "--format", "jsonl", "--month", "2026-11")
    assert done.returncode == 0
    *rows, trailer = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["seq"] for row in rows] == [2, 3]
    assert all(row["hash"] == record_hash(row) for row in rows)
    assert rows == log.records()[1:3]
    assert trailer == {"head": log.verify().head, "records": 4}


def test_export_csv_to_a_file_is_safe_in_a_spreadsheet(log: AuditLog, tmp_path: Path) -> None:
    out = tmp_path / "audit-2026-11.csv"
    done = avma("export", "--format", "csv", "--month", "2026-11", "--output", str(out))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", f"exported 2 records to {out}\n")
    text = out.read_text(encoding="utf-8")
    body, trailer = text.rstrip("\n").rsplit("\n", 1)
    assert trailer == f"# head {log.verify().head} records 4"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["seq"] for row in rows] == ["2", "3"]
    assert rows[0]["target_name"] == "'=HYPERLINK(1)[red]x[/]\\u001b[31m"
    assert rows[0]["remote_user"] == "CORP\\admin"
    assert json.loads(rows[1]["error"])["code"] == "E1"
    assert rows[1]["hash"] == log.records()[2]["hash"]


def test_export_without_a_log_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    done = avma("export", "--format", "csv", "--output", str(out))
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.startswith("no audit records yet")
    assert not out.exists()


def test_export_of_a_broken_log_warns_and_exits_1(log: AuditLog) -> None:
    content = log.path.read_text(encoding="utf-8").splitlines(keepends=True)
    log.path.write_text("".join(content[:2] + content[3:]), encoding="utf-8")
    done = avma("export")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == json.dumps({"head": log.records()[1]["hash"], "records": 2}).replace(" ", "")
    assert "warning: the audit chain is broken at record 3: record 3 removed" in done.stderr


def test_show_into_a_closed_pipe_ends_quietly(log: AuditLog) -> None:
    """`avma-tui audit show | head -1`: the reader goes away; no traceback, no error status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "audit", "show"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the interpreter has started and written anything
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_verify_with_an_earlier_head_detects_records_cut_from_the_end(log: AuditLog) -> None:
    head = log.records()[-1]["hash"]
    assert avma("verify", "--head", head).returncode == 0
    lines = log.path.read_text(encoding="utf-8").splitlines(keepends=True)
    log.path.write_text("".join(lines[:-1]), encoding="utf-8")  # drop the newest record
    assert avma("verify").returncode == 0  # the file alone still looks like a valid chain
    cut = avma("verify", "--head", head)
    assert cut.returncode == 1
    assert "removed" in cut.stdout
