"""Child process of startup.py: `avma-tui --demo`, headless, until its first complete dashboard.

It goes through the real entry point (`avma_tui.cli.main.main(["--demo"])`), so argument parsing, the
lazy imports, the scenario load and the first refresh all count. Two things are changed, from the
outside and only here: the app runs headless (no terminal to draw on, so the entry point's
terminal check is told there is one), and when the dashboard
shows its first diagnosis the probe waits for that screen to be painted, writes `READY <time>`
(the wall clock, time.time()) on stdout and quits. The parent times from just before spawning
this process to that moment, so the app's shutdown is not counted.
"""

from __future__ import annotations

import os
import time
from typing import Any

from avma_tui.cli import main as cli
from avma_tui.cli.main import main
from avma_tui.core.model import Diagnosis
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.dashboard import DashboardScreen

_run = AvmaApp.run
_show = DashboardScreen.show


def _headless_run(self: AvmaApp, **options: Any) -> Any:
    return _run(self, **{**options, "headless": True, "size": (120, 40)})


def _show_then_report(self: DashboardScreen, diagnosis: Diagnosis, read_at: str) -> None:
    first = self.diagnosis is None
    _show(self, diagnosis, read_at)
    if first:
        self.app.call_after_refresh(_ready, self.app)


def _ready(app: AvmaApp) -> None:
    os.write(1, f"READY {time.time()!r}\n".encode())  # straight to the pipe: Textual captures print()
    app.exit()


if __name__ == "__main__":
    cli.terminal_attached = lambda: True  # the probe's stdout is the parent's pipe; the app runs headless
    AvmaApp.run = _headless_run  # type: ignore[method-assign]
    DashboardScreen.show = _show_then_report  # type: ignore[method-assign]
    raise SystemExit(main(["--demo"]))
