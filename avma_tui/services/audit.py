"""The tamper-evident audit log (docs/audit.md): one hash-chained JSON object per line.

Why a hash chain: whoever reads the log later (an auditor, a licence check, the admin after an
incident) must be able to tell whether records were edited, removed or reordered. Each record
carries the SHA-256 of the one before it, so a change anywhere breaks the links after it, and
`verify` names the first bad record.

Why the care with files: an `intent` record is the evidence that a change was about to happen, so
it is fsynced before `append` returns (and so before the change starts). A crash mid-write leaves a
torn last line, which the next *append* sets aside next to the log (never deleted), with a
`recovered` record saying so. Two instances may run at once, so every append takes a lock file and
re-reads the tail under it.

Reading never writes: opening the log, `verify`, `records`, `pending` and the viewer only read, so
an auditor's read-only copy works and a check cannot change what it checks. Readers stream the
file line by line (a 100k-record log is ~60 MB), and every line is untrusted: a line too deep, too
long or not JSON is "not a valid record", never an exception. On POSIX the files are created 0600
and the audit directory 0700; on Windows the tool sets no ACL: the files inherit the data
directory's (under the user's profile).
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os
import platform
import re
import sys
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
from avma_tui.core.operations import AUDIT_OUTCOMES, Outcome

GENESIS = "0" * 64
#: intent (before a change), started (a detached change is under way; closes nothing), result (how it ended).
PHASES = ("intent", "started", "result")
#: The outcomes a result may carry: the values of core/operations.py AUDIT_OUTCOMES (a contract).
OUTCOMES: tuple[str, ...] = tuple(outcome.value for outcome in AUDIT_OUTCOMES)
TARGET_KINDS = ("host", "vm", "node")
#: A record's fields in the order people read them (docs/audit.md): the viewer and the CSV export use it.
RECORD_FIELDS = (
    "seq",
    "time",
    "operator",
    "remote_user",
    "host",
    "target",
    "action",
    "phase",
    "interaction",
    "outcome",
    "params",
    "before",
    "after",
    "error",
    "prev",
    "hash",
)
LOCK_TIMEOUT = 30.0  # seconds; an append waits this long for another instance before giving up
#: The shortest `--head` prefix accepted: 12 hex characters (48 bits) cannot collide by chance in any real log.
HEAD_PREFIX_MIN = 12
#: A line longer than this is not a record (the tool writes a few hundred bytes); readers never hold more.
MAX_LINE = 1024 * 1024
#: A record nested deeper than this is not one (the tool writes 4 levels); keeps every reader's recursion shallow.
MAX_DEPTH = 32

_PRODUCT_KEY = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){3}-([A-Za-z0-9]{5})(?![A-Za-z0-9])")
_SECRET_NAME = re.compile(r"password|passwd|pwd|secret|credential|token", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]+")
_TAIL_CHUNK = 64 * 1024
#: The viewer's reads, newest first. Each read lets go of the GIL, and a thread that does so every
#: millisecond or so keeps the event loop waiting to get it back (the convoy effect: on CPython 3.11 a
#: pass reading 8 KiB at a time blocked the loop 100-250 ms; bench/RESULTS.md). 256 KiB is ~4 ms of parsing.
_PAGE_CHUNK = 256 * 1024
_POSIX = os.name != "nt"


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


def head_prefix(value: str) -> str:
    """A `--head` value as the lower-case hex prefix to look for; ValueError with one line when it cannot be one."""
    text = value.strip().lower()
    if not _HEX.fullmatch(text) or len(text) > 64:
        raise ValueError(f"--head expects a hash of hex digits (as `audit verify` prints it), not {value!r}")
    if len(text) < HEAD_PREFIX_MIN:
        raise ValueError(
            f"--head {value!r} is too short: it needs the full hash (or at least {HEAD_PREFIX_MIN} characters)"
        )
    return text


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name (some containers, services)
        return os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"


def _too_deep(value: Any) -> bool:
    """Whether `value` nests containers deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON the tool writes")  # NaN, Infinity: canonical() refuses them


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _parse(line: bytes) -> dict[str, Any] | None:
    """A line as a record, or None if it is not one (torn, edited into invalid JSON, blank, too deep or long)."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode("utf-8")
        record, end = _DECODER.raw_decode(text)  # one decoder for all lines: json.loads builds one per call
    except (ValueError, RecursionError):  # RecursionError: e.g. a line of 100,000 `[`
        return None
    if end != len(text) and text[end:].strip():
        return None
    if not (isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str)):
        return None
    # Counting brackets (in C) bounds the depth from above, so the walk runs only for odd lines.
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _too_deep(record):
        return None
    return record


def _hash_ok(line: bytes, record: Mapping[str, Any]) -> bool:
    """Whether the record's `hash` is the SHA-256 of its canonical body.

    Fast path: a line as the tool wrote it is the canonical body with `,"hash":"…"` inserted, so
    hashing the line without that member needs no re-serialisation; SHA-256 matching proves those
    bytes are the hashed body. Any other spelling (reformatted by hand) takes the slow path.
    """
    digest = record["hash"]
    member = b',"hash":"' + digest.encode("utf-8", "replace") + b'"'
    body = line.rstrip(b"\r\n")
    at = body.find(member)
    if at >= 0 and hashlib.sha256(body[:at] + body[at + len(member) :]).hexdigest() == digest:
        return True
    try:
        return record_hash(record) == digest
    except (ValueError, RecursionError):  # NaN or a structure json.dumps refuses
        return False


def _read_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The file's lines, oldest first, each at most MAX_LINE + 1 bytes (a longer one is cut, and fails to parse)."""
    while line := fh.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while (rest := fh.readline(_TAIL_CHUNK)) and not rest.endswith(b"\n"):
                pass  # skip the rest of an oversized line without holding it
            line = line[: MAX_LINE + 1] + (b"\n" if rest else b"")
        yield line


def _lines_backwards(fh: IO[bytes], size: int, chunk: int = _TAIL_CHUNK) -> Iterator[tuple[int, bytes]]:
    """(offset, line) from the end of the file back, reading `chunk` bytes at a time, only as far as consumed.

    A line longer than MAX_LINE comes back as b"" (not a record) without ever being held whole.
    """
    pos, buf, oversized = size, b"", False
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf  # the old `buf` is at most the unfinished first line of the last chunk
        end = len(buf)  # lines are cut off the end by index: slicing `buf` down per line is quadratic
        while (cut := buf.rfind(b"\n", 0, end - 1)) >= 0:
            yield pos + cut + 1, b"" if oversized else buf[cut + 1 : end]
            end, oversized = cut + 1, False
        buf = buf[:end]
        if len(buf) > MAX_LINE:
            buf, oversized = buf[-1:], True
    if buf:
        yield 0, b"" if oversized else buf


def _scan_tail(fh: IO[bytes]) -> tuple[dict[str, Any] | None, int | None]:
    """The last record in the file, and the offset of a torn last line if there is one.

    An unterminated last line that is a whole record (only its newline is missing) is not torn.
    """
    size = fh.seek(0, os.SEEK_END)
    torn_at = None
    for index, (offset, line) in enumerate(_lines_backwards(fh, size)):
        record = _parse(line)
        if index == 0 and record is None:
            torn_at = offset
            continue
        if record is not None:
            return record, torn_at
    return None, torn_at


class Scan:
    """One streaming pass over the log, oldest first: iterate it for `(line number, record or None)`.

    The chain is checked on the way (nothing is held but the current line), so after the loop
    `state` says what `verify` says. An unterminated last line that is not a record may be another
    instance's append in progress: it is not yielded, and `unfinished` gives its length in bytes.
    A whole record missing only its final newline (an editor's doing) is a record. With `head` (a
    hash or a prefix of at least HEAD_PREFIX_MIN characters), an intact chain must contain exactly
    one record whose hash starts with it.
    """

    def __init__(self, path: Path, head: str | None = None) -> None:
        self.path = path
        self.head = head.lower() if head else None
        self.exists = True
        self.unfinished = 0
        self.head_matches = 0
        self._state: ChainState | None = None
        self._prev, self._expected = GENESIS, 1
        self._broken: tuple[int, str] | None = None  # (line, problem)
        self._gap: tuple[int, int, int] | None = None  # (line, seq found, seq expected): removed, or reordered?

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        with _os_errors(self.path):
            try:
                fh = open(self.path, "rb")  # noqa: SIM115 - closed below; a generator keeps it open while consumed
            except FileNotFoundError:
                self.exists = False
                self._finish()
                return
            with fh:
                for lineno, line in enumerate(_read_lines(fh), start=1):
                    record = _parse(line)
                    if not line.endswith(b"\n") and record is None:
                        self.unfinished = len(line)
                        break
                    self._check(lineno, line, record)
                    yield lineno, record
        self._finish()

    @property
    def state(self) -> ChainState:
        if self._state is None:
            raise RuntimeError("the scan has not been read to its end")
        return self._state

    def _check(self, lineno: int, line: bytes, record: dict[str, Any] | None) -> None:
        if self._broken is not None:
            if self._gap is not None and record is not None and record["seq"] == self._gap[2]:
                found_at, found, expected = self._gap
                self._broken = (
                    found_at,
                    f"records out of order: line {found_at} holds record {found}, expected {expected}",
                )
                self._gap = None
            return
        if record is None:
            self._broken = (lineno, f"line {lineno} is not a valid record")
            return
        seq = record["seq"]
        if not _hash_ok(line, record):
            self._broken = (lineno, f"record {seq} (line {lineno}) was changed")
        elif seq != self._expected:
            if seq > self._expected:  # records 1..expected-1 came before: removed unless `expected` comes later
                self._gap = (lineno, seq, self._expected)
                gone = (
                    f"record {self._expected}" if seq == self._expected + 1 else f"records {self._expected}–{seq - 1}"
                )
                self._broken = (lineno, f"{gone} removed (line {lineno} holds record {seq})")
            else:
                self._broken = (
                    lineno,
                    f"records out of order: line {lineno} holds record {seq}, expected {self._expected}",
                )
        elif record.get("prev") != self._prev:
            problem = f"record {seq} (line {lineno}) does not link to the record before it: one of them was replaced"
            self._broken = (lineno, problem)
        else:
            self._prev, self._expected = record["hash"], self._expected + 1
            if self.head is not None and record["hash"].startswith(self.head):
                self.head_matches += 1

    def _finish(self) -> None:
        count = self._expected - 1
        if self._broken is not None:
            at, problem = self._broken
            self._state = _broken(count, self._prev, at, problem)
        elif self.head is not None and not GENESIS.startswith(self.head) and self.head_matches != 1:
            if self.head_matches > 1:
                raise AuditError(f"--head {self.head} matches {self.head_matches} records: give more characters")
            problem = f"head {self.head[:12]}… is not in the log: records after record {count} were removed or replaced"
            self._state = _broken(count, self._prev, count + 1, problem)
        else:
            self._state = ChainState(ok=True, count=count, head=self._prev, broken_at=None, problem="")


class PendingTracker:
    """Finds the intents with no result while records stream past (see `AuditLog.pending`)."""

    def __init__(self) -> None:
        self._rechecked: set[Any] = set()
        self._open: dict[tuple[Any, Any, str], list[dict[str, Any]]] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        if record.get("action") == "recheck" and isinstance(record.get("params"), dict):
            self._rechecked.add(record["params"].get("intent_seq"))
        phase = record.get("phase")
        if phase not in ("intent", "result"):  # a started record closes nothing
            return
        key = (_hashable(record.get("interaction")), _hashable(record.get("action")), canonical(record.get("target")))
        if phase == "intent":
            self._open.setdefault(key, []).append(dict(record))
        elif group := self._open.get(key):
            group.pop()
            if not group:
                del self._open[key]

    def pending(self) -> list[dict[str, Any]]:
        left = [record for group in self._open.values() for record in group if record["seq"] not in self._rechecked]
        return sorted(left, key=lambda record: record["seq"])


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else canonical(value)


def _ensure_private_dir(directory: Path) -> None:
    """Create the audit directory 0700 (POSIX; on Windows mode bits are ignored and no ACL is set)."""
    if not directory.is_dir():
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700, exist_ok=True)


def _open_private(path: Path, flags: int) -> int:
    """os.open creating the file 0600, and narrowing an older, wider file of ours to 0600 (POSIX)."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    if _POSIX:
        try:
            mode = os.fstat(fd).st_mode
            if mode & 0o077:
                os.fchmod(fd, mode & 0o700)
        except OSError:  # not ours to change (another user's file): leave it
            pass
    return fd


if sys.platform == "win32":  # what mypy reads as "Windows only"; the same test as os.name == "nt"
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
    _ensure_private_dir(lock_path.parent)
    fd = _open_private(lock_path, os.O_RDWR)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise AuditError(f"the audit log is locked by another process ({lock_path})")
            time.sleep(0.01)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


@contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Turn a file-system failure into one line naming the log, never a traceback."""
    try:
        yield
    except OSError as err:
        raise AuditError(f"audit log {path}: {err.strerror or err}") from None


class AuditLog:
    """The append-only, hash-chained audit file. Cheap to create (it reads nothing); safe from several processes."""

    def __init__(self, path: Path | None = None, *, operator: str | None = None) -> None:
        self.path = path or audit_path()
        self.operator = operator or _local_user()
        self._lock_path = self.path.with_name(self.path.name + ".lock")

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
        outcome: Outcome | str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one record and fsync it; returns the record as written (with seq, time, prev, hash).

        A torn last line left by a crash is set aside first (with a `recovered` record).
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        if phase == "result" and outcome not in OUTCOMES:
            raise ValueError(f"a result needs an outcome among {', '.join(OUTCOMES)}, not {outcome!r}")
        if phase in ("intent", "started") and outcome is not None:
            raise ValueError(f"a record of phase {phase} has no outcome")
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
            "outcome": None if outcome is None else Outcome(outcome).value,  # plain text in the JSON
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
        outcome: Outcome | str,
        after: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record that closes `intent` (as returned by `intent()`): same host, target, action, interaction."""
        return self._following(intent, "result", intent["params"], after=after, outcome=outcome, error=error)

    def started(self, intent: Mapping[str, Any], *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The record that says `intent`'s change is under way on its own (a detached change: the conversion).

        It closes nothing: the intent stays open until its result, or a re-check, says how the change ended.
        """
        return self._following(intent, "started", {**intent["params"], **(params or {})})

    def _following(
        self,
        intent: Mapping[str, Any],
        phase: str,
        params: Mapping[str, Any],
        *,
        after: Mapping[str, Any] | None = None,
        outcome: Outcome | str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A record that follows `intent`: its host, user, target, action, interaction and before-state."""
        return self.append(
            host=intent["host"],
            remote_user=intent["remote_user"],
            target=_target_of(intent),
            action=intent["action"],
            phase=phase,
            interaction=intent["interaction"],
            params=params,
            before=intent["before"],
            after=after,
            outcome=outcome,
            error=error,
        )

    def scan(self, head: str | None = None) -> Scan:
        """A streaming pass over every line, oldest first, checking the chain on the way (see `Scan`)."""
        return Scan(self.path, head)

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first. Lines that are not records are skipped here; `verify` reports them."""
        return [record for _, record in self.scan() if record is not None]

    def verify(self, head: str | None = None) -> ChainState:
        """Walk the chain from the first line and report the first record that was changed, removed or reordered.

        Removing records from the end cannot be seen from the file alone; pass the `head` hash (or a
        prefix of at least HEAD_PREFIX_MIN characters) from an earlier `verify` or export and it must
        still be in the chain. Reads line by line; never writes.
        """
        scan = self.scan(head)
        for _ in scan:
            pass
        return scan.state

    def pending(self) -> list[dict[str, Any]]:
        """Intents with no result (the tool died or the link dropped mid-change), oldest first.

        A result closes the latest open intent with the same interaction, action and target; a
        `recheck` record closes the intent whose seq it names. Streams the file.
        """
        tracker = PendingTracker()
        for _, record in self.scan():
            if record is not None:
                tracker.add(record)
        return tracker.pending()

    def newest_first(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(byte offset, record or None) from the newest line back, reading only as far as consumed.

        An unterminated last line that is not a record (an append in progress) is left out.
        """
        with _os_errors(self.path):
            try:
                fh = open(self.path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                return
            with fh:
                size = fh.seek(0, os.SEEK_END)
                for index, (offset, line) in enumerate(_lines_backwards(fh, size, _PAGE_CHUNK)):
                    record = _parse(line)
                    if index == 0 and record is None and not line.endswith(b"\n"):
                        continue
                    yield offset, record

    def record_recheck(
        self, intent: Mapping[str, Any], *, after: Mapping[str, Any] | None, outcome: Outcome | str
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

    def _recover_locked(self) -> dict[str, Any] | None:
        """Under the lock: deal with a torn last line; return the record the next one links to.

        A last line that is a whole record missing only its newline gets the newline. Anything else
        unterminated, or a last line that is not a record, is set aside and a `recovered` record says so.
        """
        if not self.path.exists():
            return None
        with open(_open_private(self.path, os.O_RDWR), "r+b") as fh:
            last, torn_at = _scan_tail(fh)
            end = fh.seek(0, os.SEEK_END)
            if torn_at is None:
                fh.seek(end - 1 if end else 0)
                if end and fh.read(1) != b"\n":
                    fh.write(b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
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
                fd = _open_private(aside, os.O_WRONLY | os.O_EXCL)
            except FileExistsError:
                continue
            with open(fd, "wb") as out:
                out.write(torn)
                out.flush()
                os.fsync(out.fileno())
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
        line = (canonical(record) + "\n").encode("utf-8")
        if len(line) > MAX_LINE or _too_deep(record):
            raise AuditError(f"audit log {self.path}: a record of {len(line)} bytes is too large to write")
        _ensure_private_dir(self.path.parent)
        with open(_open_private(self.path, os.O_WRONLY | os.O_APPEND), "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return record


def _target_of(record: Mapping[str, Any]) -> Target:
    target = record["target"]
    return Target(kind=target["kind"], name=target["name"], id=target.get("id", ""))


def _out_of_order(lineno: int, seq: int, expected: int) -> str:
    return f"records out of order: line {lineno} holds record {seq}, expected {expected}"


def _broken(count: int, head: str, at: int, problem: str) -> ChainState:
    """A broken chain: `count` records and `head` are the intact part before record `at`."""
    return ChainState(ok=False, count=count, head=head, broken_at=at, problem=problem)
