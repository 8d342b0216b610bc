"""The PowerShell scripts, one per operation of the table (core/operations.py), as constant text.

Scripts are shipped as files next to this module and sent verbatim: every value travels as a
PowerShell parameter, so no script text is ever built from data. The loopback WinRM endpoint uses
the same texts to recognise which operation a pipeline runs.

Code several operations share lives in fragments, scripts/lib/<name>.ps1 (function definitions
only). An operation names each fragment it needs on a line of its own, `#include lib/<name>.ps1`,
and script_text() puts the fragment's text in that line's place, indented like the line. PSRP
sends one script text per operation and nothing is dot-sourced on the host, so the composition
happens here, from packaged files alone; fragments include nothing themselves. Code sent into a
guest (Invoke-Command -VMId) cannot see the host script's functions, so a guest script block
includes the fragments it needs inside itself.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from avma_tui.core.operations import OPERATIONS

if TYPE_CHECKING:
    from avma_tui.core.remedies import Step

__all__ = ["OPERATIONS", "script_text", "step_script"]


_SCRIPTS_DIR = Path(__file__).with_name("scripts")
#: Any line that means to include; what follows must name a fragment, or loading fails.
_INCLUDE_LINE = re.compile(r"(?P<indent>[ \t]*)#include\b(?P<name>.*)")
_FRAGMENT_NAME = re.compile(r"lib/[a-z0-9_]+\.ps1")


@cache
def script_text(op: str) -> str:
    """The script of operation `op` with its fragments in place.

    KeyError for an operation that does not exist; ValueError for an include line that names no
    packaged fragment, so a broken script fails when it is loaded, never on a host.
    """
    if op not in OPERATIONS:
        raise KeyError(op)
    lines = (_SCRIPTS_DIR / OPERATIONS[op].script).read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(
        _fragment_text(include, f"{op}.ps1") if (include := _INCLUDE_LINE.match(line)) else line for line in lines
    )


def _fragment_text(include: re.Match[str], including: str) -> str:
    """The fragment an include line of file `including` names, each line indented like the include line."""
    name = include["name"].strip()
    path = _SCRIPTS_DIR / name
    if not _FRAGMENT_NAME.fullmatch(name) or not path.is_file():
        raise ValueError(f"{including}: {include[0].strip()!r} names no fragment in scripts/lib/")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if any(_INCLUDE_LINE.match(line) for line in lines):
        raise ValueError(f"{name}: a fragment includes nothing itself")
    return "".join(include["indent"] + line if line.strip() else line for line in lines)


def step_script(step: Step) -> str:
    """What a step shows the admin: the exact PowerShell its operation runs, or a manual step's commands."""
    return script_text(step.op) if step.op else step.script
