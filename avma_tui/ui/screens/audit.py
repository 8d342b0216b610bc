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
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from avma_tui.core.operations import Outcome
from avma_tui.services.audit import RECORD_FIELDS, AuditError, AuditLog, canonical
from avma_tui.services.audit_pass import LogSummary, summarize_in_child
from avma_tui.ui import safe

# Column → widest it grows. Widths are set from the cells because DataTable (8.2.8) cannot measure
# Content cells and would leave every column as narrow as its label.
COLUMNS = {"Time (UTC)": 19, "#": 6, "Host": 20, "Target": 30, "Action": 20, "Phase": 6, "Outcome": 11, "Operator": 12}
FIELD_ORDER = RECORD_FIELDS
OUTCOME_STYLE: dict[str, str] = {
    Outcome.OK: "$text-success",
    Outcome.FAILED: "$text-error",
    Outcome.CANCELLED: "$text-warning",
    Outcome.UNKNOWN: "$text-warning",
}
INTERRUPTED = "interrupted"
#: Records per page: small enough that adding a page's rows stays well under 50 ms of the event loop.
PAGE = 100
#: Lines a page reads before it shows the matches it has (a filter that matches few records).
SCAN_BUDGET = 5000
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


class AuditScreen(Screen[None]):
    """Who changed what, when, and whether the record of it is intact."""

    DEFAULT_CSS = """
    AuditScreen {
        #audit-chain { height: auto; padding: 0 1; }
        #audit-filter { display: none; }
        #audit-records { height: 1fr; }
        #audit-detail { height: 1fr; border-top: solid $panel; padding: 0 1; }
    }
    """

    AUTO_FOCUS = "#audit-records"
    BINDINGS = [
        Binding("slash", "filter", "Filter", tooltip="Filter: host:, vm:, action:, outcome: or any word"),
        Binding("r", "reload", "Reload", tooltip="Read the audit log again"),
        Binding("escape", "back", "Back", tooltip="Clear the filter, or close the audit log"),
        Binding("q", "close", "Close", tooltip="Close the audit log"),
        # home/end before the table's own (which scroll sideways in a row table); the filter field keeps them.
        Binding("home", "first", "Newest", show=False, priority=True),
        Binding("end", "last", "Oldest loaded", show=False, priority=True),
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
        yield DataTable(cursor_type="row", zebra_stripes=True, id="audit-records")
        with VerticalScroll(id="audit-detail"):
            yield Static(id="audit-detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Audit log"
        self.table.add_columns(*COLUMNS)  # placeholders until the first page sizes them
        self.query_one("#audit-filter", Input).display = bool(self._initial_filter)
        self._load()

    @property
    def table(self) -> DataTable[Content]:
        return self.query_one("#audit-records", DataTable)

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
            partial(_page_of, pager), thread=True, group="audit-page", name="audit-page", exit_on_error=False
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
            loaded: tuple[Pager, list[tuple[int, dict[str, Any]]]] | None = event.worker.result
            if loaded is None:
                return
            pager, page = loaded
            if pager is self._pager:
                self._page_loading = False
                self._add_page(pager, page)
                if self.table.row_count < PAGE:
                    self._next_page()  # a rare filter: search on, showing what was found, until a page is full

    def _add_page(self, pager: Pager, page: list[tuple[int, dict[str, Any]]]) -> None:
        """Add a page of rows; the first page of a filter starts a fresh table sized to it."""
        table, pending = self.table, self.pending
        rows = [(str(offset), record, _row(record, pending)) for offset, record in page]
        first = table.loading
        if first:
            selected = None
            if table.row_count:
                selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self._shown = {}
            table.clear(columns=True)
            for index, (label, widest) in enumerate(COLUMNS.items()):
                width = max([len(label), *(cells[index].cell_length for _, _, cells in rows)])
                table.add_column(label, width=min(width, widest), key=label)
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

    def action_reload(self) -> None:
        self._load()


def _page_of(pager: Pager) -> tuple[Pager, list[tuple[int, dict[str, Any]]]]:
    return pager, pager.next_page()
