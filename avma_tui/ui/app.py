"""The avma-tui application: start-up, the live refresh loop, quitting, and the shared state.

The app holds what every screen shares (the Session, the AuditLog) and runs the refresh loop
Dolphie-style: each refresh re-arms a one-shot timer when it finishes, so slow hosts never get
overlapping reads, and a tick that finds a dialog open only re-arms. A failed refresh keeps the last
data on screen with a "stale since" banner, and the next tick waits twice as long (30 s doubling to
5 min) until the host answers again. The inventory is shown as soon as it arrives; guest licenses are
read after it in a background worker and shown chunk by chunk (docs/architecture.md, "Refresh").
Screens other than the first are imported lazily so that
`avma-tui --demo` is on screen in about a second.

The app gives each screen what it needs (the session, the audit log) and screens ask it for things
with messages (ui.messages): nothing but this module imports `ui.app`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from avma_tui.config import ConnectionSettings
from avma_tui.core.model import Diagnosis
from avma_tui.services.plan import FixTiming
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated, remote_user, scenario_path, settings_from_args
from avma_tui.ui import safe
from avma_tui.ui.commands import AvmaCommands
from avma_tui.ui.messages import Connected, CredentialsGiven, DashboardReady, FixRequested
from avma_tui.ui.palette import UNMEASURABLE_THEMES, readable_variables
from avma_tui.ui.screens.connection import Connector, ConnectScreen, open_host
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.widgets.vm_table import VmTable
from avma_tui.ui.workers import OPERATION_GROUP, describe_error

if TYPE_CHECKING:
    from avma_tui.services.audit import AuditLog

#: The longest the auto-refresh waits while the host keeps failing (it doubles from refresh_interval).
MAX_BACKOFF_SECONDS = 300.0
#: Licenses that answer within this long of each other are shown together: each show diagnoses and redraws
#: the whole host, and a host answering many chunks at once would otherwise keep the keyboard waiting.
LICENSE_SHOW_SECONDS = 0.25


class AvmaApp(App[None]):
    """avma-tui. `session` is None until a connection succeeds (or from the start with --demo)."""

    CSS_PATH = "app.tcss"
    TITLE = "avma-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    COMMANDS = App.COMMANDS | {AvmaCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first while an operation runs)"),
        # ctrl+c quits like q (Textual's default only says how to quit); it wins over an input's copy.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit-ctrl-c", tooltip="Quit, like q"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Keys and an AVMA primer"),
        Binding("colon,ctrl+p", "command_palette", "Commands", show=False, id="palette", tooltip="The command palette"),
    ]

    def __init__(
        self,
        session: Session | None = None,
        settings: ConnectionSettings | None = None,
        *,
        refresh_interval: float = 30.0,
        clock: Callable[[], datetime] = datetime.now,
        connector: Connector = open_host,
        password: str = "",
        fix_timing: FixTiming = FixTiming(),  # noqa: B008 - frozen
    ) -> None:
        """`fix_timing`: how long each change may take to read back and how often it is read (tests shorten it)."""
        super().__init__()
        self.fix_timing = fix_timing
        self.session = session
        self.settings = settings
        self._password = password  # AVMA_PASSWORD for `settings`: handed to the connection screen, never saved
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.connector = connector
        self.dashboard: DashboardScreen | None = None
        self._audit: AuditLog | None = None
        self._refresh_lock = asyncio.Lock()
        self._timer: Timer | None = None
        self._refresh_worker: Worker[Diagnosis | None] | None = None
        self._memory_settled = False
        self._failures = 0  # refreshes failed in a row: the auto-refresh backs off
        self._read_at = ""
        self._recheck_offered = False
        for theme in UNMEASURABLE_THEMES:
            self.unregister_theme(theme)

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables with every text colour readable on every background (ui/palette.py)."""
        return readable_variables(super().get_css_variables())

    def on_mount(self) -> None:
        if self.session is not None:
            self.push_screen(DashboardScreen(self.session))
        else:
            self.push_screen(ConnectScreen(self._open_session, self.settings, password=self._password))
            self._password = ""

    def _open_session(self, settings: ConnectionSettings, password: str) -> Session:
        """The connection screen's way to a session: this app's connector and audit log."""
        return Session(self.connector(settings, password), remote_user=remote_user(settings), audit=self.audit)

    @property
    def audit(self) -> AuditLog:
        """The audit log, opened on first use (the dashboard does not need it to appear)."""
        if self._audit is None:
            from avma_tui.services.audit import AuditLog

            self._audit = self.session.audit if self.session and self.session.audit else AuditLog()
        return self._audit

    @property
    def operation_running(self) -> bool:
        return any(w.group == OPERATION_GROUP and w.state is WorkerState.RUNNING for w in self.workers)

    # --- connection and refresh --------------------------------------------------------------------

    def on_connected(self, message: Connected) -> None:
        self.session = message.session
        self.switch_screen(DashboardScreen(message.session))

    def on_dashboard_ready(self, message: DashboardReady) -> None:
        """The dashboard is mounted: show what the session knows, or read it now."""
        dashboard = message.dashboard
        assert isinstance(dashboard, DashboardScreen)
        self.dashboard = dashboard
        if self.session is not None and self.session.diagnosis is not None:
            dashboard.show(self.session.diagnosis, self.clock().strftime("%H:%M:%S"))
            self._arm_timer()
        else:
            self.action_refresh()

    def action_refresh(self) -> None:
        """r: read the host again, every guest license too; a press while a refresh runs is dropped."""
        self._start_refresh(force=True)

    def _start_refresh(self, *, force: bool) -> None:
        if self.session is None or (self._refresh_worker is not None and not self._refresh_worker.is_finished):
            return
        self._refresh_worker = self.run_worker(
            self.refresh_now(force=force), name="refresh", group="refresh", exit_on_error=False
        )

    def refresh_after_change(self) -> None:
        """Read the host again because something changed (a login, a fix): never dropped.

        A refresh already running may have read before the change, so this one waits for it
        (refresh_now's lock) and then reads again.
        """
        if self.session is not None:
            self._refresh_worker = self.run_worker(
                self.refresh_now(), name="refresh", group="refresh", exit_on_error=False
            )

    async def refresh_now(self, *, force: bool = False) -> Diagnosis | None:
        """Read the inventory again and show it; None when the read failed (the banner says why).

        The licenses that are due are then read in a background worker. Refreshes never overlap: a
        second caller waits for the running one, then reads again, so whoever asks after a change sees
        the state after that change. `force` (r) reads every guest license again.
        """
        session, dashboard = self.session, self.dashboard
        if session is None or dashboard is None:
            return None
        async with self._refresh_lock:
            self._stop_timer()
            dashboard.set_busy(True)
            try:
                diagnosis: Diagnosis | None = await session.refresh(licenses=False, force=force)
            except Exception as err:  # any failure keeps the last data on screen
                diagnosis = None
                self._failures += 1
                dashboard.show_stale(describe_error(err))
            else:
                self._failures = 0
                self._read_at = self.clock().strftime("%H:%M:%S")
                assert diagnosis is not None  # refresh(licenses=False) returns the diagnosis or raises
                dashboard.show(diagnosis, self._read_at)
                self._in_background(self._read_licenses, "licenses")
                self._in_background(self._read_nodes, "nodes")
                self._settle_memory()
                await self._offer_recheck()
            finally:
                dashboard.set_busy(False)
                self._arm_timer()
        return diagnosis

    def _in_background(self, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> Worker[None]:
        """`work` in a worker of its own group. The function, not a coroutine: a worker cancelled before it
        starts (a quit as a refresh ends) leaves no coroutine never awaited."""
        return self.run_worker(work, name=name, group=name, exit_on_error=False)

    async def _read_nodes(self) -> None:
        """The cluster nodes, each over its own connection, shown as each answers (the inventory never waits)."""
        session, dashboard = self.session, self.dashboard
        if session is None or dashboard is None:
            return
        async for diagnosis in session.read_nodes():
            if self.dashboard is dashboard and session is self.session:
                dashboard.show(diagnosis, self._read_at)

    async def _read_licenses(self) -> None:
        """The licenses that are due, shown as each chunk arrives; a rejected guest login is said where the eye is."""
        session, dashboard = self.session, self.dashboard
        if session is None or dashboard is None:
            return
        rejected = session.guest_login_rejected
        async for diagnosis in session.read_licenses(every=LICENSE_SHOW_SECONDS):
            if self.dashboard is dashboard and session is self.session:
                dashboard.show(diagnosis, self._read_at)
            if session.guest_login_rejected and not rejected:
                rejected = True
                self.notify(
                    f"A guest ({session.licenses.rejected_by}) rejected the guest credentials: no further guest "
                    "logon is tried with them. Press c to enter them again.",
                    title="Guest login rejected",
                    severity="error",
                    timeout=15,
                    markup=False,
                )

    async def _offer_recheck(self) -> None:
        """Once per start, after the first successful refresh: the interrupted changes on this host, if any."""
        session = self.session
        if self._recheck_offered or session is None:
            return
        self._recheck_offered = True
        from avma_tui.services.audit import AuditError
        from avma_tui.services.audit_pass import summarize_in_child
        from avma_tui.ui.screens.recheck import RecheckScreen

        try:  # in a child process: finding them parses the whole log (67 MiB at 100k records), never in this one
            intents = list((await summarize_in_child(self.audit.path, host=session.host_name)).intents)
        except AuditError as err:
            self.notify(safe.clean(str(err)), title="Audit log", severity="error", markup=False)
            return
        if intents:
            self.push_screen(RecheckScreen(session, self.audit, intents), lambda _result: self.action_refresh())

    def _settle_memory(self) -> None:
        """Once the first dashboard is up, move start-up objects out of the cyclic GC's full scans.

        Textual and the first load create ~170 000 long-lived objects; without this every full
        collection rescans them in the middle of refreshes (59 ms per refresh at 2000 VMs, pauses up to
        179 ms; 7 ms and 21 ms after — bench/RESULTS.md). Frozen objects are still freed by refcount.
        """
        if not self._memory_settled:
            self._memory_settled = True
            gc.freeze()

    @property
    def next_refresh_in(self) -> float:
        """Seconds to the next auto-refresh: the interval, doubled per failure in a row, at most 5 minutes."""
        if self._failures == 0:
            return self.refresh_interval
        return min(MAX_BACKOFF_SECONDS, max(self.refresh_interval, self.refresh_interval * 2**self._failures))

    def _arm_timer(self) -> None:
        self._stop_timer()
        if self.refresh_interval > 0:
            self._timer = self.set_timer(self.next_refresh_in, self._tick, name="auto-refresh")

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        """The periodic refresh; while a dialog is open it only waits another interval."""
        if not self.screen_stack:  # the app is closing
            return
        if self.screen is self.dashboard:
            self._start_refresh(force=False)
        else:
            self._arm_timer()

    # --- other screens -----------------------------------------------------------------------------

    def action_help(self) -> None:
        from avma_tui.ui.screens.help import CLOSE_ANY, HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([*DashboardScreen.BINDINGS, *VmTable.BINDINGS, *self.BINDINGS, CLOSE_ANY]))

    def action_audit(self) -> None:
        from avma_tui.ui.screens.audit import AuditScreen

        host = self.session.host_name if self.session else None
        self.push_screen(AuditScreen(self.audit, host=host))

    def on_fix_requested(self, message: FixRequested) -> None:
        """The fix wizard for these VMs ([] = the host); the dashboard refreshes when it closes."""
        from avma_tui.ui.screens.fix import FixWizardScreen

        if self.session is None:
            return
        self.push_screen(
            FixWizardScreen(self.session, self.audit, message.vm_ids, mode=message.mode, timing=self.fix_timing),
            self._fix_closed,
        )

    def _fix_closed(self, fixed: list[str] | None) -> None:
        """The wizard closed: unmark the VMs a batch fixed (the others stay marked for another try), read again."""
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                screen.table.unmark(fixed or [])
        self.refresh_after_change()

    def on_credentials_given(self, message: CredentialsGiven) -> None:
        """New guest credentials: kept in the session (memory only), and the guests are read with them."""
        if self.session is not None:
            self.session.guest_credential = message.credential
            self.refresh_after_change()

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot: an SVG under the data directory (Textual's default, ~/Downloads, may not exist).

        Falls back to the current directory when the data directory cannot be written, and says where it went.
        """
        from avma_tui.config import data_dir

        name = filename or f"avma-tui-{self.clock().strftime('%Y-%m-%dT%H-%M-%S')}.svg"
        svg = self.export_screenshot()
        for directory in [Path(path)] if path else [data_dir() / "screenshots", Path.cwd()]:
            target = directory / name
            try:
                directory.mkdir(parents=True, exist_ok=True)
                target.write_text(svg, encoding="utf-8")
            except OSError as err:
                problem = f"{target}: {err.strerror or err}"
                continue
            self.notify(f"Screenshot saved to {target}", title="Screenshot", markup=False)
            return str(target)
        self.notify(f"Screenshot not saved: {problem}", title="Screenshot", severity="error", markup=False)
        return None

    # --- quitting ----------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if not self.operation_running:
            await self._close_and_exit()
            return
        from avma_tui.ui.screens.confirm import ConfirmScreen

        question = "A change is running on the host. If you quit now its outcome is unknown. Quit anyway?"
        await self.push_screen(ConfirmScreen("Quit?", question, confirm="Quit"), self._quit_confirmed)

    async def _quit_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            await self._close_and_exit()

    async def _close_and_exit(self) -> None:
        self._stop_timer()
        if self.session is not None:
            try:
                await self.session.close()
            except Exception as err:  # closing a dead connection must not stop the quit
                self.log.warning(f"closing the session failed: {describe_error(err)}")
        self.exit()


def build(args: argparse.Namespace) -> AvmaApp:
    """The app for `avma-tui [--demo | --scenario FILE | HOST …]`; a bad target fails here, before the screen opens.

    A HOST given on the command line with AVMA_PASSWORD set connects at once with that password (as
    `report` does); the password stays in memory and is never written to the profiles or the log.
    """
    timing = FixTiming(verify_timeout=args.verify_timeout, conversion_wait=args.conversion_wait)
    path = scenario_path(args)
    if path is not None:
        from avma_tui.services.audit import AuditLog

        session = Session(open_simulated(path), audit=AuditLog())
        return AvmaApp(session, refresh_interval=args.refresh, fix_timing=timing)
    settings = settings_from_args(args) if args.host else None
    password = os.environ.get("AVMA_PASSWORD", "") if settings else ""
    return AvmaApp(settings=settings, refresh_interval=args.refresh, password=password, fix_timing=timing)


def run(args: argparse.Namespace) -> int:
    app = build(args)
    app.run()
    return app.return_code or 0
