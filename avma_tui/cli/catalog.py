"""`avma-tui keys` and `avma-tui unattend`: the catalog's AVMA keys for people and for deployment files.

Both read the one catalog, so the keys an admin copies from here are the same the tool installs and
validates against; the 2025 keys are marked unconfirmed wherever they appear.
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET

from avma_tui.core.catalog import AvmaKey, Catalog, load_catalog
from avma_tui.errors import CliError

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
#: The fixed identity of the Windows Shell-Setup component in every 64-bit Windows Server unattend file.
_SHELL_SETUP = {
    "name": "Microsoft-Windows-Shell-Setup",
    "processorArchitecture": "amd64",
    "publicKeyToken": "31bf3856ad364e35",
    "language": "neutral",
    "versionScope": "nonSxS",
}


def _squash(text: str) -> str:
    """Lower case, letters and digits only, so that "2012 R2" matches "2012r2" and "Datacenter" "DATACENTER"."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def keys(args: argparse.Namespace) -> int:
    """Print the AVMA key table, aligned, with each key's source."""
    catalog = load_catalog()
    header = ("VERSION", "EDITION", "KEY", "SOURCE")
    rows = [
        (k.versions, k.edition, k.key if k.confirmed else f"{k.key} (unconfirmed)", k.source) for k in catalog.avma_keys
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
    print("AVMA keys: install in a Windows Server guest (slmgr /ipk KEY); a Datacenter host activates it.")
    print()
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])
    print()
    print("Host -> guests it can activate:")
    for host, guests, inferred in catalog.matrix():
        note = "  (inferred, not yet confirmed by Microsoft)" if inferred else ""
        print(f"  Windows Server {host}: {', '.join(guests)}{note}")
    print()
    print("(unconfirmed): copied from public reproductions of Microsoft's page; check learn.microsoft.com.")
    return 0


def _tokens(key: AvmaKey) -> list[str]:
    """The versions one key row covers, as Microsoft's table names them: ["1909", "1903", "1809"], ["2012 R2"]."""
    return [v.strip() for v in key.versions.removeprefix("Windows Server ").split(",")]


def _pick(catalog: Catalog, version: str, edition: str) -> AvmaKey:
    """The catalog row for a version and edition a person typed, loosely ("2012r2", "datacenter")."""
    rows: dict[str, tuple[str, list[AvmaKey]]] = {}
    for key in catalog.avma_keys:
        for token in _tokens(key):
            rows.setdefault(_squash(token), (token, []))[1].append(key)
    found = rows.get(_squash(version))
    if found is None:
        choices = ", ".join(shown for shown, _ in rows.values())
        raise CliError(f"unknown version {version!r}; choose one of: {choices}")
    shown, candidates = found
    key = next((k for k in candidates if _squash(k.edition) == _squash(edition)), None)
    if key is None:
        editions = ", ".join(k.edition for k in candidates)
        raise CliError(f"no AVMA key for Windows Server {shown} {edition!r}; choose one of: {editions}")
    return key


def unattend_xml(key: AvmaKey) -> str:
    """An unattend.xml fragment: the specialize pass of Shell-Setup carrying the AVMA key."""
    ET.register_namespace("", UNATTEND_NS)
    root = ET.Element(f"{{{UNATTEND_NS}}}unattend")
    settings = ET.SubElement(root, f"{{{UNATTEND_NS}}}settings", {"pass": "specialize"})
    component = ET.SubElement(settings, f"{{{UNATTEND_NS}}}component", _SHELL_SETUP)
    ET.SubElement(component, f"{{{UNATTEND_NS}}}ProductKey").text = key.key
    ET.indent(root)
    note = f" AVMA key for {key.versions} {key.edition}; source: {key.source}."
    if not key.confirmed:
        note += " UNCONFIRMED: check learn.microsoft.com before use."
    comment = note.replace("--", "-") + " "
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<!--{comment}-->\n{body}\n'


def unattend(args: argparse.Namespace) -> int:
    """Print an unattend.xml fragment with the AVMA key for --version and --edition."""
    key = _pick(load_catalog(), args.os_version, args.edition)
    print(unattend_xml(key), end="")
    return 0
