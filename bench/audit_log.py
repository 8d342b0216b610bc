"""A big audit log: `audit verify`, `audit show`, `audit export` and the TUI's audit paths at 100k records.

Usage: `python bench/audit_log.py [--smoke] [--runs N] [--json FILE] [--tui-only]`, or
`python bench/audit_log.py --generate FILE [--records N]` to write a log to look at.

The log is generated with the real record code (`canonical`, `record_hash`), as a year of a busy
shop's fixes would leave it: intent/result pairs with params, before/after state and some errors,
~600 bytes a record (100k records ≈ 60 MB). It is written without fsync (generating is not what is
measured). Each CLI command runs as its own process; its peak RSS comes from the kernel (wait4).
The TUI numbers drive the real app (its re-check offer and AuditScreen) in `App.run_test`, with a probe that
wakes every 5 ms and records how late it woke: the longest event-loop block.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import ROOT, Row, emit, median, parse_args, runs_for

sys.path.insert(0, str(ROOT))

from avma_tui.services.audit import GENESIS, canonical, record_hash

BENCH = "audit_log"
ACTIONS = ("enable_kvp", "install_key", "activate", "start_vm", "set_edition")


#: The demo host's name as the session records it: the last intents are left open on it, so the TUI offers a re-check.
DEMO_HOST = "HV01.contoso.local"


def generate(path: Path, count: int, *, open_intents: int = 3) -> None:
    """`count` chained records (intent/result pairs; the last `open_intents` intents, on the demo host, left open)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prev, seq, pair = GENESIS, 0, 0
    with open(path, "wb") as fh:
        while seq < count:
            pair += 1
            vm = pair % 500
            base: dict[str, Any] = {
                "operator": "alice",
                "remote_user": "CORP\\avma-admin",
                "host": DEMO_HOST if pair % 7 == 0 else f"hv{pair % 7:02d}.corp.example",  # one host in 7 is the demo's
                "target": {"kind": "vm", "name": f"SQL{vm:03d}", "id": f"6b2c7a4e-0000-4000-8000-{vm:012d}"},
                "action": ACTIONS[pair % len(ACTIONS)],
                "interaction": f"{pair:032x}",
                "params": {"VmId": f"6b2c7a4e-0000-4000-8000-{vm:012d}", "ProductKey": "XXXXX-XXXXX-XXXXX-XXXXX-DV9BG"},
                "before": {"kvp_enabled": False, "license_status": "Notification", "channel": "Volume:GVLK"},
            }
            phases = ["intent"] if count - seq <= open_intents else ["intent", "result"]
            if len(phases) == 1:
                base["host"] = DEMO_HOST  # offered for a re-check when the TUI connects to the demo host
            for phase in phases:
                if seq >= count:
                    break
                seq += 1
                failed = phase == "result" and pair % 13 == 0
                record = {
                    **base,
                    "phase": phase,
                    "outcome": None if phase == "intent" else ("failed" if failed else "ok"),
                    "after": None if phase == "intent" else {"kvp_enabled": True, "license_status": "Licensed"},
                    "error": {"code": "0xC004F050", "message": "The product key is invalid."} if failed else None,
                    "seq": seq,
                    "prev": prev,
                    "time": f"2026-{1 + seq * 12 // (count + 1):02d}-15T08:{seq // 60 % 60:02d}:{seq % 60:02d}.000Z",
                }
                record["hash"] = prev = record_hash(record)
                fh.write((canonical(record) + "\n").encode("utf-8"))


def run_cli(home: Path, *args: str) -> tuple[float, float, float, float]:
    """(seconds to the first stdout line, seconds in all, peak RSS in MiB, CPU seconds) of `avma-tui audit ARGS`."""
    env = {**os.environ, "AVMA_TUI_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "audit", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - start
    while proc.stdout.read(1 << 20):
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit {' '.join(args)} exited {proc.returncode}")
    rss_mib = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / (1024 * 1024)
    return first, total, rss_mib, usage.ru_utime + usage.ru_stime


def cli_rows(home: Path, runs: int, records: int) -> list[Row]:
    rows = []
    label = f"{records // 1000}k records" if records >= 1000 else f"{records} records"
    for command, args, targets in (
        ("verify", ("verify",), (None, 2.0, 100.0)),
        ("show", ("show",), (2.0, None, None)),
        ("export csv", ("export", "--format", "csv"), (None, None, 100.0)),
    ):
        samples = [run_cli(home, *args) for _ in range(runs)]
        first, total, rss, cpu = (median([sample[i] for sample in samples]) for i in range(4))
        first_target, total_target, rss_target = targets
        if first_target is not None:
            rows.append(Row(BENCH, f"audit {command}, {label}: first line", first * 1000, "ms", runs,
                            f"< {first_target * 1000:.0f} ms", first < first_target))  # fmt: skip
        rows.append(Row(BENCH, f"audit {command}, {label}: whole run", total * 1000, "ms", runs,
                        f"< {total_target * 1000:.0f} ms" if total_target else "",
                        None if total_target is None else total < total_target))  # fmt: skip
        rows.append(Row(BENCH, f"audit {command}, {label}: CPU time (user + system)", cpu * 1000, "ms", runs,
                        "", None, "what the whole run takes on an idle machine"))  # fmt: skip
        rows.append(Row(BENCH, f"audit {command}, {label}: peak RSS", rss, "MiB", runs,
                        f"< {rss_target:.0f} MiB" if rss_target else "",
                        None if rss_target is None else rss < rss_target))  # fmt: skip
    return rows


def main() -> int:
    if "--generate" in sys.argv:
        at = sys.argv.index("--generate")
        count = int(sys.argv[sys.argv.index("--records") + 1]) if "--records" in sys.argv else 100_000
        generate(Path(sys.argv[at + 1]), count)
        return 0
    tui_only = "--tui-only" in sys.argv  # the TUI's numbers alone (the CLI commands take most of a run)
    args = parse_args(__doc__.splitlines()[0], [arg for arg in sys.argv[1:] if arg != "--tui-only"])
    records = 2_000 if args.smoke else 100_000
    runs = runs_for(args, 5)
    with tempfile.TemporaryDirectory(prefix="avma-audit-bench-") as workdir:
        home = Path(workdir)
        log = home / "data" / "audit" / "audit.jsonl"
        generate(log, records)
        size = Row(BENCH, f"log size, {records} records", log.stat().st_size / 2**20, "MiB", 1)
        rows = [size, *([] if tui_only else cli_rows(home, runs, records))]
        from tui_audit import tui_rows  # Textual is imported only here

        rows += asyncio.run(tui_rows(home, runs, records))
        generate(log, 10)  # the same TUI steps with a tiny log: what the app costs without the audit work
        rows += asyncio.run(tui_rows(home, runs, 10, baseline=True))
    emit(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
