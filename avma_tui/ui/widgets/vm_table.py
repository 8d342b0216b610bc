"""The VM table: one row per VM (row key = VM Id), updated in place, filtered, sorted, with marks.

A refresh must not rebuild the table: the admin's cursor, scroll position, filter and marks all
survive. So `show()` diffs: rows for VMs that are gone (or filtered out) are removed, new ones
added, and only cells whose content changed are updated. The cursor follows the VM, not the row
index, across refreshes and sorts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from avma_tui.core.model import VmDiagnosis
from avma_tui.ui.widgets.cells import COLUMNS, FIT_STEPS, activation_cell, mark_cell, os_cell, row_cells
from avma_tui.ui.widgets.content_table import ContentTable


def matches(diag: VmDiagnosis, needle: str) -> bool:
    """Does the VM match the filter text, case-insensitively, in any of what an admin would type?

    Its name, state, status (as the Activation column shows it, "not read", and as reports name it,
    "not-eligible"), a finding's code or severity ("error", "warning"), and the guest OS as the
    table shows it ("2019 Standard") or as the guest reports it ("Windows Server 2019 Standard").
    """
    needle = needle.strip().casefold()
    if not needle:
        return True
    guest = diag.vm.os
    haystack = [
        diag.vm.name,
        diag.vm.state,
        diag.status.value,
        activation_cell(diag)[0].plain,
        os_cell(diag)[0].plain,
        guest.os_name if guest is not None else "",
        *(f.code for f in diag.findings),
        *(f.severity.value for f in diag.findings),
    ]
    return any(needle in item.casefold() for item in haystack)


def _same(a: Content, b: Content) -> bool:
    """Content's == compares text only; a cell whose colour changed must be updated too."""
    return a.plain == b.plain and a.spans == b.spans


class VmTable(ContentTable):
    """The VMs of one host. Marks and filter are kept here so they survive every refresh.

    Moves the way k9s, htop and less do: j/k down/up, g/Home the first VM, G/End the last.
    """

    FIT = FIT_STEPS
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="down", tooltip="Next VM (also ↓)"),
        Binding("k", "cursor_up", "Up", show=False, id="up", tooltip="Previous VM (also ↑)"),
        Binding("g,home", "scroll_top", "First", show=False, id="first", tooltip="First VM"),
        Binding("G,end", "scroll_bottom", "Last", show=False, id="last", tooltip="Last VM"),
    ]

    class Sorted(Message):
        """The sort order changed from inside the table (a header click)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.marks: set[str] = set()
        self.filter_text = ""
        self.sort_column = "name"
        self.sort_reverse = False
        self._diagnoses: dict[str, VmDiagnosis] = {}
        # What each shown row was built from: a VM whose diagnosis and mark are unchanged is skipped,
        # so a refresh of 2000 VMs costs only the VMs that changed (bench/RESULTS.md, "Profile").
        self._shown: dict[str, tuple[VmDiagnosis, bool]] = {}
        # column → cell text → sort key; the DataTable hands its sort key function cell values only.
        self._sort_keys: dict[str, dict[str, Any]] = {column: {} for column in COLUMNS}

    def on_mount(self) -> None:
        for key, label in COLUMNS.items():
            self.add_column(label, key=key)

    # --- what other widgets ask -------------------------------------------------------------------

    @property
    def vm_count(self) -> int:
        return len(self._diagnoses)

    def selected_vm_id(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        diagnosis = self._diagnoses.get(key or "")
        return diagnosis.vm.id if diagnosis else key

    def marked_vm_ids(self) -> list[str]:
        """Marked VMs that still exist, in the host's order (marks hidden by the filter included)."""
        return list(dict.fromkeys(d.vm.id for key, d in self._diagnoses.items() if key in self.marks))

    # --- changes ------------------------------------------------------------------------------------

    def show(self, diagnoses: Iterable[VmDiagnosis]) -> None:
        """Show a new diagnosis, changing only what changed."""
        self._diagnoses = {}
        for diagnosis in diagnoses:
            # Rows are keyed by VM id; a host that reports one id twice still gets a row per VM, as in `report`.
            key, copy = diagnosis.vm.id, 1
            while key in self._diagnoses:
                copy += 1
                key = f"{diagnosis.vm.id} #{copy}"
            self._diagnoses[key] = diagnosis
        self.marks &= self._diagnoses.keys()
        self._sync()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._sync()

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._keep_cursor(self._sort)

    def toggle_mark(self, vm_id: str) -> None:
        if vm_id in self.marks:
            self.marks.discard(vm_id)
        else:
            self.marks.add(vm_id)
        content, sort_key = mark_cell(vm_id in self.marks)
        self._sort_keys["mark"][content.plain] = sort_key
        self.update_cell(vm_id, "mark", content)

    def unmark(self, vm_ids: Iterable[str]) -> None:
        for vm_id in vm_ids:
            if vm_id in self.marks:
                self.toggle_mark(vm_id)

    def move_to(self, vm_id: str) -> bool:
        """Put the cursor on a VM; False when the VM is not in the table (gone or filtered out)."""
        if vm_id not in self.rows:
            return False
        self.move_cursor(row=self.get_row_index(vm_id))
        return True

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by that column; a second click reverses."""
        column = str(event.column_key.value)
        self.sort_by(column, reverse=not self.sort_reverse if column == self.sort_column else False)
        self.post_message(self.Sorted())

    # --- internals ----------------------------------------------------------------------------------

    def _sync(self) -> None:
        self._keep_cursor(self._apply)

    def _apply(self) -> None:
        wanted = {vm_id: d for vm_id, d in self._diagnoses.items() if matches(d, self.filter_text)}
        gone = [row_key for row_key in self.rows if row_key.value not in wanted]
        for row_key in gone:
            self.remove_row(row_key)  # the others keep their order
            self._shown.pop(str(row_key.value), None)
        moved = False  # a row added, or a row's sort cell changed: the order must be made again
        for vm_id, diag in wanted.items():
            built_from = (diag, vm_id in self.marks)
            if vm_id in self.rows and self._shown.get(vm_id) == built_from:
                # VmDiagnosis is frozen: equal means every cell would be the same. An unchanged VM keeps its
                # diagnosis object (core.findings.diagnose), so this costs an identity check.
                continue
            self._shown[vm_id] = built_from
            cells = row_cells(*built_from)
            for column, (content, sort_key) in cells.items():
                self._sort_keys[column][content.plain] = sort_key
            if vm_id in self.rows:
                moved = self._update_row(vm_id, {column: content for column, (content, _) in cells.items()}) or moved
            else:
                self.add_row(*(content for content, _ in cells.values()), key=vm_id)
                moved = True
        if moved:
            self._sort()
        if self._fit_pending:  # rows came, went or changed: fit now, so no frame shows the old widths
            self.fit_columns()

    def _update_row(self, vm_id: str, cells: dict[str, Content]) -> bool:
        """Update the cells that changed; True when one the order depends on did."""
        moved = False
        for column, content in cells.items():
            try:
                current = self.get_cell(vm_id, column)
            except CellDoesNotExist:
                current = None
            if current is None or not _same(current, content):
                self.update_cell(vm_id, column, content)
                moved = moved or column in (self.sort_column, "name")
        return moved

    def _sort(self) -> None:
        keys, names = self._sort_keys[self.sort_column], self._sort_keys["name"]

        def key(cells: tuple[Content, Content]) -> tuple[Any, Any]:
            return keys[cells[0].plain], names[cells[1].plain]

        self.sort(self.sort_column, "name", key=key, reverse=self.sort_reverse)

    def _keep_cursor(self, change: Callable[[], None]) -> None:
        """Run `change` and put the cursor back on the VM it was on (if that VM is still shown)."""
        selected = self.selected_vm_id()
        change()
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)
