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
    when: str  # one line: what raises it (the docs table's "when" column)
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
    FindingSpec("HOST_NOT_HYPERV", _H, _E, _MANUAL, "the Hyper-V role or module is not present", blocks_host=True),
    FindingSpec(
        "HOST_IS_VIRTUAL", _H, _W, _MANUAL, "the host itself runs in a VM (nested, or in Azure)", blocks_host=True
    ),
    FindingSpec(
        "HOST_VERSION_UNSUPPORTED",
        _H,
        _E,
        _MANUAL,
        "host build older than 2012 R2, unknown or not reported",
        blocks_host=True,
    ),
    FindingSpec(
        "HOST_NOT_DATACENTER", _H, _E, _MANUAL, "host edition is not Datacenter (or not known)", blocks_host=True
    ),
    FindingSpec("HOST_EVALUATION", _H, _W, _MANUAL, "host is an Evaluation edition"),
    FindingSpec(
        "HOST_NOT_ACTIVATED",
        _H,
        _E,
        _ASSIST,
        "host LicenseStatus is not 1 (Licensed), or not reported",
        blocks_host=True,
    ),
    FindingSpec("CLUSTER_NODE_UNREACHABLE", _N, _W, _MANUAL, "a cluster node's edition and activation not read"),
    FindingSpec("CLUSTER_NODE_TOO_OLD", _N, _W, _MANUAL, "a node's version cannot activate some guest here"),
    FindingSpec("CLUSTER_NODE_NOT_DATACENTER", _N, _E, _MANUAL, "a cluster node is not Datacenter"),
    FindingSpec("CLUSTER_NODE_NOT_ACTIVATED", _N, _E, _MANUAL, "a cluster node is not activated"),
    FindingSpec("VM_NOT_RUNNING", _V, _I, _AUTO, "the VM is not Running: no guest data, no PowerShell Direct"),
    FindingSpec("KVP_DISABLED", _V, _E, _AUTO, "the Key-Value Pair Exchange integration service is disabled"),
    FindingSpec("KVP_NO_CONTACT", _V, _E, _ASSIST, "KVP enabled, but no contact or no data from the guest"),
    FindingSpec("GUEST_OS_UNKNOWN", _V, _W, _MANUAL, "the guest's version or edition is not reported or not usable"),
    FindingSpec(
        "GUEST_NOT_WINDOWS_SERVER", _V, _I, _NONE, "not Windows Server (Linux, Windows client)", blocks_key=True
    ),
    FindingSpec("GUEST_TOO_OLD", _V, _I, _NONE, "Windows Server older than 2012 R2", blocks_key=True),
    FindingSpec("GUEST_AZURE_EDITION", _V, _E, _MANUAL, "Datacenter: Azure Edition on plain Hyper-V", blocks_key=True),
    FindingSpec(
        "NO_AVMA_KEY", _V, _E, _MANUAL, "the catalog has no AVMA key for this version and edition", blocks_key=True
    ),
    FindingSpec(
        "GUEST_NEWER_THAN_HOST", _V, _E, _MANUAL, "the host cannot activate the guest's version", blocks_key=True
    ),
    FindingSpec("LICENSE_UNKNOWN", _V, _I, _ASSIST, "the guest's license not read (no credentials, or it failed)"),
    FindingSpec("PS_DIRECT_UNAVAILABLE", _V, _I, _MANUAL, "PowerShell Direct cannot reach the guest"),
    FindingSpec("GUEST_EVALUATION", _V, _E, _ASSIST, "the guest is an Evaluation edition (AVMA keys do not install)"),
    FindingSpec("KEY_NOT_AVMA", _V, _W, _ASSIST, "the installed key is not on the AVMA channel, or there is none"),
    FindingSpec("AVMA_DATA_AFTER_KEY_CHANGE", _V, _W, _MANUAL, "non-AVMA key, yet AVMA activation data left"),
    FindingSpec("ACTIVATED_BY_OTHER_HOST", _V, _I, _ASSIST, "the guest's AVMA host is another host (migrated)"),
    FindingSpec("NOT_ACTIVATED", _V, _E, _ASSIST, "guest not Licensed, with no grace time left"),
    FindingSpec("GRACE_PERIOD", _V, _W, _ASSIST, "guest in a grace period (states 2, 3, 4, 6) with time left"),
    FindingSpec("AVMA_EVENT_FAILURE", _V, _W, _MANUAL, "an AVMA failure event (12310) newer than the last success"),
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
    """The docs/findings.md table, from the registry (a test keeps the docs equal to it)."""
    lines = ["| code | subject | severity | remedy | flags | when |", "|---|---|---|---|---|---|"]
    for spec in REGISTRY:
        flags = ", ".join(spec.flags)
        lines.append(
            f"| `{spec.code}` | {spec.subject.value} | {spec.severity.value} | {spec.remedy.value} | {flags} "
            f"| {spec.when} |"
        )
    return "\n".join(lines) + "\n"
