"""Issue 13 item 12: table columns take the room there is and never cut a cell without an ellipsis.

Read from what the screen shows (the compositor's lines), not from the widget's state: at 80x24,
120x40 and 200x50 every visible cell of every shown column is either whole or ends in "…", no
table needs sideways scrolling, and the columns an admin came for stay on screen at 80 columns
(dashboard: VM, Activation, Worst finding; audit viewer: Time, Target, Action, Outcome; batch fix:
VM, Step, Outcome).
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.cells import get_character_cell_size
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.content import Content

from avma_tui.core.columns import fit_widths
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog, Target
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.audit import PAGE, AuditScreen
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.widgets.cells import COLUMNS as VM_COLUMNS
from avma_tui.ui.widgets.cells import FIT_STEPS
from avma_tui.ui.widgets.content_table import ContentTable
from avma_tui.ui.widgets.fix.batch import BatchFix
from avma_tui.ui.widgets.vm_table import VmTable
from tests.ui.conftest import FIXED_TIME
from tests.ui.fix_support import GUEST, click, fast_app, vm_id, wizard

SIZES = [(80, 24), (100, 30), (120, 40), (200, 50)]


def _screen_lines(app: App[Any]) -> list[list[str]]:
    """The screen, one list item per cell (a wide character fills two: itself, then "")."""
    lines = []
    for strip in app.screen._compositor.render_strips():
        cells: list[str] = []
        for segment in strip:
            start = len(cells)
            for ch in segment.text:
                size = get_character_cell_size(ch)
                if size == 0 and cells:
                    cells[-1] += ch
                else:
                    cells += [ch] + [""] * (size - 1)
            cells += [""] * (start + segment.cell_length - len(cells))  # an emoji with VS16: Textual counts 2
        lines.append(cells)
    return lines


def shown_cells(app: App[Any], table: ContentTable) -> list[tuple[str, str, str]]:
    """(column label, the cell's text, what the screen shows of it) for every visible cell of every shown column."""
    lines = _screen_lines(app)
    region, pad = table.region, table.cell_padding
    spans, x = [], region.x - round(table.scroll_x)
    for index, column in enumerate(table.ordered_columns):
        if column.width:
            spans.append((index, column.label.plain, x + pad, column.width))
        x += column.get_render_width(table)
    first, top = round(table.scroll_y), region.y + table.header_height
    found = []
    for row_index in range(first, table.row_count):
        y = top + row_index - first
        if y >= table.scrollable_content_region.bottom:
            break
        cells = table.get_row_at(row_index)
        for index, label, start, width in spans:
            found.append((label, cells[index].plain.rstrip(), "".join(lines[y][start : start + width]).rstrip()))
    return found


def cut_without_ellipsis(app: App[Any], table: ContentTable) -> list[tuple[str, str, str]]:
    """The visible cells whose screen text is neither the whole cell nor its start followed by "…"."""
    return [
        (label, text, screen)
        for label, text, screen in shown_cells(app, table)
        if screen != text and not (screen.endswith("…") and text.startswith(screen[:-1]))
    ]


def columns_on_screen(app: App[Any], table: ContentTable) -> set[str]:
    """Labels of the columns shown whole (header and cells) inside the table and the screen."""
    right = min(table.scrollable_content_region.right, app.size.width)
    on_screen, x = set(), table.region.x - round(table.scroll_x)
    for column in table.ordered_columns:
        width = column.get_render_width(table)
        if column.width and x >= table.region.x and x + width <= right:
            on_screen.add(column.label.plain)
        x += width
    return on_screen


def _dashboard_app(login: bool, scenario: str = "demo.toml") -> AvmaApp:
    demo = open_simulated(asset("scenarios", scenario))
    session = Session(demo, guest_credential=Credential("Administrator", "Passw0rd!") if login else None)
    return AvmaApp(session, refresh_interval=0, clock=lambda: FIXED_TIME)


@pytest.mark.parametrize("login", [False, True], ids=["before-login", "after-login"])
@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_dashboard_columns_fit_and_cut_with_an_ellipsis(settle: Any, size: tuple[int, int], login: bool) -> None:
    app = _dashboard_app(login)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(VmTable)
        assert cut_without_ellipsis(app, table) == []
        assert table.max_scroll_x == 0, "the table scrolls sideways"
        shown = columns_on_screen(app, table)
        assert {"VM", "Activation", "Worst finding"} <= shown
        assert shown | set(table.hidden) == set(VM_COLUMNS.values())
        subtitle = str(app.screen.query_one("#list").border_subtitle or "")
        assert all(label in subtitle for label in table.hidden)
        if size[0] >= 120:
            assert {"KVP", "Guest OS"} <= shown, "the guest OS left out while there is room"
        if size == (200, 50):
            whole = [(label, text) for label, text, screen in shown_cells(app, table) if screen != text]
            assert whole == [], "cut at 200 columns"


async def test_the_dashboard_gives_the_room_back_when_the_terminal_grows(settle: Any) -> None:
    app = _dashboard_app(login=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(VmTable)
        assert "Guest OS" in table.hidden
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert table.hidden == []
        assert cut_without_ellipsis(app, table) == []
        assert app.screen.query_one("#list").border_subtitle in ("", None)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_hostile_names_are_cut_with_an_ellipsis_and_keep_the_key_columns_on_screen(
    settle: Any, size: tuple[int, int]
) -> None:
    """A 400-character VM name, right-to-left text and emoji (two cells wide) still leave room for the rest."""
    app = _dashboard_app(login=True, scenario="hostile.toml")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(VmTable)
        assert cut_without_ellipsis(app, table) == []
        assert table.max_scroll_x == 0
        assert {"VM", "Activation", "Worst finding"} <= columns_on_screen(app, table)
        assert any(screen.endswith("…") for label, _, screen in shown_cells(app, table) if label == "VM")
        await pilot.press("e")
        await settle(pilot)
        events = app.screen.query_one("#events", ContentTable)
        assert cut_without_ellipsis(app, events) == []
        assert events.max_scroll_x == 0
        assert {"Time (UTC)", "VM", "Notification"} <= columns_on_screen(app, events)


@pytest.mark.parametrize(
    "natural",
    [
        {"mark": 1, "name": 10, "state": 7, "activation": 21, "finding": 24, "kvp": 12, "os": 33},
        {"mark": 1, "name": 48, "state": 16, "activation": 28, "finding": 40, "kvp": 16, "os": 64},  # every cap
    ],
)
def test_vm_name_activation_and_finding_are_never_left_out_at_80_columns(natural: dict[str, int]) -> None:
    """The table's room at 80x24 is 76 cells (borders and a scrollbar), 2 cells of padding per column."""
    room, padding = 76, 2
    widths = fit_widths(natural, room - padding, FIT_STEPS, padding)
    hidden = sum(width is None for width in widths.values())
    widths = fit_widths(natural, room - padding * (1 + hidden), FIT_STEPS, padding)
    assert all(widths[key] for key in ("name", "activation", "finding"))
    shown = [width for width in widths.values() if width is not None]
    assert sum(shown) + padding * len(widths) <= room


async def test_audit_viewer_keeps_the_outcome_on_screen_at_80x24() -> None:
    log = AuditLog(operator="administrator-with-a-long-name")
    for index in range(30):
        vm = f"SQL-PRODUCTION-CLUSTER-NODE-{index:02}.contoso.example"
        intent = log.intent(
            host="hv01.a-rather-long-domain-name.contoso.example", remote_user="admin",
            target=Target("vm", vm, f"id-{index}"), action="install_key", interaction=f"i{index}",
        )  # fmt: skip
        log.result(intent, outcome="failed" if index % 3 else "ok")

    class Harness(App[None]):
        def on_mount(self) -> None:
            self.push_screen(AuditScreen(log))

    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        table = app.screen.query_one("#audit-records", ContentTable)
        assert table.row_count == min(60, PAGE)  # the first page
        assert {"Time (UTC)", "Target", "Action", "Outcome"} <= columns_on_screen(app, table)
        assert table.max_scroll_x == 0
        assert cut_without_ellipsis(app, table) == []
        assert any(screen.endswith("…") for label, _, screen in shown_cells(app, table) if label == "Target")
        assert "failed" in [screen for label, _, screen in shown_cells(app, table) if label == "Outcome"]
        title = str(app.screen.query_one("#audit-detail").border_title)
        assert all(label in title for label in table.hidden) and table.hidden


async def test_batch_view_keeps_step_and_outcome_on_screen_at_80x24(settle: Any) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for name in ("PRINT01", "SQL01", "TEST-EVAL01", "APP2025"):
            app.screen.table.toggle_mark(vm_id(app, name))
        await pilot.press("F")
        await settle(pilot)
        body = wizard(app).body
        assert isinstance(body, BatchFix)
        await click(pilot, "#batch-run")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        for _ in range(200):
            await settle(pilot)
            if body.finished:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        table = app.screen.query_one("#batch-table", ContentTable)
        steps = [screen for label, _, screen in shown_cells(app, table) if label == "Step"]
        assert any(steps), "no step shown"
        assert {"VM", "Step", "Outcome"} <= columns_on_screen(app, table)
        assert table.max_scroll_x == 0
        assert cut_without_ellipsis(app, table) == []


class OneColumn(App[None]):
    """A bare ContentTable with one column, Name (key "name")."""

    def compose(self) -> ComposeResult:
        yield ContentTable(fit=())

    def on_mount(self) -> None:
        self.query_one(ContentTable).add_column("Name", key="name")


async def test_a_column_follows_its_widest_cell_as_cells_come_and_go() -> None:
    """The table keeps each column's cell widths as rows change, so fitting never scans every cell: the
    width must still follow the widest cell there is now, shrinking as well as growing."""
    app = OneColumn()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ContentTable)
        table.add_row(Content("short"), key="a")
        table.add_row(Content("a much longer name"), key="b")

        async def width() -> int:
            await pilot.pause()
            table.fit_columns()
            return table.columns[next(iter(table.columns))].width

        assert await width() == 18
        table.remove_row("b")
        assert await width() == 5
        table.update_cell("a", "name", Content("x"))
        assert await width() == 4  # the header
        table.update_cell("a", "name", Content("grown wider now"))
        assert await width() == 15
        table.clear()
        table.add_row(Content("ab"), key="c")
        assert await width() == 4


async def test_a_body_cell_is_drawn_the_same_as_datatable_draws_it() -> None:
    """ContentTable draws one-line body cells itself, for speed (it overrides DataTable's private
    `_render_cell`); it must give exactly DataTable's segments: styled spans, wide characters, cells cut
    with an ellipsis, empty cells, every cell padding, the cursor and the hover row, plain and styled bases."""
    from rich.style import Style
    from textual.widgets import DataTable

    cells = [
        Content(""),
        Content("plain"),
        Content.from_markup("[bold red]Error[/] and [i]more[/i] text that runs long"),
        Content("名前が長い仮想マシン"),
        Content.from_markup("[reverse]x[/]y[underline]z[/]"),
    ]

    app = OneColumn()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ContentTable)
        for index, cell in enumerate(cells):
            table.add_row(cell, key=str(index))
        await pilot.pause()
        compared = 0
        for padding in (0, 1, 2):
            table.cell_padding = padding
            for row in range(len(cells)):
                for width in (2 * padding + 1, 2 * padding + 4, 30):
                    for base in (Style.null(), Style(color="white", bgcolor="blue", bold=True)):
                        for cursor in (False, True):
                            for hover in (False, True):
                                table._cell_render_cache.clear()
                                ours = table._render_cell(row, 0, base, width, cursor, hover)
                                table._cell_render_cache.clear()
                                theirs = DataTable._render_cell(table, row, 0, base, width, cursor, hover)
                                assert ours == theirs, (padding, cells[row].plain, width, base, cursor, hover)
                                compared += 1
        assert compared == 3 * len(cells) * 3 * 2 * 2 * 2


class _CountingCache(LRUCache[Any, Any]):
    """A table's cell cache that counts the body cells drawn (every miss is stored once)."""

    def __init__(self, header: object) -> None:
        super().__init__(10_000)
        self.header, self.drawn = header, 0

    def set(self, key: Any, value: Any) -> None:
        self.drawn += key[0] != self.header
        super().set(key, value)

    __setitem__ = set


class FullHeight(OneColumn):
    """OneColumn whose table fills the screen, as the dashboard's does."""

    CSS = "ContentTable { height: 1fr; }"


class CoveredAtFirst(FullHeight):
    """FullHeight whose table is under its loading indicator from the start, as the dashboard's is while it
    connects, so it has never been laid out when its rows arrive."""

    def on_mount(self) -> None:  # after OneColumn's: Textual calls each class's own handler
        self.query_one(ContentTable).loading = True


async def test_a_table_redraws_its_cells_only_when_what_they_show_changes(settle: Any) -> None:
    """Each full redraw of the dashboard's table cost a frame over 50 ms on the benchmark VM (issue 15 item 7):
    rows filled in under the loading indicator were drawn, then drawn again on the table's first resize, and
    any resize redrew every cell. Now each cell is drawn once; a new height redraws none, nor does a new width
    that leaves the columns as they are, but the rows are padded out to it again: the table then draws exactly
    what a fresh table of that size draws (the cursor row's highlight runs to the new edge)."""
    app = CoveredAtFirst()
    async with app.run_test(size=(44, 20)) as pilot:
        table = app.query_one(ContentTable)
        table.cursor_type = "row"
        cache = table._cell_render_cache = _CountingCache(table._header_row_key)
        for index in range(8):
            table.add_row(Content(f"vm-{index:02d} " + "x" * index), key=str(index))
        await settle(pilot)
        table.loading = False
        await settle(pilot)
        assert cache.drawn == 8, "each body cell drawn once when the table is first laid out"

        cache.drawn = 0
        await pilot.resize_terminal(44, 14)
        await settle(pilot)
        assert table.size.height == 14 and cache.drawn == 0, "a new height redraws no cell"

        await pilot.resize_terminal(60, 14)
        await settle(pilot)
        assert table.size.width == 60 and cache.drawn == 0, "a new width with the same columns redraws no cell"
        grown = [list(strip.simplify()) for strip in table.render_lines(table.size.region)]

    fresh = FullHeight()
    async with fresh.run_test(size=(60, 14)) as pilot:
        table = fresh.query_one(ContentTable)
        table.cursor_type = "row"
        for index in range(8):
            table.add_row(Content(f"vm-{index:02d} " + "x" * index), key=str(index))
        await settle(pilot)
        assert grown == [list(strip.simplify()) for strip in table.render_lines(table.size.region)]
