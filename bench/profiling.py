"""Profile the slowest path: a 2000-VM refresh in the TUI, what it does to the event loop, and diagnose.

Target 5 of the performance issue. The refresh is run as tui_big.py runs it (the real app, the
real PsrpTransport, the host in its own process), in two variants taken in turns, so a busy moment
of the machine hits both alike:

- "as-is": the production code. The first profile's fixes 1-3 are in it (bench/RESULTS.md,
  "Profile"): the table skips VMs whose diagnosis and mark are unchanged, the app calls
  `gc.freeze()` once its first dashboard is shown, and `diagnose` groups the events by VM once.
- "diagnose in a thread": the one proposal left (fix 4), applied in this process only: the
  refresh runs `diagnose()` in a worker thread (`asyncio.to_thread`), which takes it off the event
  loop. The catch is the GIL: while that thread computes, the loop must win the GIL back after
  every wait (up to the 5 ms switch interval each time), and one key takes several such hops, so on
  a busy machine a key can be answered later, not sooner. Measured here so that choice rests on
  numbers.

For each variant: the refresh time (median), the longest time the event loop was blocked during a
refresh and the repaint after it (a 1 ms heartbeat task measures it), key presses during
refreshes as tui_big.py presses them, the full collections' pauses, and a cProfile listing of one
refresh and its repaint (event-loop thread only: the wire work runs in the transport's worker
thread and is not what blocks the screen).

Then `diagnose` alone, in this process, on the same generated host's inventory (with the guests'
licenses, as the TUI reads it): with no events, with the generated events, and with ten times as
many (each event repeated), best of several runs. Before fix 3 its cost grew with VMs × events.

Named profiling.py, not profile.py: the scripts run with bench/ first on sys.path, where a
profile.py would shadow the standard library's `profile`, which cProfile imports.

Run alone: `python bench/profiling.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
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
from avma_tui.core.findings import diagnose
from avma_tui.core.model import Diagnosis, Inventory
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.transport import SimTransport
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.widgets.vm_table import VmTable

BENCH = "profiling"
#: Functions listed from the profile, by own time and by cumulative time.
TOP = 20
#: Turns through the variants (each turn: `runs` refreshes per variant).
TURNS = 2
#: `diagnose` is timed with the generated events repeated this many times (0: none; 10: 380 at 2000 VMs).
EVENT_FACTORS = (0, 1, 10)


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


@dataclass(frozen=True)
class Variant:
    """One way of running the refresh: the production code, or with the remaining proposal applied."""

    name: str
    diagnose_in_thread: bool = False


VARIANTS = (Variant("as-is"), Variant("diagnose in a thread", diagnose_in_thread=True))


async def _refresh_diagnosing_in_a_thread(self: Session, **options: Any) -> Diagnosis:
    """Session.refresh as the benchmark's session runs it (no audit log), with `diagnose` in a worker thread."""
    self.diagnosis = await asyncio.to_thread(diagnose, await self.read(**options))
    return self.diagnosis


@contextmanager
def applied(variant: Variant) -> Iterator[None]:
    """The variant's patch, in this process only; undone afterwards, and the app's gc.freeze with it.

    Every variant runs a new app, which freezes what exists after its first dashboard; unfreezing
    when it is done lets the next app start from the same collector state instead of inheriting
    the previous app's frozen objects.
    """
    original_refresh = Session.refresh
    if variant.diagnose_in_thread:
        Session.refresh = _refresh_diagnosing_in_a_thread  # type: ignore[method-assign]
    try:
        yield
    finally:
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


async def generated_inventory(vm_count: int) -> Inventory:
    """The generated host's inventory with its guests' licenses, read in process (no wire) as the TUI reads it."""
    scenario = parse_scenario(generate_scenario(vm_count, seed=1), source=f"generated-{vm_count}.toml")
    assert scenario.guest_credentials is not None, "generated scenarios carry guest credentials"
    guest = Credential(scenario.guest_credentials.username, scenario.guest_credentials.password)
    session = Session(HyperVHost(SimTransport(SimHost(scenario), latency_ms=0)), guest_credential=guest)
    try:
        return await session.read()
    finally:
        await session.close()


def diagnose_rows(inventory: Inventory, runs: int) -> list[Row]:
    """`diagnose` of the inventory with its events repeated 0, 1 and 10 times: the best of `runs` each.

    A host without events (the small smoke host) is timed once, not three times over.
    """
    rows = []
    for events in dict.fromkeys(inventory.events * factor for factor in EVENT_FACTORS):
        variant = dataclasses.replace(inventory, events=events)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            diagnose(variant)
            times.append(time.perf_counter() - start)
        rows.append(
            Row(
                BENCH,
                f"diagnose, {len(inventory.vms)} VMs, {len(variant.events)} events",
                min(times) * 1000,
                "ms (best)",
                runs,
            )
        )
    return rows


async def measure(smoke: bool, runs: int) -> list[Row]:
    """Both variants, in turns (as-is, in a thread, then again); then `diagnose` alone."""
    vm_count = 60 if smoke else 2000
    samples = {variant: Samples() for variant in VARIANTS}
    with served_host(vm_count) as (settings, password, guest):
        for turn in range(1 if smoke else TURNS):
            for variant in VARIANTS:
                with applied(variant):
                    listing = await measure_variant(variant, settings, password, guest, runs, samples[variant])
                if turn == 0:
                    print(listing, flush=True)
    rows = [row for variant in VARIANTS for row in samples[variant].rows(variant.name, vm_count)]
    return rows + diagnose_rows(await generated_inventory(vm_count), 2 * runs)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 5))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
