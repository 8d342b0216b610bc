"""Profile the slowest path found: a 2000-VM refresh in the TUI, and what it does to the event loop.

Target 5 of the performance issue. The refresh is run as tui_big.py runs it (the real app, the
real PsrpTransport, the host in its own process): first as the code is ("as-is"), then with the
fixes this profile suggests applied in this process only (production code is not touched), so the
gain of each proposal can be read before anyone applies it:

- "proposed": (1) the table rebuilds every cell's Content for every VM on every refresh, compares
  it with the shown cell, then re-sorts all rows and re-measures every column, though nearly all
  VMs are unchanged: `VmTable._apply` skips a VM whose VmDiagnosis (a frozen, comparable
  dataclass) and mark are what it showed last time, and sorts and measures only when something
  changed. (2) Python's full (generation 2) garbage collections scan every object Textual and the
  first load created, tens of milliseconds each, in the middle of refreshes: `gc.freeze()` once
  the first dashboard is shown moves those objects out of the collector's way.
- "proposed + diagnose in a thread": also runs `diagnose()` in a worker thread
  (`asyncio.to_thread`), which takes its ~40 ms (2000 VMs) off the event loop. The catch is the
  GIL: while that thread computes, the loop must win the GIL back after every wait (up to the 5 ms
  switch interval each time), and one key takes several such hops, so on a busy machine a key can
  be answered later, not sooner. Measured here so that choice rests on numbers.

For each variant: the refresh time (median), the longest time the event loop was blocked during a
refresh and the repaint after it (a 1 ms heartbeat task measures it), key presses during
refreshes as tui_big.py presses them, the full collections' pauses, and a cProfile listing of one
refresh and its repaint (event-loop thread only: the wire work runs in the transport's worker
thread and is not what blocks the screen).

Named profiling.py, not profile.py: the scripts run with bench/ first on sys.path, where a
profile.py would shadow the standard library's `profile`, which cProfile imports.

Run alone: `python bench/profiling.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import pstats
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchkit import Row, emit, median, parse_args, runs_for
from tui_big import enable_some_kvp, key_latencies, served_host

from avma_tui.config import ConnectionSettings
from avma_tui.diagnosis import diagnose
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.model import Diagnosis, VmDiagnosis
from avma_tui.session import Session
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.widgets.cells import row_cells
from avma_tui.ui.widgets.vm_table import VmTable, matches

BENCH = "profiling"
#: Functions listed from the profile, by own time and by cumulative time.
TOP = 20
#: Turns through all the variants (each turn: `runs` refreshes per variant).
TURNS = 2


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


def apply_skipping_unchanged(self: VmTable) -> None:
    """VmTable._apply as it is, except that a shown VM whose diagnosis and mark are unchanged is skipped.

    VmDiagnosis is a frozen dataclass, so `==` compares everything shown; the table then builds
    cells, compares them, re-sorts and re-measures columns only when something changed.
    """
    seen: dict[str, tuple[VmDiagnosis, bool]] = self.__dict__.setdefault("_bench_seen", {})
    wanted = {vm_id: d for vm_id, d in self._diagnoses.items() if matches(d, self.filter_text)}
    gone = [row_key for row_key in self.rows if row_key.value not in wanted]
    for row_key in gone:
        self.remove_row(row_key)
    touched = bool(gone)
    for vm_id, diag in wanted.items():
        marked = vm_id in self.marks
        if vm_id in self.rows and seen.get(vm_id) == (diag, marked):
            continue
        seen[vm_id] = (diag, marked)
        touched = True
        cells = row_cells(diag, marked)
        for column, (content, sort_key) in cells.items():
            self._sort_keys.setdefault(column, {})[content.plain] = sort_key
        if vm_id in self.rows:
            self._update_row(vm_id, {column: content for column, (content, _) in cells.items()})
        else:
            self.add_row(*(content for content, _ in cells.values()), key=vm_id)
    if touched:
        self._sort()
        self.fit_columns()


@dataclass(frozen=True)
class Variant:
    """One way of running the refresh: the code as it is, or with some of the proposals applied."""

    name: str
    skip_unchanged: bool = False
    freeze: bool = False
    diagnose_in_thread: bool = False


VARIANTS = (
    Variant("as-is"),
    Variant("proposed", skip_unchanged=True, freeze=True),
    Variant("proposed + diagnose in a thread", skip_unchanged=True, freeze=True, diagnose_in_thread=True),
)


async def _refresh_diagnosing_in_a_thread(self: Session) -> Diagnosis:
    self.diagnosis = await asyncio.to_thread(diagnose, await self.read())
    return self.diagnosis


@contextmanager
def applied(variant: Variant) -> Iterator[None]:
    """The variant's code patches, in this process only, undone afterwards (with any gc.freeze)."""
    original_apply, original_refresh = VmTable._apply, Session.refresh
    if variant.skip_unchanged:
        VmTable._apply = apply_skipping_unchanged  # type: ignore[method-assign]
    if variant.diagnose_in_thread:
        Session.refresh = _refresh_diagnosing_in_a_thread  # type: ignore[method-assign]
    try:
        yield
    finally:
        VmTable._apply = original_apply  # type: ignore[method-assign]
        Session.refresh = original_refresh  # type: ignore[method-assign]
        gc.unfreeze()


@dataclass
class Samples:
    """Everything measured for one variant, over all its rounds."""

    refreshes: list[float] = field(default_factory=list)
    blocked: list[float] = field(default_factory=list)
    keys: list[float] = field(default_factory=list)
    gc_pauses: list[float] = field(default_factory=list)

    def rows(self, name: str, vm_count: int) -> list[Row]:
        label = f"{name}, {vm_count} VMs"
        return [
            Row(BENCH, f"refresh, {label}", median(self.refreshes) * 1000, "ms", len(self.refreshes)),
            Row(
                BENCH,
                f"longest event-loop block in a refresh and its repaint, {label}",
                median(self.blocked) * 1000,
                "ms",
                len(self.blocked),
                note=f"max {max(self.blocked) * 1000:.0f} ms",
            ),
            Row(
                BENCH,
                f"key press during a refresh, {label}",
                median(self.keys) * 1000,
                "ms",
                len(self.keys),
                note=f"max {max(self.keys) * 1000:.0f} ms",
            ),
            Row(
                BENCH,
                f"full GC pauses per refresh, {label}",
                sum(self.gc_pauses) * 1000 / len(self.refreshes),
                "ms",
                len(self.refreshes),
                note=f"{len(self.gc_pauses)} collections, longest {max(self.gc_pauses, default=0.0) * 1000:.0f} ms",
            ),
        ]


async def measure_variant(
    variant: Variant, settings: ConnectionSettings, password: str, guest: Credential, runs: int, into: Samples
) -> str:
    """Refresh `runs` times (a few VMs changed before each), press keys during refreshes, profile one more.

    Adds what it measured to `into`; returns the profile listing.
    """
    session = Session(HyperVHost(PsrpTransport(settings, password)), guest_credential=guest)
    app = AvmaApp(session, refresh_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if variant.freeze:
            gc.freeze()
        table = app.screen.query_one(VmTable)
        refreshes: list[float] = []
        with GcPauses().attached() as collections:
            for _ in range(runs):
                await enable_some_kvp(session, table)
                stop, gaps = asyncio.Event(), []
                beat = asyncio.create_task(_heartbeat(stop, gaps))
                start = time.perf_counter()
                await app.refresh_now()
                refreshes.append(time.perf_counter() - start)
                await pilot.pause()  # and the repaint that follows it: a key waits for that too
                stop.set()
                await beat
                into.blocked.append(max(gaps, default=0.0))
        into.refreshes += refreshes
        into.gc_pauses += collections.pauses
        into.keys += await key_latencies(app, table, median(refreshes), presses=2 * runs)
        await enable_some_kvp(session, table)
        profiler = cProfile.Profile()
        profiler.enable()
        await app.refresh_now()
        await pilot.pause()
        profiler.disable()
        await app.action_quit()
    return _listing(profiler, variant.name)


def _listing(profiler: cProfile.Profile, name: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"\n--- cProfile of one refresh and its repaint ({name}), event-loop thread, by own time ---\n")
    stats.sort_stats("tottime").print_stats(TOP)
    out.write(f"--- the same, by cumulative time (our code: avma_tui) ({name}) ---\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats("avma_tui", TOP)
    return out.getvalue()


async def measure(smoke: bool, runs: int) -> list[Row]:
    """Every variant, in turns (as-is, proposed, …, then again), so a busy moment of the machine hits all."""
    vm_count = 60 if smoke else 2000
    samples = {variant: Samples() for variant in VARIANTS}
    with served_host(vm_count) as (settings, password, guest):
        for turn in range(1 if smoke else TURNS):
            for variant in VARIANTS:
                with applied(variant):
                    listing = await measure_variant(variant, settings, password, guest, runs, samples[variant])
                if turn == 0:
                    print(listing, flush=True)
    return [row for variant in VARIANTS for row in samples[variant].rows(variant.name, vm_count)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 5))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
