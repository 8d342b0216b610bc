"""Command palette entries (`:` or ctrl+p) for every action, and "go to VM <name>" for each VM.

VM names are untrusted: the palette would parse a str display or `Matcher.highlight(name)` as
markup, so VM hits are built from `ui.safe` Content with the plain name as `text`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from avma_tui.ui import safe
from avma_tui.ui.screens.dashboard import DashboardScreen

Command = tuple[str, Callable[[], Any], str]


class AvmaCommands(Provider):
    """The dashboard's verbs, app-wide commands, and a jump to any VM of the host."""

    def _commands(self) -> list[Command]:
        app, screen = self.app, self.screen
        commands: list[Command] = []
        if isinstance(screen, DashboardScreen):

            def verb(name: str, action: str, help_text: str) -> Command:
                return name, partial(screen.run_action, action), help_text

            commands += [
                verb("Refresh now", "app.refresh", "Read the host again"),
                verb("Filter VMs", "filter", "By name, status, guest OS, finding code or severity"),
                verb("Show selected VM's details", "details", "Move to the details pane (enter)"),
                verb("Fix selected VM", "fix", "Guided fix for the selected VM"),
                verb("Fix the host", "fix_host", "Guided fix for the host's own findings"),
                verb("Install AVMA key on selected VM", "install_key", "The key for its version and edition"),
                verb("Mark / unmark selected VM", "mark", "Marked VMs are fixed together"),
                verb("Fix marked VMs", "fix_marked", "One plan, one confirmation"),
                verb("Guest credentials", "credentials", "For PowerShell Direct; kept in memory only"),
                verb("Host AVMA events", "events", "Event 12310, decoded"),
                verb("Show host findings", "host_findings", "The host's findings in the detail pane"),
                verb("Sort by next column", "sort_next", "Cycle the sort column"),
                verb("Reverse sort", "sort_reverse", "Flip the sort order"),
                verb("Audit log", "app.audit", "Every change, hash-chained"),
            ]
        commands += [
            ("Help and AVMA primer", partial(app.run_action, "help"), "Keys, key table, host→guest matrix"),
            ("Quit", partial(app.run_action, "quit"), "Leave avma-tui"),
        ]
        return commands

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)
        screen = self.screen
        if not isinstance(screen, DashboardScreen) or screen.diagnosis is None:
            return
        for diag in screen.diagnosis.vms:
            name = safe.clean(diag.vm.name)
            score = matcher.match(f"VM {name}")
            if score > 0:
                display = safe.assemble("Go to VM ", (name, "bold"))
                jump = partial(screen.go_to_vm, diag.vm.id)
                yield Hit(score, display, jump, text=f"Go to VM {name}", help="Select it in the table")
