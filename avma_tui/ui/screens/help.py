"""Help: the keys, and an AVMA primer drawn from the catalog (keys, host→guest matrix, events, codes).

Keys are listed from the bindings themselves, so the help can never drift from what the keys do.
Every fact about AVMA comes from the catalog, which carries its sources; the 2025 matrix row and
the 2025 keys are marked as inferred / unconfirmed there and here.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Static

from avma_tui.core.catalog import Catalog, load_catalog
from avma_tui.ui.screens.dialog import Dialog

_HEADING = "bold $text-primary"
_NOTIFICATIONS = ("AVMA Success", "Invalid Host", "Invalid Data", "Activation Denied")

HOW_IT_WORKS = (
    "Automatic Virtual Machine Activation lets a Windows Server guest activate against the Hyper-V host it "
    "runs on: no KMS server, no internet connection, no per-VM key. The guest carries the generic AVMA key "
    "for its version and edition and asks the host over the Data Exchange (Key-Value Pair) integration "
    "service; an activated host answers. The activation is time-limited and renewed while the guest runs on "
    "a host that can activate it. Requests are logged on the host (Application log, event 12310) and in the "
    "guest (event 12309)."
)

REQUIREMENTS = (
    "The host runs Windows Server Datacenter with the Hyper-V role, and is itself activated.",
    "In a failover cluster every node must be activated (and able to activate the guest), or the guest "
    "loses its activation after a failover.",
    "The host's version is the guest's version or newer (the matrix below).",
    "The Data Exchange (Key-Value Pair Exchange) integration service is enabled in the VM's settings.",
    "The guest is Windows Server 2012 R2 or newer, not an Evaluation edition, with the AVMA key of its "
    "version and edition installed.",
    "Only Hyper-V: AVMA does not work with other server virtualization technologies, and a host that is itself "
    "a VM (nested, or in Azure) is not a reliable AVMA host.",
    "KVP data is not secured: a guest can write anything there, which is why this tool shows it as plain text.",
)


def _key_name(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    names = {"slash": "/", "question_mark": "?", "colon": ":", "escape": "esc"}
    return " ".join(names.get(key, key) for key in binding.key.split(","))


#: Not a binding of the dashboard, but every other screen's and dialog's: said once in the dashboard's help.
CLOSE_ANY = Binding(
    "escape,q",
    "",
    "",
    key_display="esc q",
    tooltip="On any other screen or dialog: close it (in a text field q is a letter)",
)


def keys_text(bindings: Iterable[BindingType]) -> Content:
    """One line per thing the keys do: keys bound apart to the same action (g and home) share a line."""
    keys: dict[tuple[str, str], list[str]] = {}
    for b in bindings:
        if isinstance(b, Binding):
            keys.setdefault((b.action, b.tooltip or b.description), []).append(_key_name(b))
    lines = [
        Content.assemble((f"{' '.join(names)} ".ljust(10), "bold $text-accent"), what)
        for (_, what), names in keys.items()
    ]
    return Content("\n").join(lines)


def key_table(catalog: Catalog) -> Content:
    versions = [k.versions.removeprefix("Windows Server ") for k in catalog.avma_keys]
    width = max(map(len, versions))
    edition_width = max(len(k.edition) for k in catalog.avma_keys)
    lines = [
        Content.assemble(
            f"{version:<{width}}  {k.edition:<{edition_width}}  ",
            (k.key, "bold"),
            ("" if k.confirmed else "  unconfirmed", "$text-warning"),
        )
        for version, k in zip(versions, catalog.avma_keys, strict=True)
    ]
    return Content("\n").join(lines)


def matrix_text(catalog: Catalog) -> Content:
    lines = [
        Content.assemble(
            (f"Host {host:<8}", "bold"),
            "activates ",
            " · ".join(guests),
            ("  (inferred: not in the published table)" if inferred else "", "$text-warning"),
        )
        for host, guests, inferred in catalog.matrix()
    ]
    return Content("\n").join(lines)


def notifications_text(catalog: Catalog) -> Content:
    lines = [
        Content.assemble(
            (f"{name:<18}", "bold $text-error" if catalog.is_failure(name) else "bold $text-success"),
            catalog.notification(name) or "",
        )
        for name in _NOTIFICATIONS
    ]
    return Content("\n").join(lines)


def errors_text(catalog: Catalog) -> Content:
    lines = [
        Content.assemble((e.hex, "bold"), "  ", (e.symbol, "$text-muted"), "\n", "    ", e.meaning)
        for e in catalog.errors
    ]
    return Content("\n").join(lines)


def primer(bindings: Iterable[BindingType]) -> Content:
    catalog = load_catalog()
    parts = [
        ("Keys", keys_text(bindings)),
        ("How AVMA works", Content(HOW_IT_WORKS)),
        ("Requirements", Content("\n").join(Content(f"• {line}") for line in REQUIREMENTS)),
        ("Which host activates which guest", matrix_text(catalog)),
        ("AVMA keys by Windows Server version (install in the guest: slmgr /ipk KEY)", key_table(catalog)),
        ("Host events 12310: what the notifications mean", notifications_text(catalog)),
        ("Activation error codes", errors_text(catalog)),
    ]
    return sections(parts)


def sections(parts: Iterable[tuple[str, Content]]) -> Content:
    """Headed sections, a blank line apart: the layout of every help page."""
    return Content("\n\n").join(Content("\n").join([Content.styled(title, _HEADING), body]) for title, body in parts)


class HelpScreen(Dialog[None]):
    """One scrollable page: the keys the screen gives it, then its `body` (the AVMA primer unless another screen
    has its own help, like the audit viewer); escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="close-help")]

    def __init__(
        self, bindings: Iterable[BindingType], body: Content | None = None, title: str = "avma-tui help"
    ) -> None:
        super().__init__()
        self.bindings = list(bindings)
        self.body = body
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog") as scroll:
            scroll.border_title = self.title_text
            yield Static(primer(self.bindings) if self.body is None else self.body)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help").focus()
