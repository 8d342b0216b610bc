"""Findings as blocks: a title line, then why it matters, the evidence and the remedy, indented.

Shared by the VM details and the host view. Each finding is two Statics so that wrapped lines keep
their indent (Content has no hanging indent). Finding texts quote VM names and guest data, so every
piece goes through `ui.safe`.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from avma_tui.core.model import Finding
from avma_tui.ui import safe
from avma_tui.ui.widgets.cells import SEVERITY_STYLE

#: Finding details and evidence can be a sentence or two; longer text is still capped.
LONG_TEXT = 600


def finding_title(finding: Finding) -> Content:
    style = SEVERITY_STYLE[finding.severity]
    return safe.assemble(
        ("● ", style),
        (finding.severity.value.upper(), f"bold {style}"),
        " ",
        (finding.code, "bold"),
        "  ",
        safe.text(finding.title, limit=LONG_TEXT),
    )


def finding_body(finding: Finding) -> Content:
    lines = [safe.assemble(("Why: ", "$text-muted"), safe.text(finding.detail, limit=LONG_TEXT))]
    lines.extend(
        safe.assemble(("Evidence: ", "$text-muted"), safe.text(item, limit=LONG_TEXT)) for item in finding.evidence
    )
    lines.append(
        safe.assemble(
            (f"Remedy ({finding.remedy_kind.value}): ", "$text-accent"),
            safe.text(finding.remedy_summary, limit=LONG_TEXT),
        )
    )
    return Content("\n").join(lines)


def finding_widgets(findings: tuple[Finding, ...], empty: str) -> list[Static]:
    """Title and body of every finding; one line `empty` (trusted) when there are none."""
    if not findings:
        return [Static(Content.styled(empty, "$text-success"))]
    widgets: list[Static] = []
    for finding in findings:
        widgets += [
            Static(finding_title(finding), classes="finding-title"),
            Static(finding_body(finding), classes="finding-body"),
        ]
    return widgets
