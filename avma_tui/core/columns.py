"""Fitting a table's columns into a width: one rule for the report and every table of the TUI.

Each table names its own steps, least important column first: ("cut", column, narrowest) cuts a
column down to at most `narrowest` cells (never narrower than the room it lacks requires), and
("drop", column, 0) leaves it out. Steps are taken in order until the table fits; a column no step
names never shrinks, so a table's key columns stay whole unless a step says otherwise. Cells that
are cut end in an ellipsis: that is the renderer's half of the rule (`services.report._fit`,
`ui.widgets.content_table`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)

#: (action, column, narrowest): see the module docstring.
FitStep = tuple[Literal["cut", "drop"], K, int]


def fit_widths(
    natural: Mapping[K, int], width: int | None, steps: Sequence[FitStep[K]], gap: int
) -> dict[K, int | None]:
    """Column widths for a table at most `width` cells wide, `gap` cells between columns.

    `natural` is each column's widest cell (its header included); None marks a column left out.
    `width` None means unbounded: every column keeps its natural width. When every step is taken
    and the table is still too wide, the result is too wide: the caller scrolls or wraps rather than
    lose a column no step names.
    """
    widths: dict[K, int | None] = dict(natural)
    if width is None:
        return widths

    def excess() -> int:
        shown = [w for w in widths.values() if w is not None]
        return sum(shown) + gap * (len(shown) - 1) - width

    cut: list[K] = []
    for action, column, narrowest in steps:
        over = excess()
        if over <= 0:
            break
        current = widths.get(column)
        if current is None:
            continue
        widths[column] = None if action == "drop" else max(min(current, narrowest), current - over)
        cut.append(column)
    # A later step may have freed more than was missing: the room left goes back to the columns that were
    # cut, the most important (cut last) first.
    for column in reversed(cut):
        current, spare = widths[column], -excess()
        if spare <= 0:
            break
        if current is not None:
            widths[column] = min(natural[column], current + spare)
    return widths
