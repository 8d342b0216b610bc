"""The detail pane: everything known about the selected VM, or the host's findings when none is selected.

Focusable and scrollable (enter from the table moves here, escape goes back), because a VM with
several findings and a full set of KVP items is longer than any screen. The pane is rebuilt from
small blocks (a facts grid, one title and one body per finding) so wrapped lines keep their indent.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Label, Static

from avma_tui.core.catalog import GRACE_STATES, license_status_name
from avma_tui.core.model import Diagnosis, LicenseState, OsSource, VmDiagnosis
from avma_tui.ui import safe
from avma_tui.ui.widgets.cells import channel_name, grace_days
from avma_tui.ui.widgets.findings_text import finding_widgets

Part = str | Content | tuple[object, str]


def license_line(diag: VmDiagnosis) -> Content:
    read = diag.vm.license
    if read.state is LicenseState.NOT_READ:
        return Content.styled("not read — press c to give guest credentials", "$text-muted")
    if read.state is LicenseState.READING:
        return Content.styled("being read over PowerShell Direct…", "$text-muted")
    if read.state is LicenseState.FAILED:
        return safe.assemble(("read failed: ", "$text-warning"), safe.text(read.error))
    lic = read.license
    if lic is None:
        return Content.styled("no product key installed", "$text-error")
    parts: list[Part] = [license_status_name(lic.status), " · ", channel_name(lic)]
    if lic.status in GRACE_STATES:
        parts.append(f" · {grace_days(lic)} days of grace left")
    if lic.reason:
        parts.append(f" · reason 0x{lic.reason & 0xFFFFFFFF:08X}")
    parts += [" · key …", safe.text(lic.partial_product_key, limit=5)]
    if lic.avma_host:
        parts += [" · AVMA host ", safe.text(lic.avma_host, limit=64)]
    if lic.avma_last_activation:
        parts += [" · last AVMA activation ", safe.text(lic.avma_last_activation, limit=32)]
    return safe.assemble(*parts)


def guest_line(diag: VmDiagnosis) -> Content:
    guest = diag.vm.os
    if guest is None or not guest.reported:
        return Content.styled("no OS data from the guest", "$text-muted")
    parts: list[Part] = [safe.text(guest.os_name or "?")]
    if guest.build is not None:
        parts.append(f" · build {guest.build}")
    if diag.family:
        parts.append(f" · family {diag.family}")
    if diag.edition:
        parts.append(f" · {diag.edition}")
    parts.append((" · from KVP" if guest.source is OsSource.KVP else f" · {guest.source.label}", "$text-muted"))
    return safe.assemble(*parts)


def vm_facts(diag: VmDiagnosis) -> list[tuple[str, Content]]:
    vm = diag.vm
    kvp = "enabled" if vm.kvp.enabled else "disabled"
    facts = [
        ("State", safe.assemble(vm.state, f" · generation {vm.generation or '?'} · Id ", vm.id)),
        ("Guest", guest_line(diag)),
        ("KVP", safe.assemble(kvp, " · " if vm.kvp.raw_status else "", vm.kvp.raw_status)),
        ("License", license_line(diag)),
    ]
    if diag.recommended_key_last5:
        facts.append(("AVMA key", Content(f"…{diag.recommended_key_last5}, the key for this version and edition")))
    return facts


def _heading(text: str) -> Static:
    return Static(Content.styled(text, "bold $text-primary"), classes="heading")


def _facts_grid(facts: list[tuple[str, Content]]) -> Grid:
    cells: list[Widget] = []
    for label, value in facts:
        cells += [Label(label, classes="fact-label"), Static(value)]
    return Grid(*cells, classes="facts")


def vm_blocks(diag: VmDiagnosis) -> list[Widget]:
    blocks: list[Widget] = [
        _facts_grid(vm_facts(diag)),
        _heading("Findings"),
        *finding_widgets(diag.findings, "No findings: AVMA is working for this VM."),
    ]
    guest = diag.vm.guest
    if guest is not None and guest.items:
        items = [safe.assemble((name, "$text-muted"), " = ", value) for name, value in guest.items]
        blocks += [_heading("KVP items, as the guest reported them"), Static(Content("\n").join(items), classes="kvp")]
    inside = diag.vm.os
    if inside is not None and inside is not guest and inside.items:
        items = [safe.assemble((name, "$text-muted"), " = ", value) for name, value in inside.items]
        heading = "Win32_OperatingSystem, read inside the guest"
        blocks += [_heading(heading), Static(Content("\n").join(items), classes="kvp")]
    return blocks


def host_blocks(diagnosis: Diagnosis) -> list[Widget]:
    return [
        _heading("Host findings"),
        *finding_widgets(diagnosis.host_findings, "No host findings: this host is ready for AVMA."),
    ]


class VmDetails(VerticalScroll, can_focus=True):
    """The selected VM's facts, findings and KVP items.

    A refresh that changed nothing for the shown subject leaves the pane alone, so an admin reading
    (and scrolled into) a long list of findings is not thrown back to the top every interval. Another
    subject (the next VM, or the host with h) starts at the top.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: object = None
        self._subject: str | None = None  # the VM's Id, or "" for the host

    def compose(self) -> ComposeResult:
        yield Vertical(id="details-body")

    def show_vm(self, diag: VmDiagnosis) -> None:
        if diag != self._shown:
            self._shown = diag
            self.border_title = safe.text(diag.vm.name)
            self._show(vm_blocks(diag), diag.vm.id)

    def show_host(self, diagnosis: Diagnosis) -> None:
        subject = (diagnosis.inventory.host, diagnosis.host_findings)
        if subject != self._shown:
            self._shown = subject
            self.border_title = safe.text(diagnosis.inventory.host.fqdn)
            self._show(host_blocks(diagnosis), "")

    def _show(self, blocks: list[Widget], subject: str) -> None:
        body = self.query_one("#details-body", Vertical)
        with self.app.batch_update():
            body.remove_children()
            body.mount_all(blocks)
        if subject != self._subject:
            self._subject = subject
            self.scroll_home(animate=False)
