"""The TUI's whole-log pass, run in a child process: the chain's state and the interrupted changes.

Why a process: the pass parses every line (67 MiB and ~1.5 s of CPU at 100k records). In a thread of
the TUI it held the GIL, and because the thread's file reads kept handing the GIL back and forth, the
event loop waited up to 1.5 s for it (bench/RESULTS.md). A child process shares no GIL. It runs the
same `Scan` and `PendingTracker` as `audit verify` and `AuditLog.pending` (services/audit.py holds the
chain's rules, once), and sends back only what the screens need: the chain's state, the seqs of the
open intents, and the open intents on one host (for the re-check offer).

The protocol is ours alone (the child is this module, started with the same interpreter): JSON
lines, ASCII. The first line is the summary (or `{"error": …}` when the log cannot be read); each
further line is one open intent on the asked host, as its canonical JSON. The parent trusts none of
it: the summary's members are type-checked and every intent line is parsed by the log's own reader
(`audit._parse`: the same length and depth limits). Sizes are bounded on both sides (MAX_SEQS,
MAX_INTENTS, MAX_INTENT_BYTES, MAX_OUTPUT), so a hostile log cannot make the parent parse much.

Failure is one line, never a hang: a child that cannot start, exits without an answer, answers
garbage or runs past its time limit (TIME_BASE + TIME_PER_MIB per MiB of log) raises AuditError and is
killed; so is a child whose caller is cancelled (the screen closed, the app quit). A child whose parent
died sees its stdin close and exits. The child gets the parent's environment minus anything that
looks like a secret (it needs none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avma_tui.services.audit import AuditError, ChainState, PendingTracker, Scan, _parse, canonical

#: At most this many open-intent seqs are sent (the viewer marks those rows "interrupted"); the count is exact.
MAX_SEQS = 100_000
#: At most this many open intents on the asked host, and this many bytes of them, are sent (oldest first).
MAX_INTENTS = 100
MAX_INTENT_BYTES = 1024 * 1024
#: The parent reads at most this much of the child's stdout, and keeps the last this-much of its stderr.
MAX_OUTPUT = 4 * 1024 * 1024
_STDERR_KEPT = 4096
#: The child's time limit: TIME_BASE seconds plus TIME_PER_MIB per MiB of log (100k records, 67 MiB: 127 s;
#: the pass takes ~1.5 s on an idle core and ~10 s at a load of 18 on two cores).
TIME_BASE = 60.0
TIME_PER_MIB = 1.0
_SECRET_ENV = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRODUCT_KEY", re.IGNORECASE)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds avma_tui/
_CHILD_CODE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from avma_tui.services.audit_pass import main; raise SystemExit(main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class LogSummary:
    """What one pass over the whole log found."""

    exists: bool
    state: ChainState
    pending: frozenset[int]  # seqs of intents with no result, any host (at most MAX_SEQS)
    pending_total: int
    intents: tuple[dict[str, Any], ...] = ()  # the open intents on the asked host, oldest first
    intents_total: int = 0
    unfinished: int = 0  # bytes of an unterminated last line that is not a record (an append in progress)


def summarize(path: Path, host: str | None = None) -> LogSummary:
    """The pass itself, in this process (blocking; what the child runs). `host` picks the intents returned."""
    scan, tracker = Scan(path), PendingTracker()
    for _, record in scan:
        if record is not None:
            tracker.add(record)
    pending = tracker.pending()
    mine = tuple(record for record in pending if host is not None and record.get("host") == host)
    return LogSummary(
        exists=scan.exists,
        state=scan.state,
        pending=frozenset(record["seq"] for record in pending),
        pending_total=len(pending),
        intents=mine,
        intents_total=len(mine),
        unfinished=scan.unfinished,
    )


def encode(summary: LogSummary) -> bytes:
    """The child's answer: the summary line, then the host's open intents within the limits."""
    state = summary.state
    intents, size = [], 0
    for record in summary.intents[:MAX_INTENTS]:
        line = canonical(record).encode("utf-8")
        if size + len(line) > MAX_INTENT_BYTES:
            break
        intents.append(line)
        size += len(line)
    header = {
        "format": 1,
        "exists": summary.exists,
        "ok": state.ok,
        "count": state.count,
        "head": state.head,
        "broken_at": state.broken_at,
        "problem": state.problem,
        "pending": sorted(summary.pending)[-MAX_SEQS:],  # the newest: the viewer shows those first
        "pending_total": summary.pending_total,
        "intents_total": summary.intents_total,
        "unfinished": summary.unfinished,
    }
    return b"\n".join([json.dumps(header).encode("ascii"), *intents]) + b"\n"


def decode(output: bytes) -> LogSummary:
    """The child's answer as a LogSummary; AuditError (one line) when it is not a well-formed one."""
    header, rest = _header(output)
    if not (isinstance(header, dict) and header.get("format") == 1 and _well_formed(header)):
        raise AuditError("the audit log check gave no usable answer")
    intents = []
    for line in rest.splitlines():
        record = _parse(line)
        if record is None:
            raise AuditError("the audit log check gave no usable answer")
        intents.append(record)
    state = ChainState(
        ok=header["ok"],
        count=header["count"],
        head=header["head"],
        broken_at=header["broken_at"],
        problem=header["problem"],
    )
    return LogSummary(
        exists=header["exists"],
        state=state,
        pending=frozenset(header["pending"]),
        pending_total=header["pending_total"],
        intents=tuple(intents),
        intents_total=header["intents_total"],
        unfinished=header["unfinished"],
    )


def _header(output: bytes) -> tuple[Any, bytes]:
    """The first line as JSON (None when it is not), and the rest."""
    first, _, rest = output.partition(b"\n")
    try:
        return json.loads(first), rest
    except (ValueError, RecursionError):
        return None, rest


def _child_error(output: bytes) -> str | None:
    """The child's own one-line reason when it could not read the log (`{"error": …}`)."""
    header, _ = _header(output)
    if isinstance(header, dict) and isinstance(header.get("error"), str):
        return (header["error"].splitlines() or ["the audit log cannot be read"])[0]
    return None


def _well_formed(header: dict[str, Any]) -> bool:
    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    pending = header.get("pending")
    return (
        isinstance(header.get("exists"), bool)
        and isinstance(header.get("ok"), bool)
        and is_int(header.get("count"))
        and isinstance(header.get("head"), str)
        and (header.get("broken_at") is None or is_int(header.get("broken_at")))
        and isinstance(header.get("problem"), str)
        and isinstance(pending, list)
        and len(pending) <= MAX_SEQS
        and all(is_int(seq) for seq in pending)
        and all(is_int(header.get(name)) for name in ("pending_total", "intents_total", "unfinished"))
    )


def child_command() -> list[str]:
    """How the child is started: this interpreter, importing this package from where the parent found it."""
    return [sys.executable, "-c", _CHILD_CODE, str(_PACKAGE_ROOT)]


async def summarize_in_child(
    path: Path, host: str | None = None, *, timeout: float | None = None, command: Sequence[str] | None = None
) -> LogSummary:
    """`summarize(path, host)` in a child process, awaited without blocking the event loop.

    AuditError with one line when the child fails in any way; the child is killed when this is
    cancelled or times out. `command` replaces how the child is started (tests start broken ones).
    """
    try:
        size = path.stat().st_size  # noqa: ASYNC240 - one stat, microseconds
    except FileNotFoundError:  # no log yet (a first start): no process needed to find nothing
        return summarize(path, host)
    except OSError:
        size = 0  # the child says what is wrong with it, in the log's own words
    argv = [*(command if command is not None else child_command()), str(path), *([host] if host is not None else [])]
    limit = TIME_BASE + TIME_PER_MIB * size / 2**20 if timeout is None else timeout
    env = {name: value for name, value in os.environ.items() if not _SECRET_ENV.search(name)}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,  # kept open: the child exits when it closes (see main)
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as err:
        raise AuditError(f"cannot start the audit log check ({argv[0]}): {err.strerror or err}") from None
    try:
        try:
            output, errors = await asyncio.wait_for(_collect(proc), limit)
        except asyncio.TimeoutError:
            raise AuditError(f"the audit log check did not finish within {limit:.0f} s: {path}") from None
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
        if proc.stdin is not None:
            proc.stdin.close()
    if (reason := _child_error(output)) is not None:
        raise AuditError(reason)
    if code != 0:
        last = next((line for line in reversed(errors.decode("utf-8", "replace").splitlines()) if line.strip()), "")
        raise AuditError(f"the audit log check stopped (exit {code})" + (f": {last.strip()[:200]}" if last else ""))
    return decode(output)


async def _collect(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """The child's stdout (at most MAX_OUTPUT bytes, then it is stopped) and the tail of its stderr."""
    assert proc.stdout is not None and proc.stderr is not None

    async def out() -> bytes:
        assert proc.stdout is not None
        data = b""
        while chunk := await proc.stdout.read(65536):
            data += chunk
            if len(data) > MAX_OUTPUT:
                proc.kill()
                raise AuditError("the audit log check answered too much")
        return data

    async def err() -> bytes:
        assert proc.stderr is not None
        tail = b""
        while chunk := await proc.stderr.read(65536):
            tail = (tail + chunk)[-_STDERR_KEPT:]
        return tail

    output, errors = await asyncio.gather(out(), err())
    return output, errors


def _exit_with_parent() -> None:
    """The parent holds our stdin open; when it closes (the parent died or gave up) there is no one to answer."""
    with contextlib.suppress(OSError):
        while os.read(0, 4096):  # the raw fd: a daemon thread inside sys.stdin's buffer aborts the exit
            pass
    os._exit(3)


def main(argv: Sequence[str]) -> int:
    """The child: `… PATH [HOST]`; the answer on stdout (see the module docstring). Never writes the log."""
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    path, host = Path(argv[0]), (argv[1] if len(argv) > 1 else None)
    try:
        answer = encode(summarize(path, host))
        code = 0
    except AuditError as err:
        answer, code = json.dumps({"format": 1, "error": str(err)}).encode("ascii") + b"\n", 2
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()
    return code
