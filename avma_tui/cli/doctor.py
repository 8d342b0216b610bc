"""`avma-tui doctor HOST [connection options]`: read-only checks, one line each, printed as they finish.

Exit status: 0 every check passed (skips are fine), 1 some check failed, 2 the checks could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from avma_tui.core.text import clean
from avma_tui.services import doctor
from avma_tui.services.targets import guest_credential, open_target, scenario_path, settings_from_args


def _print(check: doctor.Check) -> None:
    print(clean(check.line()), flush=True)  # host and guest text is untrusted: no control characters out


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
