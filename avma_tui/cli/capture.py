"""`avma-tui capture HOST … --output FILE`: record a host's answers (read-only), redacted, to replay later."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from avma_tui.cli.terminal import fit
from avma_tui.errors import CliError
from avma_tui.services import capture
from avma_tui.services.targets import guest_credential, open_target


async def _take(args: argparse.Namespace) -> dict:
    host = open_target(args)
    try:
        return await capture.take(host.transport, guest_credential=guest_credential(args))
    finally:
        await host.close()


def run(args: argparse.Namespace) -> int:
    taken = asyncio.run(_take(args))
    if args.anonymize:
        taken = capture.anonymize(taken)
    inventory = next(capture.documents(taken, "inventory"), None)
    if inventory is None:
        errors = [phase["error"] for phase in taken["phases"] if phase["error"]]
        reason = errors[0].get("message", "") if errors else "no answer"
        # A capture of a failed inventory is still worth having: written, and said so.
        print(f"avma-tui: the inventory failed: {reason}", file=sys.stderr)
    try:
        size = capture.write(taken, Path(args.output))
    except OSError as err:
        raise CliError(f"cannot write {args.output}: {err.strerror or err}") from None
    # No-break spaces keep "inventory 0.05 s" together when the line wraps.
    phases = ", ".join(f"{phase['op']}\u00a0{phase['seconds']:.2f}\u00a0s" for phase in taken["phases"])
    anonymized = " — names anonymized" if args.anonymize else ""
    print(fit(f"wrote {args.output} ({size / 1024:.1f} KiB){anonymized}; took {phases}", 80), file=sys.stderr)
    return 0 if inventory is not None else 1
