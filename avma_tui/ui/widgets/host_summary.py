"""The host at a glance: what it is, whether it can activate guests and why, its cluster, the VM tally."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from avma_tui.core.catalog import license_status_name, load_catalog
from avma_tui.core.model import ClusterNode, Diagnosis, LicenseState
from avma_tui.services.summary import tally
from avma_tui.ui import safe
from avma_tui.ui.widgets.cells import SEVERITY_STYLE


def _activation(status: int | None) -> Content:
    if status is None:
        return Content.styled("activation unknown", "$text-warning")
    name = license_status_name(status)
    return Content.styled(name, "$text-success" if status == 1 else "$text-error")


def _node(node: ClusterNode) -> Content:
    if node.pending:
        return safe.assemble((node.name, "bold"), (" reading…", "$text-muted"))
    if not node.reachable:
        return safe.assemble((node.name, "bold"), (" unreachable", "$text-warning"))
    catalog = load_catalog()
    family = catalog.family_of(node.build) or f"build {node.build}"
    edition = catalog.edition(node.sku, "").label or "edition ?"
    return safe.assemble((node.name, "bold"), f" {family} {edition} ", _activation(node.license_status))


def summary_text(diagnosis: Diagnosis, guest_user: str, *, login_rejected: bool = False) -> Content:
    inventory = diagnosis.inventory
    host = inventory.host
    build = f"build {host.build}" if host.build else "build unknown"
    edition = diagnosis.host_edition or "edition unknown"
    shown_edition = "" if edition.casefold() in host.os_name.casefold() else f" · {edition}"
    lines = [
        safe.assemble(
            (host.os_name or "Windows", "bold"),
            f" · {build}{shown_edition} · ",
            _activation(host.license_status),
            (" · Hyper-V role missing", "$text-error") if not host.hyperv else "",
            (" · runs in a VM", "$text-warning") if host.virtual else "",
        ),
        safe.assemble(
            ("✔ ", "bold $text-success") if diagnosis.host_can_activate else ("✘ ", "bold $text-error"),
            safe.text(
                diagnosis.host_can_activate_reason,
                "$text-success" if diagnosis.host_can_activate else "$text-error",
                400,
            ),
        ),
    ]
    findings = diagnosis.host_findings
    if findings:
        worst = max(findings, key=lambda f: f.severity.rank)
        more = f" +{len(findings) - 1} more" if len(findings) > 1 else ""
        lines.append(
            safe.assemble(
                ("Host and cluster: ", "$text-muted"),
                (worst.code, SEVERITY_STYLE[worst.severity]),
                more,
                ("  (h for details)", "$text-muted"),
            )
        )
    cluster = inventory.cluster
    if cluster is not None:
        nodes = Content(" · ").join(_node(node) for node in cluster.nodes) or Content("no other nodes")
        lines.append(safe.assemble(("Cluster ", "$text-muted"), (cluster.name, "bold"), ": ", nodes))
    lines.append(_tally(diagnosis, guest_user, login_rejected))
    return Content("\n").join(lines)


def _tally(diagnosis: Diagnosis, guest_user: str, login_rejected: bool = False) -> Content:
    counts = tally(diagnosis)  # the same numbers `report` prints (services/summary.py)
    parts: list[str | Content | tuple[object, str]] = [
        (f"{counts.vms} VM{'' if counts.vms == 1 else 's'}", "bold"),
        f" · {counts.on_avma} on AVMA · ",
        (f"{counts.vms_with_errors} with errors", "$text-error" if counts.vms_with_errors else "$text-muted"),
        " · ",
        (f"{counts.vms_with_warnings} with warnings", "$text-warning" if counts.vms_with_warnings else "$text-muted"),
        " · guest login: ",
        ("rejected (c)", "$error bold")
        if guest_user and login_rejected
        else (guest_user, "bold")
        if guest_user
        else ("none (c)", "$text-muted"),
    ]
    reading = sum(d.vm.license.state is LicenseState.READING for d in diagnosis.vms)
    if reading:
        parts.append((f" · reading {reading} license{'' if reading == 1 else 's'}…", "$text-muted"))
    return safe.assemble(*parts)


class HostSummary(Static):
    """A few lines at the top of the dashboard; the border carries the host's name and the read time."""

    def show(self, diagnosis: Diagnosis, guest_user: str, read_at: str, *, login_rejected: bool = False) -> None:
        self.border_title = safe.text(diagnosis.inventory.host.fqdn)
        self.border_subtitle = Content(f"read {read_at}") if read_at else ""
        self.update(summary_text(diagnosis, guest_user, login_rejected=login_rejected))

    def set_busy(self, busy: bool, read_at: str) -> None:
        self.border_subtitle = Content("refreshing…") if busy else (Content(f"read {read_at}") if read_at else "")
