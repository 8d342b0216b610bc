"""The AVMA facts the tool reasons with: keys, the host→guest matrix, KMS client keys, error codes, SKUs, builds.

All of it is read from assets/catalog.toml, the one place key strings live (copied from the domain
reference with their sources), so a corrected key is a data change, never a code change. Lookups are
tolerant of what hosts and guests report: unknown values give None / an unknown Edition, never an error.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

from avma_tui.core.model import Host, Vm
from avma_tui.paths import asset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAMILIES: tuple[str, ...] = ("2012 R2", "2016", "2019", "2022", "2025")  # oldest → newest

DATACENTER = "Datacenter"
STANDARD = "Standard"
ESSENTIALS = "Essentials"
AZURE_EDITION = "Datacenter: Azure Edition"
HYPERV_SERVER = "Hyper-V Server"

#: SoftwareLicensingProduct.LicenseStatus: (short name as a table shows it, words after "is" in a sentence).
#: Values 0–6 from https://learn.microsoft.com/en-us/previous-versions/windows/desktop/sppwmi/softwarelicensingproduct
LICENSE_STATUS: dict[int, tuple[str, str]] = {
    0: ("Unlicensed", "Unlicensed"),
    1: ("Licensed", "Licensed"),
    2: ("OOB grace", "in the initial grace period (OOBGrace)"),
    3: ("OOT grace", "in the out-of-tolerance grace period (OOTGrace)"),
    4: ("Non-genuine grace", "in the non-genuine grace period (NonGenuineGrace)"),
    5: ("Notification", "in Notification mode"),
    6: ("Extended grace", "in the extended grace period (ExtendedGrace)"),
}
#: The LicenseStatus values that are a grace period (OOBGrace, OOTGrace, NonGenuineGrace, ExtendedGrace).
GRACE_STATES = frozenset({2, 3, 4, 6})

#: License channels by a token of SoftwareLicensingProduct.Description ("…, VOLUME_MAK channel"), matched
#: in this order (OEM_DM, OEM_SLP, OEM_COA_NSLP… are all OEM): the one short name every output uses.
_CHANNELS: tuple[tuple[str, str], ...] = (
    ("VIRTUAL_MACHINE_ACTIVATION", "AVMA"),
    ("KMSCLIENT", "KMS client"),
    ("MAK", "MAK"),
    ("OEM", "OEM"),
    ("RETAIL", "retail"),
    ("EVAL", "Evaluation"),
)

#: Oldest guest build PowerShell Direct reaches: it needs a Windows 10 / Windows Server 2016 guest
#: (https://learn.microsoft.com/en-us/virtualization/hyper-v-on-windows/user-guide/powershell-direct).
PS_DIRECT_MIN_BUILD = 14393


def license_status_name(status: int | None) -> str:
    """ "Licensed", "OOB grace", …; "status 9" for a value outside 0–6, "not reported" for none."""
    if status is None:
        return "not reported"
    return LICENSE_STATUS[status][0] if status in LICENSE_STATUS else f"status {status}"


def license_status_words(status: int) -> str:
    """What follows "Windows is …" in a sentence: "Licensed", "in the initial grace period (OOBGrace)", …"""
    return LICENSE_STATUS[status][1] if status in LICENSE_STATUS else f"in an unknown state ({status})"


def channel_name(token: str) -> str:
    """The short name of a license channel token ("VOLUME_KMSCLIENT" → "KMS client"); "" when unknown."""
    upper = token.upper()
    if upper.startswith("OEM"):
        return "OEM"
    return next((name for part, name in _CHANNELS if part in upper), "")


def ps_direct_too_old(build: int | None, family: str | None) -> bool:
    """True when PowerShell Direct cannot reach a guest of this build (or version family, when no build)."""
    return family == "2012 R2" or (build is not None and build < PS_DIRECT_MIN_BUILD)


#: KVP OSPlatformId of Windows (VER_PLATFORM_WIN32_NT); Linux guests report 100.
WINDOWS_PLATFORM = 2


class PsDirectVerdict(str, Enum):
    YES = "yes"  # every fact needed is known and allows it
    MAY = "may"  # nothing rules it out, but the host or guest did not report everything: it is tried
    NO_HOST = "no-host"  # the host cannot (too old a build or PowerShell): no guest of it is tried
    NO_VM = "no-vm"  # this VM's guest cannot (not Windows, older than Windows Server 2016)
    NOT_RUNNING = "not-running"  # it could, once the VM runs (a fix starts it first)


@dataclass(frozen=True)
class PsDirect:
    """Whether PowerShell Direct can work, and why (not) in one sentence."""

    verdict: PsDirectVerdict
    reason: str

    @property
    def possible(self) -> bool:
        """The tool tries it (an unknown fact does not rule it out: the attempt tells)."""
        return self.verdict in (PsDirectVerdict.YES, PsDirectVerdict.MAY)


def ps_direct(host: Host, vm: Vm | None = None, guest_family: str | None = None) -> PsDirect:
    """THE PowerShell Direct decision (issue 10 item 7), for the host alone or for one VM on it; the license
    reader, the findings, the remedies, `doctor` and `capture` all ask here.

    It needs a Windows 10 / Windows Server 2016 (build 14393) or newer host with Windows PowerShell 5 and a
    Windows 10 / Server 2016 or newer guest ("Host: Windows 10, Windows Server 2016, or later running Hyper-V";
    "Guest/Virtual Machine: Windows 10, Windows Server 2016, or later"; "For PowerShell Direct and JEA, the
    major version must be 5 or later": https://learn.microsoft.com/virtualization/hyper-v-on-windows/user-guide/
    powershell-direct), and the VM running. A fact not reported (the host's build or PowerShell version, the
    guest's build) rules nothing out: the verdict is MAY and the tool tries, since the attempt tells, and
    refusing would leave a host that reports less than expected without any license read. `guest_family`
    is the guest's version family where the caller knows it (a 2012 R2 guest that reported no build).
    """
    build, major = host.build, host.ps_major
    os = vm.os if vm is not None else None
    # The guest first: a guest it can never reach is told so (its console path), whatever the host.
    if os is not None and os.platform_id is not None and os.platform_id != WINDOWS_PLATFORM:
        return PsDirect(PsDirectVerdict.NO_VM, "the guest is not Windows")
    guest_build = os.build if os is not None else None
    if vm is not None and ps_direct_too_old(guest_build, guest_family):
        what = f"build {guest_build}" if guest_build is not None else f"Windows Server {guest_family}"
        return PsDirect(PsDirectVerdict.NO_VM, f"the guest is {what}, older than Windows Server 2016 (14393)")
    if build is not None and build < PS_DIRECT_MIN_BUILD:
        return PsDirect(PsDirectVerdict.NO_HOST, f"this host is build {build}, older than Windows Server 2016 (14393)")
    if major is not None and major < 5:
        return PsDirect(PsDirectVerdict.NO_HOST, f"this host has Windows PowerShell {host.ps_version}, not 5 or later")
    if vm is not None and not vm.running:
        return PsDirect(PsDirectVerdict.NOT_RUNNING, f"the VM is {vm.state}, not running")
    unknown = [
        f"the host's {what}" for what, value in (("build", build), ("PowerShell version", major)) if value is None
    ]
    if vm is not None and guest_build is None:
        unknown.append("the guest's build")
    if unknown:
        return PsDirect(
            PsDirectVerdict.MAY, f"{' and '.join(unknown)} not reported: nothing rules it out, so it is tried"
        )
    return PsDirect(PsDirectVerdict.YES, f"host build {build} with Windows PowerShell {host.ps_version}")


#: Edition words in an OS name, most specific first ("Datacenter: Azure Edition" also says "Datacenter").
_NAME_EDITIONS: tuple[tuple[str, str], ...] = (
    ("azure edition", AZURE_EDITION),
    ("essentials", ESSENTIALS),
    ("hyper-v server", HYPERV_SERVER),
    ("datacenter", DATACENTER),
    ("standard", STANDARD),
)


@dataclass(frozen=True)
class Edition:
    name: str  # Standard | Datacenter | Essentials | Datacenter: Azure Edition | Hyper-V Server | "" (unknown)
    evaluation: bool

    @property
    def label(self) -> str:
        """What a person reads: "Standard Evaluation", "Datacenter", "" when nothing is known."""
        if not self.evaluation:
            return self.name
        return f"{self.name} Evaluation" if self.name else "Evaluation"


def _last5(key: str) -> str:
    return key[-5:]


@dataclass(frozen=True)
class AvmaKey:
    family: str
    versions: str
    edition: str
    key: str
    source: str
    confirmed: bool

    @property
    def last5(self) -> str:
        """What Windows shows as PartialProductKey, and all the tool ever logs of a key."""
        return _last5(self.key)


@dataclass(frozen=True)
class KmsKey:
    version: str
    edition: str
    key: str
    source: str

    @property
    def last5(self) -> str:
        return _last5(self.key)


@dataclass(frozen=True)
class ErrorCode:
    code: int
    symbol: str
    text: str  # Microsoft's message, verbatim
    meaning: str  # plain words and the next step

    @property
    def hex(self) -> str:
        return f"0x{self.code:08X}"


@dataclass(frozen=True)
class BuildInfo:
    build: int
    name: str
    family: str | None  # None: no AVMA (too old, or SAC 2004/20H2)
    server: bool  # False: a client-only build (Windows 10/11)


@dataclass(frozen=True)
class _Sku:
    sku: int
    edition: str
    evaluation: bool


@dataclass(frozen=True)
class _MatrixRow:
    host: str
    guests: tuple[str, ...]
    inferred: bool


class CatalogError(ValueError):
    """The catalog file is malformed: a packaging bug, reported with the entry at fault."""


class Catalog:
    """Read-only lookups over the catalog data; build one with `load_catalog()`."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            families = tuple(data["families"])
            if families != FAMILIES:
                raise CatalogError(f"families {families!r} differ from {FAMILIES!r}")
            self.avma_keys: tuple[AvmaKey, ...] = tuple(AvmaKey(**entry) for entry in data["avma_keys"])
            self.kms_keys: tuple[KmsKey, ...] = tuple(KmsKey(**entry) for entry in data["kms_keys"])
            self.errors: tuple[ErrorCode, ...] = tuple(ErrorCode(**entry) for entry in data["errors"])
            self._matrix = tuple(
                _MatrixRow(row["host"], tuple(row["guests"]), row["inferred"]) for row in data["matrix"]
            )
            self._skus = {row["sku"]: _Sku(row["sku"], row["edition"], row["evaluation"]) for row in data["skus"]}
            self._builds = {
                row["build"]: BuildInfo(row["build"], row["name"], row.get("family"), row["server"])
                for row in data["builds"]
            }
            self._notifications = {row["name"].casefold(): row["description"] for row in data["notifications"]}
            self._notification_names = {row["name"].casefold(): row["name"] for row in data["notifications"]}
            self._failures = frozenset(row["name"].casefold() for row in data["notifications"] if row["failure"])
        except (KeyError, TypeError) as err:
            raise CatalogError(f"catalog entry malformed: {err}") from None
        self._errors_by_code = {e.code: e for e in self.errors}

    # --- versions ---------------------------------------------------------------------------------

    def build_info(self, build: int | None) -> BuildInfo | None:
        return None if build is None else self._builds.get(build)

    def family_of(self, build: int | None) -> str | None:
        info = self.build_info(build)
        return info.family if info else None

    def family_rank(self, family: str) -> int:
        """0 for the oldest family; raises ValueError for a name that is not a family."""
        try:
            return FAMILIES.index(family)
        except ValueError:
            raise ValueError(f"unknown version family {family!r}; expected one of {', '.join(FAMILIES)}") from None

    def host_can_activate(self, host_family: str | None, guest_family: str | None) -> bool:
        row = next((r for r in self._matrix if r.host == host_family), None)
        return row is not None and guest_family in row.guests

    def matrix(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """(host family, guest families it activates, row inferred rather than published), newest host first."""
        return [(row.host, row.guests, row.inferred) for row in self._matrix]

    # --- editions ---------------------------------------------------------------------------------

    def edition(self, sku: int | None, os_name: str) -> Edition:
        """The edition from the SKU; where the SKU is unknown, from the words of the OS name."""
        name = os_name.casefold()
        evaluation_word = "evaluation" in name
        known = self._skus.get(sku) if sku is not None else None
        if known:
            return Edition(known.edition, known.evaluation or evaluation_word)
        edition = next((ed for word, ed in _NAME_EDITIONS if word in name), "")
        return Edition(edition, evaluation_word)

    # --- keys -------------------------------------------------------------------------------------

    def avma_key(self, family: str | None, edition: str) -> AvmaKey | None:
        """The key for a family's main release (the 2016 entry, not the SAC 1709/1803 one with the same key)."""
        matches = [k for k in self.avma_keys if k.family == family and k.edition == edition]
        main = f"Windows Server {family}"
        return min(matches, key=lambda k: k.versions != main, default=None)

    def avma_key_by_last5(self, last5: str) -> AvmaKey | None:
        wanted = last5.strip().upper()
        matches = [k for k in self.avma_keys if k.last5 == wanted]
        return min(matches, key=lambda k: k.versions != f"Windows Server {k.family}", default=None)

    def kms_key_by_last5(self, last5: str) -> KmsKey | None:
        wanted = last5.strip().upper()
        return next((k for k in self.kms_keys if k.last5 == wanted), None)

    # --- codes and events -------------------------------------------------------------------------

    def error(self, code: int | None) -> ErrorCode | None:
        """The catalog entry for an HRESULT; accepts WMI's signed 32-bit form too."""
        return None if code is None else self._errors_by_code.get(code & 0xFFFFFFFF)

    def notification(self, name: str) -> str | None:
        """Microsoft's description of an event 12310 notification ("Invalid Host", …)."""
        return self._notifications.get(name.strip().casefold())

    def notification_name(self, text: str) -> str | None:
        """The notification `text` names exactly (any case, outer blanks ignored) in Microsoft's spelling; else None."""
        return self._notification_names.get(text.strip().casefold())

    def is_failure(self, notification: str) -> bool:
        """True for the notifications that report a failed activation (all but "AVMA Success")."""
        return notification.strip().casefold() in self._failures


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog, parsed once per process."""
    with asset("catalog.toml").open("rb") as stream:
        return Catalog(tomllib.load(stream))
