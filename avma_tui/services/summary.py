"""The counts the dashboard header and `report` both show, made in one place so they always agree.

A VM counts once, by its worst finding: "3 with errors" are three VMs whose worst finding is an error,
"2 with warnings" two whose worst is a warning. Host and cluster findings are counted apart (the
dashboard shows them on the host line, the report in its findings). The report's JSON also keeps its
contract's totals of error and warning findings (host included).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from avma_tui.core.model import Diagnosis, Severity, VmStatus


@dataclass(frozen=True)
class Tally:
    vms: int
    by_status: dict[VmStatus, int]
    vms_with_errors: int
    vms_with_warnings: int
    host_errors: int
    host_warnings: int
    error_findings: int  # every error finding, host and VMs
    warning_findings: int

    @property
    def on_avma(self) -> int:
        return self.by_status[VmStatus.ACTIVATED_AVMA]


def tally(diagnosis: Diagnosis) -> Tally:
    worst = Counter(d.worst.severity for d in diagnosis.vms if d.worst is not None)
    host = Counter(f.severity for f in diagnosis.host_findings)
    every = host + Counter(f.severity for d in diagnosis.vms for f in d.findings)
    by_status = Counter(d.status for d in diagnosis.vms)
    return Tally(
        vms=len(diagnosis.vms),
        by_status={status: by_status[status] for status in VmStatus},
        vms_with_errors=worst[Severity.ERROR],
        vms_with_warnings=worst[Severity.WARNING],
        host_errors=host[Severity.ERROR],
        host_warnings=host[Severity.WARNING],
        error_findings=every[Severity.ERROR],
        warning_findings=every[Severity.WARNING],
    )
