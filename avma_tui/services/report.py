"""`avma-tui report`: where the VMs stand, as text, JSON or CSV (docs/report.md).

For cron, monitoring checks and monthly licensing records, so it stays fast and plain: no Textual
import. Exit status: 0 no error finding, 1 at least one, 2 the report could not be made.

Strings from the host and guests are untrusted; all three formats run them through the one sanitiser
(`avma_tui.core.text`). JSON carries them exactly, with every control, bidi control and lone surrogate as a
`\\uXXXX` escape; text drops those characters so a hostile name cannot drive the terminal; CSV escapes them
as JSON does and defuses spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
import unicodedata
from datetime import datetime, timezone
from typing import Any

from avma_tui import __version__
from avma_tui.core.catalog import GRACE_STATES, channel_name
from avma_tui.core.columns import FitStep, fit_widths
from avma_tui.core.model import (
    Diagnosis,
    Finding,
    GuestErrorKind,
    KvpStatus,
    LicenseState,
    OsSource,
    VmDiagnosis,
    VmStatus,
)
from avma_tui.core.text import clean, csv_cell, json_text
from avma_tui.services.summary import tally

COLUMNS = ("name", "state", "guest_os", "kvp", "activation", "worst_finding")
_HEADINGS = ("NAME", "STATE", "GUEST OS", "KVP", "ACTIVATION", "WORST FINDING")
#: Fitting the table to a terminal, step by step until it fits: ("cut", column, narrowest) cuts a
#: column's cells (with an ellipsis) down to at most that width, ("drop", column) leaves it out. The
#: guest OS gives room first, KVP and state leave before VM, activation and worst finding are cut.
_NAME, _STATE, _GUEST, _KVP, _ACTIVATION, _WORST = range(6)
_FIT_STEPS: tuple[FitStep[int], ...] = (
    ("cut", _GUEST, 20),
    ("cut", _KVP, 12),
    ("cut", _ACTIVATION, 24),
    ("drop", _KVP, 0),
    ("drop", _STATE, 0),
    ("cut", _GUEST, 12),
    ("cut", _ACTIVATION, 14),
    ("cut", _WORST, 20),
    ("drop", _GUEST, 0),
    ("cut", _NAME, 8),
    ("cut", _ACTIVATION, 8),
    ("cut", _WORST, 10),
)
_GAP = 2


# --- JSON ----------------------------------------------------------------------------------------


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "subject": finding.subject,
        "subject_kind": finding.subject_kind,
        "subject_id": finding.subject_id,
        "title": finding.title,
        "detail": finding.detail,
        "evidence": list(finding.evidence),
        "remedy": {"kind": finding.remedy_kind.value, "summary": finding.remedy_summary},
    }


def _kvp_status(vmd: VmDiagnosis) -> str | None:
    """OK / NoContact / LostCommunication, the host's own word for any other status, None for none."""
    kvp = vmd.vm.kvp
    if kvp.status is KvpStatus.OTHER:
        return kvp.raw_status
    return kvp.status.value or None


def _vm_json(vmd: VmDiagnosis) -> dict[str, Any]:
    vm = vmd.vm
    guest = vm.os
    read = vm.license
    lic = read.license
    return {
        "name": vm.name,
        "id": vm.id,
        "state": vm.state,
        "kvp": {"enabled": vm.kvp.enabled, "status": _kvp_status(vmd)},
        "guest": None
        if guest is None
        else {
            "os_name": guest.os_name,
            "build": guest.build,
            "family": vmd.family,
            "edition": vmd.edition,
            "source": guest.source.value,
        },
        "license_read": read.state.value,
        "license_error": read.error or None,
        "license_error_kind": read.error_kind.value if read.error_kind else None,
        "license": None
        if lic is None
        else {
            "status": lic.status,
            "reason": f"0x{lic.reason & 0xFFFFFFFF:08X}",
            "channel": lic.channel,
            "partial_product_key": lic.partial_product_key,
            "grace_minutes": lic.grace_minutes,
            "avma_host": lic.avma_host or None,
            "avma_last_activation": lic.avma_last_activation or None,
        },
        "status": vmd.status.value,
        "recommended_key_last5": vmd.recommended_key_last5,
        "findings": [_finding_json(f) for f in vmd.findings],
    }


def _summary(diagnosis: Diagnosis) -> dict[str, int]:
    """The contract's totals (errors and warnings are findings, host included), plus the dashboard's
    per-VM counts (services.summary: a VM counts once, by its worst finding)."""
    counts = tally(diagnosis)
    summary = {"vms": counts.vms}
    summary.update({status.value: counts.by_status[status] for status in VmStatus})
    summary["errors"] = counts.error_findings
    summary["warnings"] = counts.warning_findings
    summary["vms_with_errors"] = counts.vms_with_errors
    summary["vms_with_warnings"] = counts.vms_with_warnings
    return summary


def summary_line(diagnosis: Diagnosis) -> str:
    """The line under the table, in the dashboard header's words and numbers."""
    counts = tally(diagnosis)
    host = (
        f"; host and cluster: {counts.host_errors} errors, {counts.host_warnings} warnings"
        if counts.host_errors or counts.host_warnings
        else ""
    )
    statuses = ", ".join(f"{counts.by_status[status]} {status.value}" for status in VmStatus)
    return (
        f"{counts.vms} VM{'' if counts.vms == 1 else 's'} ({statuses}) · {counts.on_avma} on AVMA · "
        f"{counts.vms_with_errors} with errors · {counts.vms_with_warnings} with warnings{host}"
    )


def to_json(diagnosis: Diagnosis, *, now: datetime | None = None) -> dict[str, Any]:
    """The report document of docs/report.md (format 1)."""
    host = diagnosis.inventory.host
    moment = now or datetime.now(timezone.utc)
    return {
        "format": 1,
        "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"name": "avma-tui", "version": __version__},
        "host": {
            "name": host.name,
            "fqdn": host.fqdn,
            "os": {
                "name": host.os_name,
                "build": host.build,
                "family": diagnosis.host_family,
                "edition": diagnosis.host_edition,
            },
            "license_status": host.license_status,
            "activated": host.license_status == 1,
            "can_activate_guests": diagnosis.host_can_activate,
            "can_activate_reason": diagnosis.host_can_activate_reason,
            "findings": [_finding_json(f) for f in diagnosis.host_findings],
        },
        "vms": [_vm_json(d) for d in diagnosis.vms],
        "summary": _summary(diagnosis),
        "read_errors": list(diagnosis.inventory.read_errors),
    }


# --- the columns text and CSV share -------------------------------------------------------------------


def _guest_cell(vmd: VmDiagnosis) -> str:
    guest = vmd.vm.os
    if guest is None or not guest.reported:
        return "—"
    text = guest.os_name or (f"build {guest.build}" if guest.build is not None else "?")
    return text if guest.source is OsSource.KVP else f"{text} ({guest.source.label})"


def _kvp_cell(vmd: VmDiagnosis) -> str:
    kvp = vmd.vm.kvp
    if not kvp.enabled:
        return "disabled"
    status = _kvp_status(vmd)
    return f"enabled, {status}" if status else "enabled"


def _activation_cell(vmd: VmDiagnosis) -> str:
    read = vmd.vm.license
    lic = read.license
    text = vmd.status.value
    if (
        lic is not None
        and lic.channel
        and not (vmd.status is VmStatus.ACTIVATED_AVMA and lic.channel == "VIRTUAL_MACHINE_ACTIVATION")
    ):  # "activated-avma (AVMA)" says it twice
        text += f" ({channel_name(lic.channel) or lic.channel})"
    elif read.state is LicenseState.FAILED:
        text += " (read timed out)" if read.error_kind is GuestErrorKind.TIMEOUT else " (read failed)"
    if lic is not None and lic.status in GRACE_STATES and lic.grace_minutes:
        text += f", grace {lic.grace_minutes // 1440 or '<1'}d"
    return text


def _worst_cell(vmd: VmDiagnosis) -> str:
    worst = vmd.worst
    return f"{worst.severity.value}: {worst.code}" if worst else "ok"


def _row(vmd: VmDiagnosis) -> tuple[str, ...]:
    return (vmd.vm.name, vmd.vm.state, _guest_cell(vmd), _kvp_cell(vmd), _activation_cell(vmd), _worst_cell(vmd))


# --- text ----------------------------------------------------------------------------------------------


def printable(text: str) -> str:
    """`text` safe to print at a terminal, on one line (`avma_tui.core.text.clean`)."""
    return clean(text)


def _width(text: str) -> int:
    """Columns `text` takes at a terminal (wide East Asian characters and emoji take two)."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` columns (ending in an ellipsis when cut), padded to exactly `width`."""
    if _width(text) > width:
        out = ""
        for ch in text:
            if _width(out + ch) > width - 1:
                break
            out += ch
        text = out + "…"
    return text + " " * (width - _width(text))


def fit_columns(natural: list[int], width: int | None) -> list[int | None]:
    """Column widths for a table at most `width` columns wide (None: unbounded, every cell whole).

    Follows _FIT_STEPS until the table fits (`core.columns`); None marks a column left out. On an absurdly
    narrow terminal the result can still be wider: the rows then wrap rather than lose VM, activation or finding.
    """
    widths = fit_widths(dict(enumerate(natural)), width, _FIT_STEPS, _GAP)
    return [widths[column] for column in range(len(natural))]


def _wrap(text: str, width: int | None, indent: str = "", first: str | None = None) -> list[str]:
    """Prose lines: wrapped at `width` on a terminal (never inside a word), whole lines otherwise."""
    first = indent if first is None else first
    if width is None:
        return [first + text]
    return textwrap.wrap(
        text,
        width=max(width, 40),
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first]


def render_text(diagnosis: Diagnosis, width: int | None = None) -> str:
    """A table a person reads, then every finding with its detail and remedy.

    `width` is the terminal's width: the table is fitted to it (cells cut with an ellipsis, the least
    important columns left out at need) and prose is wrapped. None (a file or a pipe) keeps every cell
    and line whole, so a file carries the full guest OS name.
    """
    host = diagnosis.inventory.host
    lines = _wrap(
        printable(f"Host {host.fqdn}: {host.os_name or 'unknown OS'}{f' (build {host.build})' if host.build else ''}"),
        width,
    )
    can = diagnosis.host_can_activate_reason or diagnosis.host_can_activate
    lines += _wrap(printable(f"Can this host activate guests? {can}"), width)
    lines.append("")
    rows = [tuple(printable(cell) for cell in _row(d)) for d in diagnosis.vms]
    natural = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(_HEADINGS)]
    widths = fit_columns(natural, width)
    for row in [_HEADINGS, *rows]:
        cells = [_fit(cell, w) for cell, w in zip(row, widths, strict=True) if w is not None]
        lines.append((" " * _GAP).join(cells).rstrip())
    if None in widths:
        left_out = ", ".join(h for h, w in zip(_HEADINGS, widths, strict=True) if w is None)
        lines += _wrap(f"({left_out} left out to fit {width} columns; a file or pipe gets every column)", width)
    lines += ["", *_wrap(summary_line(diagnosis), width)]
    if diagnosis.inventory.read_errors:
        lines += ["", "Not readable from the host"]
        for error in diagnosis.inventory.read_errors:
            lines += _wrap(printable(error), width, "    ", "  ")
    findings = diagnosis.findings
    if findings:
        lines += ["", "Findings"]
    for f in findings:
        lines += _wrap(printable(f"[{f.severity.value}] {f.code} — {f.subject}: {f.title}"), width, "    ", "  ")
        if f.detail:
            lines += _wrap(printable(f.detail), width, "      ")
        lines += _wrap(printable(f"fix ({f.remedy_kind.value}): {f.remedy_summary}"), width, "      ")
    return "\n".join(lines) + "\n"


# --- CSV ------------------------------------------------------------------------------------------------


def render_csv(diagnosis: Diagnosis) -> str:
    """One row per VM: the text table's columns, the `;`-joined finding codes and the VM Id."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "findings", "id"])
    for d in diagnosis.vms:
        cells = [*_row(d), ";".join(f.code for f in d.findings), d.vm.id]
        writer.writerow([csv_cell(c) for c in cells])
    return out.getvalue()


# --- the command ---------------------------------------------------------------------------------------


def render(diagnosis: Diagnosis, fmt: str, width: int | None = None) -> str:
    """The report in `fmt`; `width` (text only) is the terminal's, None for a file or a pipe."""
    if fmt == "json":
        return json_text(json.dumps(to_json(diagnosis), indent=2, ensure_ascii=False)) + "\n"
    if fmt == "csv":
        return render_csv(diagnosis)
    return render_text(diagnosis, width)
