"""The PowerShell scripts, one per operation (docs/operations.md), as constant text.

Scripts are shipped as files next to this module and sent verbatim: every value travels as a
PowerShell parameter, so no script text is ever built from data. The loopback WinRM endpoint uses
the same texts to recognise which operation a pipeline runs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

#: Every operation of docs/operations.md, each with its scripts/<op>.ps1.
OPERATIONS: tuple[str, ...] = (
    "inventory",
    "vm",
    "guest_licenses",
    "enable_kvp",
    "start_vm",
    "start_guest_kvp",
    "install_key",
    "activate_guest",
    "set_edition",
    "activate_host",
)

_SCRIPTS_DIR = Path(__file__).with_name("scripts")


@cache
def script_text(op: str) -> str:
    """The script of operation `op`; KeyError for an operation that does not exist."""
    if op not in OPERATIONS:
        raise KeyError(op)
    return (_SCRIPTS_DIR / f"{op}.ps1").read_text(encoding="utf-8")
