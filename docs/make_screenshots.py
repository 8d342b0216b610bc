"""Regenerate the README's screenshots (assets/screenshots/*.svg) from the real app on the demo host.

    python docs/make_screenshots.py

The clock is frozen and the guest login given, so the pictures show what an admin sees after `c`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path

from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated
from avma_tui.ui.app import AvmaApp

OUT = Path(__file__).resolve().parents[1] / "assets" / "screenshots"


async def shoot(name: str, size: tuple[int, int], *keys: str) -> None:
    demo = open_simulated(asset("scenarios", "demo.toml"))
    session = Session(demo, guest_credential=Credential("Administrator", "Passw0rd!"))  # the demo's guest login
    app = AvmaApp(session, refresh_interval=0, clock=lambda: datetime(2026, 11, 27, 9, 0, 0))
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        app.save_screenshot(f"{name}.svg", path=str(OUT))
        print(OUT / f"{name}.svg")


async def main() -> None:
    os.environ["AVMA_TUI_HOME"] = tempfile.mkdtemp(prefix="avma-shots-")  # keep the real audit log clean
    await shoot("dashboard", (120, 40))
    await shoot("dashboard-wide", (160, 50))
    await shoot("dashboard-80x24", (80, 24))
    await shoot("dashboard-200x50", (200, 50))
    await shoot("details", (120, 40), "down", "down", "down", "down", "down", "down", "enter")
    await shoot("help", (120, 40), "question_mark")
    await shoot("fix-wizard", (120, 40), *("down",) * 19, "f")
    # PRINT01, SQL02 (a MAK key) and TEST-EVAL01 (Evaluation) marked, then F: the batch plan with its warnings
    await shoot("fix-batch", (120, 40), *("down",) * 16, "space", "down", "down", "space", "space", "F")


if __name__ == "__main__":
    asyncio.run(main())
