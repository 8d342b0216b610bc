"""`avma-tui audit verify|show|export`, run as a user runs it: a subprocess on the fixture's AVMA_TUI_HOME."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
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


def test_verify_reads_a_torn_tail_without_writing_and_the_next_append_sets_it_aside(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq":5,')
    before = log.path.read_bytes()
    done = avma("verify")
    assert (done.returncode, log.path.read_bytes()) == (0, before)
    assert done.stdout.startswith("intact: 4 records")
    assert "note: the last line is unfinished (9 bytes, not counted)" in done.stdout
    monkeypatch.setattr(audit, "_now", lambda: TIMES[-1])
    log.append(
        host="hv02", remote_user="admin", target=Target("host", "hv02"), action="connect", phase="result",
        interaction="i5", outcome="ok",
    )  # fmt: skip
    done = avma("verify")
    assert done.returncode == 0
    assert done.stdout.startswith("intact: 6 records")
    assert "note: record 5 says a torn last line was set aside in audit.jsonl.torn-" in done.stdout


def test_verify_never_writes_a_log_missing_its_last_newline(log: AuditLog) -> None:
    """It used to move the last record aside, append a `recovered` record and then say "intact"."""
    log.path.write_bytes(log.path.read_bytes().rstrip(b"\n"))
    before = sorted((path.name, path.read_bytes()) for path in log.path.parent.iterdir())
    done = avma("verify", "--head", log.records()[-1]["hash"])
    assert (done.returncode, done.stdout) == (0, f"intact: 4 records, head {log.records()[-1]['hash']}\n")
    assert sorted((path.name, path.read_bytes()) for path in log.path.parent.iterdir()) == before


WALL = b"[" * 100_000


@pytest.mark.parametrize("last", [False, True], ids=["middle", "last"])
def test_a_line_of_100k_brackets_is_one_line_of_report_never_a_traceback(log: AuditLog, last: bool) -> None:
    content = log.path.read_bytes().splitlines(keepends=True)
    content.insert(len(content) if last else 2, WALL + b"\n")
    log.path.write_bytes(b"".join(content))
    verify = avma("verify")
    assert (verify.returncode, verify.stderr) == (1, "")
    assert verify.stdout == f"BROKEN at record {5 if last else 3}: line {5 if last else 3} is not a valid record\n"
    show = avma("show")
    assert show.returncode == 0 and len(show.stdout.splitlines()) == 4
    assert show.stderr == f"warning: the audit chain is broken at record {5 if last else 3}: " + (
        f"line {5 if last else 3} is not a valid record\n"
    )
    export = avma("export", "--format", "csv")
    assert export.returncode == 1 and "Traceback" not in export.stderr
    assert len(export.stderr.splitlines()) == 1


def test_report_and_fix_append_after_a_hostile_last_line(log: AuditLog) -> None:
    with open(log.path, "ab") as fh:
        fh.write(WALL + b"\n")
    for args in (["report", "--demo", "--format", "json"], ["fix", "--demo", "--vm", "PRINT01", "--dry-run"]):
        done = subprocess.run(
            [sys.executable, "-m", "avma_tui", *args], capture_output=True, text=True, encoding="utf-8", timeout=60
        )
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    asides = list(log.path.parent.glob("audit.jsonl.torn-*"))
    assert [path.read_bytes() for path in asides] == [WALL + b"\n"]
    assert avma("verify").returncode == 0


def test_verify_head_accepts_an_unambiguous_prefix_of_12_and_refuses_a_short_one(log: AuditLog) -> None:
    records = log.records()
    for head in (records[-1]["hash"], records[-1]["hash"][:12], records[1]["hash"][:20].upper()):
        done = avma("verify", "--head", head)
        assert (done.returncode, done.stdout) == (0, f"intact: 4 records, head {records[-1]['hash']}\n")
    for short in (records[-1]["hash"][:11], "abc"):
        done = avma("verify", "--head", short)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr == (
            f"avma-tui: error: --head '{short}' is too short: it needs the full hash (or at least 12 characters)\n"
        )
    done = avma("verify", "--head", "not-a-hash-at-all")
    assert done.returncode == 2 and "--head expects a hash of hex digits" in done.stderr
    missing = avma("verify", "--head", "0123456789ab")
    assert missing.returncode == 1 and missing.stdout.startswith("BROKEN at record 5: head 0123456789ab… is not in")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_read_only_copy_verifies_shows_and_exports(log: AuditLog) -> None:
    """An auditor's copy: file 0444 in a 0555 directory, read by a user who cannot write there."""
    copy_dir = Path(tempfile.mkdtemp(prefix="avma-audit-copy-"))
    try:
        copy = copy_dir / "audit.jsonl"
        copy.write_bytes(log.path.read_bytes()[:-1])  # and its last newline lost on the way
        copy.chmod(0o444)
        copy_dir.chmod(0o555)
        for args in (("verify",), ("show",), ("export", "--format", "csv")):
            done = as_other_user(["audit", *args, "--file", str(copy)])
            assert (done.returncode, done.stderr) == (0, ""), args
            assert done.stdout
        assert done.stdout.endswith(f"# head {log.records()[-1]['hash']} records 4\n")
        assert sorted(path.name for path in copy_dir.iterdir()) == ["audit.jsonl"]
        cannot = as_other_user(["append", str(copy)])
        assert cannot.stdout.startswith(f"audit log {copy}") and cannot.stdout.count("\n") == 1
    finally:
        copy_dir.chmod(0o755)
        shutil.rmtree(copy_dir)


OTHER_USER = """
import os, sys
from pathlib import Path
import avma_tui.cli.audit, avma_tui.cli.main, locale, shutil  # everything needed, imported while still allowed
from avma_tui.services.audit import AuditError, AuditLog, Target
if os.name != "nt" and os.geteuid() == 0:  # root ignores file modes: become nobody
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
if sys.argv[1] == "append":
    try:
        AuditLog(Path(sys.argv[2])).append(host="h", remote_user="u", target=Target("host", "h"), action="connect",
                                           phase="result", interaction="i", outcome="ok")
    except AuditError as err:
        print(err)
else:
    sys.exit(avma_tui.cli.main.main(sys.argv[1:]))
"""


def as_other_user(args: list[str]) -> subprocess.CompletedProcess[str]:
    """The CLI as a user who may read the copy but not write next to it."""
    return subprocess.run(
        [sys.executable, "-c", OTHER_USER, *args], capture_output=True, text=True, encoding="utf-8", timeout=60
    )


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
