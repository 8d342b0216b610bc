"""What a guest is, from its intrinsic KVP items: Windows Server or not, which version and edition, its AVMA key.

Guest data is untrusted and often garbled: every value may be missing or nonsense, and the classification
says which fact decided it (`GuestProfile.why`) instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from avma_tui.core.catalog import AZURE_EDITION, FAMILIES, AvmaKey, BuildInfo, Catalog, Edition
from avma_tui.core.findings.common import FIRST_AVMA_BUILD, quote
from avma_tui.core.model import GuestOs, OsSource


class GuestKind(str, Enum):
    UNREPORTED = "unreported"  # no KVP data, or nothing that identifies the OS
    UNKNOWN = "unknown"  # Windows Server, but version or edition not usable
    NOT_WINDOWS = "not-windows"
    CLIENT = "client"  # Windows 10/11
    TOO_OLD = "too-old"
    AZURE = "azure"
    NO_KEY = "no-key"
    ELIGIBLE = "eligible"


NOT_ELIGIBLE = frozenset(
    {GuestKind.NOT_WINDOWS, GuestKind.CLIENT, GuestKind.TOO_OLD, GuestKind.AZURE, GuestKind.NO_KEY}
)
_NAME_VERSION = re.compile(r"\b(2008 R2|2008|2012 R2|2012|2016|2019|2022|2025)\b")
_KVP_FIELDS = ("OSName", "OSVersion", "OSBuildNumber", "OSEditionId", "ProductType", "OSPlatformId")
#: Win32_OperatingSystem's properties read inside the guest (hyperv/host.py parse_inside_os).
_INSIDE_FIELDS = ("Caption", "BuildNumber", "OperatingSystemSKU", "ProductType")


def os_evidence(guest: GuestOs) -> tuple[str, ...]:
    """The OS facts as evidence lines, each saying where it came from."""
    raw = dict(guest.items)
    if guest.source is OsSource.INSIDE:
        return tuple(
            f"Win32_OperatingSystem {name} = {quote(raw[name])} (read inside the guest)"
            for name in _INSIDE_FIELDS
            if name in raw
        )
    return tuple(f"KVP {name} = {quote(raw[name])}" for name in _KVP_FIELDS if name in raw)


_NO_EDITION = Edition("", False)


@dataclass(frozen=True)
class GuestProfile:
    """The guest as the diagnosis sees it."""

    kind: GuestKind
    family: str | None
    edition: Edition
    version: str  # "Windows Server 2019", "Windows Server, version 1709", "build 30000", or ""
    why: str  # for UNKNOWN / NO_KEY / TOO_OLD: the fact that decided it
    evidence: tuple[str, ...]
    key: AvmaKey | None = None  # the AVMA key this guest should carry, when eligible


def classify(guest: GuestOs | None, catalog: Catalog, license_name: str) -> GuestProfile:
    """Which kind of guest this is, tolerating missing and garbled values (from KVP, or read inside the guest)."""
    if guest is None:
        return GuestProfile(GuestKind.UNREPORTED, None, _NO_EDITION, "", "no intrinsic KVP items", ())
    raw = dict(guest.items)
    evidence = os_evidence(guest)
    if guest.platform_id is not None and guest.platform_id != 2:
        return GuestProfile(GuestKind.NOT_WINDOWS, None, _NO_EDITION, guest.os_name, "", evidence)
    if not guest.reported:
        return GuestProfile(GuestKind.UNREPORTED, None, _NO_EDITION, "", _unreported_why(raw), evidence)
    edition = catalog.edition(guest.edition_id, guest.os_name)
    if "eval" in license_name.casefold() and not edition.evaluation:
        edition = Edition(edition.name, True)
    info = catalog.build_info(guest.build)
    not_server = _not_server(guest, info)
    if not_server is not None:
        kind, version = not_server
        return GuestProfile(kind, None, edition, version, "", evidence)
    known = _version(guest, info)
    if isinstance(known, GuestProfile):
        return GuestProfile(known.kind, None, edition, known.version, known.why, evidence)
    family, version = known
    return _by_edition(family, version, edition, evidence, catalog)


def _unreported_why(raw: dict[str, str]) -> str:
    garbled = [name for name in ("OSBuildNumber", "OSEditionId") if raw.get(name, "").strip()]
    if garbled:
        return " and ".join(f"{name} {quote(raw[name])}" for name in garbled) + " not a number, and no OSName"
    return "no OSName, OSBuildNumber or OSEditionId among the intrinsic KVP items"


def _not_server(guest: GuestOs, info: BuildInfo | None) -> tuple[GuestKind, str] | None:
    """(NOT_WINDOWS or CLIENT, what it is) for a guest that is not Windows Server; None for a server."""
    name = guest.os_name
    folded = name.casefold()
    windows = "windows" in folded or "hyper-v server" in folded or not name
    if not windows:
        return GuestKind.NOT_WINDOWS, name
    client = guest.product_type == 1 or bool(
        guest.product_type is None and ((name and "server" not in folded) or (info is not None and not info.server))
    )
    if client:
        return GuestKind.CLIENT, name or (info.name if info else "")
    return None


def _version(guest: GuestOs, info: BuildInfo | None) -> tuple[str, str] | GuestProfile:
    """(family, version words) of a Windows Server guest, or the profile that ends its classification
    (TOO_OLD, NO_KEY, UNKNOWN; family, edition and evidence are filled in by the caller)."""

    def stop(kind: GuestKind, version: str, why: str) -> GuestProfile:
        return GuestProfile(kind, None, _NO_EDITION, version, why, ())

    if guest.build is not None:
        version = info.name if info else f"build {guest.build}"
        if guest.build < FIRST_AVMA_BUILD:
            return stop(GuestKind.TOO_OLD, version, f"build {guest.build}")
        if info is None or info.family is None:
            why = f"build {guest.build} is not in the catalog" if info is None else f"{version} has no AVMA key"
            return stop(GuestKind.NO_KEY, version, why)
        return info.family, version
    match = _NAME_VERSION.search(guest.os_name)
    if match is None:
        return stop(GuestKind.UNKNOWN, "", "OSBuildNumber missing or not a number, and OSName names no version")
    family = match.group(1)
    version = f"Windows Server {family}"
    if family not in FAMILIES:
        return stop(GuestKind.TOO_OLD, version, f"OSName {quote(guest.os_name)}")
    return family, version


def _by_edition(
    family: str, version: str, edition: Edition, evidence: tuple[str, ...], catalog: Catalog
) -> GuestProfile:
    """A Windows Server guest of a known family: what its edition makes of it."""
    if edition.name == AZURE_EDITION:
        return GuestProfile(GuestKind.AZURE, family, edition, version, "", evidence)
    if not edition.name:
        why = "OSEditionId unknown and OSName names no edition"
        return GuestProfile(GuestKind.UNKNOWN, family, edition, version, why, evidence)
    key = catalog.avma_key(family, edition.name)
    if key is None:
        why = f"the catalog of published AVMA keys has none for {version} {edition.name}"
        return GuestProfile(GuestKind.NO_KEY, family, edition, version, why, evidence)
    return GuestProfile(GuestKind.ELIGIBLE, family, edition, version, "", evidence, key)
