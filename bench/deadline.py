"""`report --timeout 4` against hosts that never trip a per-read timeout: how long the process lives.

Issue 15 item 2: a host answering one chunk every 3 s kept `report --timeout 5` alive 40 s, one byte
every 0.5 s kept it 231 s. Target: the process ends within the timeout plus the documented margin
(CLEANUP_SECONDS + GRACE_SECONDS) plus its own start-up, which is measured alongside (the machine is shared).
The hostile host is tests/transport/slow_server.py (loopback only, bounded loops).

Run alone: `python bench/deadline.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from benchkit import ROOT, Row, emit, median, parse_args, runs_for

sys.path.insert(0, str(ROOT / "tests" / "transport"))
from slow_server import SlowServer

from avma_tui.hyperv.psrp import CLEANUP_SECONDS, GRACE_SECONDS

BENCH = "deadline"
TIMEOUT_S = 4
HOSTS = (("one byte every 0.5 s", 0.5, 1), ("a 40-byte chunk every 3 s", 3.0, 40))


def _seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    return time.monotonic() - started


def measure(runs: int) -> list[Row]:
    home = tempfile.mkdtemp(prefix="avma-bench-deadline-")
    env = {**os.environ, "AVMA_PASSWORD": "Bench-Pa55word!", "AVMA_TUI_HOME": home}
    imports = [sys.executable, "-c", "import avma_tui.services.report, avma_tui.hyperv.psrp"]
    start_up = median([_seconds(imports, env) for _ in range(runs)])
    rows = [Row(BENCH, "start-up: the interpreter importing report and pypsrp", start_up, "s", runs)]
    bound = TIMEOUT_S + CLEANUP_SECONDS + GRACE_SECONDS
    for name, interval, chunk in HOSTS:
        times = []
        for _ in range(runs):
            with SlowServer("dribble", interval=interval, chunk=chunk) as server:
                command = [sys.executable, "-m", "avma_tui", "report", "127.0.0.1", "--port", str(server.port)]
                command += ["--http", "--auth", "ntlm", "--user", "bench", "--timeout", str(TIMEOUT_S)]
                times.append(_seconds(command, env))
        value = median(times)
        target = f"< {bound:g} s + start-up"
        rows.append(Row(BENCH, f"report --timeout {TIMEOUT_S}, host sends {name}", value, "s", runs, target,
                        value < bound + start_up))  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(measure(runs_for(args, 3)), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
