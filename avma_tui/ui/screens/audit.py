"""The audit log viewer: every recorded change, newest first, with the chain's state on top.

Everything in a record is untrusted: VM names and error text come from the host, and the file may
have been edited by hand. So every cell and detail line goes through `safe`, which strips control
characters and never parses markup.

A log may hold 100k records (60 MB), so nothing here reads it whole on the event loop: records are
read from the end of the file back, a page of PAGE matching records at a time, in a thread worker;
the next page loads when the cursor nears the last row. The chain check and the interrupted
changes need the whole file: a child process streams it once (services/audit_pass.py: in a thread
the parsing held the GIL and blocked the event loop for up to 1.5 s) and the header (and the Outcome
of intents left open) is updated when it answers. A result for a closed screen, or for a filter
that has since changed, is dropped; closing the screen stops the child.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from avma_tui.core.columns import FitStep
from avma_tui.core.operations import AUDIT_OUTCOMES, OPERATIONS, Outcome
from avma_tui.services.audit import RECORD_FIELDS, AuditError, AuditLog, canonical
from avma_tui.services.audit_pass import LogSummary, summarize_in_child
from avma_tui.ui import safe
from avma_tui.ui.widgets.content_table import ContentTable, FitCell

COLUMNS = ("Time (UTC)", "#", "Host", "Target", "Action", "Phase", "Outcome", "Operator")
FIELD_ORDER = RECORD_FIELDS
OUTCOME_STYLE: dict[str, str] = {
    Outcome.OK: "$text-success",
    Outcome.FAILED: "$text-error",
    Outcome.CANCELLED: "$text-warning",
    Outcome.UNKNOWN: "$text-warning",
}
INTERRUPTED = "interrupted"
#: The record table's own keys, for the help page.
_TABLE_KEYS = [
    Binding("up,down", "", "", key_display="↑ ↓", tooltip="Previous / next record (its fields show below)"),
    Binding(
        "pageup,pagedown", "", "", key_display="PgUp PgDn", tooltip="A screen up / down; older pages load as you go"
    ),
]
#: Records per page: small enough that adding a page's rows stays well under 50 ms of the event loop
#: (100 rows blocked it 81 ms on a busy machine, 50 rows 43 ms; bench/RESULTS.md).
PAGE = 50
#: Lines a page reads before it shows the matches it has (a filter that matches few records).
SCAN_BUDGET = 5000
#: A search through the whole log is CPU-bound Python in a thread. The event loop, which releases the GIL at
#: every select() and must take it back, then waits up to the switch interval (5 ms) each time, several times
#: per step (CPython's GIL: python/cpython#90204, an I/O-bound thread starved by a CPU-bound one). On a
#: 2-core VM a search of 100k records stalled the loop 44–64 ms (median of 4 runs: 50 ms); sleeping 0 s every
#: YIELD_EVERY records gives the GIL away at once: 6–37 ms (median 11 ms), for a search about 10% longer.
YIELD_EVERY = 128
_DETAIL_LIMIT = 2000


class Pager:
    """The records matching `query`, newest first, a page at a time (blocking: call `next_page` in a thread).

    A page ends at `size` matches, or after SCAN_BUDGET lines with at least one match, so a rare
    filter shows what it found while the search goes on.
    """

    def __init__(self, log: AuditLog, query: str, pending: frozenset[int]) -> None:
        self.query, self.pending = query, pending
        self.done = False
        self._source = log.newest_first()
        self._lock = threading.Lock()  # one page at a time, whichever thread asks

    def next_page(self, size: int = PAGE) -> list[tuple[int, dict[str, Any]]]:
        """Up to `size` more (byte offset, record); `done` once the start of the file is reached."""
        page: list[tuple[int, dict[str, Any]]] = []
        with self._lock:
            for scanned, (offset, record) in enumerate(self._source, start=1):
                if not scanned % YIELD_EVERY:
                    time.sleep(0)  # hand the GIL to the event loop: see YIELD_EVERY
                if record is not None and matches(record, self.query, self.pending):
                    page.append((offset, record))
                if len(page) >= size or (page and scanned >= SCAN_BUDGET):
                    return page
            self.done = True
        return page


def _target(record: dict[str, Any]) -> dict[str, Any]:
    target = record.get("target")
    return target if isinstance(target, dict) else {}


def outcome_of(record: dict[str, Any], pending: frozenset[int]) -> str:
    """What the Outcome column says: the result's outcome, or "interrupted" for an intent left open."""
    if record.get("phase") == "intent":
        return INTERRUPTED if record.get("seq") in pending else ""
    return safe.clean(record.get("outcome"))


_FILTER_FIELDS: dict[str, Callable[[dict[str, Any], frozenset[int]], list[str]]] = {
    "host": lambda record, _: [safe.clean(record.get("host"))],
    "vm": lambda record, _: [safe.clean(_target(record).get("name")), safe.clean(_target(record).get("id"))],
    "action": lambda record, _: [safe.clean(record.get("action"))],
    "outcome": lambda record, pending: [outcome_of(record, pending)],
}


#: What each filter word matches, for the viewer's help (`?`); a test keeps it in step with _FILTER_FIELDS.
FILTER_HELP: dict[str, str] = {
    "host": "the host the record is about (the viewer opens filtered to the connected host)",
    "vm": "the VM's name or Id",
    "action": "what was done: connect, disconnect, "
    + ", ".join(sorted({op.audit_action for op in OPERATIONS.values() if op.changes})),
    "outcome": ", ".join(str(outcome) for outcome in AUDIT_OUTCOMES)
    + f", or {INTERRUPTED} (a change that never recorded its result)",
}


def help_text(path: Path) -> tuple[Content, Content]:
    """The audit viewer's own help: its filter syntax and where the log is (the keys come from its bindings)."""
    width = max(len(name) for name in _FILTER_FIELDS) + 7
    filters = [
        Content.assemble((f"{name}:WORD".ljust(width), "bold $text-accent"), FILTER_HELP[name])
        for name in _FILTER_FIELDS
    ]
    filters += [
        Content.assemble(("WORD".ljust(width), "bold $text-accent"), "any of these"),
        Content(""),
        Content("Every word must match, in any case and by part: vm:sql matches SQL01 and SQL02."),
        Content.assemble(
            "Examples:  ",
            ("outcome:failed", "bold"),
            "   ",
            ("vm:sql action:install_key", "bold"),
            "   ",
            (INTERRUPTED, "bold"),
        ),
    ]
    where = [
        safe.text(str(path)),
        Content("Records are shown newest first, a page at a time; the header says whether the hash chain is intact."),
        Content("From a shell: avma-tui audit path | verify | show | export (each takes --help)."),
    ]
    return Content("\n").join(filters), Content("\n").join(where)


def matches(record: dict[str, Any], query: str, pending: frozenset[int]) -> bool:
    """Every word must match: `host:hv01 vm:web action:key outcome:failed`, or a bare word in any of them."""
    for term in query.lower().split():
        name, colon, wanted = term.partition(":")
        fields = [name] if colon and name in _FILTER_FIELDS else list(_FILTER_FIELDS)
        needle = wanted if colon and name in _FILTER_FIELDS else term
        if not any(needle in value.lower() for field in fields for value in _FILTER_FIELDS[field](record, pending)):
            return False
    return True


def _row(record: dict[str, Any], pending: frozenset[int]) -> list[Content]:
    target = _target(record)
    outcome = outcome_of(record, pending)
    style = "$text-warning" if outcome == INTERRUPTED else OUTCOME_STYLE.get(outcome, "")
    return [
        safe.text(safe.clean(record.get("time"))[:19].replace("T", " ")),
        safe.text(record.get("seq")),
        safe.text(record.get("host"), limit=64),
        safe.assemble((safe.clean(target.get("kind")), "$text-muted"), " ", safe.text(target.get("name"), limit=64)),
        safe.text(record.get("action"), limit=40),
        safe.text(record.get("phase"), limit=10),
        safe.text(outcome, style, limit=12),
        safe.text(record.get("operator"), limit=32),
    ]


def _flatten(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Nested params/state as `params.ProductKey`-style lines, so every value sits on its own line."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(f"{name}.{key}", item)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flatten(f"{name}[{index}]", item)
    else:
        yield name, value


def detail_text(record: dict[str, Any], pending: frozenset[int]) -> Content:
    """Every field of one record, raw values shown exactly (minus control characters)."""
    names = [name for name in FIELD_ORDER if name in record] + sorted(set(record) - set(FIELD_ORDER))
    lines = []
    for name in names:
        for path, value in _flatten(name, record[name]):
            shown = "—" if value is None else value if isinstance(value, str) else canonical(value)
            label = safe.clean(path, limit=40)
            lines.append(safe.assemble((f"{label:<20} ", "$text-muted"), safe.text(shown, limit=_DETAIL_LIMIT)))
    if record.get("seq") in pending and record.get("phase") == "intent":
        lines.append(Content.styled("No result was recorded: re-check this target.", "$text-warning"))
    return Content("\n").join(lines)


def uses_pending(query: str) -> bool:
    """Whether the filter may match the Outcome "interrupted", which is known only after the whole pass."""
    for term in query.lower().split():
        name, colon, wanted = term.partition(":")
        if colon and name in _FILTER_FIELDS:
            if name == "outcome" and wanted in INTERRUPTED:
                return True
        elif term in INTERRUPTED:
            return True
    return False


def chain_text(snapshot: LogSummary) -> Content:
    state = snapshot.state
    if not snapshot.exists:
        return Content.styled("No audit log yet: nothing has been changed from this machine.", "$text-muted")
    if not state.ok:
        return safe.assemble(
            (f"BROKEN at record {state.broken_at}: ", "bold $text-error"), (state.problem, "$text-error")
        )
    parts: list[str | Content | tuple[object, str]] = [
        ("Chain intact", "bold $text-success"),
        f" · {state.count} record{'' if state.count == 1 else 's'} · head {state.head}",
    ]
    if snapshot.pending_total:
        count = snapshot.pending_total
        parts.append((f" · {count} interrupted change{'s' if count > 1 else ''} to re-check", "$text-warning"))
    return safe.assemble(*parts)


class AuditTable(ContentTable):
    """The records. On a narrow terminal the operator, the sequence number and the host give way first (the
    viewer usually opens filtered to one host, and the detail below shows every field); when, what, to which
    target and how it ended (Time, Target, Action, Phase, Outcome) stay on screen at 80 columns."""

    FIT: ClassVar[tuple[FitStep[str], ...]] = (
        ("cut", "Target", 30),
        ("cut", "Host", 20),
        ("cut", "Action", 20),
        ("cut", "Operator", 12),
        ("drop", "Operator", 0),
        ("drop", "#", 0),
        ("cut", "Host", 12),
        ("drop", "Host", 0),
        ("cut", "Target", 16),
        ("cut", "Action", 12),
        ("cut", "Outcome", 8),
        ("cut", "Target", 10),
    )


class AuditScreen(Screen[None]):
    """Who changed what, when, and whether the record of it is intact."""

    DEFAULT_CSS = """
    AuditScreen {
        #audit-chain { height: auto; padding: 0 1; }
        #audit-filter { display: none; }
        #audit-records { height: 1fr; }
        #audit-detail { height: 1fr; border-top: solid $panel; border-title-color: $text-muted; padding: 0 1; }
    }
    """

    AUTO_FOCUS = "#audit-records"
    BINDINGS = [
        Binding("slash", "filter", "Filter", tooltip="Filter: host:, vm:, action:, outcome: or any word"),
        Binding("r", "reload", "Reload", tooltip="Read the audit log again"),
        Binding("escape", "back", "Back", tooltip="Clear the filter, or close the audit log"),
        Binding("q", "close", "Close", tooltip="Close the audit log"),
        Binding("question_mark", "help", "Help", tooltip="These keys and the filter syntax"),
        # home/end before the table's own (which scroll sideways in a row table); the filter field keeps them.
        Binding("home", "first", "Newest", show=False, priority=True),
        Binding(
            "end",
            "last",
            "Oldest loaded",
            show=False,
            priority=True,
            tooltip="The last row loaded; the next page follows",
        ),
        Binding("g", "first", "Newest", show=False),
        Binding("G", "last", "Oldest loaded", show=False, tooltip="The last row loaded; the next page follows"),
    ]

    def __init__(self, log: AuditLog, *, host: str | None = None) -> None:
        super().__init__()
        self.audit_log = log
        self._initial_filter = f"host:{safe.clean(host, limit=64)}" if host else ""  # the host name is untrusted
        self._chain: LogSummary | None = None
        self._pager: Pager | None = None
        self._page_loading = False
        self._shown: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content.styled("Reading the audit log…", "$text-muted"), id="audit-chain")
        yield Input(
            self._initial_filter,
            placeholder="filter: host:, vm:, action:, outcome: or any word",
            id="audit-filter",
            compact=True,
        )
        yield AuditTable(cursor_type="row", zebra_stripes=True, id="audit-records")
        with VerticalScroll(id="audit-detail"):
            yield Static(id="audit-detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Audit log"
        self.table.add_columns(*COLUMNS)  # placeholders until the first page sizes them
        self.query_one("#audit-filter", Input).display = bool(self._initial_filter)
        self._load()

    @property
    def table(self) -> AuditTable:
        return self.query_one("#audit-records", AuditTable)

    @property
    def pending(self) -> frozenset[int]:
        return self._chain.pending if self._chain is not None else frozenset()

    def _load(self) -> None:
        """Start over: the first page for the current filter, and the whole-file check."""
        self._chain = None
        self.query_one("#audit-chain", Static).update(Content.styled("Checking the chain…", "$text-muted"))
        self.run_worker(
            summarize_in_child(self.audit_log.path),
            exclusive=True,
            group="audit-chain",
            name="audit-chain",
            exit_on_error=False,
        )
        self._restart_pages()

    def _restart_pages(self) -> None:
        query = self.query_one("#audit-filter", Input).value
        self._pager = Pager(self.audit_log, query, self.pending)
        self._page_loading = False
        self.table.loading = True
        self._next_page()

    def _next_page(self) -> None:
        pager = self._pager
        if pager is None or pager.done or self._page_loading:
            return
        self._page_loading = True
        self.run_worker(
            partial(_page_of, pager, self.pending),
            thread=True,
            group="audit-page",
            name="audit-page",
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        name = event.worker.name
        if name not in ("audit-chain", "audit-page") or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.state is WorkerState.ERROR:
            self.table.loading = False
            self._page_loading = False
            error = event.worker.error
            reason = str(error) if isinstance(error, AuditError) else f"{type(error).__name__}: {error}"
            chain = safe.assemble(("Cannot read the audit log: ", "bold $text-error"), (reason, "$text-error"))
            self.query_one("#audit-chain", Static).update(chain)
        elif name == "audit-chain":
            read: LogSummary | None = event.worker.result
            if read is None:
                return
            self._chain = read
            self.query_one("#audit-chain", Static).update(chain_text(read))
            if self._pager is not None and uses_pending(self._pager.query):
                self._restart_pages()  # "interrupted" can only be matched now
            else:
                self._mark_interrupted()
        else:
            loaded: _Page | None = event.worker.result
            if loaded is None:
                return
            pager, pending, page = loaded
            if pager is self._pager:
                self._page_loading = False
                if pending is not self.pending:  # the whole-log pass answered while the page was read
                    page = [(offset, record, _cells(record, self.pending)) for offset, record, _ in page]
                self._add_page(pager, page)
                if self.table.row_count < PAGE:
                    self._next_page()  # a rare filter: search on, showing what was found, until a page is full

    def _add_page(self, pager: Pager, page: list[tuple[int, dict[str, Any], list[FitCell]]]) -> None:
        """Add a page of rows (cells built in the worker); the first page of a filter starts a fresh table."""
        table = self.table
        rows = [(str(offset), record, cells) for offset, record, cells in page]
        first = table.loading
        if first:
            selected = None
            if table.row_count:
                selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self._shown = {}
            table.clear(columns=True)
            for label in COLUMNS:
                table.add_column(label, key=label)  # sized to the cells once they are in (ContentTable)
        for key, record, cells in rows:
            self._shown[key] = record  # the byte offset, not the seq: a tampered file may repeat a seq
            table.add_row(*cells, key=key)
        if first:
            table.loading = False
            if selected in self._shown:
                table.move_cursor(row=table.get_row_index(selected))
            if not self._shown:
                message = "No records match the filter." if pager.query else "No records yet."
                self.query_one("#audit-detail-body", Static).update(Content.styled(message, "$text-muted"))

    def _mark_interrupted(self) -> None:
        """Once the whole pass is done: the Outcome of the intents on screen that never got a result."""
        for key, record in self._shown.items():
            if record.get("phase") == "intent" and record.get("seq") in self.pending:
                self.table.update_cell(key, "Outcome", safe.text(INTERRUPTED, "$text-warning"))
        if self.table.row_count:
            self._show_detail(self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key.value)

    def on_content_table_hidden(self, event: ContentTable.Hidden) -> None:
        hidden = ", ".join(event.hidden)
        self.query_one("#audit-detail").border_title = f"{hidden} hidden: every field is here" if hidden else ""

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._pager is None or event.value != self._pager.query:
            self._restart_pages()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.row_key.value)
        if event.cursor_row >= self.table.row_count - PAGE // 4:
            self._next_page()

    def _show_detail(self, key: str | None) -> None:
        record = self._shown.get(key or "")
        if record is not None:
            self.query_one("#audit-detail-body", Static).update(detail_text(record, self.pending))

    def action_filter(self) -> None:
        field = self.query_one("#audit-filter", Input)
        field.display = True
        field.focus()

    def action_back(self) -> None:
        field = self.query_one("#audit-filter", Input)
        if field.has_focus or field.value:
            field.value = ""
            field.display = False
            self.table.focus()
        else:
            self.dismiss()

    def action_first(self) -> None:
        field = self.query_one("#audit-filter", Input)
        if field.has_focus:
            field.action_home()
        else:
            self.table.move_cursor(row=0)

    def action_last(self) -> None:
        field = self.query_one("#audit-filter", Input)
        if field.has_focus:
            field.action_end()
        else:
            self.table.move_cursor(row=self.table.row_count - 1)

    def action_close(self) -> None:
        self.dismiss()

    def action_help(self) -> None:
        from avma_tui.ui.screens.help import HelpScreen, keys_text, sections

        filters, where = help_text(self.audit_log.path)
        keys = keys_text([*self.BINDINGS, *_TABLE_KEYS])
        body = sections([("Keys", keys), ("Filter (/)", filters), ("The audit log", where)])
        self.app.push_screen(HelpScreen([], body=body, title="Audit log help"))

    def action_reload(self) -> None:
        self._load()


#: A page read in a worker: its pager, the pending seqs its cells were built with, and (offset, record, cells).
_Page = tuple[Pager, frozenset[int], list[tuple[int, dict[str, Any], list[FitCell]]]]


def _cells(record: dict[str, Any], pending: frozenset[int]) -> list[FitCell]:
    """A record's row as the table stores it (pure: built in the page worker, off the event loop)."""
    return [FitCell.of(cell) for cell in _row(record, pending)]


def _page_of(pager: Pager, pending: frozenset[int]) -> _Page:
    """The next page and its rows' cells (in a thread: building the cells was half of adding a page's rows)."""
    return pager, pending, [(offset, record, _cells(record, pending)) for offset, record in pager.next_page()]
