"""`avma-tui keys` and `avma-tui unattend`: the catalog's AVMA keys for people and for deployment files.

Both read the one catalog, so the keys an admin copies from here are the same the tool installs and
validates against; the 2025 keys are marked unconfirmed wherever they appear.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
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


#: The width `keys` writes to: every line fits except a URL, which is never split (a terminal wraps it
#: softly, so it still copies whole). A product key is always whole on its own line.
KEYS_WIDTH = 80


def _wrapped(text: str, indent: str = "", first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=KEYS_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def keys_text(catalog: Catalog) -> str:
    """The AVMA key table in 80 columns: versions as headings, one `edition  key` line per key, the
    sources numbered below, the host→guest matrix last."""
    lines = _wrapped("AVMA keys: install in a Windows Server guest (slmgr /ipk KEY); a Datacenter host activates it.")
    sources: list[str] = []
    edition_width = max(len(k.edition) for k in catalog.avma_keys)
    versions = None
    for key in catalog.avma_keys:
        if key.source not in sources:
            sources.append(key.source)
        if key.versions != versions:
            versions = key.versions
            lines += ["", f"{versions}  [{sources.index(key.source) + 1}]"]
        note = "  (unconfirmed)" if not key.confirmed else ""
        lines.append(f"  {key.edition.ljust(edition_width)}  {key.key}{note}")
    lines += ["", "Sources:"]
    for number, source in enumerate(sources, 1):
        lines += _wrapped(source, "      ", f"  [{number}] ")
    lines += ["", "Host -> guests it can activate:"]
    for host, guests, inferred in catalog.matrix():
        note = " (inferred, not yet confirmed by Microsoft)" if inferred else ""
        lines += _wrapped(f"Windows Server {host}: {', '.join(guests)}{note}", "    ", "  ")
    lines += [
        "",
        *_wrapped("(unconfirmed): copied from public reproductions of Microsoft's page; check learn.microsoft.com."),
    ]
    return "\n".join(lines) + "\n"


def keys(args: argparse.Namespace) -> int:
    """Print the AVMA key table (80 columns; keys never split)."""
    print(keys_text(load_catalog()), end="")
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
    picked = next((k for k in candidates if _squash(k.edition) == _squash(edition)), None)
    if picked is None:
        editions = ", ".join(k.edition for k in candidates)
        raise CliError(f"no AVMA key for Windows Server {shown} {edition!r}; choose one of: {editions}")
    return picked


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
    if not key.confirmed:  # the XML comment says it too, but a redirect into a file hides that from the eye
        print(
            f"avma-tui: warning: the {key.versions} {key.edition} AVMA key is UNCONFIRMED "
            "(not from Microsoft's published text); check learn.microsoft.com before use",
            file=sys.stderr,
        )
    print(unattend_xml(key), end="")
    return 0
