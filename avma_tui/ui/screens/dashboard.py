"""The host dashboard: summary, VM table with filter, detail pane, and the single-key verbs.

The screen owns no data and no I/O: the app refreshes the session and hands each diagnosis to
`show()`; a failed refresh arrives through `show_stale()` and the last data stays on screen.
What needs the app (a fix wizard, new guest credentials) is asked with a message (ui.messages);
the screen never calls the app back. Dialogs import lazily, so the first screen appears fast.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from avma_tui.core.model import Diagnosis
from avma_tui.hyperv.transport import Credential
from avma_tui.services.session import Session
from avma_tui.ui import safe
from avma_tui.ui.messages import CredentialsGiven, DashboardReady, FixRequested
from avma_tui.ui.widgets.cells import COLUMNS
from avma_tui.ui.widgets.content_table import ContentTable
from avma_tui.ui.widgets.host_summary import HostSummary
from avma_tui.ui.widgets.vm_details import VmDetails
from avma_tui.ui.widgets.vm_table import VmTable

_SORTABLE = tuple(column for column in COLUMNS if column != "mark")


class DashboardScreen(Screen[None]):
    """One host: where every VM stands with AVMA, and what to do about it."""

    BINDINGS = [
        Binding("r", "app.refresh", "Refresh", id="refresh", tooltip="Read the host again now"),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="filter",
            tooltip="Filter VMs by name, status, guest OS, finding code or severity (error, warning)",
        ),
        Binding("enter", "details", "Details", show=False, id="details", tooltip="Move to the selected VM's details"),
        Binding("f", "fix", "Fix", id="fix", tooltip="Guided fix for the selected VM"),
        Binding(
            "space",
            "mark",
            "Mark",
            key_display="spc",
            id="mark",
            tooltip="Mark or unmark the selected VM, then go down",
        ),
        # Not in the footer: at 80 columns it would push q and ? off; the list title names F once VMs are marked.
        Binding("F", "fix_marked", "Fix marked", show=False, id="fix-marked", tooltip="Fix all marked VMs (one plan)"),
        Binding("i", "install_key", "Key", id="install-key", tooltip="Install the AVMA key on the selected VM"),
        Binding("c", "credentials", "Login", id="credentials", tooltip="Guest credentials (this session only)"),
        Binding("a", "app.audit", "Audit", id="audit", tooltip="The audit log of every change"),
        Binding("e", "events", "Events", id="events", tooltip="The host's AVMA events (12310), decoded"),
        Binding("h", "host_findings", "Host", show=False, id="host", tooltip="The host's findings in the details"),
        Binding("H", "fix_host", "Fix host", show=False, id="fix-host", tooltip="Guided fix for the host itself"),
        Binding("s", "sort_next", "Sort", show=False, id="sort", tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="sort-reverse", tooltip="Reverse the sort order"),
        Binding("escape", "back", "Back", show=False, id="back", tooltip="Clear the filter / back to the table"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.diagnosis: Diagnosis | None = None
        self._read_at = ""
        self._verbs_enabled: bool | None = None  # what the footer was last built for (check_action)

    def compose(self) -> ComposeResult:
        yield HostSummary(id="summary")
        yield Static(id="stale")
        with Horizontal(id="main"):
            with Vertical(id="list"):
                # Disabled while hidden, so no keystroke can land in a filter nobody sees.
                yield Input(
                    placeholder="name, status, guest OS, finding code or error/warning",
                    id="filter",
                    compact=True,
                    disabled=True,
                )
                yield VmTable(id="vms")
            yield VmDetails(id="details")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#summary", HostSummary).border_title = Content("connecting…")
        self.table.loading = True
        self.table.focus()
        self.post_message(DashboardReady(self))

    @property
    def table(self) -> VmTable:
        return self.query_one("#vms", VmTable)

    # --- the API the app and the other engineers' screens use ---------------------------------------

    def selected_vm_id(self) -> str | None:
        table = self.query_one_optional("#vms", VmTable)
        return table.selected_vm_id() if table else None

    def marked_vm_ids(self) -> list[str]:
        table = self.query_one_optional("#vms", VmTable)
        return table.marked_vm_ids() if table else []

    def show(self, diagnosis: Diagnosis, read_at: str) -> None:
        """A fresh diagnosis: update in place, clear any stale banner."""
        first = self.diagnosis is None
        self.diagnosis, self._read_at = diagnosis, read_at
        guest = self.session.guest_credential
        rejected = self.session.guest_login_rejected
        self.query_one("#summary", HostSummary).show(
            diagnosis, guest.username if guest else "", read_at, login_rejected=rejected
        )
        self.query_one("#stale", Static).display = False
        self.table.loading = False
        self.table.show(diagnosis.vms)
        self._after_table_change()
        if first:
            self.table.focus()

    def show_stale(self, reason: str) -> None:
        """The refresh failed: keep what is shown and say since when it is old, and why."""
        banner = self.query_one("#stale", Static)
        if self.diagnosis is None:
            self.table.loading = False
            text = safe.assemble(("No data — ", "bold"), safe.text(reason, limit=400), "  (r to retry)")
        else:
            since = f"Stale since {self._read_at} — "
            text = safe.assemble((since, "bold"), safe.text(reason, limit=400), "  (r to retry)")
        banner.update(text)
        banner.display = True

    def set_busy(self, busy: bool) -> None:
        self.query_one("#summary", HostSummary).set_busy(busy, self._read_at)

    def go_to_vm(self, vm_id: str) -> None:
        """Select a VM, clearing the filter if it hides it."""
        if not self.table.move_to(vm_id):
            self._clear_filter()
            self.table.move_to(vm_id)
        self.table.focus()

    # --- events ------------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()
        self._sync_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)
            self._after_table_change()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    # --- actions -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Verbs on a VM are dimmed while no VM is selected."""
        if action in ("mark", "install_key", "details", "fix"):
            return True if self.selected_vm_id() else None
        return True

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.disabled = False
        field.display = True
        field.focus()

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus or field.value:
            self._clear_filter()
        self.remove_class("-details-open")
        self.table.focus()

    def action_details(self) -> None:
        self._open_details()

    def _open_details(self) -> None:
        """Focus the details; on a short terminal they take the table's place until escape (app.tcss)."""
        self.add_class("-details-open")
        self.call_after_refresh(self.query_one("#details", VmDetails).focus)

    def action_mark(self) -> None:
        vm_id = self.selected_vm_id()
        if vm_id:
            self.table.toggle_mark(vm_id)
            self._update_list_title()
            self.table.action_cursor_down()  # k9s and htop: mark, then the next row

    def action_fix(self) -> None:
        """The selected VM's guided fix; with no VM in the table (an empty filter result) nothing: H fixes the host."""
        vm_id = self.selected_vm_id()
        if vm_id:
            self.post_message(FixRequested([vm_id], "fix"))

    def action_fix_host(self) -> None:
        self.post_message(FixRequested([], "fix"))

    def action_host_findings(self) -> None:
        if self.diagnosis is not None:
            self.query_one("#details", VmDetails).show_host(self.diagnosis)
            self._open_details()

    def action_install_key(self) -> None:
        vm_id = self.selected_vm_id()
        if vm_id:
            self.post_message(FixRequested([vm_id], "key"))

    def action_fix_marked(self) -> None:
        marked = self.marked_vm_ids()
        if marked:
            self.post_message(FixRequested(marked, "batch"))
        else:
            self.notify("No VM is marked: mark VMs with space, then F fixes them.", markup=False)

    def action_credentials(self) -> None:
        from avma_tui.ui.screens.credentials import CredentialsScreen

        current = self.session.guest_credential
        self.app.push_screen(
            CredentialsScreen(current.username if current else "", failure=self.session.guest_login_failure),
            self._credentials_given,
        )

    def _credentials_given(self, credential: Credential | None) -> None:
        if credential is not None:
            self.post_message(CredentialsGiven(credential))

    def action_events(self) -> None:
        from avma_tui.ui.screens.events import EventsScreen

        if self.diagnosis is not None:
            self.app.push_screen(EventsScreen(self.diagnosis.inventory.events))

    def action_sort_next(self) -> None:
        following = _SORTABLE[(_SORTABLE.index(self.table.sort_column) + 1) % len(_SORTABLE)]
        self.table.sort_by(following)
        self._after_table_change()

    def action_sort_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)
        self._after_table_change()

    # --- internals ---------------------------------------------------------------------------------

    def on_vm_table_sorted(self) -> None:
        self._after_table_change()

    def on_content_table_hidden(self, event: ContentTable.Hidden) -> None:
        """Say which columns a narrow terminal leaves out, and where to see them."""
        subtitle = f"{', '.join(event.hidden)} hidden: enter shows all" if event.hidden else ""
        self.query_one("#list", Vertical).border_subtitle = subtitle

    def _clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        field.disabled = True
        self.table.set_filter("")
        self._after_table_change()

    def _after_table_change(self) -> None:
        self._show_selected()
        self._update_list_title()
        self._sync_bindings()

    def _sync_bindings(self) -> None:
        """The footer dims the VM verbs while no VM is selected (check_action). Rebuilding it lays the screen
        out again (tens of ms at 500 VMs, after every license chunk and key press), so only when that changes."""
        enabled = self.selected_vm_id() is not None
        if enabled != self._verbs_enabled:
            self._verbs_enabled = enabled
            self.refresh_bindings()

    def _show_selected(self) -> None:
        if self.diagnosis is None:
            return
        details = self.query_one("#details", VmDetails)
        vm_id = self.selected_vm_id()
        diag = self.diagnosis.for_vm(vm_id) if vm_id else None
        if diag is not None:
            details.show_vm(diag)
        else:
            details.show_host(self.diagnosis)

    def _update_list_title(self) -> None:
        table = self.table
        arrow = "↓" if table.sort_reverse else "↑"
        parts: list[str | Content | tuple[object, str]] = [
            f"VMs {table.row_count}/{table.vm_count}" if table.filter_text else f"VMs {table.vm_count}",
            f" · sort {COLUMNS[table.sort_column]} {arrow}",
        ]
        if table.filter_text and not table.row_count:
            parts = ["no VM matches '", (table.filter_text, "bold"), "' (escape clears)"]
        elif table.filter_text:
            parts += [" · filter ", (table.filter_text, "bold")]
        if table.marks:
            parts.append(f" · {len(table.marks)} marked (F fixes)")
        self.query_one("#list", Vertical).border_title = safe.assemble(*parts, limit=40)
