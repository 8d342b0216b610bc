"""The edition conversion in the TUI (issue 11, "Long changes survive"): the wizard and the batch table show
the wait's elapsed time; Stop ends the wait, never the conversion, and the wizard says so and offers a
re-check, which records the conversion done once the guest is back."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import Static

from avma_tui.services.audit import AuditLog
from avma_tui.services.plan import FixTiming
from tests.ui.fix_support import GUEST, click, fast_app, open_on, settle, shown, visible_buttons
from tests.ui.test_fix_batch import _mark_and_open, _row, _run_all

VM = "TEST-EVAL01"
#: The wizard reads the VM back every 0.1 s.
TIMING = FixTiming(verify_timeout=3.0, poll_interval=0.02, slow_poll_interval=0.1)


async def _until(condition, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


class Clock:
    """The simulated host's clock: real time, plus whatever the test skips ahead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


async def test_the_wizard_shows_the_wait_and_stop_leaves_the_conversion_running() -> None:
    clock = Clock()  # DISM takes 10 minutes in the guest, unless the test skips ahead
    app = fast_app(credential=GUEST, conversion_s=600.0, timing=TIMING, clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, VM, "f")
        assert "Convert the Evaluation edition" in shown(app, "#step-title")
        await click(pilot, "#run")
        await pilot.pause()
        await pilot.press("y")
        await _until(lambda: "DISM running in the guest" in shown(app, "#fix-progress"), "the wait shows")
        progress = shown(app, "#fix-progress")
        assert "of up to 30 min: waiting for the new edition in KVP" in progress and progress.endswith(" s")
        await pilot.press("escape")  # leaving asks first, and says the conversion is not stopped
        await pilot.pause()
        question = app.screen.query_one(Static).render().plain
        assert "Closing stops the wait, not the conversion" in question
        await pilot.press("n")
        await pilot.pause()
        await click(pilot, "#stop")
        await settle(pilot)
        result = shown(app, "#fix-result")
        assert "the conversion goes on in the guest (nothing was stopped there)" in result
        assert "not verified" in result and "recheck" in visible_buttons(app)
        records = [r for r in AuditLog().records() if r["action"] == "set_edition"]
        assert [(r["phase"], r["outcome"]) for r in records] == [
            ("intent", None),
            ("started", None),
            ("result", "unknown"),
        ]
        clock.skipped += 601  # the conversion finished meanwhile, nobody waiting for it
        await click(pilot, "#recheck")
        await settle(pilot)
        assert "Re-checked: the change is in effect" in shown(app, "#fix-result")
    recheck = AuditLog().records()[-1]
    assert (recheck["action"], recheck["outcome"], recheck["params"]["intent_action"]) == (
        "recheck",
        "ok",
        "set_edition",
    )


async def test_the_batch_row_shows_the_elapsed_wait() -> None:
    clock = Clock()
    app = fast_app(credential=GUEST, conversion_s=600.0, activation_s=60.0, timing=TIMING, clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, [VM])
        await _run_all(pilot)
        seen: list[str] = []

        def waiting() -> bool:
            seen.append(_row(app, VM)[2])
            return seen[-1].startswith("DISM running in the guest, ") and " of up to 30 min" in seen[-1]

        await _until(waiting, "the row shows the wait")
        clock.skipped += 601  # DISM is done
        await settle(pilot)
        assert _row(app, VM)[1] == "more to do"  # converted; activation is next
