"""The host's findings and its cluster nodes', and the one sentence "can this host activate guests?".

Each check is a small function that returns its finding or None; `host_findings` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from avma_tui.core.catalog import FAMILIES, Catalog, Edition, license_status_words
from avma_tui.core.findings.common import FIRST_AVMA_BUILD, is_datacenter, quote, span
from avma_tui.core.findings.registry import make_finding
from avma_tui.core.model import ClusterNode, Finding, Host


@dataclass(frozen=True)
class HostFacts:
    family: str | None
    edition: Edition
    guests: tuple[str, ...]  # families it can activate
    inferred: bool


def host_facts(host: Host, catalog: Catalog) -> HostFacts:
    family = catalog.family_of(host.build)
    row = next((r for r in catalog.matrix() if r[0] == family), None)
    guests, inferred = (row[1], row[2]) if row else ((), False)
    return HostFacts(family, catalog.edition(host.sku, host.os_name), guests, inferred)


def _host_evidence(host: Host) -> tuple[str, ...]:
    return (
        f"host Caption = {quote(host.os_name)}",
        f"host BuildNumber = {host.build}",
        f"host OperatingSystemSKU = {host.sku}",
    )


@dataclass(frozen=True)
class _HostCheck:
    host: Host
    facts: HostFacts
    catalog: Catalog

    def finding(self, code: str, title: str, detail: str, evidence: Sequence[str], remedy: str) -> Finding:
        return make_finding(code, (self.host.name, "", "host"), title, detail, evidence, remedy)


def _not_hyperv(c: _HostCheck) -> Finding | None:
    if c.host.hyperv:
        return None
    return c.finding(
        "HOST_NOT_HYPERV",
        "Hyper-V is not installed on the host",
        "AVMA is done by the Hyper-V host for its own VMs; this server has no Hyper-V role or module.",
        ("host Hyper-V role = absent",),
        "Connect to the Hyper-V host, or install the Hyper-V role on a Datacenter host.",
    )


def _virtual(c: _HostCheck) -> Finding | None:
    if not c.host.virtual:
        return None
    return c.finding(
        "HOST_IS_VIRTUAL",
        "The host itself runs in a VM",
        "This Hyper-V host is a virtual machine (nested, or in Azure). AVMA is not supported in Azure, "
        "and guests of a nested host in Azure were seen to fail with 0xC004FD02.",
        ("host is virtual = true",),
        "Run the guests on a physical Datacenter host, or activate them with KMS (Azure KMS in Azure).",
    )


def _version_unsupported(c: _HostCheck) -> Finding | None:
    if c.facts.family is not None:
        return None
    build = c.host.build
    info = c.catalog.build_info(build)
    if build is None:
        detail = "The host did not report its build, so which guests it can activate is unknown."
    elif info is not None or build < FIRST_AVMA_BUILD:
        name = info.name if info else f"Build {build}"
        detail = f"{name} cannot be an AVMA host: AVMA hosts are Windows Server 2012 R2 Datacenter or newer."
    else:
        detail = f"Build {build} is not in the catalog, so which guests it can activate is unknown."
    return c.finding(
        "HOST_VERSION_UNSUPPORTED",
        "Host version cannot do AVMA",
        detail,
        (f"host BuildNumber = {build}",),
        "Run the VMs on a Windows Server 2012 R2 or newer Datacenter host.",
    )


def _not_datacenter(c: _HostCheck) -> Finding | None:
    edition = c.facts.edition
    if is_datacenter(edition):
        return None
    label = edition.name or "of an unknown edition"
    return c.finding(
        "HOST_NOT_DATACENTER",
        f"Host is {edition.name}, not Datacenter" if edition.name else "Host edition unknown",
        f"Only a Datacenter host can activate guests by AVMA (Datacenter grants unlimited virtual "
        f"instances); this host is {label}.",
        _host_evidence(c.host),
        "Upgrade the host to Datacenter (DISM /Set-Edition:ServerDatacenter), or activate the guests "
        "with KMS, MAK or retail keys.",
    )


def _evaluation(c: _HostCheck) -> Finding | None:
    if not c.facts.edition.evaluation:
        return None
    return c.finding(
        "HOST_EVALUATION",
        "Host is an Evaluation edition",
        "Evaluation editions expire, and AVMA on an Evaluation host is not confirmed to work.",
        _host_evidence(c.host),
        "Convert the host to a retail edition (DISM /Set-Edition with a purchased key).",
    )


def _not_activated(c: _HostCheck) -> Finding | None:
    status = c.host.license_status
    if status == 1:
        return None
    evidence = (f"host LicenseStatus = {status}",)
    if status is None:
        return c.finding(
            "HOST_NOT_ACTIVATED",
            "Host activation not reported",
            "Only an activated host activates guests; the host did not report its Windows license "
            "status, so it is not known to be activated.",
            evidence,
            "Check the host's activation (slmgr /dlv on the host); if it is not activated, enter its product key.",
        )
    state = license_status_words(status)
    fd02 = c.catalog.error(0xC004FD02)
    symptom = f" ({fd02.hex}: {fd02.text})" if fd02 else ""
    return c.finding(
        "HOST_NOT_ACTIVATED",
        "Host is not activated",
        f"Only an activated host activates guests; its guests fail{symptom}. The host's Windows license is {state}.",
        evidence,
        "Enter the host's product key; the tool installs it and activates the host.",
    )


_HOST_CHECKS: tuple[Callable[[_HostCheck], Finding | None], ...] = (
    _not_hyperv,
    _virtual,
    _version_unsupported,
    _not_datacenter,
    _evaluation,
    _not_activated,
)


def host_findings(host: Host, facts: HostFacts, catalog: Catalog) -> list[Finding]:
    check = _HostCheck(host, facts, catalog)
    return [finding for run in _HOST_CHECKS if (finding := run(check)) is not None]


def node_findings(cluster_name: str, node: ClusterNode, newest_guest: str | None, catalog: Catalog) -> list[Finding]:
    if node.pending:
        return []  # being read: nothing known yet, nothing to say
    subject = (node.name, node.name, "node")
    why = f"every node of cluster {quote(cluster_name)} must be an activated Datacenter host able to run each guest"
    why += ", or guests lose activation after a failover"
    if not node.reachable:
        error = f": {quote(node.error)}" if node.error else ""
        return [
            make_finding(
                "CLUSTER_NODE_UNREACHABLE",
                subject,
                f"Cluster node {node.name} could not be checked",
                f"Its edition and activation could not be read{error}. It matters because {why}.",
                (f"cluster node {quote(node.name)} reachable = false",),
                "Check the node at its console (winver, slmgr /dlv) or make it reachable, then refresh.",
            )
        ]
    found: list[Finding] = []
    edition = catalog.edition(node.sku, "")
    family = catalog.family_of(node.build)
    evidence = (f"cluster node {quote(node.name)} BuildNumber = {node.build}", f"OperatingSystemSKU = {node.sku}")
    # An unreported or uncatalogued build is not known to be older (a build newer than the catalog is not).
    older = FAMILIES.index(family) < FAMILIES.index(newest_guest) if family and newest_guest else False
    too_old_build = family is None and node.build is not None and node.build < FIRST_AVMA_BUILD
    if newest_guest is not None and (older or too_old_build):
        version = f"Windows Server {family}" if family else f"build {node.build}"
        found.append(
            make_finding(
                "CLUSTER_NODE_TOO_OLD",
                subject,
                f"Cluster node {node.name} is older than some guests",
                f"The node runs {version}, which cannot activate the Windows Server {newest_guest} guests here; "
                f"they fail after moving to it. It matters because {why}.",
                evidence,
                f"Upgrade the node to Windows Server {newest_guest} or newer, or keep those VMs off it.",
            )
        )
    if not is_datacenter(edition):
        label = edition.label or "of an unknown edition"
        found.append(
            make_finding(
                "CLUSTER_NODE_NOT_DATACENTER",
                subject,
                f"Cluster node {node.name} is not Datacenter",
                f"The node is {label}. It matters because {why}.",
                evidence,
                "Upgrade the node to Datacenter (DISM /Set-Edition:ServerDatacenter on the node).",
            )
        )
    if node.license_status != 1:
        state = license_status_words(node.license_status) if node.license_status is not None else None
        found.append(
            make_finding(
                "CLUSTER_NODE_NOT_ACTIVATED",
                subject,
                f"Cluster node {node.name} is not activated",
                f"The node's Windows license is {state or 'not reported'}. It matters because {why}.",
                (f"cluster node {quote(node.name)} LicenseStatus = {node.license_status}",),
                "Activate the node (slmgr /ipk <its key>, then slmgr /ato, on the node).",
            )
        )
    return found


def can_activate_reason(host: Host, facts: HostFacts, findings: Sequence[Finding]) -> tuple[bool, str]:
    """One plain sentence for "can this host activate guests?"."""
    reasons = {
        "HOST_NOT_HYPERV": "Hyper-V is not installed",
        "HOST_VERSION_UNSUPPORTED": f"its build ({host.build}) is not an AVMA host version",
        "HOST_NOT_DATACENTER": f"the host is {facts.edition.label or 'not known to be Datacenter'}"
        + (" (AVMA needs Datacenter)" if facts.edition.name else ""),
        "HOST_NOT_ACTIVATED": "the host is not activated",
    }
    blocking = [reasons[f.code] for f in findings if f.code in reasons]
    if blocking:
        return False, f"No: {'; '.join(blocking)}."
    note = " (the 2025 row is inferred)" if facts.inferred else ""
    return True, (
        f"Yes: Windows Server {facts.family} {facts.edition.label}, activated, "
        f"can activate {span(facts.guests)} guests{note}."
    )
