"""The audit log viewer: every recorded change, newest first, with the chain's state on top.

Everything in a record is untrusted: VM names and error text come from the host, and the file may
have been edited by hand. So every cell and detail line goes through `safe`, which strips control
characters and never parses markup. Reading and verifying the file is blocking I/O, so it runs in
a thread worker and arrives as the worker's result; a result for a closed screen is simply dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState

from avma_tui.services.audit import AuditError, AuditLog, ChainState, canonical
from avma_tui.ui import safe

# Column → widest it grows. Widths are set from the cells because DataTable (8.2.8) cannot measure
# Content cells and would leave every column as narrow as its label.
COLUMNS = {"Time (UTC)": 19, "#": 6, "Host": 20, "Target": 30, "Action": 20, "Phase": 6, "Outcome": 11, "Operator": 12}
FIELD_ORDER = (
    "seq",
    "time",
    "operator",
    "remote_user",
    "host",
    "target",
    "action",
    "phase",
    "interaction",
    "outcome",
    "params",
    "before",
    "after",
    "error",
    "prev",
    "hash",
)
OUTCOME_STYLE = {
    "ok": "$text-success",
    "failed": "$text-error",
    "cancelled": "$text-warning",
    "unknown": "$text-warning",
}
INTERRUPTED = "interrupted"
_DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class _Snapshot:
    """One consistent read of the log for the screen."""

    exists: bool
    records: list[dict[str, Any]]
    state: ChainState
    pending: frozenset[int]  # seqs of intents with no result


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


def chain_text(snapshot: _Snapshot) -> Content:
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
    if snapshot.pending:
        count = len(snapshot.pending)
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
    ]

    def __init__(self, log: AuditLog, *, host: str | None = None) -> None:
        super().__init__()
        self.audit_log = log
        self._initial_filter = f"host:{host}" if host else ""
        self._snapshot: _Snapshot | None = None
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
        self.table.add_columns(*COLUMNS)  # placeholders until the first read sizes them
        self.query_one("#audit-filter", Input).display = bool(self._initial_filter)
        self.table.loading = True
        self._load()

    @property
    def table(self) -> DataTable[Content]:
        return self.query_one("#audit-records", DataTable)

    @work(thread=True, exclusive=True, exit_on_error=False, name="audit-load")
    def _load(self) -> _Snapshot:
        records = self.audit_log.records()
        pending = frozenset(record["seq"] for record in self.audit_log.pending())
        return _Snapshot(self.audit_log.path.exists(), records, self.audit_log.verify(), pending)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "audit-load":
            return
        if event.state is WorkerState.SUCCESS:
            self._snapshot = event.worker.result
            self.query_one("#audit-chain", Static).update(chain_text(self._snapshot))
            self._fill()
        elif event.state is WorkerState.ERROR:
            self.table.loading = False
            error = event.worker.error
            reason = str(error) if isinstance(error, AuditError) else f"{type(error).__name__}: {error}"
            chain = safe.assemble(("Cannot read the audit log: ", "bold $text-error"), (reason, "$text-error"))
            self.query_one("#audit-chain", Static).update(chain)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        record = self._shown.get(event.row_key.value or "")
        if record is not None and self._snapshot is not None:
            self.query_one("#audit-detail-body", Static).update(detail_text(record, self._snapshot.pending))

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

    def action_close(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load()

    def _fill(self) -> None:
        """Show the records that match the filter, newest first, keeping the selected record if it still shows."""
        if self._snapshot is None:
            return
        table = self.table
        query = self.query_one("#audit-filter", Input).value
        selected = None
        if table.row_count:
            selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self._shown, rows = {}, []
        for line, record in reversed(list(enumerate(self._snapshot.records, start=1))):
            if matches(record, query, self._snapshot.pending):
                key = str(line)  # the line, not the seq: a tampered file may repeat a seq
                self._shown[key] = record
                rows.append((key, _row(record, self._snapshot.pending)))
        table.clear(columns=True)
        for index, (label, widest) in enumerate(COLUMNS.items()):
            width = max([len(label), *(cells[index].cell_length for _, cells in rows)])
            table.add_column(label, width=min(width, widest))
        for key, cells in rows:
            table.add_row(*cells, key=key)
        table.loading = False
        if selected in self._shown:
            table.move_cursor(row=table.get_row_index(selected))
        if not self._shown:
            message = "No records match the filter." if query else "No records yet."
            self.query_one("#audit-detail-body", Static).update(Content.styled(message, "$text-muted"))
