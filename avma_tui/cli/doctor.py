"""`avma-tui doctor HOST [connection options]`: read-only checks, one line each, printed as they finish.

At a terminal a check's words wrap to its width and its fix (with the exact command) gets a line of its own.

Exit status: 0 every check passed (skips are fine), 1 some check failed, 2 the checks could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from avma_tui.cli.terminal import fit, terminal_width
from avma_tui.core.text import clean
from avma_tui.services import doctor
from avma_tui.services.targets import guest_credential, open_target, scenario_path, settings_from_args


def _print(check: doctor.Check) -> None:
    """One line per check into a pipe or a file (for grep and scripts). At a terminal the check's words wrap to
    its width and the fix follows on a line of its own, never wrapped: it carries the exact command to paste."""
    width = terminal_width()
    if width is None:
        print(clean(check.line()), flush=True)  # host and guest text is untrusted: no control characters out
        return
    text = fit(clean(doctor.Check(check.name, check.status, check.detail).line()), width)
    print(text + (f"\n  fix: {clean(check.fix)}" if check.fix else ""), flush=True)


async def _run(args: argparse.Namespace) -> list[doctor.Check]:
    settings = None if scenario_path(args) is not None else settings_from_args(args)
    host = open_target(args)
    try:
        return await doctor.run(host, settings=settings, guest_credential=guest_credential(args), report=_print)
    finally:
        await host.close()


def run(args: argparse.Namespace) -> int:
    checks = asyncio.run(_run(args))
    failed = sum(check.status is doctor.Status.FAIL for check in checks)
    summary = f"{failed} check(s) failed" if failed else "all checks passed"
    print(f"avma-tui doctor: {summary}", file=sys.stderr)
    return doctor.exit_status(checks)
