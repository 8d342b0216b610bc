"""`avma-tui keys` and `avma-tui unattend`: run as a user would, output parsed as a machine would."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from avma_tui.cli.catalog import UNATTEND_NS, unattend
from avma_tui.core.catalog import load_catalog
from avma_tui.errors import CliError

NS = {"u": UNATTEND_NS}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", *args], capture_output=True, text=True, timeout=60, check=False
    )


def product_key(xml_text: str) -> str:
    root = ET.fromstring(xml_text.split("\n", 1)[1])  # past the declaration: fromstring wants no encoding header
    assert root.tag == f"{{{UNATTEND_NS}}}unattend"
    (settings,) = root.findall("u:settings", NS)
    assert settings.get("pass") == "specialize"
    (component,) = settings.findall("u:component", NS)
    assert component.get("name") == "Microsoft-Windows-Shell-Setup"
    key = component.findtext("u:ProductKey", namespaces=NS)
    assert key is not None
    return key


def test_keys_prints_every_avma_key_with_source() -> None:
    result = run("keys")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    blocks = text.split("\n\n")
    for key in load_catalog().avma_keys:
        block = next(b for b in blocks if b.startswith(key.versions + "  [") and key.key in b)
        row = next(line for line in block.splitlines() if key.key in line)
        assert row.split() == [*key.edition.split(), key.key, *(["(unconfirmed)"] if not key.confirmed else [])]
        number = block.splitlines()[0].rsplit("[", 1)[1].rstrip("]")
        sources = text.split("Sources:\n", 1)[1].split("\n\n", 1)[0]
        source = sources.split(f"[{number}] ", 1)[1].split("\n  [", 1)[0]
        assert " ".join(source.split()) == key.source
    assert "inferred, not yet" in text.split("Windows Server 2025:", 1)[1].split("Windows Server 2022:")[0]


def test_keys_fits_80_columns_and_never_splits_a_key() -> None:
    """Only a word that cannot be split (a URL, a path) may pass column 80; a key is whole on its line."""
    lines = run("keys").stdout.splitlines()
    for line in lines:
        assert len(line) <= 80 or " " not in re.sub(r"^\s*\[\d+\] ", "", line).strip(), line
    for key in load_catalog().avma_keys:
        assert any(key.key in line and len(line) <= 80 for line in lines)


def test_unattend_carries_the_avma_key() -> None:
    result = run("unattend", "--version", "2019", "--edition", "Standard")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert product_key(result.stdout) == "TNK62-RXVTB-4P47B-2D623-4GF74"


def test_unattend_unknown_version_is_one_line_exit_2() -> None:
    result = run("unattend", "--version", "2012", "--edition", "Datacenter")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "unknown version '2012'" in line and "2012 R2" in line and "2025" in line


def test_unattend_unknown_edition_lists_the_versions_editions() -> None:
    result = run("unattend", "--version", "2022", "--edition", "Essentials")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "Essentials" in line and "Datacenter, Datacenter: Azure Edition, Standard" in line


@pytest.mark.parametrize(
    ("version", "edition", "last5"),
    [
        ("2012R2", "datacenter", "DV4TW"),
        ("2012 R2", "STANDARD", "MTB6V"),
        ("2012 r2", "Essentials", "P36R2"),
        ("2016", "Datacenter", "CWG3J"),
        ("1709", "standard", "4RHYD"),
        ("1809", "Datacenter", "WMBMW"),
        ("2022", "Datacenter: Azure Edition", "VMK3J"),
        ("2022", "datacenter azure edition", "VMK3J"),
        ("2025", "Standard", "9HPQ4"),
    ],
)
def test_unattend_accepts_loose_spelling(
    capsys: pytest.CaptureFixture[str], version: str, edition: str, last5: str
) -> None:
    assert unattend(argparse.Namespace(os_version=version, edition=edition)) == 0
    out = capsys.readouterr().out
    assert product_key(out).endswith(last5)
    assert ("UNCONFIRMED" in out) == version.startswith("2025")


@pytest.mark.parametrize(("version", "edition"), [("2008", "Standard"), ("", "Standard"), ("2019", "Hyper-V Server")])
def test_unattend_rejects(version: str, edition: str) -> None:
    with pytest.raises(CliError, match="choose one of"):
        unattend(argparse.Namespace(os_version=version, edition=edition))


def test_hostile_input_is_echoed_escaped() -> None:
    with pytest.raises(CliError) as caught:
        unattend(argparse.Namespace(os_version="\x1b[2J\n2019", edition="Standard"))
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)
