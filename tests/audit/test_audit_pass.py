"""The TUI's whole-log pass in a child process (services/audit_pass.py): the same answers as the log's own
readers, nothing written, and every way the child can fail is one line and a dead child, never a hang."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avma_tui.services import audit_pass
from avma_tui.services.audit import GENESIS, AuditError, AuditLog, Target, canonical, new_interaction, record_hash
from avma_tui.services.audit_pass import LogSummary, child_command, decode, summarize, summarize_in_child
from tests.audit.test_audit_log import chained, fill, lines, snapshot, write_lines


def interrupted(log: AuditLog, host: str, name: str) -> dict:
    """An intent with no result on `host`."""
    return log.intent(
        host=host, remote_user="admin", target=Target("vm", name, f"id-{name}"), action="enable_kvp",
        interaction=new_interaction(),
    )  # fmt: skip


def in_child(path: Path, host: str | None = None, **options: object) -> LogSummary:
    return asyncio.run(summarize_in_child(path, host, **options))  # type: ignore[arg-type]


def a_log() -> Path:
    """A log that exists (with no log file there is nothing to start a child for)."""
    log = AuditLog()
    fill(log, 1)
    return log.path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_child_answers_what_verify_and_pending_answer() -> None:
    log = AuditLog()
    fill(log, 4)
    first = interrupted(log, "hv01", "db01")
    interrupted(log, "hv02", "web01")
    fill(log, 2)
    last = interrupted(log, "hv01", "[red]x[/]\x1b[2J")
    summary = in_child(log.path, "hv01")
    assert summary.exists and summary.state == log.verify()
    assert summary.pending == frozenset(record["seq"] for record in log.pending()) and summary.pending_total == 3
    assert summary.intents == (first, last)  # this host's, oldest first, exactly as written
    assert summary.intents_total == 2
    assert in_child(log.path).intents == ()  # no host asked: no records sent


def test_tamper_evidence_is_the_same_as_verify() -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    write_lines(log.path, [*content[:3], content[3].replace('"kvp":"enabled"', '"kvp":"disabled"'), *content[4:]])
    summary = in_child(log.path)
    assert summary.state == log.verify()
    assert (summary.state.ok, summary.state.broken_at) == (False, 4)
    assert summary.state.problem == "record 4 (line 4) was changed"


def test_a_hostile_line_is_named_and_the_log_is_never_written() -> None:
    log = AuditLog()
    fill(log, 3)
    (log.path.parent / "audit.jsonl.lock").unlink()
    content = lines(log.path)
    with open(log.path, "wb") as fh:
        fh.write(content[0].encode() + b"[" * 100_000 + b"\n" + "".join(content[1:]).encode() + b'{"seq":9,"ha')
    before = snapshot(log.path.parent)
    summary = in_child(log.path, "hv01")
    assert (summary.state.ok, summary.state.problem) == (False, "line 2 is not a valid record")
    assert summary.unfinished == len(b'{"seq":9,"ha')  # another instance's append in progress: left alone
    assert snapshot(log.path.parent) == before


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="POSIX modes; root reads anything")
def test_a_read_only_copy_in_a_read_only_directory_is_checked(tmp_path: Path) -> None:
    log = AuditLog()
    fill(log, 3)
    interrupted(log, "hv01", "db01")
    copy = tmp_path / "auditor" / "audit.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(log.path.read_bytes())
    copy.chmod(0o444)
    copy.parent.chmod(0o555)
    try:
        summary = in_child(copy, "hv01")
    finally:
        copy.parent.chmod(0o755)
    assert summary.state.ok and summary.state.count == 4 and len(summary.intents) == 1


def test_a_read_only_copy_is_checked_and_left_as_it_was(tmp_path: Path) -> None:
    log = AuditLog()
    fill(log, 3)
    copy = tmp_path / "auditor" / "audit.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(log.path.read_bytes())
    copy.chmod(0o444)
    before = snapshot(copy.parent)
    assert in_child(copy).state == AuditLog(copy).verify()
    assert snapshot(copy.parent) == before


def test_no_log_yet_and_an_unreadable_log() -> None:
    log = AuditLog()
    summary = in_child(log.path, command=[sys.executable, "-c", "raise SystemExit(1)"])  # not even started
    assert not summary.exists and summary.state.ok and summary.state.count == 0
    log.path.mkdir(parents=True)
    with pytest.raises(AuditError, match=r"^audit log .*audit\.jsonl: Is a directory$"):
        in_child(log.path)


def test_a_host_with_many_open_intents_gets_the_oldest_within_the_limits() -> None:
    log = AuditLog()
    written = [interrupted(log, "hv01", f"vm{index}") for index in range(audit_pass.MAX_INTENTS + 20)]
    summary = in_child(log.path, "hv01")
    assert summary.intents == tuple(written[: audit_pass.MAX_INTENTS])
    assert summary.intents_total == summary.pending_total == audit_pass.MAX_INTENTS + 20


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("raise SystemExit(1)", r"^the audit log check stopped \(exit 1\)$"),
        ("import sys; sys.stderr.write('Traceback\\nKeyError: boom\\n'); sys.exit(1)",
         r"stopped \(exit 1\): KeyError: boom$"),
        ("print('{\"format\": 1, \"ok\": \"yes\"}')", r"^the audit log check gave no usable answer$"),
        ("print('not json at all')", r"^the audit log check gave no usable answer$"),
        ("import os; os.abort()", r"^the audit log check stopped \(exit -6\)"),
        ("import sys; sys.stdout.write('x' * (5 << 20))", r"^the audit log check answered too much$"),
    ],
)  # fmt: skip
def test_a_failing_child_is_one_line(code: str, message: str) -> None:
    if "abort" in code and os.name == "nt":
        pytest.skip("a signal exit is POSIX")
    with pytest.raises(AuditError, match=message) as caught:
        in_child(a_log(), command=[sys.executable, "-c", code])
    assert "\n" not in str(caught.value)


def test_a_child_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    with pytest.raises(AuditError, match=f"^cannot start the audit log check \\({missing}\\): "):
        in_child(a_log(), command=[str(missing)])


def hanging_child(pid_file: Path) -> list[str]:
    """A child that writes its pid and then never answers."""
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    return [sys.executable, "-c", code]


@pytest.mark.skipif(os.name == "nt", reason="alive() uses POSIX signal 0")
def test_a_child_that_never_answers_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(AuditError, match=r"^the audit log check did not finish within 2 s: "):
        in_child(a_log(), command=hanging_child(pid_file), timeout=2)
    assert time.monotonic() - start < 10
    assert not alive(int(pid_file.read_text()))


@pytest.mark.skipif(os.name == "nt", reason="alive() uses POSIX signal 0")
def test_cancelling_the_wait_kills_the_child(tmp_path: Path) -> None:
    """What happens when the screen closes or the app quits while the pass runs."""
    pid_file = tmp_path / "pid"

    async def cancel_it() -> None:
        task = asyncio.create_task(summarize_in_child(a_log(), command=hanging_child(pid_file)))
        for _ in range(1000):  # another process writes it: poll, at most 20 s
            if task.done() or (pid_file.exists() and pid_file.read_text()):
                break
            await asyncio.sleep(0.02)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_it())
    assert not alive(int(pid_file.read_text()))


@pytest.mark.skipif(os.name == "nt", reason="a FIFO holds the child in open(); POSIX only")
def test_the_child_exits_when_its_parent_goes(tmp_path: Path) -> None:
    """The parent holds the child's stdin open; when it closes (the parent died) the child ends itself."""
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: a pass that would never end
    child = subprocess.Popen([*child_command(), str(fifo)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    time.sleep(0.3)
    assert child.poll() is None
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=20) == 3


def test_the_child_gets_no_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVMA_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", "hunter3hunter3")
    monkeypatch.setenv("AVMA_HOST_PRODUCT_KEY", "W3GNR-8DDXR-2TFRP-H8P33-DV9BG")
    names = "import json, os; print(json.dumps({'format': 1, 'error': ' '.join(sorted(os.environ))}))"
    with pytest.raises(AuditError) as caught:
        in_child(a_log(), command=[sys.executable, "-c", names])
    seen = str(caught.value).split()
    assert "AVMA_TUI_HOME" in seen
    assert not {"AVMA_PASSWORD", "AVMA_GUEST_PASSWORD", "AVMA_HOST_PRODUCT_KEY"} & set(seen)


def _summary_line(**changed: object) -> bytes:
    good = {"format": 1, "exists": True, "ok": True, "count": 1, "head": "", "broken_at": None, "problem": "",
            "pending": [], "pending_total": 0, "intents_total": 0, "unfinished": 0}  # fmt: skip
    return json.dumps({**good, **changed}).encode()


@pytest.mark.parametrize(
    "output",
    [b"", b"[]\n", b'{"format": 2}\n', _summary_line(count=-1), _summary_line(pending=[True]), _summary_line(ok=None)],
)
def test_an_answer_that_is_not_well_formed_is_refused(output: bytes) -> None:
    with pytest.raises(AuditError, match=r"^the audit log check gave no usable answer$"):
        decode(output)


def test_an_intent_line_that_is_not_a_record_is_refused() -> None:
    log = AuditLog()
    interrupted(log, "hv01", "db01")
    good = audit_pass.encode(summarize(log.path, "hv01"))
    assert decode(good).intents_total == 1
    with pytest.raises(AuditError, match="no usable answer"):
        decode(good.splitlines()[0] + b"\n" + b"[" * 100_000 + b"\n")


def extend(log: AuditLog, count: int) -> None:
    """`count` valid records (~500 bytes each) chained on at the end of `log`, written fast (no fsync)."""
    body = log.path.parent / "body.jsonl"
    chained(body, count)
    tail = [record for _, record in log.newest_first()][:1]
    prev, seq = (tail[0]["hash"], tail[0]["seq"]) if tail else (GENESIS, 0)
    with open(log.path, "ab") as out:
        for line in body.read_bytes().splitlines():
            record = json.loads(line)
            seq += 1
            record.update(seq=seq, prev=prev)
            record["hash"] = prev = record_hash(record)
            out.write((canonical(record) + "\n").encode())
    body.unlink()


def test_a_big_log_is_checked_whole() -> None:
    """20,000 records (~10 MiB) with interrupted changes at both ends: all found, the chain intact."""
    log = AuditLog()
    oldest = interrupted(log, "hv01", "first")
    extend(log, 20_000)
    newest = interrupted(log, "hv01", "last")
    summary = in_child(log.path, "hv01")
    assert summary.state.ok and summary.state.count == 20_002
    assert summary.intents == (oldest, newest)
