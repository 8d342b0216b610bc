"""Timed-out operations in a row against the loopback WinRM endpoint: how many remote shells stay open.

Issue 10 target: 100 timeouts in a row leave 0 shells open at the endpoint. Each operation hangs on the
host (the endpoint's "hang" fault) past the client's 1 s timeout; the transport cuts it at its deadline
and deletes the shell. The endpoint enforces WinRM's MaxShellsPerUser (30), so a client leaking one shell
per timeout would be refused from the 31st on. Also measured: how long each timed-out call took
(target: the timeout plus the documented margin, CLEANUP_SECONDS + GRACE_SECONDS).

Run alone: `python bench/shell_leaks.py [--smoke] [--json FILE]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from benchkit import Row, emit, median, parse_args

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import CLEANUP_SECONDS, GRACE_SECONDS, PsrpTransport
from avma_tui.hyperv.transport import TimedOut, TransportError
from avma_tui.paths import demo_scenario
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

BENCH = "shell_leaks"
USER = "bench"
PASSWORD = "Bench-Pa55word!"
TIMEOUT_S = 1.0


async def measure(count: int) -> list[Row]:
    with WinRMEndpoint(SimHost(load_scenario(demo_scenario())), username=USER, password=PASSWORD) as endpoint:
        settings = ConnectionSettings(
            host=endpoint.host, port=endpoint.port, https=False, auth="ntlm", username=USER, timeout=TIMEOUT_S
        )
        transport = PsrpTransport(settings, PASSWORD)
        seconds: list[float] = []
        other: list[str] = []
        deleted = 0
        for _ in range(count):
            endpoint.clear_faults()
            endpoint.fail_next("hang")
            started = time.monotonic()
            try:
                await transport.run("inventory")
            except TimedOut as err:
                deleted += "was deleted" in str(err)
            except TransportError as err:  # a quota refusal would land here
                other.append(type(err).__name__)
            seconds.append(time.monotonic() - started)
        await transport.close()
        open_shells = endpoint.open_shells()
    bound = TIMEOUT_S + CLEANUP_SECONDS + GRACE_SECONDS
    errors = f" ({', '.join(sorted(set(other)))})" if other else ""
    note = f"{deleted} said 'deleted', {len(other)} other errors{errors}"
    within = f"< {bound:g} s"
    call = f"{TIMEOUT_S:g} s timeout"
    return [
        Row(BENCH, f"shells open after {count} timeouts", open_shells, "shells", 1, "0", open_shells == 0, note),
        Row(BENCH, f"timed-out call, {call}", median(seconds), "s", count, within, median(seconds) < bound),
        Row(BENCH, f"slowest timed-out call, {call}", max(seconds), "s", count, within, max(seconds) < bound),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(5 if args.smoke else 100)), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
