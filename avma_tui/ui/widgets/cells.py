"""How one VM's facts look in the table: short, theme-coloured cells, each with the key it sorts by.

Colours come from the theme ($text-success, $text-warning, $text-error) so every theme keeps the meaning; text
from the guest or host goes through `ui.safe`. Each builder returns (content, sort key) so the
table can sort by meaning (errors before warnings, not-activated before activated) rather than by
the letters a cell happens to show.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content

from avma_tui.core.catalog import GRACE_STATES, license_status_name
from avma_tui.core.catalog import channel_name as catalog_channel_name
from avma_tui.core.columns import FitStep
from avma_tui.core.model import (
    GuestErrorKind,
    GuestLicense,
    KvpStatus,
    LicenseState,
    Severity,
    Vm,
    VmDiagnosis,
    VmStatus,
)
from avma_tui.ui import safe

Cell = tuple[Content, Any]

SEVERITY_STYLE = {Severity.ERROR: "$text-error", Severity.WARNING: "$text-warning", Severity.INFO: "$text-muted"}

_STATUS_ORDER = {
    VmStatus.NOT_ACTIVATED: 0,
    VmStatus.UNKNOWN: 1,
    VmStatus.ACTIVATED_OTHER: 2,
    VmStatus.ACTIVATED_AVMA: 3,
    VmStatus.NOT_ELIGIBLE: 4,
}

#: A VM's AVMA status in words, for headings and sentences ("SQL01: activated by AVMA").
STATUS_WORDS = {
    VmStatus.ACTIVATED_AVMA: "activated by AVMA",
    VmStatus.ACTIVATED_OTHER: "activated, not by AVMA",
    VmStatus.NOT_ACTIVATED: "not activated",
    VmStatus.NOT_ELIGIBLE: "not eligible for AVMA",
    VmStatus.UNKNOWN: "activation unknown",
}

_KVP_WORDS = {KvpStatus.NO_CONTACT: "no contact", KvpStatus.LOST_COMMUNICATION: "lost contact"}

_STATE_STYLE = {"Running": "$text-success", "Off": "$text-muted", "Saved": "$text-warning", "Paused": "$text-warning"}


def channel_name(lic: GuestLicense) -> str:
    """A short channel name (AVMA, KMS client, MAK, OEM…); unknown tokens are kept, cleaned."""
    return catalog_channel_name(lic.channel) or safe.clean(lic.channel, 24) or "?"


def grace_days(lic: GuestLicense) -> int:
    return lic.grace_minutes // 1440


def mark_cell(marked: bool) -> Cell:
    return (Content.styled("●", "$text-accent") if marked else Content(" ")), (0 if marked else 1)


def name_cell(vm: Vm) -> Cell:
    return safe.text(vm.name, "bold", limit=48), vm.name.casefold()


def state_cell(vm: Vm) -> Cell:
    return safe.text(vm.state, _STATE_STYLE.get(vm.state, "$text-warning"), limit=16), (not vm.running, vm.state)


def os_cell(diag: VmDiagnosis) -> Cell:
    """Version family and edition ("2019 Standard"), or what the guest calls itself (KVP, or read inside it)."""
    guest = diag.vm.os
    if guest is None or not guest.reported:
        return Content.styled("—", "$text-muted"), ("~",)
    if diag.family:
        label = f"{diag.family} {diag.edition}".strip()
        return safe.text(label, limit=64), (diag.family, diag.edition)
    return safe.text(guest.os_name or f"build {guest.build}", "$text-muted", limit=64), ("~" + guest.os_name,)


def kvp_cell(vm: Vm) -> Cell:
    if not vm.kvp.enabled:
        return Content.styled("off", "$text-error"), 0
    if not vm.running:
        return Content.styled("on", "$text-muted"), 2
    if vm.kvp.status is KvpStatus.OK:
        return Content.styled("OK", "$text-success"), 3
    if vm.kvp.status in _KVP_WORDS:
        return Content.styled(_KVP_WORDS[vm.kvp.status], "$text-error"), 1
    return safe.text(vm.kvp.raw_status or "no status", "$text-warning", limit=16), 1


def activation_cell(diag: VmDiagnosis) -> Cell:
    """License status and channel, with days of grace left; what the guest told us, or why we do not know.

    VMs AVMA cannot serve (client OS, too old, no AVMA key) are shown muted: their license is context.
    """
    read = diag.vm.license
    order = _STATUS_ORDER[diag.status]
    if diag.status is VmStatus.NOT_ELIGIBLE:
        lic = read.license if read.state is LicenseState.READ else None
        label = f"{license_status_name(lic.status)} · {channel_name(lic)}" if lic else "not eligible"
        return Content.styled(label, "$text-muted"), (order, 0)
    if read.state is LicenseState.NOT_READ:
        return Content.styled("not read", "$text-muted"), (order, 0)
    if read.state is LicenseState.READING:
        return Content.styled("reading…", "$text-muted italic"), (order, 0)
    if read.state is LicenseState.FAILED and read.error_kind is GuestErrorKind.CREDENTIAL:
        return Content.styled("login rejected", "$text-error"), (order, 0)  # c enters it again
    if read.state is LicenseState.FAILED:
        return Content.styled("read failed", "$text-warning"), (order, 0)
    lic = read.license
    if lic is None:
        return Content.styled("no key", "$text-error"), (order, 0)
    channel = channel_name(lic)
    if lic.status == 1:
        style = "$text-success" if lic.is_avma else "$text-warning"
        return Content.styled(f"Licensed · {channel}", style), (order, 0)
    if lic.status in GRACE_STATES:
        return Content.styled(f"Grace {grace_days(lic)}d · {channel}", "$text-warning"), (order, grace_days(lic))
    status = license_status_name(lic.status)
    return Content.styled(f"{status} · {channel}", "$text-error"), (order, 0)


def finding_cell(diag: VmDiagnosis) -> Cell:
    """The worst finding's code, in its severity's colour, with how many more there are."""
    worst = diag.worst
    if worst is None:
        return Content.styled("✓ ok", "$text-success"), (0, "")
    more = len(diag.findings) - 1
    parts: list[str | tuple[object, str]] = [(worst.code, SEVERITY_STYLE[worst.severity])]
    if more:
        parts.append((f" +{more}", "$text-muted"))
    return safe.assemble(*parts, limit=40), (-worst.severity.rank, worst.code)


#: Column key → header, in display order: where the VM stands first, the facts behind it to the right.
#: The guest OS, the widest and least urgent, comes last: a narrow table cuts it rather than KVP.
COLUMNS: dict[str, str] = {
    "mark": " ",
    "name": "VM",
    "state": "State",
    "activation": "Activation",
    "finding": "Worst finding",
    "kvp": "KVP",
    "os": "Guest OS",
}


#: How the table gives way when the terminal is narrow (`core.columns`), least important first: the guest OS
#: is cut, then left out, then KVP, then the state; VM, Activation and Worst finding are only ever cut (with
#: "…"), never left out, so at 80 columns they are always on screen. The details pane shows what is hidden.
FIT_STEPS: tuple[FitStep[str], ...] = (
    ("cut", "os", 16),
    ("cut", "activation", 20),
    ("cut", "os", 9),
    ("drop", "os", 0),
    ("cut", "kvp", 8),
    ("drop", "kvp", 0),
    ("drop", "state", 0),
    ("cut", "finding", 18),
    ("cut", "name", 12),
    ("cut", "activation", 14),
    ("cut", "finding", 12),
    ("cut", "name", 8),
    ("cut", "activation", 10),
    ("cut", "finding", 9),
)


def row_cells(diag: VmDiagnosis, marked: bool) -> dict[str, Cell]:
    vm = diag.vm
    return {
        "mark": mark_cell(marked),
        "name": name_cell(vm),
        "state": state_cell(vm),
        "activation": activation_cell(diag),
        "finding": finding_cell(diag),
        "kvp": kvp_cell(vm),
        "os": os_cell(diag),
    }
