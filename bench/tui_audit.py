"""The TUI with a big audit log: the re-check offer at start and the `a` screen, event-loop blocks measured.

Imported by audit_log.py (which generates the log); Textual is imported only here. The real app
(`AvmaApp` on the demo host, headless with `App.run_test`) opens with the big log as its audit log.
A probe coroutine wakes every 5 ms and records how late it woke: the longest lateness is the longest
the event loop was blocked (keys, repaints and timers wait that long).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from benchkit import ROOT, Row, median
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


class Probe:
    """The event loop's longest block since `reset`, seen by a task that asks to wake every TICK_S.

    `worst` is the wall-clock lateness. On a shared machine most of it can be the kernel running other
    processes while ours was ready to run; `worst_own` subtracts the main thread's run-queue wait for the
    same tick (Linux /proc/thread-self/schedstat, second field), leaving what the process itself caused:
    work on the loop and waits for the GIL. Elsewhere `worst_own` equals `worst`.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_own = 0.0
        self._task: asyncio.Task[None] | None = None
        self._schedstat: int | None = None

    def start(self) -> None:
        with contextlib.suppress(OSError):
            self._schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)  # the loop's thread: this one
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.worst = self.worst_own = 0.0

    def _queued(self) -> float:
        """Seconds this thread has waited on a run queue so far (0 where the kernel does not say)."""
        if self._schedstat is None:
            return 0.0
        return int(os.pread(self._schedstat, 128, 0).split()[1]) / 1e9

    async def _run(self) -> None:
        while True:
            before, queued = time.perf_counter(), self._queued()
            await asyncio.sleep(TICK_S)
            late = time.perf_counter() - before - TICK_S
            self.worst = max(self.worst, late)
            self.worst_own = max(self.worst_own, late - (self._queued() - queued))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None


async def until(condition: Callable[[], bool], what: str) -> float:
    """Seconds until `condition()` holds, polling every 2 ms."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > GIVE_UP_S:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def one_run() -> dict[str, float]:
    app = AvmaApp(Session(open_simulated(ROOT / "assets" / "scenarios" / "demo.toml"), audit=AuditLog()))
    probe = Probe()
    numbers: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        probe.start()
        await until(lambda: app.session is not None and app.session.diagnosis is not None, "the first dashboard")
        probe.reset()  # from the first dashboard on: finding the interrupted changes
        numbers["offer"] = await until(lambda: isinstance(app.screen, RecheckScreen), "the re-check offer")
        numbers["offer_block"], numbers["offer_own"] = probe.worst, probe.worst_own
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
        numbers["open_block"], numbers["open_own"] = probe.worst, probe.worst_own  # the screen and its first page
        probe.reset()
        await until(lambda: screen._chain is not None, "the chain check")
        numbers["chain"] = time.perf_counter() - start
        for _ in range(3):  # scroll to the end of what is loaded: the next page follows
            if screen._pager is None or screen._pager.done:
                break
            rows = screen.table.row_count
            screen.table.move_cursor(row=rows - 1)
            await until(lambda rows=rows: screen.table.row_count > rows, "the next page")
        numbers["load_block"], numbers["load_own"] = probe.worst, probe.worst_own
        numbers["rows"] = screen.table.row_count
        probe.reset()  # a filter that matches nothing: the search reads the whole log back (thread workers)
        start = time.perf_counter()
        screen.query_one("#audit-filter", Input).value = NO_MATCH
        await until(
            lambda: (
                bool(screen._pager and screen._pager.query == NO_MATCH and screen._pager.done)
                and not screen._page_loading
            ),
            "the search",
        )
        numbers["search"] = time.perf_counter() - start
        numbers["search_block"], numbers["search_own"] = probe.worst, probe.worst_own
        probe.stop()
    return numbers


async def tui_rows(home: Path, runs: int, records: int, *, baseline: bool = False) -> list[Row]:
    """The TUI numbers; `baseline` (a tiny log) reports the blocks as context, without a target."""
    os.environ["AVMA_TUI_HOME"] = str(home)
    label = f"{records // 1000}k records" if records >= 1000 else f"{records} records (baseline)"
    samples = [await one_run() for _ in range(runs)]

    def med(name: str) -> float:
        return median([sample[name] for sample in samples])

    def row(name: str, measure: str, *, block: bool = False) -> Row:
        value = med(name) * 1000
        if not block or baseline:
            return Row(BENCH, f"TUI, {label}: {measure}", value, "ms", runs)
        target = f"< {BLOCK_TARGET_MS:.0f} ms"
        return Row(BENCH, f"TUI, {label}: {measure}", value, "ms", runs, target, value < BLOCK_TARGET_MS)

    own = " less the run-queue wait (what the process caused)"
    return [
        row("offer", "first dashboard to the re-check offer"),
        row("offer_block", "longest event-loop block while pending intents are found", block=True),
        row("offer_own", "longest event-loop block while pending intents are found," + own, block=True),
        row("first_page", f"`a` to the first page ({PAGE} rows, newest first)"),
        row("chain", "`a` to the chain's state (whole file, in a child process)"),
        row("open_block", "longest event-loop block, `a` to the first page (mounting the screen)"),
        row("open_own", "longest event-loop block, `a` to the first page," + own),
        row("load_block", "longest event-loop block after the first page (chain, 3 more pages)", block=True),
        row("load_own", "longest event-loop block after the first page," + own, block=True),
        row("search", f"filter `{NO_MATCH}` (matches nothing) to the end of the search"),
        row("search_block", "longest event-loop block while that filter searches the whole log", block=True),
        row("search_own", "longest event-loop block while that filter searches," + own, block=True),
    ]
