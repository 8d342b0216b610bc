"""`avma-tui audit verify|show|export`: the audit log for scripts, auditors and a quick look.

`show` prints records oldest first, like `journalctl`, so `| tail` gives the latest. Exports are
UTF-8 and end with the log's head hash and record count (what `verify` printed when the export was
made), whatever the month filter, so a copy can be checked against the live log later: the head must
still be in its chain. All three only read the log, line by line, so a big log streams and a
read-only copy (`--file`) works. Every value from a record is untrusted (VM names and error text come from the
host), so everything goes through the one sanitiser (`avma_tui.core.text`): `show` drops control and bidi
characters, the exports write them as `\\uXXXX` escapes (the JSONL lines still parse to the very records that
were hashed), and CSV cells that a spreadsheet would run as a formula are quoted.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import IO, Any

from avma_tui.cli.terminal import fit, terminal_width
from avma_tui.core.text import clean, csv_cell, json_text
from avma_tui.errors import CliError
from avma_tui.services.audit import RECORD_FIELDS, AuditError, AuditLog, ChainState, canonical, head_prefix

TARGET_COLUMNS = ("target_kind", "target_name", "target_id")
#: The record's fields, with its target spread over three columns.
CSV_COLUMNS = tuple(column for field in RECORD_FIELDS for column in (TARGET_COLUMNS if field == "target" else (field,)))
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def run(args: argparse.Namespace) -> int:
    try:
        file = getattr(args, "file", None)
        log = AuditLog(Path(file) if file else None)
        if args.audit_command == "verify":
            return _verify(log, getattr(args, "head", None))
        if args.audit_command == "show":
            return _show(log, host=args.host, since=_since(args.since))
        return _export(log, fmt=args.format, month=_month(args.month), output=args.output)
    except AuditError as err:
        raise CliError(str(err)) from None


def _verify(log: AuditLog, head: str | None = None) -> int:
    """Stream the chain once (the log is only read); exit 0 intact, 1 broken."""
    if head is not None:
        try:
            head = head_prefix(head)
        except ValueError as err:
            raise CliError(str(err)) from None
    if not log.path.exists():
        _emit(f"no audit log yet ({log.path})\n")
        return 0
    scan, notes = log.scan(head), []
    for _, record in scan:
        if record is not None and record.get("action") == "recovered":
            aside = _clean((record.get("params") or {}).get("set_aside", ""))
            notes.append(f"note: record {record['seq']} says a torn last line was set aside in {aside}")
    state = scan.state
    if not state.ok:
        _emit(fit(f"BROKEN at record {state.broken_at}: {state.problem}", terminal_width()) + "\n")
        return 1
    lines = [f"intact: {state.count} record{'' if state.count == 1 else 's'}, head {state.head}", *notes]
    if scan.unfinished:
        lines.append(
            f"note: the last line is unfinished ({scan.unfinished} bytes, not counted): an append in progress, "
            "or a torn write that the next append sets aside"
        )
    width = terminal_width()  # at a terminal the head hash goes to a line of its own rather than split
    _emit("\n".join(fit(line, width) for line in lines) + "\n")
    return 0


def _show(log: AuditLog, *, host: str | None, since: str | None) -> int:
    """Print matching records as they are read (the first lines appear at once), then warn about the chain."""
    scan, out, seen, shown = log.scan(), _Out(), 0, 0
    width = terminal_width()  # a record is one line into a pipe (grep), wrapped at a terminal
    for _, record in scan:
        if record is None:
            continue
        seen += 1
        if (host is None or _same_host(record.get("host"), host)) and (since is None or _time(record) >= since):
            shown += 1
            if not out.write(fit(_show_line(record), width, "    ") + "\n"):
                return 0  # the reader went away (`| head`)
    out.flush()
    if not seen:
        print(f"no audit records yet ({log.path})", file=sys.stderr)
        return 0
    state = scan.state
    if not state.ok:
        print(f"warning: the audit chain is broken at record {state.broken_at}: {state.problem}", file=sys.stderr)
    if not shown:
        print("no audit records match", file=sys.stderr)
    return 0


def _export(log: AuditLog, *, fmt: str, month: str | None, output: str | None) -> int:
    """Stream the chosen records out, then the head; the output file is made only when there is a record."""
    scan, sink, chosen = log.scan(), _Sink(output), 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    try:
        for _, record in scan:
            if record is None:
                continue
            if writer is not None and sink.fresh:
                writer.writerow(CSV_COLUMNS)
            sink.fresh = False
            if month is not None and not _time(record).startswith(month + "-"):
                continue
            chosen += 1
            if writer is None:
                sink.write(json_text(canonical(record)) + "\n")
            else:
                writer.writerow(_csv_row(record))
            if sink.gone:
                return 0
        if sink.fresh:
            print(f"no audit records yet ({log.path}); nothing exported", file=sys.stderr)
            return 0
        state = scan.state
        sink.write(_trailer(fmt, state))
        sink.close()
    except OSError as err:
        raise CliError(f"cannot write {output}: {err.strerror or err}") from None
    if output is not None:
        print(f"exported {chosen} records to {output}", file=sys.stderr)
    if not state.ok:
        print(f"warning: the audit chain is broken at record {state.broken_at}: {state.problem}", file=sys.stderr)
        return 1
    return 0


def _trailer(fmt: str, state: ChainState) -> str:
    """What ends an export: the head and count `verify` gives now, so a copy can be checked later."""
    if fmt == "csv":
        return f"# head {state.head} records {state.count}\n"
    return canonical({"head": state.head, "records": state.count}) + "\n"


def _csv_row(record: dict[str, Any]) -> list[str]:
    target = record.get("target")
    if not isinstance(target, dict):
        target = {}
    flat = {
        **record,
        "target_kind": target.get("kind"),
        "target_name": target.get("name"),
        "target_id": target.get("id"),
    }
    return [_csv_cell(flat.get(column)) for column in CSV_COLUMNS]


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text and a terminal shows harmlessly (`avma_tui.core.text.csv_cell`).

    Structures become compact JSON; control and bidi characters are escaped as in JSON (so a hostile name
    cannot drive a terminal, split a row or read reversed); a leading = + - @ is quoted, never run as a formula.
    """
    if value is None:
        return ""
    return csv_cell(value if isinstance(value, str) else canonical(value))


def _show_line(record: dict[str, Any]) -> str:
    target = record.get("target")
    if not isinstance(target, dict):
        target = {}
    phase = _clean(record.get("phase"))
    if record.get("outcome"):
        phase += " " + _clean(record.get("outcome"))
    parts = [
        _clean(record.get("time")),
        f"#{record.get('seq')}",
        _clean(record.get("host")),
        f"{_clean(target.get('kind'))} {_clean(target.get('name'))}",
        _clean(record.get("action")),
        phase,
        f"by {_clean(record.get('operator'))} as {_clean(record.get('remote_user')) or '-'}",
    ]
    params = record.get("params")
    if isinstance(params, dict) and params:
        parts.append(" ".join(f"{_clean(name)}={_clean(_plain(value))}" for name, value in params.items()))
    error = record.get("error")
    if isinstance(error, dict):
        parts.append(f"error {_clean(error.get('code'))}: {_clean(error.get('message'))}")
    return "  ".join(parts)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else canonical(value)


def _clean(value: Any) -> str:
    """One line of printable text: a hostile VM name cannot move the cursor, recolour or reorder the terminal."""
    return clean(value)


def _same_host(recorded: Any, wanted: str) -> bool:
    """`hv01` matches `HV01` and `hv01.corp.example`; the log keeps the fqdn when it is known."""
    name, wanted = str(recorded or "").lower(), wanted.lower()
    return name == wanted or name.startswith(wanted + ".")


def _time(record: dict[str, Any]) -> str:
    value = record.get("time")
    return value if isinstance(value, str) else ""


def _since(value: str | None) -> str | None:
    """The ISO date as a string: record times are ISO UTC, so they compare as text."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise CliError(f"--since expects a date as YYYY-MM-DD, not {value!r}") from None


def _month(value: str | None) -> str | None:
    if value is not None and not _MONTH.fullmatch(value):
        raise CliError(f"--month expects YYYY-MM, not {value!r}")
    return value


def _emit(text: str) -> None:
    """Write UTF-8 whatever the console's code page, so names in any script survive a redirect."""
    out = _Out()
    if out.write(text):
        out.flush()


class _Out:
    """UTF-8 to stdout; `write` and `flush` say False once the reader went away (`| head`), quietly."""

    def __init__(self) -> None:
        self.gone = False
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            self._close()

    def write(self, text: str) -> bool:
        if not self.gone:
            try:
                sys.stdout.buffer.write(text.encode("utf-8"))
            except BrokenPipeError:
                self._close()
        return not self.gone

    def flush(self) -> bool:
        if not self.gone:
            try:
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                self._close()
        return not self.gone

    def _close(self) -> None:
        # Python must not complain at exit either: stdout now goes nowhere.
        self.gone = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Sink:
    """Where an export goes: stdout, or a file created (UTF-8) on the first write."""

    def __init__(self, output: str | None) -> None:
        self.output = output
        self.fresh = True  # nothing read yet
        self._out = _Out() if output is None else None
        self._file: IO[str] | None = None

    @property
    def gone(self) -> bool:
        return self._out is not None and self._out.gone

    def write(self, text: str) -> None:
        if self._out is not None:
            self._out.write(text)
            return
        if self._file is None:
            assert self.output is not None
            self._file = open(self.output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._file.write(text)

    def close(self) -> None:
        if self._out is not None:
            self._out.flush()
        elif self._file is not None:
            self._file.close()
