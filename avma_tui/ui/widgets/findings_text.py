"""Findings as readable blocks of Content: title, why it matters, the evidence, the remedy in one line.

Shared by the VM details pane and the host view. Finding texts quote VM names and guest data, so
every piece goes through `ui.safe`.
"""

from __future__ import annotations

from textual.content import Content

from ...model import Finding
from .. import safe
from .cells import SEVERITY_STYLE

#: Finding details and evidence can be a sentence or two; longer text is still capped.
LONG_TEXT = 600


def finding_block(finding: Finding) -> Content:
    style = SEVERITY_STYLE[finding.severity]
    lines = [
        safe.assemble(
            ("● ", style),
            (finding.severity.value.upper(), f"bold {style}"),
            " ",
            (finding.code, "bold"),
            "  ",
            safe.text(finding.title, limit=LONG_TEXT),
        ),
        safe.assemble(("  Why: ", "$text-muted"), safe.text(finding.detail, limit=LONG_TEXT)),
    ]
    lines.extend(
        safe.assemble(("  Evidence: ", "$text-muted"), safe.text(item, limit=LONG_TEXT)) for item in finding.evidence
    )
    lines.append(
        safe.assemble(
            (f"  Remedy ({finding.remedy_kind.value}): ", "$accent"),
            safe.text(finding.remedy_summary, limit=LONG_TEXT),
        )
    )
    return Content("\n").join(lines)


def findings_section(findings: tuple[Finding, ...], empty: str) -> Content:
    """All findings, a blank line apart; `empty` (trusted) when there are none."""
    if not findings:
        return Content.styled(empty, "$success")
    return Content("\n\n").join(finding_block(f) for f in findings)
