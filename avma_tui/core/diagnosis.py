"""Inventory → findings and a status per VM (docs/findings.md; rules from docs/avma-reference.md §6). Pure, no I/O.

Each finding says what is wrong in plain words with the facts it rests on and where they came from,
so an admin can check the tool's reasoning. Findings come in fix order (`ORDER`), so "fix all" can walk
them top to bottom. Guest data is untrusted: it is quoted into details and evidence as data (repr, capped),
never interpreted beyond the parsing the model already did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

from avma_tui.core.catalog import AZURE_EDITION, DATACENTER, FAMILIES, AvmaKey, Catalog, Edition, load_catalog
from avma_tui.core.model import (
    AvmaEvent,
    ClusterNode,
    Diagnosis,
    Finding,
    GuestErrorKind,
    GuestLicense,
    GuestOs,
    Host,
    Inventory,
    KvpStatus,
    LicenseState,
    RemedyKind,
    Severity,
    Vm,
    VmDiagnosis,
    VmStatus,
)

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
_AUTO, _ASSIST, _MANUAL, _NONE = RemedyKind.AUTOMATIC, RemedyKind.ASSISTED, RemedyKind.MANUAL, RemedyKind.NONE

#: Every code with its severity and remedy kind (docs/findings.md), in fix order: host before nodes before
#: VMs; within a VM, power and KVP first, then what the guest is, then the key, then activation.
SPEC: dict[str, tuple[Severity, RemedyKind]] = {
    "HOST_NOT_HYPERV": (_E, _MANUAL),
    "HOST_IS_VIRTUAL": (_W, _MANUAL),
    "HOST_VERSION_UNSUPPORTED": (_E, _MANUAL),
    "HOST_NOT_DATACENTER": (_E, _MANUAL),
    "HOST_EVALUATION": (_W, _MANUAL),
    "HOST_NOT_ACTIVATED": (_E, _ASSIST),
    "CLUSTER_NODE_UNREACHABLE": (_W, _MANUAL),
    "CLUSTER_NODE_TOO_OLD": (_W, _MANUAL),
    "CLUSTER_NODE_NOT_DATACENTER": (_E, _MANUAL),
    "CLUSTER_NODE_NOT_ACTIVATED": (_E, _MANUAL),
    "VM_NOT_RUNNING": (_I, _AUTO),
    "KVP_DISABLED": (_E, _AUTO),
    "KVP_NO_CONTACT": (_E, _ASSIST),
    "GUEST_OS_UNKNOWN": (_W, _MANUAL),
    "GUEST_NOT_WINDOWS_SERVER": (_I, _NONE),
    "GUEST_TOO_OLD": (_I, _NONE),
    "GUEST_AZURE_EDITION": (_E, _MANUAL),
    "NO_AVMA_KEY": (_E, _MANUAL),
    "GUEST_NEWER_THAN_HOST": (_E, _MANUAL),
    "LICENSE_UNKNOWN": (_I, _ASSIST),
    "PS_DIRECT_UNAVAILABLE": (_I, _MANUAL),
    "GUEST_EVALUATION": (_E, _ASSIST),
    "KEY_NOT_AVMA": (_W, _ASSIST),
    "AVMA_DATA_AFTER_KEY_CHANGE": (_W, _MANUAL),
    "ACTIVATED_BY_OTHER_HOST": (_I, _ASSIST),
    "NOT_ACTIVATED": (_E, _ASSIST),
    "GRACE_PERIOD": (_W, _ASSIST),
    "AVMA_EVENT_FAILURE": (_W, _MANUAL),
}
ORDER: tuple[str, ...] = tuple(SPEC)
_RANK = {code: index for index, code in enumerate(ORDER)}

LICENSE_STATUS = {
    0: "Unlicensed",
    1: "Licensed",
    2: "in the initial grace period (OOBGrace)",
    3: "in the out-of-tolerance grace period (OOTGrace)",
    4: "in the non-genuine grace period (NonGenuineGrace)",
    5: "in Notification mode",
    6: "in the extended grace period (ExtendedGrace)",
}
_GRACE_STATES = frozenset({2, 3, 4, 6})
_FIRST_PS_DIRECT_BUILD = 14393  # PowerShell Direct needs a Windows Server 2016 (or Windows 10) guest
_FIRST_AVMA_BUILD = 9600  # Windows Server 2012 R2
_FD03 = 0xC004FD03  # SL_E_IA_ID_MISMATCH: the host cannot activate this guest's edition
_MAX_QUOTED = 120


def grace_left(minutes: int) -> str:
    """Grace time left in whole days, as slmgr counts them; under a day is not "0 days"."""
    days = minutes // 1440
    if days == 0:
        return "less than a day"
    return f"{days} day{'s' if days != 1 else ''}"


def _quote(value: str) -> str:
    """Untrusted text as a Python literal: quoted, control characters escaped, length capped."""
    return repr(value if len(value) <= _MAX_QUOTED else value[:_MAX_QUOTED] + "…")


def _finding(
    code: str, subject: tuple[str, str, str], title: str, detail: str, evidence: Iterable[str], remedy: str
) -> Finding:
    severity, kind = SPEC[code]
    name, subject_id, subject_kind = subject
    return Finding(code, severity, name, subject_id, subject_kind, title, detail, tuple(evidence), kind, remedy)


def _span(families: Sequence[str]) -> str:
    """ "2012 R2–2022" for a run of families, or the one family."""
    ordered = sorted(families, key=FAMILIES.index)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def _is_datacenter(edition: Edition) -> bool:
    """Azure Edition counts: Microsoft's editions table gives it AVMA (as a host on Azure Local)."""
    return edition.name in (DATACENTER, AZURE_EDITION)


# --- the guest: what it is, from its intrinsic KVP items ------------------------------------------


class GuestKind(str, Enum):
    UNREPORTED = "unreported"  # no KVP data, or nothing that identifies the OS
    UNKNOWN = "unknown"  # Windows Server, but version or edition not usable
    NOT_WINDOWS = "not-windows"
    CLIENT = "client"  # Windows 10/11
    TOO_OLD = "too-old"
    AZURE = "azure"
    NO_KEY = "no-key"
    ELIGIBLE = "eligible"


_NOT_ELIGIBLE = frozenset(
    {GuestKind.NOT_WINDOWS, GuestKind.CLIENT, GuestKind.TOO_OLD, GuestKind.AZURE, GuestKind.NO_KEY}
)
_NAME_VERSION = re.compile(r"\b(2008 R2|2008|2012 R2|2012|2016|2019|2022|2025)\b")
_KVP_FIELDS = ("OSName", "OSVersion", "OSBuildNumber", "OSEditionId", "ProductType", "OSPlatformId")


@dataclass(frozen=True)
class _Guest:
    kind: GuestKind
    family: str | None
    edition: Edition
    version: str  # "Windows Server 2019", "Windows Server, version 1709", "build 30000", or ""
    why: str  # for UNKNOWN / NO_KEY / TOO_OLD: the fact that decided it
    evidence: tuple[str, ...]
    key: AvmaKey | None  # the AVMA key this guest should carry, when eligible


def _classify(guest: GuestOs | None, catalog: Catalog, license_name: str) -> _Guest:
    """Which kind of guest this is, tolerating missing and garbled KVP values."""
    if guest is None:
        return _Guest(GuestKind.UNREPORTED, None, Edition("", False), "", "no intrinsic KVP items", (), None)
    raw = dict(guest.items)
    evidence = tuple(f"KVP {name} = {_quote(raw[name])}" for name in _KVP_FIELDS if name in raw)
    if guest.platform_id is not None and guest.platform_id != 2:
        return _Guest(GuestKind.NOT_WINDOWS, None, Edition("", False), guest.os_name, "", evidence, None)
    if not guest.reported:
        why = "no OSName, OSBuildNumber or OSEditionId among the intrinsic KVP items"
        garbled = [name for name in ("OSBuildNumber", "OSEditionId") if raw.get(name, "").strip()]
        if garbled:
            why = " and ".join(f"{name} {_quote(raw[name])}" for name in garbled) + " not a number, and no OSName"
        return _Guest(GuestKind.UNREPORTED, None, Edition("", False), "", why, evidence, None)

    name = guest.os_name
    folded = name.casefold()
    edition = catalog.edition(guest.edition_id, name)
    if "eval" in license_name.casefold() and not edition.evaluation:
        edition = Edition(edition.name, True)
    info = catalog.build_info(guest.build)

    def result(kind: GuestKind, family: str | None, version: str, why: str = "", key: AvmaKey | None = None) -> _Guest:
        return _Guest(kind, family, edition, version, why, evidence, key)

    windows = "windows" in folded or "hyper-v server" in folded or not name
    if not windows:
        return result(GuestKind.NOT_WINDOWS, None, name)
    client = guest.product_type == 1 or bool(
        guest.product_type is None and ((name and "server" not in folded) or (info is not None and not info.server))
    )
    if client:
        return result(GuestKind.CLIENT, None, name or (info.name if info else ""))

    if guest.build is not None:
        version = info.name if info else f"build {guest.build}"
        if guest.build < _FIRST_AVMA_BUILD:
            return result(GuestKind.TOO_OLD, None, version, f"build {guest.build}")
        family = info.family if info else None
        if family is None:
            why = f"build {guest.build} is not in the catalog" if info is None else f"{version} has no AVMA key"
            return result(GuestKind.NO_KEY, None, version, why)
    else:
        match = _NAME_VERSION.search(name)
        if match is None:
            why = "OSBuildNumber missing or not a number, and OSName names no version"
            return result(GuestKind.UNKNOWN, None, "", why)
        family = match.group(1)
        version = f"Windows Server {family}"
        if family not in FAMILIES:
            return result(GuestKind.TOO_OLD, None, version, f"OSName {_quote(name)}")

    if edition.name == AZURE_EDITION:
        return result(GuestKind.AZURE, family, version)
    if not edition.name:
        why = "OSEditionId unknown and OSName names no edition"
        return result(GuestKind.UNKNOWN, family, version, why)
    key = catalog.avma_key(family, edition.name)
    if key is None:
        return result(
            GuestKind.NO_KEY,
            family,
            version,
            f"the catalog of published AVMA keys has none for {version} {edition.name}",
        )
    return result(GuestKind.ELIGIBLE, family, version, key=key)


# --- the host and its cluster nodes ---------------------------------------------------------------


@dataclass(frozen=True)
class _HostFacts:
    family: str | None
    edition: Edition
    guests: tuple[str, ...]  # families it can activate
    inferred: bool


def _host_facts(host: Host, catalog: Catalog) -> _HostFacts:
    family = catalog.family_of(host.build)
    row = next((r for r in catalog.matrix() if r[0] == family), None)
    guests, inferred = (row[1], row[2]) if row else ((), False)
    return _HostFacts(family, catalog.edition(host.sku, host.os_name), guests, inferred)


def _host_evidence(host: Host) -> tuple[str, ...]:
    return (
        f"host Caption = {_quote(host.os_name)}",
        f"host BuildNumber = {host.build}",
        f"host OperatingSystemSKU = {host.sku}",
    )


def _host_findings(host: Host, facts: _HostFacts, catalog: Catalog) -> list[Finding]:
    subject = (host.name, "", "host")
    found: list[Finding] = []
    if not host.hyperv:
        found.append(
            _finding(
                "HOST_NOT_HYPERV",
                subject,
                "Hyper-V is not installed on the host",
                "AVMA is done by the Hyper-V host for its own VMs; this server has no Hyper-V role or module.",
                ("host Hyper-V role = absent",),
                "Connect to the Hyper-V host, or install the Hyper-V role on a Datacenter host.",
            )
        )
    if host.virtual:
        found.append(
            _finding(
                "HOST_IS_VIRTUAL",
                subject,
                "The host itself runs in a VM",
                "This Hyper-V host is a virtual machine (nested, or in Azure). AVMA is not supported in Azure, "
                "and guests of a nested host in Azure were seen to fail with 0xC004FD02.",
                ("host is virtual = true",),
                "Run the guests on a physical Datacenter host, or activate them with KMS (Azure KMS in Azure).",
            )
        )
    if facts.family is None:
        info = catalog.build_info(host.build)
        if host.build is None:
            detail = "The host did not report its build, so which guests it can activate is unknown."
        elif info is not None or host.build < _FIRST_AVMA_BUILD:
            name = info.name if info else f"Build {host.build}"
            detail = f"{name} cannot be an AVMA host: AVMA hosts are Windows Server 2012 R2 Datacenter or newer."
        else:
            detail = f"Build {host.build} is not in the catalog, so which guests it can activate is unknown."
        found.append(
            _finding(
                "HOST_VERSION_UNSUPPORTED",
                subject,
                "Host version cannot do AVMA",
                detail,
                (f"host BuildNumber = {host.build}",),
                "Run the VMs on a Windows Server 2012 R2 or newer Datacenter host.",
            )
        )
    if not _is_datacenter(facts.edition):
        label = facts.edition.name or "of an unknown edition"
        found.append(
            _finding(
                "HOST_NOT_DATACENTER",
                subject,
                f"Host is {facts.edition.name}, not Datacenter" if facts.edition.name else "Host edition unknown",
                f"Only a Datacenter host can activate guests by AVMA (Datacenter grants unlimited virtual "
                f"instances); this host is {label}.",
                _host_evidence(host),
                "Upgrade the host to Datacenter (DISM /Set-Edition:ServerDatacenter), or activate the guests "
                "with KMS, MAK or retail keys.",
            )
        )
    if facts.edition.evaluation:
        found.append(
            _finding(
                "HOST_EVALUATION",
                subject,
                "Host is an Evaluation edition",
                "Evaluation editions expire, and AVMA on an Evaluation host is not confirmed to work.",
                _host_evidence(host),
                "Convert the host to a retail edition (DISM /Set-Edition with a purchased key).",
            )
        )
    if host.license_status != 1:
        status = host.license_status
        state = LICENSE_STATUS.get(status, f"in an unknown state ({status})") if status is not None else None
        fd02 = catalog.error(0xC004FD02)
        symptom = f" ({fd02.hex}: {fd02.text})" if fd02 else ""
        found.append(
            _finding(
                "HOST_NOT_ACTIVATED",
                subject,
                "Host is not activated" if state else "Host activation not reported",
                f"Only an activated host activates guests; its guests fail{symptom}. "
                f"The host's Windows license is {state}."
                if state
                else "Only an activated host activates guests; the host did not report its Windows license "
                "status, so it is not known to be activated.",
                (f"host LicenseStatus = {host.license_status}",),
                "Enter the host's product key; the tool installs it and activates the host."
                if state
                else "Check the host's activation (slmgr /dlv on the host); if it is not activated, enter its "
                "product key.",
            )
        )
    return found


def _node_findings(cluster_name: str, node: ClusterNode, newest_guest: str | None, catalog: Catalog) -> list[Finding]:
    subject = (node.name, node.name, "node")
    why = f"every node of cluster {_quote(cluster_name)} must be an activated Datacenter host able to run each guest"
    why += ", or guests lose activation after a failover"
    if not node.reachable:
        error = f": {_quote(node.error)}" if node.error else ""
        return [
            _finding(
                "CLUSTER_NODE_UNREACHABLE",
                subject,
                f"Cluster node {node.name} could not be checked",
                f"Its edition and activation could not be read{error}. It matters because {why}.",
                (f"cluster node {_quote(node.name)} reachable = false",),
                "Check the node at its console (winver, slmgr /dlv) or make it reachable, then refresh.",
            )
        ]
    found: list[Finding] = []
    edition = catalog.edition(node.sku, "")
    family = catalog.family_of(node.build)
    evidence = (f"cluster node {_quote(node.name)} BuildNumber = {node.build}", f"OperatingSystemSKU = {node.sku}")
    # An unreported or uncatalogued build is not known to be older (a build newer than the catalog is not).
    older = FAMILIES.index(family) < FAMILIES.index(newest_guest) if family and newest_guest else False
    too_old_build = family is None and node.build is not None and node.build < _FIRST_AVMA_BUILD
    if newest_guest is not None and (older or too_old_build):
        version = f"Windows Server {family}" if family else f"build {node.build}"
        found.append(
            _finding(
                "CLUSTER_NODE_TOO_OLD",
                subject,
                f"Cluster node {node.name} is older than some guests",
                f"The node runs {version}, which cannot activate the Windows Server {newest_guest} guests here; "
                f"they fail after moving to it. It matters because {why}.",
                evidence,
                f"Upgrade the node to Windows Server {newest_guest} or newer, or keep those VMs off it.",
            )
        )
    if not _is_datacenter(edition):
        label = edition.label or "of an unknown edition"
        found.append(
            _finding(
                "CLUSTER_NODE_NOT_DATACENTER",
                subject,
                f"Cluster node {node.name} is not Datacenter",
                f"The node is {label}. It matters because {why}.",
                evidence,
                "Upgrade the node to Datacenter (DISM /Set-Edition:ServerDatacenter on the node).",
            )
        )
    if node.license_status != 1:
        state = LICENSE_STATUS.get(node.license_status, "not reported") if node.license_status is not None else None
        found.append(
            _finding(
                "CLUSTER_NODE_NOT_ACTIVATED",
                subject,
                f"Cluster node {node.name} is not activated",
                f"The node's Windows license is {state or 'not reported'}. It matters because {why}.",
                (f"cluster node {_quote(node.name)} LicenseStatus = {node.license_status}",),
                "Activate the node (slmgr /ipk <its key>, then slmgr /ato, on the node).",
            )
        )
    return found


def _can_activate_reason(host: Host, facts: _HostFacts, findings: Sequence[Finding]) -> tuple[bool, str]:
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
        f"can activate {_span(facts.guests)} guests{note}."
    )


# --- one VM ---------------------------------------------------------------------------------------


def _channel_words(channel: str) -> str:
    token = channel.upper()
    if "KMSCLIENT" in token:
        return "KMS client (GVLK)"
    if "MAK" in token:
        return "MAK"
    if token.startswith("OEM"):
        return "OEM"
    if "RETAIL" in token:
        return "retail"
    if "EVAL" in token:
        return "Evaluation (time-based)"
    return channel or "an unknown"


def _parse_time(text: str) -> datetime:
    """An event time for ordering; an unreadable time sorts first (oldest) rather than failing."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _EventIndex:
    """The 12310 events grouped by VM once, so each VM looks at its own events only (not VMs × events)."""

    def __init__(self, events: Sequence[AvmaEvent]) -> None:
        self._by_id: dict[str, list[AvmaEvent]] = {}
        self._by_name: dict[str, list[AvmaEvent]] = {}
        for event in events:
            if event.vm_id:
                self._by_id.setdefault(event.vm_id.casefold(), []).append(event)
            else:
                self._by_name.setdefault(event.vm_name.casefold(), []).append(event)

    def of(self, vm: Vm) -> list[AvmaEvent]:
        return self._by_id.get(vm.id.casefold(), []) + self._by_name.get(vm.name.casefold(), [])


def _event_failure(own: Sequence[AvmaEvent], catalog: Catalog) -> tuple[AvmaEvent, AvmaEvent | None] | None:
    """The newest failure among one VM's events that is newer than its last success, with that success."""
    successes = [e for e in own if e.notification.strip().casefold() == "avma success"]
    last_success = max(successes, key=lambda e: _parse_time(e.time), default=None)
    since = _parse_time(last_success.time) if last_success else None
    failures = [e for e in own if catalog.is_failure(e.notification) and (since is None or _parse_time(e.time) > since)]
    newest = max(failures, key=lambda e: _parse_time(e.time), default=None)
    return (newest, last_success) if newest else None


_EVENT_REMEDY = {
    "invalid host": "Check the host: Datacenter, a supported Windows Server version, activated.",
    "invalid data": "Check Data Exchange on the host and vmickvpexchange in the guest; restart the VM.",
    "activation denied": "Check the guest's version against the host's and that it carries the right AVMA key.",
}


#: What starting means for each state that is not Running (Start-VM restores a saved VM; a paused one resumes).
_START_REMEDY = {
    "Saved": "Start the VM (it resumes from its saved state), then refresh.",
    "Paused": "Resume the VM, then refresh.",
}

_ERROR_WORDS = {
    GuestErrorKind.CREDENTIAL: "the guest rejected the credentials",
    GuestErrorKind.PS_DIRECT: "PowerShell Direct could not reach the guest",
    GuestErrorKind.NOT_RUNNING: "the VM is not running",
    GuestErrorKind.OTHER: "the guest reported an error",
}


class _VmCheck:
    """Builds one VM's findings; a class only to share the subject and facts between the small steps."""

    def __init__(self, vm: Vm, inventory: Inventory, host: _HostFacts, catalog: Catalog, events: _EventIndex) -> None:
        self.vm = vm
        self.inventory = inventory
        self.events = events
        self.host = host
        self.catalog = catalog
        self.subject = (vm.name, vm.id, "vm")
        license_ = vm.license.license
        self.guest = _classify(vm.guest, catalog, license_.name if license_ else "")
        self.found: list[Finding] = []

    def add(self, code: str, title: str, detail: str, evidence: Iterable[str], remedy: str) -> None:
        self.found.append(_finding(code, self.subject, title, detail, evidence, remedy))

    def run(self) -> VmDiagnosis:
        vm, guest = self.vm, self.guest
        if not vm.running:
            self.add(
                "VM_NOT_RUNNING",
                f"VM is {vm.state}",
                "Guest data (KVP) and PowerShell Direct exist only while the VM runs, so its activation "
                "cannot be checked now.",
                (f"Get-VM State = {_quote(vm.state)}",),
                _START_REMEDY.get(vm.state, "Start the VM, then refresh."),
            )
            if not vm.kvp.enabled:  # a host setting, readable while the VM is off: no reason to hide it
                self._kvp_disabled()
            status = VmStatus.UNKNOWN
        else:
            kvp_ok = self._kvp()
            self._guest_os(kvp_ok)
            if guest.kind in _NOT_ELIGIBLE:
                status = VmStatus.NOT_ELIGIBLE
            else:
                self._newer_than_host()
                self._evaluation()
                status = self._license()
                self._events()
        findings = tuple(sorted(self.found, key=lambda f: _RANK[f.code]))
        last5 = guest.key.last5 if guest.key else None
        return VmDiagnosis(vm, status, findings, guest.family, guest.edition.label, last5)

    def _kvp(self) -> bool:
        """KVP findings; True when KVP works well enough to trust the absence of guest data."""
        kvp = self.vm.kvp
        if not kvp.enabled:
            self._kvp_disabled()
            return False
        lost = kvp.status in (KvpStatus.NO_CONTACT, KvpStatus.LOST_COMMUNICATION)
        if lost or self.vm.guest is None:
            evidence = [f"Key-Value Pair Exchange status = {_quote(kvp.raw_status or kvp.status.value)}"]
            if self.vm.guest is None:
                evidence.append("no intrinsic KVP items from the guest")
            state = f"reports {_quote(kvp.raw_status)}" if lost else "receives no data from the guest"
            self.add(
                "KVP_NO_CONTACT",
                "No KVP contact with the guest",
                f"The host's Key-Value Pair Exchange service {state}: the guest's Hyper-V Data Exchange Service "
                "(vmickvpexchange) is stopped, disabled or missing, so AVMA data cannot pass.",
                evidence,
                "Start vmickvpexchange in the guest (PowerShell Direct, needs guest credentials) or update its "
                "integration services.",
            )
            return False
        return True

    def _kvp_disabled(self) -> None:
        self.add(
            "KVP_DISABLED",
            "Data Exchange (KVP) is disabled",
            "AVMA passes through the Key-Value Pair Exchange integration service; while it is disabled the "
            "host cannot activate this guest and sees none of its data.",
            ("Key-Value Pair Exchange Enabled = False",),
            "Enable the Key-Value Pair Exchange integration service (Enable-VMIntegrationService).",
        )

    def _guest_os(self, kvp_ok: bool) -> None:
        guest = self.guest
        if guest.kind in (GuestKind.UNREPORTED, GuestKind.UNKNOWN):
            if kvp_ok or guest.kind is GuestKind.UNKNOWN:
                self.add(
                    "GUEST_OS_UNKNOWN",
                    "Guest OS not reported",
                    f"The guest's version or edition is not usable ({guest.why}), so the right "
                    "AVMA key cannot be chosen.",
                    guest.evidence or ("no OS items among the intrinsic KVP items",),
                    "Check the guest at its console (winver) and its integration services, then refresh.",
                )
        elif guest.kind in (GuestKind.NOT_WINDOWS, GuestKind.CLIENT):
            what = "a Windows client" if guest.kind is GuestKind.CLIENT else "not Windows"
            self.add(
                "GUEST_NOT_WINDOWS_SERVER",
                "Guest is not Windows Server",
                f"AVMA activates only Windows Server guests; this guest is {what}"
                + (f" ({_quote(guest.version)})" if guest.version else "")
                + " and needs its own license or another activation method.",
                guest.evidence,
                "Nothing to do for AVMA.",
            )
        elif guest.kind is GuestKind.TOO_OLD:
            self.add(
                "GUEST_TOO_OLD",
                "Guest is older than Windows Server 2012 R2",
                f"AVMA works for guests from Windows Server 2012 R2 on; this guest is {guest.version} ({guest.why}).",
                guest.evidence,
                "Nothing to do for AVMA; activate it with its own key.",
            )
        elif guest.kind is GuestKind.AZURE:
            self.add(
                "GUEST_AZURE_EDITION",
                "Azure Edition guest on plain Hyper-V",
                "Windows Server Datacenter: Azure Edition runs only on Azure and Azure Local; a plain Hyper-V "
                "host cannot activate it.",
                guest.evidence,
                "Reinstall the guest as Standard or Datacenter, or run it on Azure Local.",
            )
        elif guest.kind is GuestKind.NO_KEY:
            label = f"{guest.version} {guest.edition.label}".strip()
            self.add(
                "NO_AVMA_KEY",
                "No AVMA key for this version and edition",
                f"AVMA cannot activate this guest ({label}): {guest.why}.",
                guest.evidence,
                "Activate the guest with a MAK, retail or KMS key, or reinstall a version that has an AVMA key.",
            )

    def _newer_than_host(self) -> None:
        family, host = self.guest.family, self.host
        if family is None or host.family is None or self.catalog.host_can_activate(host.family, family):
            return
        fd03 = self.catalog.error(0xC004FD03)
        self.add(
            "GUEST_NEWER_THAN_HOST",
            "Guest is newer than the host",
            f"A Windows Server {host.family} host activates {_span(host.guests)} guests; this guest is "
            f"{self.guest.version}, so activation fails" + (f" ({fd03.hex}, Activation Denied)." if fd03 else "."),
            (*self.guest.evidence, f"host BuildNumber = {self.inventory.host.build}"),
            f"Move the VM to a Windows Server {family} or newer Datacenter host, upgrade the host, or "
            "activate it with KMS or MAK.",
        )

    def _license(self) -> VmStatus:
        read = self.vm.license
        if read.state is LicenseState.NOT_READ:
            if self._too_old_for_ps_direct():
                why = (
                    "The guest's activation is read inside the guest over PowerShell Direct, which cannot reach "
                    "this guest; guest credentials would not help."
                )
                remedy = "Read it at the VM's console (slmgr /dlv)."
            else:
                why = (
                    "No guest credentials yet: the guest's activation is read inside the guest over PowerShell Direct."
                )
                remedy = "Enter guest credentials to read the license."
            self.add("LICENSE_UNKNOWN", "License not read", why, ("guest license: not read",), remedy)
            self._ps_direct("")
            return VmStatus.UNKNOWN
        if read.state is LicenseState.FAILED:
            kind = read.error_kind or GuestErrorKind.OTHER
            remedy = {
                GuestErrorKind.CREDENTIAL: "Enter valid guest administrator credentials.",
                GuestErrorKind.NOT_RUNNING: "Start the VM, then refresh.",
            }.get(kind, "Check the guest, then refresh.")
            self.add(
                "LICENSE_UNKNOWN",
                "License could not be read",
                f"Reading the license in the guest failed ({_ERROR_WORDS[kind]}): {_quote(read.error)}.",
                (f"guest license query error = {_quote(read.error)}",),
                remedy,
            )
            self._ps_direct(read.error if kind is GuestErrorKind.PS_DIRECT else "")
            return VmStatus.UNKNOWN
        license_ = read.license
        self._key(license_)
        self._stale_avma_data(license_)
        if license_ is None:
            self.add(
                "NOT_ACTIVATED",
                "Not activated",
                "Windows in the guest has no product key, so it is not activated.",
                ("guest SoftwareLicensingProduct with a key: none",),
                "Install the AVMA key, then trigger activation in the guest (slmgr /ato).",
            )
            return VmStatus.NOT_ACTIVATED
        self._other_host(license_)
        self._activation(license_)
        if license_.status != 1:
            return VmStatus.NOT_ACTIVATED
        return VmStatus.ACTIVATED_AVMA if license_.is_avma else VmStatus.ACTIVATED_OTHER

    def _too_old_for_ps_direct(self) -> bool:
        """PowerShell Direct needs a Windows Server 2016 (or Windows 10) guest."""
        build = self.vm.guest.build if self.vm.guest else None
        return self.guest.family == "2012 R2" or (build is not None and build < _FIRST_PS_DIRECT_BUILD)

    def _ps_direct(self, error: str) -> None:
        """PowerShell Direct cannot help: the guest is too old for it, or a session could not be opened."""
        build = self.vm.guest.build if self.vm.guest else None
        old = self._too_old_for_ps_direct()
        if not old and not error:
            return
        if old:
            detail = (
                "PowerShell Direct needs Windows Server 2016 or newer in the guest; this guest is "
                f"{self.guest.version or f'build {build}'}, so the tool cannot read its license or install keys."
            )
            evidence = self.guest.evidence or (f"KVP OSBuildNumber = {build}",)
        else:
            detail = (
                "PowerShell Direct could not open a session in the guest (still booting, or the Hyper-V VM "
                f"Session Service is off): {_quote(error)}."
            )
            evidence = (f"guest license query error = {_quote(error)}",)
        self.add(
            "PS_DIRECT_UNAVAILABLE",
            "PowerShell Direct cannot reach the guest",
            detail,
            evidence,
            "Run the slmgr commands the fix shows at the VM's console.",
        )

    def _evaluation(self) -> None:
        guest = self.guest
        if not guest.edition.evaluation:
            return
        target = f"Server{guest.edition.name}".replace(" ", "")
        key = f" and the AVMA key …{guest.key.last5}" if guest.key else " and the matching AVMA key"
        dc = self.vm.guest is not None and self.vm.guest.product_type == 2
        self.add(
            "GUEST_EVALUATION",
            "Guest is an Evaluation edition",
            "AVMA keys do not install on Evaluation editions (the error is likely 0xC004F069, not confirmed); "
            "the edition must be converted first. "
            "Standard Evaluation converts to Standard or Datacenter, Datacenter Evaluation only to Datacenter."
            + (" This guest is a domain controller, which DISM cannot convert." if dc else ""),
            (*guest.evidence, f"edition = {guest.edition.label}"),
            f"Convert with DISM /Set-Edition:{target}{key}, then reboot."
            if not dc
            else "Move the domain controller role off this VM, then convert it with DISM /Set-Edition.",
        )

    def _key(self, license_: GuestLicense | None) -> None:
        if license_ is not None and license_.is_avma:
            return
        if any(f.code == "GUEST_EVALUATION" for f in self.found):
            return  # converting the edition installs the AVMA key
        want = self.guest.key
        install = (
            f"Install the AVMA key …{want.last5} ({want.versions} {want.edition})"
            if want
            else ("Install the AVMA key for the guest's version and edition")
        )
        if license_ is None:
            self.add(
                "KEY_NOT_AVMA",
                "No product key installed",
                "The guest has no product key, so AVMA has nothing to activate.",
                ("guest SoftwareLicensingProduct with a key: none",),
                f"{install}.",
            )
            return
        channel = license_.channel
        words = _channel_words(channel)
        partial = license_.partial_product_key
        detail = f"The installed key (…{partial or '?'}) is on the {words} channel, not AVMA."
        kms = self.catalog.kms_key_by_last5(partial) if partial else None
        avma = self.catalog.avma_key_by_last5(partial) if partial else None
        if kms is not None:
            detail += f" It is the KMS client key for Windows Server {kms.version} {kms.edition}, not an AVMA key."
        elif avma is not None:
            detail += f" It matches the AVMA key for {avma.versions} {avma.edition}, yet Windows does not use it so."
        replaces = words in ("MAK", "retail", "OEM")
        self.add(
            "KEY_NOT_AVMA",
            f"Key is {words}, not AVMA",
            detail + " On an AVMA host the guest should carry the AVMA key for its version and edition.",
            (f"Description = {_quote(license_.description)}", f"PartialProductKey = {_quote(partial)}"),
            f"{install}" + (f"; confirm before replacing the {words} key." if replaces else "."),
        )

    def _stale_avma_data(self, license_: GuestLicense | None) -> None:
        if license_ is None or license_.is_avma or not license_.avma_last_activation:
            return
        words = _channel_words(license_.channel)
        self.add(
            "AVMA_DATA_AFTER_KEY_CHANGE",
            "AVMA data left after a key change",
            f"The guest is on the {words} channel but still carries AVMA activation data (last AVMA "
            f"activation {_quote(license_.avma_last_activation)}). Microsoft: KVP data should be removed "
            "when the AVMA key is replaced with another product key.",
            (f"AutomaticVMActivationLastActivationTime = {_quote(license_.avma_last_activation)}",),
            "Inside the guest, remove the AVMA-related KVP values under HKLM\\SOFTWARE\\Microsoft\\Virtual "
            "Machine\\Guest (Microsoft does not name them: look before deleting).",
        )

    def _other_host(self, license_: GuestLicense) -> None:
        host = self.inventory.host
        avma_host = license_.avma_host.strip()
        if not license_.is_avma or not avma_host:
            return
        if avma_host.casefold() in (host.name.casefold(), host.fqdn.casefold()):
            return
        self.add(
            "ACTIVATED_BY_OTHER_HOST",
            "Activated by another host",
            f"The guest's last AVMA activation came from {_quote(avma_host)}, not this host ({host.name}), "
            "typically after a live migration. It must reach this host to renew its activation.",
            (f"AutomaticVMActivationHostMachineName = {_quote(avma_host)}",),
            "Trigger activation in the guest (slmgr /ato) to bind it to this host.",
        )

    def _activation(self, license_: GuestLicense) -> None:
        status = license_.status
        if status == 1:
            return
        state = LICENSE_STATUS.get(status, f"in an unknown state ({status})")
        evidence = [f"LicenseStatus = {status}"]
        reason = ""
        if license_.reason:
            code = license_.reason & 0xFFFFFFFF
            error = self.catalog.error(code)
            reason = (
                f" Reason {error.hex}: “{error.text}” {error.meaning}"
                if error
                else f" Reason 0x{code:08X} (not in the catalog)."
            )
            evidence.append(f"LicenseStatusReason = 0x{code:08X}")
            if code == _FD03 and self.host.inferred:
                reason += (
                    f" Which guests a Windows Server {self.host.family} host activates is inferred, not published "
                    "by Microsoft: this guest's version may be outside it."
                )
        reason += self._wrong_avma_key(license_, evidence)
        if status in _GRACE_STATES and license_.grace_minutes > 0:
            left = grace_left(license_.grace_minutes)
            evidence.append(f"GracePeriodRemaining = {license_.grace_minutes} minutes")
            self.add(
                "GRACE_PERIOD",
                f"Grace period: {left} left",
                f"Windows in the guest is {state}; it stops working as activated when the grace period ends in "
                f"{left}.{reason}",
                evidence,
                "Fix the findings above, then trigger activation in the guest (slmgr /ato).",
            )
            return
        self.add(
            "NOT_ACTIVATED",
            "Not activated",
            f"Windows in the guest is {state}"
            + (" with no grace time left." if status in _GRACE_STATES else ".")
            + reason,
            evidence,
            "Fix the findings above, then trigger activation in the guest (slmgr /ato).",
        )

    def _wrong_avma_key(self, license_: GuestLicense, evidence: list[str]) -> str:
        """An AVMA-channel key that is not this guest's (docs/avma-reference.md §6 V10), e.g. from an upgrade."""
        want, partial = self.guest.key, license_.partial_product_key.strip().upper()
        if not license_.is_avma or want is None or not partial or partial == want.last5:
            return ""
        evidence.append(f"PartialProductKey = {_quote(license_.partial_product_key)}")
        other = self.catalog.avma_key_by_last5(partial)
        what = f"the AVMA key for {other.versions} {other.edition}" if other else "not an AVMA key in the catalog"
        return (
            f" The installed key …{partial} is {what}; this guest ({self.guest.version} "
            f"{self.guest.edition.label}) needs …{want.last5}."
        )

    def _events(self) -> None:
        hit = _event_failure(self.events.of(self.vm), self.catalog)
        if hit is None:
            return
        event, success = hit
        meaning = self.catalog.notification(event.notification) or ""
        since = f"its last success at {success.time}" if success else "no success on record"
        self.add(
            "AVMA_EVENT_FAILURE",
            f"AVMA event: {event.notification}",
            f"The host logged {_quote(event.notification)} for this VM at {event.time} ({since}): {meaning}",
            (f"host Application log event 12310 at {event.time}: {_quote(event.notification)}",),
            _EVENT_REMEDY.get(event.notification.strip().casefold(), "Read the event on the host."),
        )


# --- the whole inventory --------------------------------------------------------------------------


def diagnose(inventory: Inventory, catalog: Catalog | None = None) -> Diagnosis:
    """Every finding for the host, its cluster nodes and each VM, with a status per VM."""
    catalog = catalog or load_catalog()
    host = inventory.host
    facts = _host_facts(host, catalog)
    events = _EventIndex(inventory.events)
    vms = tuple(_VmCheck(vm, inventory, facts, catalog, events).run() for vm in inventory.vms)

    host_findings = sorted(_host_findings(host, facts, catalog), key=lambda f: _RANK[f.code])
    can_activate, reason = _can_activate_reason(host, facts, host_findings)
    if inventory.cluster is not None:
        server_families = {d.family for d in vms if d.family is not None and d.status is not VmStatus.NOT_ELIGIBLE}
        newest = max(server_families, key=FAMILIES.index, default=None)
        for node in sorted(inventory.cluster.nodes, key=lambda n: n.name.casefold()):
            node_findings = _node_findings(inventory.cluster.name, node, newest, catalog)
            host_findings.extend(sorted(node_findings, key=lambda f: _RANK[f.code]))
    return Diagnosis(
        inventory=inventory,
        host_findings=tuple(host_findings),
        host_family=facts.family,
        host_edition=facts.edition.label,
        host_can_activate=can_activate,
        host_can_activate_reason=reason,
        vms=vms,
    )
