"""The finding registry: every finding code, once, with everything the rest of the tool needs to know about it.

One row per code, in fix order (host before cluster nodes before VMs; within a VM, power and KVP first, then
what the guest is, then the key, then activation). The diagnosis (`avma_tui.core.findings`) makes findings
only through `make_finding`, which takes severity and remedy kind from here; the remedies
(`avma_tui.core.remedies`) keep one builder per code and refuse to import when a code has none; the report,
the docs table (docs/findings.md) and the tests read this table. Adding a finding: docs/findings.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from avma_tui.core.model import Finding, RemedyKind, Severity


class Subject(str, Enum):
    """What a finding is about; the value is `Finding.subject_kind`."""

    HOST = "host"
    NODE = "node"  # a cluster node, by name
    VM = "vm"  # a VM, by name and Id


@dataclass(frozen=True)
class FindingSpec:
    code: str
    subject: Subject
    severity: Severity
    remedy: RemedyKind
    when: str  # what raises it (the docs table's "when" column)
    fix: str = ""  # what the remedy does, in a few words, for the docs table
    #: The host cannot activate any guest while this stands: a VM's plan lists it first, activation is refused.
    blocks_host: bool = False
    #: Installing an AVMA key on the guest is pointless or impossible while this stands (named in the refusal).
    blocks_key: bool = False

    @property
    def info_only(self) -> bool:
        """Nothing to fix: the remedy has no steps."""
        return self.remedy is RemedyKind.NONE

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, on in (
                ("blocking-host", self.blocks_host),
                ("blocks-key", self.blocks_key),
                ("info-only", self.info_only),
            )
            if on
        )


_H, _N, _V = Subject.HOST, Subject.NODE, Subject.VM
_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
_AUTO, _ASSIST, _MANUAL, _NONE = RemedyKind.AUTOMATIC, RemedyKind.ASSISTED, RemedyKind.MANUAL, RemedyKind.NONE

#: Every finding code, in fix order. Never reuse or rename a code: reports, the audit log and outside tools
#: match on them.
REGISTRY: tuple[FindingSpec, ...] = (
    FindingSpec(
        "HOST_NOT_HYPERV",
        _H,
        _E,
        _MANUAL,
        when="the Hyper-V role / module is not present on the host",
        blocks_host=True,
    ),
    FindingSpec(
        "HOST_IS_VIRTUAL",
        _H,
        _W,
        _MANUAL,
        when="the host itself runs in a VM (nested, or in Azure, where AVMA is unsupported)",
        blocks_host=True,
    ),
    FindingSpec(
        "HOST_VERSION_UNSUPPORTED",
        _H,
        _E,
        _MANUAL,
        when="host build older than 2012 R2 or unknown family",
        blocks_host=True,
    ),
    FindingSpec(
        "HOST_NOT_DATACENTER",
        _H,
        _E,
        _MANUAL,
        when="host edition is not Datacenter (Standard, Hyper-V Server, Essentials…)",
        fix="upgrade edition, or activate guests another way",
        blocks_host=True,
    ),
    FindingSpec(
        "HOST_EVALUATION",
        _H,
        _W,
        _MANUAL,
        when="host is an Evaluation edition",
        fix="convert to retail",
    ),
    FindingSpec(
        "HOST_NOT_ACTIVATED",
        _H,
        _E,
        _ASSIST,
        when="host LicenseStatus ≠ 1",
        fix="admin enters the host's product key; install + activate on the host",
        blocks_host=True,
    ),
    FindingSpec(
        "CLUSTER_NODE_UNREACHABLE",
        _N,
        _W,
        _MANUAL,
        when="a cluster node's edition/activation could not be read",
    ),
    FindingSpec(
        "CLUSTER_NODE_TOO_OLD",
        _N,
        _W,
        _MANUAL,
        when="a node's family is older than some guest's family (that guest fails after failover)",
    ),
    FindingSpec(
        "CLUSTER_NODE_NOT_DATACENTER",
        _N,
        _E,
        _MANUAL,
        when="a cluster node is not Datacenter",
    ),
    FindingSpec(
        "CLUSTER_NODE_NOT_ACTIVATED",
        _N,
        _E,
        _MANUAL,
        when="a cluster node is not activated",
    ),
    FindingSpec(
        "VM_NOT_RUNNING",
        _V,
        _I,
        _AUTO,
        when="state is not Running: guest data and PowerShell Direct are unavailable",
        fix="start the VM",
    ),
    FindingSpec(
        "KVP_DISABLED",
        _V,
        _E,
        _AUTO,
        when="the Key-Value Pair Exchange integration service is disabled on the host",
        fix="Enable-VMIntegrationService",
    ),
    FindingSpec(
        "KVP_NO_CONTACT",
        _V,
        _E,
        _ASSIST,
        when="KVP enabled, VM running, but the service reports no contact / lost communication, or no intrinsic data "
        "arrives",
        fix="start vmickvpexchange in the guest via PowerShell Direct, or at its console",
    ),
    FindingSpec(
        "GUEST_OS_UNKNOWN",
        _V,
        _W,
        _MANUAL,
        when="VM running and KVP fine, but the guest reported no OS data",
    ),
    FindingSpec(
        "GUEST_NOT_WINDOWS_SERVER",
        _V,
        _I,
        _NONE,
        when="guest is not Windows Server (Linux, Windows client)",
        blocks_key=True,
    ),
    FindingSpec(
        "GUEST_TOO_OLD",
        _V,
        _I,
        _NONE,
        when="Windows Server older than 2012 R2",
        blocks_key=True,
    ),
    FindingSpec(
        "GUEST_AZURE_EDITION",
        _V,
        _E,
        _MANUAL,
        when="Datacenter: Azure Edition guest on plain Hyper-V",
        blocks_key=True,
    ),
    FindingSpec(
        "NO_AVMA_KEY",
        _V,
        _E,
        _MANUAL,
        when="the catalog has no AVMA key for the guest's version + edition (e.g. 2022 Essentials, SAC 2004)",
        blocks_key=True,
    ),
    FindingSpec(
        "GUEST_NEWER_THAN_HOST",
        _V,
        _E,
        _MANUAL,
        when="host cannot activate the guest's version family",
        fix="move VM to a newer host, upgrade host, or another activation method",
        blocks_key=True,
    ),
    FindingSpec(
        "LICENSE_UNKNOWN",
        _V,
        _I,
        _ASSIST,
        when="guest license state not read: no guest credentials yet, or the query failed (say which)",
        fix="enter guest credentials",
    ),
    FindingSpec(
        "PS_DIRECT_UNAVAILABLE",
        _V,
        _I,
        _MANUAL,
        when="PowerShell Direct cannot reach this guest (guest 2012 R2, or the VM has no session service)",
        fix="exact slmgr commands for the console",
    ),
    FindingSpec(
        "GUEST_EVALUATION",
        _V,
        _E,
        _ASSIST,
        when="guest is an Evaluation edition (AVMA keys do not install)",
        fix="DISM /Set-Edition with the matching AVMA key; reboot",
    ),
    FindingSpec(
        "KEY_NOT_AVMA",
        _V,
        _W,
        _ASSIST,
        when="installed key is not on the AVMA channel (KMS client, MAK, retail, OEM); say which, and name a KMS "
        "client key when the partial key matches one in the catalog",
        fix="install the right AVMA key; confirm before replacing a MAK/retail key",
    ),
    FindingSpec(
        "AVMA_DATA_AFTER_KEY_CHANGE",
        _V,
        _W,
        _MANUAL,
        when="guest is on a non-AVMA channel but still carries AVMA activation data (last AVMA activation time set): "
        "the reference says KVP data should be removed when the AVMA key is replaced",
    ),
    FindingSpec(
        "ACTIVATED_BY_OTHER_HOST",
        _V,
        _I,
        _ASSIST,
        when="AVMA host name in the guest differs from this host (e.g. after live migration)",
        fix="re-trigger activation to bind to this host",
    ),
    FindingSpec(
        "NOT_ACTIVATED",
        _V,
        _E,
        _ASSIST,
        when="guest LicenseStatus ≠ 1 with no grace left or in Notification; decode LicenseStatusReason "
        "(0xC004FD00–FD04 and the others in the reference) into words",
        fix="fix prerequisites first, then trigger activation",
    ),
    FindingSpec(
        "GRACE_PERIOD",
        _V,
        _W,
        _ASSIST,
        when="guest in a grace state (2, 3, 4, 6); say how many days are left",
    ),
    FindingSpec(
        "AVMA_EVENT_FAILURE",
        _V,
        _W,
        _MANUAL,
        when="the host's Application log has an AVMA event (12310) for this VM newer than its last success: Invalid "
        "Host, Invalid Data or Activation Denied, or an error HRESULT in its data; show the event's time, the meaning "
        "and the code (a guest whose activation failed stays in grace: the event says why)",
    ),
)

SPEC: dict[str, FindingSpec] = {spec.code: spec for spec in REGISTRY}
if len(SPEC) != len(REGISTRY):  # pragma: no cover - a duplicated row is a programming error
    raise ImportError("duplicate finding code in the registry")
ORDER: tuple[str, ...] = tuple(SPEC)
RANK: dict[str, int] = {code: index for index, code in enumerate(ORDER)}

#: Host findings that stop AVMA for every guest: listed first in a VM's plan.
BLOCKING_HOST_CODES: tuple[str, ...] = tuple(s.code for s in REGISTRY if s.blocks_host)
#: VM findings that make installing an AVMA key pointless or impossible, in the order they are named.
KEY_BLOCKERS: tuple[str, ...] = tuple(s.code for s in REGISTRY if s.blocks_key)
#: Findings that say "nothing to fix": their remedy has no steps.
INFO_ONLY_CODES: frozenset[str] = frozenset(s.code for s in REGISTRY if s.info_only)


def make_finding(
    code: str,
    subject: tuple[str, str, str],
    title: str,
    detail: str,
    evidence: Iterable[str],
    remedy: str,
) -> Finding:
    """A Finding with its registry severity and remedy kind; `subject` is (name, id, kind)."""
    spec = SPEC[code]
    name, subject_id, subject_kind = subject
    if subject_kind != spec.subject.value:
        raise ValueError(f"{code} is a {spec.subject.value} finding, not a {subject_kind} one")
    return Finding(
        code, spec.severity, name, subject_id, subject_kind, title, detail, tuple(evidence), spec.remedy, remedy
    )


def markdown_table() -> str:
    """The table of docs/findings.md, from the registry (tests/domain/test_findings_registry.py keeps them equal)."""
    lines = ["| code | subject | severity | remedy | flags | when |", "|---|---|---|---|---|---|"]
    for spec in REGISTRY:
        remedy = f"{spec.remedy.value} ({spec.fix})" if spec.fix else spec.remedy.value
        flags = ", ".join(spec.flags)
        lines.append(
            f"| `{spec.code}` | {spec.subject.value} | {spec.severity.value} | {remedy} | {flags} | {spec.when} |"
        )
    return "\n".join(lines) + "\n"
