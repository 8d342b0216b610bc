"""Run every benchmark and print one markdown table of medians, with the machine they ran on.

Usage: `python bench/run.py [--smoke] [--runs N] [--json FILE] [--only NAME ...]`

Each benchmark runs in its own process (its memory, imports and event loop are its own) and hands
its numbers back as JSON. A missed target prints MISS and is not an error: the exit status is
non-zero only when a benchmark crashed, so CI (`--smoke`: tiny sizes, one run) catches benchmarks
that rot without failing on a slow machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchkit import ROOT, Row, format_value, load_rows, machine

BENCH_DIR = Path(__file__).resolve().parent
#: In the order they run; each is bench/<name>.py.
BENCHMARKS = (
    "roundtrips",
    "startup",
    "tui_big",
    "profiling",
    "shell_leaks",
    "audit_log",
    "deadline",
    "refresh",
    "conversion",
)
#: Longest one benchmark may run before it counts as crashed (a full run of roundtrips is the longest).
TIMEOUT_S = {"smoke": 120.0, "full": 900.0}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each: for CI")
    parser.add_argument("--runs", type=int, default=0, help="runs per measurement (default: each benchmark's own)")
    parser.add_argument("--json", metavar="FILE", help="also save machine facts and every number as JSON")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help="run only these benchmarks")
    return parser.parse_args(argv)


def run_one(name: str, args: argparse.Namespace, workdir: Path) -> tuple[list[Row], str]:
    """Run bench/<name>.py; its rows, or ([], why) when it crashed."""
    out = workdir / f"{name}.json"
    command = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--json", str(out)]
    if args.smoke:
        command.append("--smoke")
    if args.runs:
        command += ["--runs", str(args.runs)]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S["smoke" if args.smoke else "full"],
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [], "timed out"
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not out.exists():
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return [], f"crashed: {last}"
    if name == "profiling":
        print(done.stdout, end="", flush=True)  # the profile's own listing is the point of running it
    return load_rows(out), f"ok in {seconds:.1f} s"


def markdown(rows: Sequence[Row], facts: dict[str, str]) -> str:
    lines = ["| " + " | ".join(f"{key}: {value}" for key, value in facts.items()) + " |", ""]
    lines += [
        "| benchmark | measure | median | unit | runs | target | result |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for row in rows:
        measure = row.measure.strip() + (f" ({row.note})" if row.note else "")
        cells = [row.bench, measure, format_value(row.value), row.unit, str(row.runs), row.target, row.verdict()]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    facts = machine()
    rows: list[Row] = []
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="avma-bench-") as workdir:
        for name in args.only or BENCHMARKS:
            found, outcome = run_one(name, args, Path(workdir))
            print(f"== {name}: {outcome}", flush=True)
            if not found:
                crashed.append(name)
            rows += found
    print()
    print(markdown(rows, facts))
    missed = [row for row in rows if row.ok is False]
    print()
    print(f"{len(rows)} numbers, {sum(row.ok is True for row in rows)} targets met, {len(missed)} missed", end="")
    print(f", crashed: {', '.join(crashed)}" if crashed else "")
    if args.json:
        import json

        payload = {"machine": facts, "smoke": args.smoke, "rows": [asdict(row) for row in rows], "crashed": crashed}
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
