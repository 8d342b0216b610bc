"""A DataTable of Content cells whose columns take the room there is and cut with "…", never silently.

Every untrusted cell is Content (see `ui.safe`), but DataTable 8.2 measures Rich renderables
only: it counts a Content cell as one cell wide, so its auto width cuts every column down to its
header, and a cell wider than its column is cropped with no sign that anything is missing.
So this table sizes its columns itself: each column is as wide as its widest cell, and when the
table is wider than the room it has, the table's FIT steps (`core.columns`) cut or drop its least
important columns until it fits. A cut cell ends in "…"; a column left out is listed in
`hidden` (its cells stay in the table, and come back when there is room).

The columns are fitted again after rows are added or cells change (once per batch of changes) and
when the table is resized.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.events import Resize
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.style import Style as ContentStyle
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

from avma_tui.core.columns import FitStep, fit_widths

if TYPE_CHECKING:
    from typing_extensions import Self


class _Cut:
    """Renders a Content within the width Rich offers, ending in "…" when it had to be cut."""

    def __init__(self, content: Content) -> None:
        self.content = content

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        content = self.content
        if content.cell_length > options.max_width:
            content = content.truncate(options.max_width, ellipsis=True)
        yield Content.__rich__(content)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, self.content.cell_length)


class FitCell(Content):
    """A table cell: the same Content, drawn with an ellipsis when its column is narrower."""

    @classmethod
    def of(cls, content: Content) -> FitCell:
        if isinstance(content, FitCell):
            return content
        return cls(content.plain, list(content.spans), content.cell_length, strip_control_codes=False)

    def __rich__(self) -> _Cut:
        return _Cut(self)


class ContentTable(DataTable[Content]):
    """Columns sized from Content; `FIT` says which columns give way, and how, when the room is short."""

    #: Steps by column key, least important first (`core.columns`); none: the table scrolls sideways.
    FIT: ClassVar[tuple[FitStep[str], ...]] = ()

    class Hidden(Message):
        """The columns left out to fit changed (`hidden`: their labels; empty when every column is shown)."""

        def __init__(self, table: ContentTable, hidden: list[str]) -> None:
            super().__init__()
            self.table = table
            self.hidden = hidden

        @property
        def control(self) -> ContentTable:
            return self.table

    def __init__(self, *, fit: tuple[FitStep[str], ...] | None = None, **kwargs: Any) -> None:
        """`fit`: this table's steps, instead of the class's FIT."""
        super().__init__(**kwargs)
        self.fit = self.FIT if fit is None else fit
        #: Labels of the columns left out to fit the width, in display order.
        self.hidden: list[str] = []
        self._fit_pending = False
        #: Per column key: how many of its cells have each width, kept as cells come and go, so fitting
        #: costs the number of columns, not of cells (a refresh of 2000 rows changes a few).
        self._cell_widths: dict[str, Counter[int]] = defaultdict(Counter)
        self._drawn_width = 0
        self._fitted_room: int | None = None

    # --- cells are stored as FitCell, so every one of them is cut with an ellipsis --------------------

    def add_row(
        self, *cells: Content, height: int | None = 1, key: str | None = None, label: Text | str | None = None
    ) -> RowKey:
        self._fit_soon()
        fitted = [FitCell.of(cell) for cell in cells]
        for column_key, cell in zip(self.columns, fitted, strict=False):
            self._count(column_key, cell, 1)
        return super().add_row(*fitted, height=height, key=key, label=label)

    def update_cell(
        self, row_key: RowKey | str, column_key: ColumnKey | str, value: Content, *, update_width: bool = False
    ) -> None:
        self._fit_soon()
        cell = FitCell.of(value)
        self._count(column_key, self.get_cell(row_key, column_key), -1)
        super().update_cell(row_key, column_key, cell, update_width=False)
        self._count(column_key, cell, 1)

    def remove_row(self, row_key: RowKey | str) -> None:
        for column_key, cell in zip(self.columns, self.get_row(row_key), strict=False):
            self._count(column_key, cell, -1)
        super().remove_row(row_key)
        self._fit_soon()

    def clear(self, columns: bool = False) -> Self:
        self._cell_widths.clear()
        return super().clear(columns)

    def _count(self, column_key: ColumnKey | str, cell: Content | None, change: int) -> None:
        if cell is None:
            return
        widths = self._cell_widths[str(column_key.value if isinstance(column_key, ColumnKey) else column_key)]
        widths[cell.cell_length] += change
        if widths[cell.cell_length] <= 0:
            del widths[cell.cell_length]

    # --- widths ---------------------------------------------------------------------------------------

    def room(self) -> int | None:
        """Cells the columns may take (a vertical scrollbar's width kept free when rows overflow)."""
        region = self.content_region
        if not region.width:
            return None  # not laid out yet: a resize fits the columns
        width = region.width
        header = self.header_height if self.show_header else 0
        if self.row_count + header > region.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def fit_columns(self, *, redraw: bool = True) -> None:
        """Size every column from its cells, then follow FIT until the table fits its room (`redraw`: ask for a
        repaint when a width changed; not when called while drawing)."""
        self._fit_pending = False
        natural = {
            str(key.value): max([column.label.cell_len, *self._cell_widths[str(key.value)]])
            for key, column in self.columns.items()
        }
        room = self._fitted_room = self.room() if self.fit else None
        padding = 2 * self.cell_padding
        # Each column takes its width plus the padding on both sides: gaps of `padding`, one padding extra.
        # A column left out keeps its padding (a DataTable cannot hide a column), so its room is taken again.
        widths = fit_widths(natural, None, (), padding)
        while room is not None:
            left_out = sum(width is None for width in widths.values())
            widths = fit_widths(natural, room - padding * (1 + left_out), self.fit, padding)
            if sum(width is None for width in widths.values()) == left_out:
                break
        hidden, resized = [], False
        for key, column in self.columns.items():
            width = widths[str(key.value)]
            if width is None:
                hidden.append(column.label.plain)
            resized = resized or column.auto_width or column.width != (width or 0)
            column.label.overflow = "ellipsis"
            column.label.no_wrap = True
            column.auto_width = False
            column.width = width or 0
        if hidden != self.hidden:
            self.hidden = hidden
            self.post_message(self.Hidden(self, hidden))
        self._require_update_dimensions = True  # recompute the scrollable width on the next idle
        if resized:  # every cached line is drawn at the old widths (cells that changed redraw themselves)
            self._clear_caches()
            if redraw:
                self.refresh()

    def _fit_soon(self) -> None:
        if not self._fit_pending:
            self._fit_pending = True
            self.call_later(self._fit_if_pending)

    def _fit_if_pending(self) -> None:
        if self._fit_pending and self.is_mounted:
            self.fit_columns()

    def _on_resize(self, event: Resize) -> None:
        """Fit the columns to the new room. This replaces DataTable's own handler, which voids every cached cell
        on any resize, so that a resize that changes nothing a cell shows redraws none: the table's first
        resize, after its first rows were drawn at its size, or a new height (a banner above appears). A cell
        depends on its column's width, which fit_columns() looks after; a cached row on the table's width,
        which render_lines() looks after."""
        event.prevent_default()  # DataTable._on_resize: `self._update_count += 1`, whatever changed
        self.fit_columns()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw at the columns' widths for this room: rows added while the table had no size (covered by its
        loading indicator) are fitted here, in the frame that first lays the table out, and drawn once."""
        if self.fit and self.room() != self._fitted_room:
            self.fit_columns(redraw=False)
        if self.size.width != self._drawn_width:  # a cached row is padded out to the width it was drawn at
            self._drawn_width = self.size.width
            self._row_render_cache.clear()
        return super().render_lines(crop)

    # --- drawing a cell ---------------------------------------------------------------------------------

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A one-line body cell drawn straight from its Content: the same segments as DataTable's own path
        (Rich's Styled(Padding(cell)) rendered by the console), at a fraction of its cost. That path made a
        table the most expensive widget of every full repaint (the first dashboard, a dialog over it); the
        header, row labels and anything but a FitCell take it still (tests/ui/test_columns.py proves both
        paths draw the same)."""
        padding = self.cell_padding
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row_key is None or row is None or column_key is None or row.height != 1 or width <= 2 * padding:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        lines = self._cell_render_cache.get(key)
        if lines is not None:
            return lines
        cell = self._get_row_renderables(row_index).cells[column_index]
        if not isinstance(cell, FitCell):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        inner = width - 2 * padding
        content: Content = cell.truncate(inner, ellipsis=True) if cell.cell_length > inner else cell
        null = Style.null()
        side = [Segment(" " * padding, null)] if padding else []
        text = Segment.adjust_line_length(content.render_segments(ContentStyle()), inner, style=null, pad=True)
        lines = [list(Segment.apply_style([*side, *text, *side], pre, post))]
        self._cell_render_cache[key] = lines
        return lines

    # DataTable's own width passes cannot measure Content, and cost the event loop dearly: every new row is
    # measured cell by cell (500 rows at once after the first inventory), and an updated cell narrower than its
    # column has the whole column measured again. fit_columns() sizes the columns; what is left of those passes
    # is the scrollable size (every row is one line high).

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        self._require_update_dimensions = True

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(())
