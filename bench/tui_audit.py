"""The TUI with a big audit log: the re-check offer at start and the `a` screen, event-loop blocks measured.

Imported by audit_log.py (which generates the log); Textual is imported only here. The real app
(`AvmaApp` on the demo host, headless with `App.run_test`) opens with the big log as its audit log.
A probe coroutine wakes every 5 ms and records how late it woke: the longest lateness is the longest
the event loop was blocked (keys, repaints and timers wait that long). The target (issue 15: no block
over 50 ms from the audit log's work) applies to the app's own work: each lateness less the screen paints
in it and the run-queue wait. The paints are reported beside it, with the total, and the same steps with
a 10-record log show that neither depends on the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchkit import ROOT, Row, median
from textual.screen import Screen
from textual.widgets import Input

from avma_tui.services.audit import AuditLog
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.audit import PAGE, AuditScreen
from avma_tui.ui.screens.recheck import RecheckScreen

BENCH = "audit_log"
BLOCK_TARGET_MS = 50.0
TICK_S = 0.005
GIVE_UP_S = 120.0
NO_MATCH = "vm:no-such-vm"
OFFER_SETTLE_S = 0.3


class Probe:
    """The event loop's longest block since `reset`, seen by a task that asks to wake every TICK_S.

    `worst` is the wall-clock lateness: everything that kept the loop from the probe, Textual's screen
    paints included. `worst_work` is the part the app's own work caused. From each lateness it takes
    away the time Textual spent painting the screen in that tick (its layout and compositor pass, timed
    by `Paints`) and the main thread's run-queue wait (Linux /proc/thread-self/schedstat, second field:
    the kernel running other processes while ours was ready). What is left is the app's code on the
    loop and its waits for the GIL: where the audit log's work would show. A paint's cost depends on
    the terminal's size and the machine, not on the log, so it is reported beside, as `worst_paint`.
    """

    def __init__(self) -> None:
        self.worst = self.worst_work = self.worst_paint = 0.0
        self.paints = Paints()
        self._task: asyncio.Task[None] | None = None
        self._schedstat: int | None = None

    def start(self) -> None:
        with contextlib.suppress(OSError):
            self._schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)  # the loop's thread: this one
        self.paints.install()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.worst = self.worst_work = self.worst_paint = 0.0

    def _queued(self) -> float:
        """Seconds this thread has waited on a run queue so far (0 where the kernel does not say)."""
        if self._schedstat is None:
            return 0.0
        return int(os.pread(self._schedstat, 128, 0).split()[1]) / 1e9

    async def _run(self) -> None:
        while True:
            before, queued, painted = time.perf_counter(), self._queued(), self.paints.total
            self.paints.longest = 0.0
            await asyncio.sleep(TICK_S)
            late = time.perf_counter() - before - TICK_S
            self.worst = max(self.worst, late)
            self.worst_paint = max(self.worst_paint, self.paints.longest)
            work = late - (self._queued() - queued) - (self.paints.total - painted)
            self.worst_work = max(self.worst_work, work)

    def stop(self) -> None:
        self.paints.uninstall()
        if self._task is not None:
            self._task.cancel()
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None


class Paints:
    """Time Textual spends painting screens: its layout and compositor pass (`Screen._refresh_layout`, and
    `Screen._compositor_refresh` when no layout is needed), wrapped while installed. Private names of
    Textual (pinned < 9): `install` fails loudly if they are gone, rather than measure nothing."""

    NAMES = ("_refresh_layout", "_compositor_refresh")

    def __init__(self) -> None:
        self.total = self.longest = 0.0
        self._depth = 0
        self._originals: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        for name in self.NAMES:
            original = getattr(Screen, name)  # AttributeError: Textual changed; the bench must be updated
            self._originals[name] = original
            setattr(Screen, name, self._timed(original))

    def uninstall(self) -> None:
        for name, original in self._originals.items():
            setattr(Screen, name, original)
        self._originals.clear()

    def _timed(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._depth -= 1
                if not self._depth:  # the outermost call: a layout pass contains its compositor pass
                    spent = time.perf_counter() - start
                    self.total += spent
                    self.longest = max(self.longest, spent)

        return timed


async def until(condition: Callable[[], bool], what: str) -> float:
    """Seconds until `condition()` holds, polling every 2 ms."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > GIVE_UP_S:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


def _take(probe: Probe, numbers: dict[str, float], window: str) -> None:
    """The probe's three numbers for `window`, then a fresh start for the next one."""
    numbers[f"{window}_block"], numbers[f"{window}_work"] = probe.worst, probe.worst_work
    numbers[f"{window}_paint"] = probe.worst_paint
    probe.reset()


async def one_run() -> dict[str, float]:
    app = AvmaApp(Session(open_simulated(ROOT / "assets" / "scenarios" / "demo.toml"), audit=AuditLog()))
    probe = Probe()
    numbers: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        probe.start()
        await until(lambda: app.session is not None and app.session.diagnosis is not None, "the first dashboard")
        probe.reset()  # from the first dashboard on: finding the interrupted changes, and the offer opening
        numbers["offer"] = await until(lambda: isinstance(app.screen, RecheckScreen), "the re-check offer")
        await asyncio.sleep(OFFER_SETTLE_S)  # the dialog's first paints, and the footer rebuilt for its keys
        _take(probe, numbers, "offer")
        await pilot.press("escape")
        await pilot.pause()
        probe.reset()
        start = time.perf_counter()
        app.action_audit()
        await until(lambda: isinstance(app.screen, AuditScreen) and app.screen.is_mounted, "the audit screen")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await until(lambda: screen.table.row_count >= PAGE or bool(screen._pager and screen._pager.done), "a page")
        numbers["first_page"] = time.perf_counter() - start
        _take(probe, numbers, "open")  # the screen and its first page
        await until(lambda: screen._chain is not None, "the chain check")
        numbers["chain"] = time.perf_counter() - start
        for _ in range(3):  # scroll to the end of what is loaded: the next page follows
            if screen._pager is None or screen._pager.done:
                break
            rows = screen.table.row_count
            screen.table.move_cursor(row=rows - 1)
            await until(lambda rows=rows: screen.table.row_count > rows, "the next page")
        _take(probe, numbers, "load")
        numbers["rows"] = screen.table.row_count
        start = time.perf_counter()  # a filter that matches nothing: the search reads the whole log back
        screen.query_one("#audit-filter", Input).value = NO_MATCH
        await until(
            lambda: (
                bool(screen._pager and screen._pager.query == NO_MATCH and screen._pager.done)
                and not screen._page_loading
            ),
            "the search",
        )
        numbers["search"] = time.perf_counter() - start
        _take(probe, numbers, "search")
        probe.stop()
    return numbers


#: The windows the probe measures, as the rows name them; a target applies to the app's own work in each
#: but the screen's opening (a new screen is mostly paint).
WINDOWS = {
    "offer": ("while pending intents are found and the offer opens", True),
    "open": ("`a` to the first page (mounting the screen)", False),
    "load": ("after the first page (chain, 3 more pages)", True),
    "search": ("while that filter searches the whole log", True),
}


async def tui_rows(home: Path, runs: int, records: int, *, baseline: bool = False) -> list[Row]:
    """The TUI numbers; `baseline` (a tiny log) reports the blocks as context, without a target."""
    os.environ["AVMA_TUI_HOME"] = str(home)
    label = f"{records // 1000}k records" if records >= 1000 else f"{records} records (baseline)"
    samples = [await one_run() for _ in range(runs)]

    def row(name: str, measure: str, *, target: bool = False) -> Row:
        value = median([sample[name] for sample in samples]) * 1000
        if not target or baseline:
            return Row(BENCH, f"TUI, {label}: {measure}", value, "ms", runs)
        limit = f"< {BLOCK_TARGET_MS:.0f} ms"
        return Row(BENCH, f"TUI, {label}: {measure}", value, "ms", runs, limit, value < BLOCK_TARGET_MS)

    rows = [
        row("offer", "first dashboard to the re-check offer"),
        row("first_page", f"`a` to the first page ({PAGE} rows, newest first)"),
        row("chain", "`a` to the chain's state (whole file, in a child process)"),
        row("search", f"filter `{NO_MATCH}` (matches nothing) to the end of the search"),
    ]
    for window, (what, target) in WINDOWS.items():
        rows += [
            row(f"{window}_work", f"longest block of the app's own work {what}", target=target),
            row(f"{window}_paint", f"longest screen paint (Textual, 160x50) {what}"),
            row(f"{window}_block", f"longest event-loop block, paints included, {what}"),
        ]
    return rows
