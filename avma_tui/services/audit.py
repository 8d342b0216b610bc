"""The tamper-evident audit log (docs/audit.md): one hash-chained JSON object per line.

Why a hash chain: whoever reads the log later (an auditor, a licence check, the admin after an
incident) must be able to tell whether records were edited, removed or reordered. Each record
carries the SHA-256 of the one before it, so a change anywhere breaks the links after it, and
`verify` names the first bad record.

Why the care with files: an `intent` record is the evidence that a change was about to happen, so
it is fsynced before `append` returns (and so before the change starts). A crash mid-write leaves a
torn last line, which is set aside next to the log (never deleted) at the next open, with a
`recovered` record saying so. Two instances may run at once, so every append takes a lock file and
re-reads the tail under it.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os
import platform
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import IO, Any

from avma_tui.config import audit_path

GENESIS = "0" * 64
PHASES = ("intent", "result")
OUTCOMES = ("ok", "failed", "cancelled", "unknown")
TARGET_KINDS = ("host", "vm", "node")
LOCK_TIMEOUT = 30.0  # seconds; an append waits this long for another instance before giving up

_PRODUCT_KEY = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){3}-([A-Za-z0-9]{5})(?![A-Za-z0-9])")
_SECRET_NAME = re.compile(r"password|passwd|pwd|secret|credential|token", re.IGNORECASE)
_TAIL_CHUNK = 64 * 1024


class AuditError(Exception):
    """The log cannot be read or written (permissions, a stuck lock). The message is one line."""


@dataclass(frozen=True)
class Target:
    """What a record is about: the host itself, one VM, or one cluster node."""

    kind: str
    name: str
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"target kind must be one of {', '.join(TARGET_KINDS)}, not {self.kind!r}")


@dataclass(frozen=True)
class ChainState:
    """The result of walking the chain. `broken_at` is the 1-based line (= record position) that is wrong."""

    ok: bool
    count: int
    head: str
    broken_at: int | None
    problem: str


def new_interaction() -> str:
    """An id shared by all records of one guided fix or batch (unique across instances)."""
    return uuid.uuid4().hex


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` as plain JSON data with no secret in it.

    Entries whose name looks like a password, secret, credential or token are dropped, at any depth;
    every product key inside any string keeps only its last five characters, as Windows shows it.
    Dataclasses and enums become their JSON form first, so a model object cannot smuggle a secret
    out through its repr.
    """
    return {str(name): _redact_value(value) for name, value in params.items() if not _SECRET_NAME.search(str(name))}


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, Enum):
        return _redact_value(value.value)
    if isinstance(value, str):
        return _PRODUCT_KEY.sub(lambda match: "XXXXX-XXXXX-XXXXX-XXXXX-" + match[1], str(value))
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_redact_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact(dataclasses.asdict(value))
    return _redact_value(str(value))


def canonical(record: Any) -> str:
    """The one JSON spelling of a record (or any JSON value): what is hashed, and what is written as a line."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the record's canonical JSON without its own `hash` field."""
    body = {name: value for name, value in record.items() if name != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name (some containers, services)
        return os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"


def _parse(line: bytes) -> dict[str, Any] | None:
    """A line as a record, or None if it is not one (torn, edited into invalid JSON, blank)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str):
        return record
    return None


def _lines_backwards(fh: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) from the end of the file back, reading only as much as needed."""
    pos, buf = size, b""
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        while (cut := buf.rfind(b"\n", 0, len(buf) - 1)) >= 0:
            yield pos + cut + 1, buf[cut + 1 :]
            buf = buf[: cut + 1]
    if buf:
        yield 0, buf


def _scan_tail(fh: IO[bytes]) -> tuple[dict[str, Any] | None, int | None]:
    """The last record in the file, and the offset of a torn last line if there is one."""
    size = fh.seek(0, os.SEEK_END)
    torn_at = None
    for index, (offset, line) in enumerate(_lines_backwards(fh, size)):
        record = _parse(line)
        if index == 0 and (record is None or not line.endswith(b"\n")):
            torn_at = offset
            continue
        if record is not None:
            return record, torn_at
    return None, torn_at


if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold the inter-process lock file; give up with one clear line after LOCK_TIMEOUT."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while not _try_lock(fh.fileno()):
            if time.monotonic() > deadline:
                raise AuditError(f"the audit log is locked by another process ({lock_path})")
            time.sleep(0.01)
        try:
            yield
        finally:
            _unlock(fh.fileno())


@contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Turn a file-system failure into one line naming the log, never a traceback."""
    try:
        yield
    except OSError as err:
        raise AuditError(f"audit log {path}: {err.strerror or err}") from None


class AuditLog:
    """The append-only, hash-chained audit file. Cheap to create; safe to use from several processes."""

    def __init__(self, path: Path | None = None, *, operator: str | None = None) -> None:
        self.path = path or audit_path()
        self.operator = operator or _local_user()
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        with _os_errors(self.path):
            if self.path.exists():
                with _locked(self._lock_path):
                    self._recover_locked()

    def append(
        self,
        *,
        host: str,
        remote_user: str,
        target: Target,
        action: str,
        phase: str,
        interaction: str,
        params: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        outcome: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one record and fsync it; returns the record as written (with seq, time, prev, hash)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        if phase == "result" and outcome not in OUTCOMES:
            raise ValueError(f"a result needs an outcome among {', '.join(OUTCOMES)}, not {outcome!r}")
        if phase == "intent" and outcome is not None:
            raise ValueError("an intent has no outcome yet")
        fields = {
            "operator": self.operator,
            "remote_user": remote_user,
            "host": host,
            "target": dataclasses.asdict(target),
            "action": action,
            "phase": phase,
            "interaction": interaction,
            "params": redact(params or {}),
            "before": None if before is None else redact(before),
            "after": None if after is None else redact(after),
            "outcome": outcome,
            "error": None if error is None else redact(error),
        }
        with _os_errors(self.path), _locked(self._lock_path):
            return self._write_locked(self._recover_locked(), fields)

    def intent(
        self,
        *,
        host: str,
        remote_user: str,
        target: Target,
        action: str,
        interaction: str,
        params: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record written before a change starts."""
        return self.append(
            host=host,
            remote_user=remote_user,
            target=target,
            action=action,
            phase="intent",
            interaction=interaction,
            params=params,
            before=before,
        )

    def result(
        self,
        intent: Mapping[str, Any],
        *,
        outcome: str,
        after: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record that closes `intent` (as returned by `intent()`): same host, target, action, interaction."""
        return self.append(
            host=intent["host"],
            remote_user=intent["remote_user"],
            target=_target_of(intent),
            action=intent["action"],
            phase="result",
            interaction=intent["interaction"],
            params=intent["params"],
            before=intent["before"],
            after=after,
            outcome=outcome,
            error=error,
        )

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first. Lines that are not records are skipped here; `verify` reports them."""
        return [record for _, record in self._read() if record is not None]

    def verify(self, head: str | None = None) -> ChainState:
        """Walk the chain from the first line and report the first record that was changed, removed or reordered.

        Removing records from the end cannot be seen from the file alone; pass the `head` hash from an
        earlier `verify` or export and it must still be in the chain.
        """
        entries = list(self._read())
        seqs = {record["seq"] for _, record in entries if record is not None}
        prev, expected = GENESIS, 1
        for lineno, record in entries:
            if record is None:
                return _broken(expected - 1, prev, lineno, f"line {lineno} is not a valid record")
            seq = record["seq"]
            if record["hash"] != record_hash(record):
                return _broken(expected - 1, prev, lineno, f"record {seq} (line {lineno}) was changed")
            if seq != expected:
                if seq > expected and expected not in seqs:
                    gone = f"record {expected}" if seq == expected + 1 else f"records {expected}–{seq - 1}"
                    problem = f"{gone} removed (line {lineno} holds record {seq})"
                else:
                    problem = f"records out of order: line {lineno} holds record {seq}, expected {expected}"
                return _broken(expected - 1, prev, lineno, problem)
            if record.get("prev") != prev:
                problem = (
                    f"record {seq} (line {lineno}) does not link to the record before it: one of them was replaced"
                )
                return _broken(expected - 1, prev, lineno, problem)
            prev, expected = record["hash"], expected + 1
        count = expected - 1
        if head is not None and head != GENESIS and head not in {record["hash"] for _, record in entries if record}:
            problem = f"head {head[:12]}… is not in the log: records after record {count} were removed or replaced"
            return _broken(count, prev, count + 1, problem)
        return ChainState(ok=True, count=count, head=prev, broken_at=None, problem="")

    def pending(self) -> list[dict[str, Any]]:
        """Intents with no result (the tool died or the link dropped mid-change), oldest first.

        A result closes the latest open intent with the same interaction, action and target; a
        `recheck` record closes the intent whose seq it names.
        """
        records = self.records()
        rechecked = {
            record["params"].get("intent_seq")
            for record in records
            if record.get("action") == "recheck" and isinstance(record.get("params"), dict)
        }
        open_intents: dict[tuple[Any, Any, str], list[dict[str, Any]]] = {}
        for record in records:
            key = (record.get("interaction"), record.get("action"), canonical(record.get("target")))
            if record.get("phase") == "intent":
                open_intents.setdefault(key, []).append(record)
            elif record.get("phase") == "result" and open_intents.get(key):
                open_intents[key].pop()
        left = [record for group in open_intents.values() for record in group if record["seq"] not in rechecked]
        return sorted(left, key=lambda record: record["seq"])

    def record_recheck(
        self, intent: Mapping[str, Any], *, after: Mapping[str, Any] | None, outcome: str
    ) -> dict[str, Any]:
        """Record that the admin re-checked the target of an interrupted `intent`; it is no longer pending."""
        return self.append(
            host=intent["host"],
            remote_user=intent["remote_user"],
            target=_target_of(intent),
            action="recheck",
            phase="result",
            interaction=intent["interaction"],
            params={"intent_seq": intent["seq"], "intent_action": intent["action"]},
            after=after,
            outcome=outcome,
        )

    def _read(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(line number, record or None) for every complete line; nothing if there is no log yet.

        Reads take no lock, so an unterminated last line may be another instance's append in
        progress: it is left out rather than reported as damage (a torn one is set aside at open).
        """
        with _os_errors(self.path):
            try:
                with open(self.path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                return
        for lineno, line in enumerate(data[: data.rfind(b"\n") + 1].splitlines(), start=1):
            yield lineno, _parse(line)

    def _recover_locked(self) -> dict[str, Any] | None:
        """Set a torn last line aside and record that; return the record the next one links to."""
        if not self.path.exists():
            return None
        with open(self.path, "r+b") as fh:
            last, torn_at = _scan_tail(fh)
            if torn_at is None:
                return last
            fh.seek(torn_at)
            torn = fh.read()
            aside = self._set_aside(torn)
            fh.truncate(torn_at)
            fh.flush()
            os.fsync(fh.fileno())
        node = platform.node() or "localhost"
        fields = {
            "operator": self.operator,
            "remote_user": "",
            "host": node,
            "target": dataclasses.asdict(Target("host", node)),
            "action": "recovered",
            "phase": "result",
            "interaction": new_interaction(),
            "params": {"set_aside": aside.name, "bytes": len(torn), "sha256": hashlib.sha256(torn).hexdigest()},
            "before": None,
            "after": None,
            "outcome": "ok",
            "error": None,
        }
        return self._write_locked(last, fields)

    def _set_aside(self, torn: bytes) -> Path:
        """Keep the torn bytes as evidence in `audit.jsonl.torn-<time>` before they leave the log."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        for attempt in range(100):
            aside = self.path.with_name(f"{self.path.name}.torn-{stamp}" + (f"-{attempt}" if attempt else ""))
            try:
                with open(aside, "xb") as out:
                    out.write(torn)
                    out.flush()
                    os.fsync(out.fileno())
            except FileExistsError:
                continue
            return aside
        raise AuditError(f"cannot set the torn end of {self.path} aside: too many {self.path.name}.torn-* files")

    def _write_locked(self, last: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            **fields,
            "seq": last["seq"] + 1 if last else 1,
            "prev": last["hash"] if last else GENESIS,
            "time": _now(),
        }
        record = json.loads(canonical(record))  # exactly what a reader will parse back, so the hash matches
        record["hash"] = record_hash(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write((canonical(record) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        return record


def _target_of(record: Mapping[str, Any]) -> Target:
    target = record["target"]
    return Target(kind=target["kind"], name=target["name"], id=target.get("id", ""))


def _broken(count: int, head: str, at: int, problem: str) -> ChainState:
    """A broken chain: `count` records and `head` are the intact part before record `at`."""
    return ChainState(ok=False, count=count, head=head, broken_at=at, problem=problem)
