"""Start-up time: `avma-tui --demo` to its first complete dashboard, and `avma-tui report --demo` to its exit.

Target 3 of the performance issue: under 1.0 s and 0.8 s (medians). Each run is a fresh process,
timed from spawn, so the interpreter start and every import count. The dashboard is timed with
startup_probe.py (the real entry point, headless, quitting once the first diagnosis is painted);
the report with the installed `avma-tui` script, to its exit. Then `python -X importtime` names
the imports that cost each the most, and counts any Textual module the report loads (it must load
none).

Run alone: `python bench/startup.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchkit import ROOT, Row, emit, median, parse_args, runs_for

BENCH = "startup"
PROBE = Path(__file__).with_name("startup_probe.py")
DASHBOARD_TARGET_S = 1.0
REPORT_TARGET_S = 0.8
#: How long one start may take before the benchmark calls it hung.
HUNG_S = 60.0
#: How many of the costliest imports to list.
TOP_IMPORTS = 8


def _environment(home: str) -> dict[str, str]:
    """The child's environment: its own AVMA_TUI_HOME, so a run never touches the user's files."""
    return {**os.environ, "AVMA_TUI_HOME": home}


def report_command() -> list[str]:
    """The installed console script next to this interpreter, else the module (same entry point)."""
    script = Path(sys.executable).with_name("avma-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "avma_tui"]


def time_dashboard(home: str) -> float:
    """Seconds from spawning the probe to the moment it saw its first complete dashboard."""
    start = time.time()  # the probe reports the wall clock: the one clock both processes share
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        cwd=ROOT,
        env=_environment(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HUNG_S,
        check=False,
    )
    word, _, when = done.stdout.decode(errors="replace").strip().partition(" ")
    if word != "READY":
        raise RuntimeError(f"the dashboard probe ended without READY: {done.stderr.decode(errors='replace')[-500:]}")
    return float(when) - start


def time_report(home: str) -> float:
    """Seconds from spawning `avma-tui report --demo` to its exit (status 0 or 1: findings are fine)."""
    start = time.perf_counter()
    done = subprocess.run(
        [*report_command(), "report", "--demo"],
        cwd=ROOT,
        env=_environment(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HUNG_S,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"report --demo failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def import_times(home: str, command: Sequence[str]) -> list[tuple[str, int]]:
    """(module, cumulative µs) for every module `command` imports, from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        cwd=ROOT,
        env=_environment(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HUNG_S,
        check=False,
    )
    found = []
    for line in done.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        found.append((name.rstrip(), int(cumulative)))
    return found


def costliest(imports: list[tuple[str, int]], count: int) -> list[tuple[str, int]]:
    """The costliest imports made by the program or by its first level of modules, costliest first.

    Deeper imports are inside these figures already; the top two levels name both our modules and
    the libraries they pull in (asyncio, ssl, …), which is where a lazy import could save time.
    """
    shallow = [(name.strip(), micros) for name, micros in imports if _depth(name) <= 1]
    return sorted(shallow, key=lambda item: -item[1])[:count]


def _depth(name: str) -> int:
    """Nesting of an importtime entry: its name is indented by two spaces per level, after one space."""
    return (len(name) - len(name.lstrip()) - 1) // 2


def measure(smoke: bool, runs: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="avma-bench-") as home:
        time_dashboard(home)  # warm the OS file cache and the bytecode caches once, untimed
        time_report(home)
        dashboard = median([time_dashboard(home) for _ in range(runs)])
        report = median([time_report(home) for _ in range(runs)])
        python = median([_time_bare_python() for _ in range(runs)])
        report_imports = import_times(home, ["-m", "avma_tui", "report", "--demo"])
        dashboard_imports = import_times(home, [str(PROBE)])
    textual = [name for name, _ in report_imports if name.strip().split(".")[0] == "textual"]
    rows = [
        Row(BENCH, "bare `python -c pass` (context)", python * 1000, "ms", runs),
        Row(
            BENCH,
            "`avma-tui --demo` to first complete dashboard",
            dashboard * 1000,
            "ms",
            runs,
            target=f"< {DASHBOARD_TARGET_S * 1000:.0f} ms",
            ok=dashboard < DASHBOARD_TARGET_S,
        ),
        Row(
            BENCH,
            "`avma-tui report --demo` to exit",
            report * 1000,
            "ms",
            runs,
            target=f"< {REPORT_TARGET_S * 1000:.0f} ms",
            ok=report < REPORT_TARGET_S,
        ),
        Row(BENCH, "Textual modules imported by report", len(textual), "modules", target="0", ok=not textual),
    ]
    rows += [
        Row(BENCH, f"report imports {name} (cumulative)", micros / 1000, "ms")
        for name, micros in costliest(report_imports, 2 if smoke else TOP_IMPORTS)
    ]
    rows += [
        Row(BENCH, f"dashboard imports {name} (cumulative)", micros / 1000, "ms")
        for name, micros in costliest(dashboard_imports, 2 if smoke else TOP_IMPORTS)
    ]
    return rows


def _time_bare_python() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=HUNG_S)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(measure(args.smoke, runs_for(args, 9)), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
