"""Plain, frozen data: what the host reported, and what the diagnosis made of it.

Everything here is built by `hyperv.host` from the JSON of one operation (docs/operations.md) and
read by the diagnosis, the report and the UI. Strings that come from a guest or the host (names,
KVP values, event text) are kept raw: the UI makes them safe, the report escapes them for its format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; used to pick a VM's worst finding."""
        return _SEVERITY_RANK[self.value]


_SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}


class RemedyKind(str, Enum):
    AUTOMATIC = "automatic"
    ASSISTED = "assisted"
    MANUAL = "manual"
    NONE = "none"


class VmStatus(str, Enum):
    ACTIVATED_AVMA = "activated-avma"
    ACTIVATED_OTHER = "activated-other"
    NOT_ACTIVATED = "not-activated"
    NOT_ELIGIBLE = "not-eligible"
    UNKNOWN = "unknown"


class KvpStatus(str, Enum):
    """The host-side Key-Value Pair Exchange service's operational status."""

    OK = "OK"
    NO_CONTACT = "NoContact"
    LOST_COMMUNICATION = "LostCommunication"
    OTHER = "Other"  # a status we do not know (Degraded, Error, …): kept raw in Kvp.raw_status
    NONE = ""  # no status: the VM is off or the service is disabled


@dataclass(frozen=True)
class Host:
    name: str
    domain: str
    os_name: str
    build: int | None
    sku: int | None
    license_status: int | None
    partial_product_key: str
    hyperv: bool
    virtual: bool
    ps_version: str = ""  # the host's $PSVersionTable.PSVersion ("5.1.20348.2849"); "" when not reported

    @property
    def ps_major(self) -> int | None:
        """The major version of the host's PowerShell, None when unknown."""
        head = self.ps_version.split(".", 1)[0].strip()
        return int(head) if head.isdigit() else None

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.domain}" if self.domain else self.name


@dataclass(frozen=True)
class ClusterNode:
    name: str
    build: int | None
    sku: int | None
    license_status: int | None
    reachable: bool
    error: str = ""
    state: str = "Up"  # the node's cluster state (Get-ClusterNode): Up, Down, Paused, Joining
    pending: bool = False  # being read over its own connection (services/nodes.py): nothing known yet


@dataclass(frozen=True)
class Cluster:
    name: str
    nodes: tuple[ClusterNode, ...]


@dataclass(frozen=True)
class Kvp:
    enabled: bool
    status: KvpStatus
    raw_status: str = ""


class OsSource(str, Enum):
    """Where a guest's OS facts came from."""

    KVP = "kvp"  # the guest's intrinsic KVP items, read on the host
    INSIDE = "inside-guest"  # Win32_OperatingSystem, read over PowerShell Direct with the license

    @property
    def label(self) -> str:
        """How the details and the report say it."""
        return "KVP" if self is OsSource.KVP else "read inside the guest"


@dataclass(frozen=True)
class GuestOs:
    """The guest's intrinsic KVP items, parsed tolerantly (a guest can write anything there), or the
    guest's Win32_OperatingSystem read inside it (`source` says which).

    A field the guest did not report, or reported as garbage, is None / "". `items` keeps every
    item exactly as reported, for the detail pane.
    """

    os_name: str
    os_version: str
    build: int | None
    edition_id: int | None
    product_type: int | None
    platform_id: int | None
    fqdn: str
    items: tuple[tuple[str, str], ...] = ()
    source: OsSource = OsSource.KVP

    @property
    def reported(self) -> bool:
        """True when the guest reported anything that identifies its OS."""
        return bool(self.os_name or self.build is not None or self.edition_id is not None)


@dataclass(frozen=True)
class GuestLicense:
    """The guest's Windows SoftwareLicensingProduct (the one with a product key)."""

    name: str
    description: str
    status: int
    reason: int
    grace_minutes: int
    partial_product_key: str
    product_key_channel: str
    avma_host: str
    avma_last_activation: str

    @property
    def channel(self) -> str:
        """The channel token of the Description: VIRTUAL_MACHINE_ACTIVATION, VOLUME_KMSCLIENT, RETAIL…"""
        if "VIRTUAL_MACHINE_ACTIVATION" in self.description:
            return "VIRTUAL_MACHINE_ACTIVATION"
        head, sep, _ = self.description.rpartition(" channel")
        if sep:
            return head.rsplit(",", 1)[-1].strip()
        return self.product_key_channel

    @property
    def is_avma(self) -> bool:
        return "VIRTUAL_MACHINE_ACTIVATION" in self.description


class LicenseState(str, Enum):
    READ = "read"  # license (or its absence) known
    NOT_READ = "not-read"  # no guest credentials given yet, or PowerShell Direct cannot reach the guest
    READING = "reading"  # a background read is under way (services/licenses.py)
    FAILED = "failed"  # the query failed; see LicenseRead.error


class GuestErrorKind(str, Enum):
    """Why an operation in a guest failed, classified from the error record (hyperv/host.py:
    FullyQualifiedErrorId, exception type and HRESULT; never the message, which is localized)."""

    CREDENTIAL = "credential"  # PSDirectException: "The credential is invalid."
    PS_DIRECT = "ps-direct"  # PowerShell Direct cannot reach the guest (too old, no session service)
    NOT_RUNNING = "not-running"  # InvalidVMState
    NOT_FOUND = "not-found"  # InvalidVMIdNotSingle: no such VM, or the account is not a Hyper-V administrator
    ACCESS = "access"  # access denied (0x80070005, 0xC004F025): not a local administrator
    TIMEOUT = "timeout"  # the chunk this guest was read in did not finish within its timeout
    OTHER = "other"


@dataclass(frozen=True)
class HostError:
    """One error as a script reports it (docs/operations.md, "Errors"): what classification reads
    (FullyQualifiedErrorId, exception type, HRESULT) and what the admin reads (the message, verbatim
    in the host's language)."""

    message: str
    fqeid: str = ""  # FullyQualifiedErrorId: "<ErrorId>,<command type>"
    category: str = ""  # ErrorCategory name (OpenError, InvalidArgument, …)
    exception: str = ""  # the exception's full .NET type name
    hresult: int | None = None  # uint32; CimException: ErrorData.error_Code, else Exception.HResult
    target: str = ""  # the target object (a VM's Id where PowerShell knows it)

    @property
    def error_id(self) -> str:
        """The ErrorId: the FullyQualifiedErrorId up to its first comma."""
        return self.fqeid.split(",", 1)[0].strip()

    @property
    def exception_name(self) -> str:
        """The exception's type name without its namespace."""
        return self.exception.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class LicenseRead:
    state: LicenseState
    license: GuestLicense | None = None  # None with READ: no product key installed
    error: str = ""
    error_kind: GuestErrorKind | None = None
    error_record: HostError | None = None  # the record `error` and `error_kind` came from
    #: The guest's OS as read inside it (Win32_OperatingSystem) in the same PowerShell Direct session; None
    #: when not read (an older script, a capture made before, or the query failed).
    os: GuestOs | None = None


LICENSE_NOT_READ = LicenseRead(LicenseState.NOT_READ)


@dataclass(frozen=True)
class Vm:
    id: str
    name: str
    state: str  # Running | Off | Saved | Paused | Starting | …
    generation: int | None
    kvp: Kvp
    guest: GuestOs | None  # None: no intrinsic data arrived
    license: LicenseRead = LICENSE_NOT_READ

    @property
    def running(self) -> bool:
        return self.state == "Running"

    @property
    def os(self) -> GuestOs | None:
        """The guest OS the diagnosis goes by: from KVP when KVP reported it, else as read inside the guest
        (with its license), else whatever KVP gave (maybe nothing). `guest` stays KVP's, for KVP's findings."""
        if self.guest is not None and self.guest.reported:
            return self.guest
        inside = self.license.os
        return inside if inside is not None and inside.reported else self.guest


@dataclass(frozen=True)
class AvmaEvent:
    """An event 12310 from the host's Application log."""

    time: str  # ISO 8601 UTC
    vm_name: str
    vm_id: str
    notification: str  # AVMA Success | Invalid Host | Invalid Data | Activation Denied; "" when the data names none
    message: str  # as Windows wrote it, in the host's language: shown, never read
    hresult: int | None = None  # an HRESULT the event's data carries (0xC004FD02, …), unsigned


@dataclass(frozen=True)
class Inventory:
    host: Host
    cluster: Cluster | None
    vms: tuple[Vm, ...]
    events: tuple[AvmaEvent, ...]
    read_at: str  # ISO 8601 UTC, when the inventory was taken
    #: What the host sent that could not be read (a member of the wrong JSON type), one line each,
    #: naming the item and what was left out because of it; () when everything was readable.
    read_errors: tuple[str, ...] = ()

    def vm(self, vm_id: str) -> Vm | None:
        return next((vm for vm in self.vms if vm.id == vm_id), None)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    subject: str  # host name, node name or VM name
    subject_id: str  # VM Id; "" for the host; node name for a node
    subject_kind: str  # "host" | "node" | "vm"
    title: str
    detail: str  # why it matters, in plain words, with the facts it is based on
    evidence: tuple[str, ...]  # where the facts came from ("KVP OSBuildNumber = 17763", …)
    remedy_kind: RemedyKind
    remedy_summary: str


@dataclass(frozen=True)
class VmDiagnosis:
    vm: Vm
    status: VmStatus
    findings: tuple[Finding, ...]  # in fix order
    family: str | None  # guest version family ("2019", …) or None
    edition: str  # guest edition ("Standard", "Datacenter Evaluation", …) or ""
    recommended_key_last5: str | None

    @cached_property
    def worst(self) -> Finding | None:
        return max(self.findings, key=lambda f: f.severity.rank, default=None)


@dataclass(frozen=True)
class Diagnosis:
    inventory: Inventory
    host_findings: tuple[Finding, ...]  # host and cluster nodes, in fix order
    host_family: str | None
    host_edition: str
    host_can_activate: bool
    host_can_activate_reason: str
    vms: tuple[VmDiagnosis, ...] = field(default_factory=tuple)

    def for_vm(self, vm_id: str) -> VmDiagnosis | None:
        return next((d for d in self.vms if d.vm.id == vm_id), None)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.host_findings + tuple(f for d in self.vms for f in d.findings)
