"""`avma-tui report`: where the VMs stand, as text, JSON or CSV (docs/report.md).

For cron, monitoring checks and monthly licensing records, so it stays fast and plain: no Textual
import. Exit status: 0 no error finding, 1 at least one, 2 the report could not be made.

Strings from the host and guests are untrusted; all three formats run them through the one sanitiser
(`avma_tui.core.text`). JSON carries them exactly, with every control, bidi control and lone surrogate as a
`\\uXXXX` escape; text drops those characters so a hostile name cannot drive the terminal; CSV escapes them
as JSON does and defuses spreadsheet formulas.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from avma_tui import __version__
from avma_tui.core.model import Diagnosis, Finding, KvpStatus, LicenseState, Severity, VmDiagnosis, VmStatus
from avma_tui.core.text import clean, csv_cell, json_text
from avma_tui.errors import CliError
from avma_tui.hyperv.transport import TransportError
from avma_tui.services.audit import AuditError
from avma_tui.services.targets import guest_credential, open_target, remote_user_of

#: Widest a cell of the text table gets; longer values end in an ellipsis (the findings show them whole).
MAX_CELL = 32
COLUMNS = ("name", "state", "guest_os", "kvp", "activation", "worst_finding")
_HEADINGS = ("NAME", "STATE", "GUEST OS", "KVP", "ACTIVATION", "WORST FINDING")
#: Short names of license channels for the table (the JSON keeps Windows' token).
_CHANNELS = {
    "VIRTUAL_MACHINE_ACTIVATION": "AVMA",
    "VOLUME_KMSCLIENT": "KMS client",
    "VOLUME_MAK": "MAK",
    "RETAIL": "retail",
    "OEM_DM": "OEM",
    "TIMEBASED_EVAL": "Evaluation",
}


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
    guest = vm.guest
    read = vm.license
    lic = read.license
    return {
        "name": vm.name,
        "id": vm.id,
        "state": vm.state,
        "kvp": {"enabled": vm.kvp.enabled, "status": _kvp_status(vmd)},
        "guest": None
        if guest is None
        else {"os_name": guest.os_name, "build": guest.build, "family": vmd.family, "edition": vmd.edition},
        "license_read": read.state.value,
        "license_error": read.error or None,
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
    summary = {"vms": len(diagnosis.vms)}
    for status in VmStatus:
        summary[status.value] = sum(1 for d in diagnosis.vms if d.status is status)
    findings = diagnosis.findings
    summary["errors"] = sum(1 for f in findings if f.severity is Severity.ERROR)
    summary["warnings"] = sum(1 for f in findings if f.severity is Severity.WARNING)
    return summary


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
    guest = vmd.vm.guest
    if guest is None or not guest.reported:
        return "—"
    return guest.os_name or (f"build {guest.build}" if guest.build is not None else "?")


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
    if lic is not None and lic.channel:
        text += f" ({_CHANNELS.get(lic.channel, lic.channel)})"
    elif read.state is LicenseState.FAILED:
        text += " (read failed)"
    if lic is not None and lic.status in (2, 3, 4, 6) and lic.grace_minutes:
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


def render_text(diagnosis: Diagnosis) -> str:
    """A table a person reads at a terminal, then every finding with its detail and remedy."""
    host = diagnosis.inventory.host
    lines = [
        printable(f"Host {host.fqdn}: {host.os_name or 'unknown OS'}{f' (build {host.build})' if host.build else ''}"),
        printable(
            f"Can this host activate guests? {diagnosis.host_can_activate_reason or diagnosis.host_can_activate}"
        ),
        "",
    ]
    rows = [tuple(printable(cell) for cell in _row(d)) for d in diagnosis.vms]
    widths = [min(MAX_CELL, max([_width(h)] + [_width(r[i]) for r in rows])) for i, h in enumerate(_HEADINGS)]
    for row in [_HEADINGS, *rows]:
        lines.append("  ".join(_fit(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip())
    summary = _summary(diagnosis)
    lines += [
        "",
        ", ".join(f"{summary[s.value]} {s.value}" for s in VmStatus)
        + f"; {summary['errors']} errors, {summary['warnings']} warnings",
    ]
    if diagnosis.inventory.read_errors:
        lines += ["", "Not readable from the host"]
        lines += [printable(f"  {error}") for error in diagnosis.inventory.read_errors]
    findings = diagnosis.findings
    if findings:
        lines += ["", "Findings"]
    for f in findings:
        lines.append(printable(f"  [{f.severity.value}] {f.code} — {f.subject}: {f.title}"))
        if f.detail:
            lines.append(printable(f"      {f.detail}"))
        lines.append(printable(f"      fix ({f.remedy_kind.value}): {f.remedy_summary}"))
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


def render(diagnosis: Diagnosis, fmt: str) -> str:
    if fmt == "json":
        return json_text(json.dumps(to_json(diagnosis), indent=2, ensure_ascii=False)) + "\n"
    if fmt == "csv":
        return render_csv(diagnosis)
    return render_text(diagnosis)


async def _diagnose(args: argparse.Namespace) -> Diagnosis:
    from avma_tui.services.audit import AuditLog
    from avma_tui.services.session import Session

    session = Session(
        open_target(args), guest_credential=guest_credential(args), remote_user=remote_user_of(args), audit=AuditLog()
    )
    try:
        return await session.refresh()
    finally:
        await session.close()


def run(args: argparse.Namespace) -> int:
    """Make the report; 0 no error finding, 1 some, CliError (exit 2) when it cannot be made."""
    try:
        diagnosis = asyncio.run(_diagnose(args))
    except (TransportError, AuditError) as err:
        raise CliError(printable(str(err))) from None
    text = render(diagnosis, args.format)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8", newline="")
        except OSError as err:
            raise CliError(f"cannot write {args.output}: {err.strerror or err}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 1 if any(f.severity is Severity.ERROR for f in diagnosis.findings) else 0
