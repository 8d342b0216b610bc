"""The detail pane: everything known about the selected VM, or the host's findings when none is selected.

Focusable and scrollable (enter from the table moves here, escape goes back), because a VM with
several findings and a full set of KVP items is longer than any screen.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ...model import Diagnosis, LicenseState, VmDiagnosis
from .. import safe
from .cells import LICENSE_STATUS, channel_name, grace_days
from .findings_text import findings_section

_HEADING = "bold $text-primary"


def _row(label: str, value: Content) -> Content:
    return Content.assemble((f"{label:<9}", "$text-muted"), value)


def license_line(diag: VmDiagnosis) -> Content:
    read = diag.vm.license
    if read.state is LicenseState.NOT_READ:
        return Content.styled("not read — press c to give guest credentials", "$text-muted")
    if read.state is LicenseState.FAILED:
        return safe.assemble(("read failed: ", "$warning"), safe.text(read.error))
    lic = read.license
    if lic is None:
        return Content.styled("no product key installed", "$error")
    parts: list[str | Content | tuple[object, str]] = [
        LICENSE_STATUS.get(lic.status, f"status {lic.status}"),
        " · ",
        channel_name(lic),
    ]
    if lic.status in (2, 3, 4, 6):
        parts.append(f" · {grace_days(lic)} days of grace left")
    if lic.reason:
        parts.append(f" · reason 0x{lic.reason & 0xFFFFFFFF:08X}")
    parts += [" · key …", safe.text(lic.partial_product_key, limit=5)]
    if lic.avma_host:
        parts += [" · AVMA host ", safe.text(lic.avma_host, limit=64)]
    if lic.avma_last_activation:
        parts += [" · last AVMA activation ", safe.text(lic.avma_last_activation, limit=32)]
    return safe.assemble(*parts)


def vm_text(diag: VmDiagnosis) -> Content:
    vm = diag.vm
    guest = vm.guest
    facts = [
        _row("State", safe.assemble(vm.state, f" · generation {vm.generation or '?'} · Id ", vm.id)),
    ]
    if guest is not None and guest.reported:
        os_parts: list[str | Content | tuple[object, str]] = [safe.text(guest.os_name or "?")]
        if guest.build is not None:
            os_parts.append(f" · build {guest.build}")
        if diag.family:
            os_parts.append(f" · family {diag.family}")
        if diag.edition:
            os_parts.append(f" · {diag.edition}")
        facts.append(_row("Guest", safe.assemble(*os_parts)))
    else:
        facts.append(_row("Guest", Content.styled("no OS data from the guest", "$text-muted")))
    kvp = "enabled" if vm.kvp.enabled else "disabled"
    facts.append(_row("KVP", safe.assemble(kvp, " · " if vm.kvp.raw_status else "", vm.kvp.raw_status)))
    facts.append(_row("License", license_line(diag)))
    if diag.recommended_key_last5:
        facts.append(_row("AVMA key", Content(f"…{diag.recommended_key_last5} (the key for this version and edition)")))
    sections = [
        Content("\n").join(facts),
        Content.styled("Findings", _HEADING),
        findings_section(diag.findings, "No findings: AVMA is working for this VM."),
    ]
    if guest is not None and guest.items:
        items = [safe.assemble((name, "$text-muted"), " = ", value) for name, value in guest.items]
        sections += [Content.styled("KVP items, as the guest reported them", _HEADING), Content("\n").join(items)]
    return Content("\n\n").join(sections)


def host_text(diagnosis: Diagnosis) -> Content:
    return Content("\n\n").join(
        [
            Content.styled("Host findings", _HEADING),
            findings_section(diagnosis.host_findings, "No host findings: this host is ready for AVMA."),
        ]
    )


class VmDetails(VerticalScroll, can_focus=True):
    """The selected VM's facts, findings and KVP items."""

    def compose(self) -> ComposeResult:
        yield Static(id="details-body")

    def show_vm(self, diag: VmDiagnosis) -> None:
        self.border_title = safe.text(diag.vm.name)
        self.query_one("#details-body", Static).update(vm_text(diag))

    def show_host(self, diagnosis: Diagnosis) -> None:
        self.border_title = safe.text(diagnosis.inventory.host.fqdn)
        self.query_one("#details-body", Static).update(host_text(diagnosis))

    def show_nothing(self, message: str) -> None:
        self.border_title = ""
        self.query_one("#details-body", Static).update(Content.styled(message, "$text-muted"))
