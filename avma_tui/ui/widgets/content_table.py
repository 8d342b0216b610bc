"""A DataTable of Content cells whose columns are as wide as their widest cell.

Every untrusted cell is Content (see `ui.safe`), but DataTable 8.2 measures Rich renderables
only: it counts a Content cell as one cell wide, so its auto width cuts every column down to its
header. `fit_columns()` sizes the columns from Content's own cell length instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.content import Content
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey


class ContentTable(DataTable[Content]):
    """Call `fit_columns()` after adding or changing rows."""

    def fit_columns(self) -> None:
        for key, column in self.columns.items():
            column.content_width = max([column.label.cell_len, *(cell.cell_length for cell in self.get_column(key))])
        self._require_update_dimensions = True  # recompute the scrollable width on the next idle
        self.refresh()

    # DataTable's own width passes cannot measure Content, and cost the event loop dearly: for every updated
    # cell narrower than its column it measures the whole column again (a license chunk of 16 VMs on a 500-VM
    # host: some 16 000 measurements in one idle), and every new row is measured cell by cell. fit_columns()
    # sizes the columns; what is left of those passes is the scrollable size (every row is one line high).

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        self._require_update_dimensions = True

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(())
