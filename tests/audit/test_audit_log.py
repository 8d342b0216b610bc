"""The audit log's guarantees (docs/audit.md): chain, tamper detection, crash recovery, locking, redaction."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from avma_tui.config import audit_path
from avma_tui.services import audit
from avma_tui.services.audit import GENESIS, AuditError, AuditLog, Target, new_interaction, record_hash, redact

# Copied from docs/avma-reference.md (Windows Server 2022 Datacenter AVMA key).
FULL_KEY = "W3GNR-8DDXR-2TFRP-H8P33-DV9BG"
VM = Target("vm", "web01", "6b2c7a4e-0000-4000-8000-000000000001")


def fill(log: AuditLog, count: int) -> list[dict]:
    """`count` records: intent/result pairs for one VM, as a guided fix writes them."""
    written = []
    interaction = new_interaction()
    for index in range(count):
        if index % 2 == 0:
            written.append(
                log.intent(host="hv01", remote_user="admin", target=VM, action="enable_kvp", interaction=interaction)
            )
        else:
            written.append(log.result(written[-1], outcome="ok", after={"kvp": "enabled"}))
    return written


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(path: Path, content: list[str]) -> None:
    path.write_text("".join(content), encoding="utf-8")


def test_default_path_is_the_configured_one() -> None:
    assert AuditLog().path == audit_path()


def test_records_form_a_chain_with_sorted_keys_and_utc_milliseconds() -> None:
    log = AuditLog(operator="alice")
    written = fill(log, 4)
    on_disk = [json.loads(line) for line in lines(log.path)]
    assert on_disk == written == log.records()
    assert [record["seq"] for record in on_disk] == [1, 2, 3, 4]
    assert on_disk[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(on_disk):
        assert after["prev"] == before["hash"]
    for raw, record in zip(lines(log.path), on_disk, strict=True):
        assert list(json.loads(raw)) == sorted(record)
        assert record["hash"] == record_hash(record)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
        assert record["operator"] == "alice"
    state = log.verify()
    assert (state.ok, state.count, state.head, state.broken_at) == (True, 4, on_disk[-1]["hash"], None)


def test_operator_defaults_to_the_local_user() -> None:
    record = fill(AuditLog(), 1)[0]
    assert isinstance(record["operator"], str) and record["operator"]


def test_no_log_yet_is_an_empty_intact_chain() -> None:
    log = AuditLog()
    assert not log.path.exists()
    assert log.records() == [] and log.pending() == []
    assert log.verify() == audit.ChainState(ok=True, count=0, head=GENESIS, broken_at=None, problem="")


def test_an_edited_field_is_named_at_its_record() -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    content[2] = content[2].replace('"host":"hv01"', '"host":"hv02"')
    write_lines(log.path, content)
    state = log.verify()
    assert not state.ok and state.broken_at == 3
    assert state.problem == "record 3 (line 3) was changed"
    assert state.count == 2 and state.head == json.loads(content[1])["hash"]


def test_an_edited_and_rehashed_record_breaks_the_next_link() -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    forged = json.loads(content[2]) | {"outcome": "failed"}
    forged["hash"] = record_hash(forged)
    content[2] = audit.canonical(forged) + "\n"
    write_lines(log.path, content)
    state = log.verify()
    assert (state.ok, state.broken_at) == (False, 4)
    assert "record 4 (line 4) does not link to the record before it" in state.problem


@pytest.mark.parametrize(("removed", "problem"), [(0, "record 1 removed"), (2, "record 3 removed")])
def test_a_deleted_line_is_named(removed: int, problem: str) -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    del content[removed]
    write_lines(log.path, content)
    state = log.verify()
    assert (state.ok, state.broken_at) == (False, removed + 1)
    assert state.problem.startswith(problem)


def test_several_deleted_lines_are_named_as_a_range() -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    del content[1:4]
    write_lines(log.path, content)
    assert log.verify().problem == "records 2–4 removed (line 2 holds record 5)"


def test_reordered_lines_are_named() -> None:
    log = AuditLog()
    fill(log, 6)
    content = lines(log.path)
    content[2], content[3] = content[3], content[2]
    write_lines(log.path, content)
    state = log.verify()
    assert (state.ok, state.broken_at) == (False, 3)
    assert state.problem == "records out of order: line 3 holds record 4, expected 3"


def test_a_line_that_is_not_a_record_is_named() -> None:
    log = AuditLog()
    fill(log, 4)
    content = lines(log.path)
    content[1] = '{"seq": "two"\n'
    write_lines(log.path, content)
    state = log.verify()
    assert (state.ok, state.broken_at, state.problem) == (False, 2, "line 2 is not a valid record")


def test_truncation_at_the_end_is_caught_with_a_known_head() -> None:
    log = AuditLog()
    written = fill(log, 6)
    exported_head = log.verify().head
    assert log.verify(head=written[3]["hash"]).ok  # an older head is still in a grown log
    write_lines(log.path, lines(log.path)[:4])
    assert log.verify().ok  # the file alone cannot tell
    state = log.verify(head=exported_head)
    assert (state.ok, state.count, state.broken_at) == (False, 4, 5)
    assert state.problem.startswith(f"head {exported_head[:12]}… is not in the log")


@pytest.mark.parametrize("torn", [b'{"action":"enable_kvp","seq":5,"ho', b"{not json at all}\n", b"[" * 100_000])
def test_a_torn_last_line_is_set_aside_at_the_next_append_and_the_chain_continues(torn: bytes) -> None:
    log = AuditLog()
    written = fill(log, 4)
    with open(log.path, "ab") as fh:
        fh.write(torn)
    reopened = AuditLog()
    reopened.verify()
    assert not list(log.path.parent.glob("audit.jsonl.torn-*"))  # opening and reading never write
    fill(reopened, 2)
    asides = list(log.path.parent.glob("audit.jsonl.torn-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == torn
    recovered = reopened.records()[4]
    assert recovered["seq"] == 5 and recovered["prev"] == written[-1]["hash"]
    assert recovered["action"] == "recovered" and recovered["params"]["set_aside"] == asides[0].name
    assert recovered["params"]["bytes"] == len(torn)
    state = reopened.verify()
    assert (state.ok, state.count) == (True, 7)


def test_an_open_log_recovers_a_tail_torn_by_another_instance() -> None:
    log = AuditLog()
    fill(log, 2)
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq":3,"hash":"ab')
    # To a reader an unterminated line may be an append in progress, not damage.
    assert (log.verify().ok, log.verify().count, len(log.records())) == (True, 2, 2)
    scan = log.scan()
    assert [lineno for lineno, _ in scan] == [1, 2] and scan.unfinished == len(b'{"seq":3,"hash":"ab')
    fill(log, 1)
    assert [record["action"] for record in log.records()] == ["enable_kvp", "enable_kvp", "recovered", "enable_kvp"]
    assert log.verify().ok


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    "tail", [b"", b'{"seq":9,"ha', b"[" * 100_000 + b"\n", b"[" * 100_000, b"{not a record}\n", b"\n"]
)
def test_reading_never_writes(tail: bytes) -> None:
    """verify, records, pending, newest_first and opening: the directory is byte-for-byte and time-for-time the same."""
    log = AuditLog()
    fill(log, 3)
    (log.path.parent / "audit.jsonl.lock").unlink()
    with open(log.path, "ab") as fh:
        fh.write(tail)
    before = snapshot(log.path.parent)
    reader = AuditLog()
    reader.verify(head=reader.records()[0]["hash"])
    reader.pending()
    list(reader.newest_first())
    assert snapshot(log.path.parent) == before


def test_a_last_record_without_its_newline_is_a_record_and_the_next_append_completes_the_line() -> None:
    log = AuditLog()
    written = fill(log, 3)
    log.path.write_bytes(log.path.read_bytes()[:-1])  # an editor dropped the final newline
    state = log.verify(head=written[-1]["hash"])
    assert (state.ok, state.count, state.head) == (True, 3, written[-1]["hash"])
    assert [record for _, record in log.newest_first()] == written[::-1]
    fill(log, 1)
    assert [record["action"] for record in log.records()] == ["enable_kvp"] * 4  # no `recovered`: nothing was torn
    assert not list(log.path.parent.glob("audit.jsonl.torn-*"))
    assert log.verify().ok and log.verify().count == 4


@pytest.mark.parametrize(
    "bad",
    [
        b"[" * 100_000,  # RecursionError in json
        b"{" * 50_000 + b"}" * 50_000,
        b'{"seq":2,"hash":"x","params":' + b"[" * 40 + b"]" * 40 + b"}",  # parses, but deeper than any record
        b'{"seq":2,"hash":"x","nan":NaN}',
        b"\xff\xfe not utf-8",
    ],
)
def test_a_hostile_line_is_not_a_valid_record_never_an_exception(bad: bytes) -> None:
    log = AuditLog()
    fill(log, 3)
    content = lines(log.path)
    with open(log.path, "wb") as fh:
        fh.write(content[0].encode() + bad + b"\n" + "".join(content[1:]).encode())
    state = log.verify()
    assert (state.ok, state.broken_at, state.problem) == (False, 2, "line 2 is not a valid record")
    assert len(log.records()) == 3 and len(log.pending()) == 1
    assert [record is None for _, record in log.newest_first()] == [False, False, True, False]


def test_an_oversized_line_is_never_held_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "MAX_LINE", 4096)
    log = AuditLog()
    fill(log, 2)
    content = lines(log.path)
    write_lines(log.path, [content[0], "x" * 100_000 + "\n", content[1]])
    scanned = list(log.scan())
    assert [record is None for _, record in scanned] == [False, True, False]
    assert [record is None for _, record in log.newest_first()] == [False, True, False]
    assert log.verify().problem == "line 2 is not a valid record"


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes; on Windows the tool leaves ACLs alone")
def test_files_are_created_0600_and_the_directory_0700() -> None:
    os.umask(0o022)
    log = AuditLog()
    fill(log, 1)
    with open(log.path, "ab") as fh:
        fh.write(b"{torn")
    fill(log, 1)
    assert oct(log.path.parent.stat().st_mode & 0o777) == "0o700"
    files = list(log.path.parent.iterdir())
    assert {path.name.split("-")[0] for path in files} == {"audit.jsonl", "audit.jsonl.lock", "audit.jsonl.torn"}
    assert {oct(path.stat().st_mode & 0o777) for path in files} == {"0o600"}


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_an_older_world_readable_log_is_narrowed_to_0600_when_appended_to() -> None:
    log = AuditLog()
    fill(log, 1)
    log.path.chmod(0o644)
    fill(log, 1)
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


def test_a_record_is_on_disk_and_fsynced_before_append_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog()
    synced_lines: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced_lines.append(log.path.read_bytes().count(b"\n"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    fill(log, 1)
    assert synced_lines == [1]


def test_an_append_gives_up_with_one_line_when_the_lock_stays_held(monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog()
    fill(log, 1)
    monkeypatch.setattr(audit, "LOCK_TIMEOUT", 0.2)
    with audit._locked(log.path.with_name("audit.jsonl.lock")), pytest.raises(AuditError, match="locked by another"):
        fill(log, 1)
    assert len(log.records()) == 1


APPENDER = """
import sys, time
from pathlib import Path
from avma_tui.services.audit import AuditLog, Target
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
log = AuditLog(operator=sys.argv[2])
for n in range(50):
    log.append(host="hv01", remote_user="admin", target=Target("host", "hv01"), action="connect",
               phase="result", interaction=sys.argv[2], params={"n": n}, outcome="ok")
"""


def test_two_processes_appending_at_once_make_one_valid_chain(tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(go), name], stderr=subprocess.PIPE)
        for name in ("first", "second")
    ]
    time.sleep(0.3)  # both interpreters are up and polling
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    log = AuditLog()
    state = log.verify()
    assert (state.ok, state.count) == (True, 100), state.problem
    records = log.records()
    for name in ("first", "second"):
        assert [r["params"]["n"] for r in records if r["operator"] == name] == list(range(50))


def test_an_interrupted_change_is_pending_after_reopening_until_rechecked() -> None:
    log = AuditLog()
    interaction = new_interaction()
    other_vm = Target("vm", "db01", "6b2c7a4e-0000-4000-8000-000000000002")
    done = log.intent(host="hv01", remote_user="admin", target=VM, action="enable_kvp", interaction=interaction)
    log.result(done, outcome="ok")
    cut = log.intent(
        host="hv01", remote_user="admin", target=other_vm, action="enable_kvp", interaction=interaction
    )  # the link dropped here: no result
    reopened = AuditLog()
    assert reopened.pending() == [cut]
    recheck = reopened.record_recheck(cut, after={"kvp": "enabled"}, outcome="ok")
    assert (recheck["action"], recheck["phase"], recheck["params"]) == (
        "recheck",
        "result",
        {"intent_seq": cut["seq"], "intent_action": "enable_kvp"},
    )
    assert recheck["target"] == cut["target"] and recheck["interaction"] == interaction
    assert AuditLog().pending() == []
    assert AuditLog().verify().ok


def test_pending_lists_every_open_intent_oldest_first() -> None:
    log = AuditLog()
    first = log.intent(host="hv01", remote_user="a", target=VM, action="start_vm", interaction="i1")
    second = log.intent(host="hv01", remote_user="a", target=VM, action="start_vm", interaction="i2")
    third = log.intent(host="hv01", remote_user="a", target=VM, action="start_vm", interaction="i2")
    log.result(third, outcome="failed", error={"code": "0xC004F050", "message": "invalid key"})
    assert log.pending() == [first, second]


@dataclass
class Login:
    user: str
    password: str


def test_no_secret_and_no_full_product_key_ever_reaches_the_file() -> None:
    log = AuditLog()
    record = log.intent(
        host="hv01",
        remote_user="admin",
        target=VM,
        action="install_key",
        interaction=new_interaction(),
        params={"ProductKey": FULL_KEY, "Password": "Hunter2!", "guest": Login("administrator", "S3cret-pw")},
        before={"note": f"had {FULL_KEY.lower()} before", "Credential": {"user": "x", "pass": "y"}},
    )
    log.result(record, outcome="failed", error={"code": "0xC004F050", "message": f"key {FULL_KEY} rejected"})
    text = log.path.read_text(encoding="utf-8")
    for secret in ("Hunter2!", "S3cret-pw", FULL_KEY, FULL_KEY.lower(), "8DDXR", "Credential"):
        assert secret.lower() not in text.lower()
    assert record["params"] == {"ProductKey": "XXXXX-XXXXX-XXXXX-XXXXX-DV9BG", "guest": {"user": "administrator"}}
    assert log.records()[1]["error"]["message"] == "key XXXXX-XXXXX-XXXXX-XXXXX-DV9BG rejected"


def test_redact_keeps_what_is_not_secret() -> None:
    params = {
        "VmId": "6b2c7a4e-0000-4000-8000-000000000001",
        "count": 3,
        "flags": [True, None, 1.5],
        "head": "a" * 64,
        "two": f"{FULL_KEY},{FULL_KEY}",
        "api_token": "t",
        "client_secret": "s",
        "pwd": "p",
    }
    assert redact(params) == {
        "VmId": "6b2c7a4e-0000-4000-8000-000000000001",
        "count": 3,
        "flags": [True, None, 1.5],
        "head": "a" * 64,
        "two": "XXXXX-XXXXX-XXXXX-XXXXX-DV9BG,XXXXX-XXXXX-XXXXX-XXXXX-DV9BG",
    }
    assert redact(redact(params)) == redact(params)


def test_bad_calls_are_refused_before_anything_is_written() -> None:
    log = AuditLog()
    with pytest.raises(ValueError, match="target kind"):
        Target("cluster", "c1")
    with pytest.raises(ValueError, match="phase"):
        log.append(host="h", remote_user="u", target=VM, action="x", phase="during", interaction="i")
    with pytest.raises(ValueError, match="outcome"):
        log.append(host="h", remote_user="u", target=VM, action="x", phase="result", interaction="i")
    with pytest.raises(ValueError, match="no outcome"):
        log.append(host="h", remote_user="u", target=VM, action="x", phase="intent", interaction="i", outcome="ok")
    assert not log.path.exists()


def chained(path: Path, count: int) -> None:
    """`count` valid records written straight to `path` (no fsync: for size, not for durability)."""
    prev = GENESIS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for seq in range(1, count + 1):
            record = {"seq": seq, "prev": prev, "host": "hv01", "action": "enable_kvp", "phase": "result",
                      "outcome": "ok", "target": {"kind": "vm", "name": f"vm{seq}", "id": str(seq)},
                      "params": {"note": "x" * 400}, "interaction": str(seq)}  # fmt: skip
            record["hash"] = prev = record_hash(record)
            fh.write((audit.canonical(record) + "\n").encode())


def test_verify_and_pending_stream_the_file_line_by_line() -> None:
    """A 5 MB log is checked holding about one line at a time, not the file (the old code read it whole)."""
    log = AuditLog()
    chained(log.path, 10_000)
    assert log.path.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        assert log.verify().count == 10_000
        assert log.pending() == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_newest_first_reads_only_as_far_as_it_is_consumed() -> None:
    log = AuditLog()
    chained(log.path, 10_000)
    tracemalloc.start()
    try:
        newest = list(itertools.islice(log.newest_first(), 100))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [record["seq"] for _, record in newest] == list(range(10_000, 9_900, -1))
    assert peak < 1_000_000
    assert newest[0][0] == log.path.read_bytes().rindex(b"\n", 0, -1) + 1  # offsets are where the line starts
