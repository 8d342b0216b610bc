"""Profile the slowest path found: a 2000-VM refresh in the TUI, and what it does to the event loop.

Target 5 of the performance issue. The refresh is run as tui_big.py runs it (the real app, the
real PsrpTransport, the host in its own process). First as the code is ("as-is"), then with the
fixes this profile suggests applied in this process only ("proposed"; production code is not
touched), so the gain of each proposal can be read before anyone applies it:

- the table rebuilds every cell's Content for every VM on every refresh, though nearly all VMs are
  unchanged: `row_cells` is memoised on (VmDiagnosis, marked) — VmDiagnosis is a frozen,
  comparable dataclass, so an unchanged VM costs a hash and an equality test;
- `diagnose()` of 2000 VMs runs on the event loop between the last read and the table update:
  it runs in a worker thread (`asyncio.to_thread`), so keys are answered meanwhile;
- Python's full (generation 2) garbage collections scan every object Textual and the first load
  created, tens of milliseconds each, in the middle of refreshes: `gc.freeze()` once the first
  dashboard is shown moves those objects out of the collector's way.

For each variant: the refresh time (median), the longest time the event loop was blocked during a
refresh (a 1 ms heartbeat task measures it: that bounds how late a key press is answered), the
full collections' pauses, and a cProfile listing of one refresh (event-loop thread only: the wire
work runs in the transport's worker thread and is not what blocks the screen).

Named profiling.py, not profile.py: the scripts run with bench/ first on sys.path, where a
profile.py would shadow the standard library's `profile`, which cProfile imports.

Run alone: `python bench/profiling.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import gc
import io
import pstats
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchkit import Row, emit, median, parse_args, runs_for
from tui_big import enable_some_kvp, served_host

import avma_tui.ui.widgets.vm_table as vm_table_module
from avma_tui.config import ConnectionSettings
from avma_tui.diagnosis import diagnose
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.model import Diagnosis
from avma_tui.session import Session
from avma_tui.ui.app import AvmaApp

BENCH = "profiling"
#: Functions listed from the profile, by own time and by cumulative time.
TOP = 20


@dataclass
class GcPauses:
    """Pauses of full (generation 2) collections, recorded through gc.callbacks while attached."""

    pauses: list[float] = field(default_factory=list)
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    @contextmanager
    def attached(self) -> Iterator[GcPauses]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


async def _heartbeat(stop: asyncio.Event, gaps: list[float]) -> None:
    """Wake every millisecond and note how long each wake-up really took: a long gap is a blocked loop."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


@contextmanager
def proposed_fixes() -> Iterator[None]:
    """The three proposals, applied to this process only and undone afterwards."""
    original_cells = vm_table_module.row_cells
    original_refresh = Session.refresh
    memo = functools.lru_cache(maxsize=None)(original_cells)

    async def refresh_diagnosing_in_a_thread(self: Session) -> Diagnosis:
        self.diagnosis = await asyncio.to_thread(diagnose, await self.read())
        return self.diagnosis

    vm_table_module.row_cells = memo  # type: ignore[assignment]
    Session.refresh = refresh_diagnosing_in_a_thread  # type: ignore[method-assign]
    try:
        yield
    finally:
        vm_table_module.row_cells = original_cells
        Session.refresh = original_refresh  # type: ignore[method-assign]
        memo.cache_clear()
        gc.unfreeze()


async def measure_variant(
    name: str, settings: ConnectionSettings, password: str, guest: Credential, runs: int, freeze: bool
) -> tuple[list[Row], str]:
    """Refresh `runs` times (a few VMs changed before each) and profile one more; rows and the listing."""
    session = Session(HyperVHost(PsrpTransport(settings, password)), guest_credential=guest)
    app = AvmaApp(session, refresh_interval=0)
    refreshes: list[float] = []
    blocked: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if freeze:
            gc.freeze()
        table = app.screen.query_one(vm_table_module.VmTable)
        with GcPauses().attached() as collections:
            for _ in range(runs):
                await enable_some_kvp(session, table)
                stop, gaps = asyncio.Event(), []
                beat = asyncio.create_task(_heartbeat(stop, gaps))
                start = time.perf_counter()
                await app.refresh_now()
                refreshes.append(time.perf_counter() - start)
                stop.set()
                await beat
                blocked.append(max(gaps, default=0.0))
        await enable_some_kvp(session, table)
        profiler = cProfile.Profile()
        profiler.enable()
        await app.refresh_now()
        profiler.disable()
        await app.action_quit()
    listing = _listing(profiler, name)
    full = collections.pauses
    rows = [
        Row(BENCH, f"refresh, {name}", median(refreshes) * 1000, "ms", runs),
        Row(BENCH, f"longest event-loop block in a refresh, {name}", median(blocked) * 1000, "ms", runs),
        Row(
            BENCH,
            f"full GC pauses over {runs} refreshes, {name}",
            sum(full) * 1000,
            "ms",
            runs,
            note=f"{len(full)} collections, longest {max(full, default=0.0) * 1000:.0f} ms",
        ),
    ]
    return rows, listing


def _listing(profiler: cProfile.Profile, name: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"\n--- cProfile of one refresh ({name}), event-loop thread, by own time ---\n")
    stats.sort_stats("tottime").print_stats(TOP)
    out.write(f"--- the same, by cumulative time (our code: avma_tui) ({name}) ---\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats("avma_tui", TOP)
    return out.getvalue()


async def measure(smoke: bool, runs: int) -> list[Row]:
    vm_count = 60 if smoke else 2000
    rows: list[Row] = []
    with served_host(vm_count) as (settings, password, guest):
        before, listing = await measure_variant("as-is", settings, password, guest, runs, freeze=False)
        print(listing, flush=True)
        with proposed_fixes():
            after, listing = await measure_variant("proposed", settings, password, guest, runs, freeze=True)
        print(listing, flush=True)
    for row in before + after:
        rows.append(Row(row.bench, f"{row.measure}, {vm_count} VMs", row.value, row.unit, row.runs, note=row.note))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 7))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
