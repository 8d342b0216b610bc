"""A DataTable of Content cells whose columns are as wide as their widest cell.

Every untrusted cell is Content (see `ui.safe`), but DataTable 8.2 measures Rich renderables
only: it counts a Content cell as one cell wide, so its auto width cuts every column down to its
header. `fit_columns()` sizes the columns from Content's own cell length instead.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import DataTable


class ContentTable(DataTable[Content]):
    """Call `fit_columns()` after adding or changing rows."""

    def fit_columns(self) -> None:
        for key, column in self.columns.items():
            column.content_width = max([column.label.cell_len, *(cell.cell_length for cell in self.get_column(key))])
        self._require_update_dimensions = True  # recompute the scrollable width on the next idle
        self.refresh()
