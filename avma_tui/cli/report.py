"""`avma-tui report`: read the host once, print where every VM stands (docs/report.md).

The renderers live in services/report.py; this module is the command: its arguments, the read, and
the output (stdout at the terminal's width, or a file). Exit status: 0 no error finding, 1 at least
one, 2 the report could not be made.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from avma_tui.core.model import Diagnosis, Severity
from avma_tui.errors import CliError
from avma_tui.hyperv.transport import TransportError
from avma_tui.services.audit import AuditError
from avma_tui.services.report import printable, render
from avma_tui.services.targets import guest_credential, open_target, remote_user_of


def terminal_width() -> int | None:
    """The width of the terminal stdout is, or None when stdout is a file or a pipe (nothing is cut)."""
    try:
        if sys.stdout is None or not sys.stdout.isatty():
            return None
    except ValueError:  # a closed stdout
        return None
    return shutil.get_terminal_size().columns


def emit(text: str) -> None:
    """Write UTF-8 whatever the console's code page; a character that cannot be encoded (a lone
    surrogate from a hostile guest) becomes '?' instead of a crash."""
    data = text.encode("utf-8", errors="replace")
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (tests' capture)
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


async def _diagnose(args: argparse.Namespace) -> Diagnosis:
    from avma_tui.services.audit import AuditLog
    from avma_tui.services.session import Session

    session = Session(
        open_target(args), guest_credential=guest_credential(args), remote_user=remote_user_of(args), audit=AuditLog()
    )
    try:
        return await session.refresh()
    finally:
        await session.close()


def run(args: argparse.Namespace) -> int:
    """Make the report; 0 no error finding, 1 some, CliError (exit 2) when it cannot be made."""
    try:
        diagnosis = asyncio.run(_diagnose(args))
    except (TransportError, AuditError) as err:
        raise CliError(printable(str(err))) from None
    if args.output:
        text = render(diagnosis, args.format)
        try:
            Path(args.output).write_bytes(text.encode("utf-8", errors="replace"))
        except OSError as err:
            raise CliError(f"cannot write {args.output}: {err.strerror or err}") from None
    else:
        emit(render(diagnosis, args.format, terminal_width() if args.format == "text" else None))
    return 1 if any(f.severity is Severity.ERROR for f in diagnosis.findings) else 0
