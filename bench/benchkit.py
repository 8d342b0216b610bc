"""What every benchmark script shares: medians, result rows, machine facts, and the JSON hand-off to run.py.

Each benchmark runs as its own process (run.py starts it), so its memory and import costs are its
own; it reports its numbers as `Row`s written to the JSON file named by `--json`, and prints them too,
so a script can be run alone while working on one number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

#: The repository root: benchmarks run the working tree's code and data, never an installed copy.
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One measured number. `ok` is None for numbers that have no target (context, baselines)."""

    bench: str
    measure: str
    value: float
    unit: str
    runs: int = 1
    target: str = ""
    ok: bool | None = None
    note: str = ""

    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")

    def line(self) -> str:
        """One plain line for the terminal: `bench: measure = value unit (runs) target verdict`."""
        target = f"  target {self.target}" if self.target else ""
        verdict = f"  {self.verdict()}" if self.ok is not None else ""
        note = f"  [{self.note}]" if self.note else ""
        value = f"{format_value(self.value)} {self.unit} (n={self.runs})"
        return f"{self.bench}: {self.measure} = {value}{target}{verdict}{note}"


def format_value(value: float) -> str:
    """Numbers as a reader wants them: integers plainly, small values with enough digits to compare."""
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every benchmark script takes: --smoke (tiny sizes, one run), --runs, --json FILE."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one run: does it still work?")
    parser.add_argument("--runs", type=int, default=0, help="runs per measurement (default: the script's own)")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON to FILE")
    return parser.parse_args(argv)


def runs_for(args: argparse.Namespace, default: int) -> int:
    """How many runs a measurement gets: 1 in a smoke run, --runs when given, else the script's default."""
    if args.smoke:
        return 1
    return args.runs if args.runs > 0 else default


def emit(rows: Sequence[Row], args: argparse.Namespace) -> None:
    """Print every row and, with --json, save them for run.py."""
    for row in rows:
        print(row.line(), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(row) for row in rows], indent=2), encoding="utf-8")


def load_rows(path: Path) -> list[Row]:
    return [Row(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """The facts a reader needs to compare these numbers with theirs."""
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "textual": _version("textual"),
        "pypsrp": _version("pypsrp"),
        "load": _load(),
    }


def _load() -> str:
    """The 1-minute load average when the run started: numbers from a busy machine are slower."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MiB; the peak so far where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """The most resident memory this process has used so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class CursorDownTimer:
    """Times `down` key presses in a running app: from posting the key to the table's cursor-down action
    having run (the table's own action, wrapped on that instance while in the `with` block)."""

    def __init__(self, app: Any, table: Any) -> None:
        self._app, self._table = app, table
        self._answered, self._answered_at = asyncio.Event(), 0.0
        self._original = table.action_cursor_down

    def __enter__(self) -> CursorDownTimer:
        def cursor_down() -> None:
            self._original()
            self._answered_at = time.perf_counter()
            self._answered.set()

        self._table.action_cursor_down = cursor_down
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._table.action_cursor_down = self._original

    async def press(self, give_up_s: float) -> float:
        """Seconds until one `down` was answered; asyncio.TimeoutError after `give_up_s`."""
        self._answered.clear()
        posted = time.perf_counter()
        self._app.simulate_key("down")
        await asyncio.wait_for(self._answered.wait(), give_up_s)
        return self._answered_at - posted
