"""What the host, node and VM checks share: quoting untrusted text, license words, small version facts."""

from __future__ import annotations

from collections.abc import Sequence

from avma_tui.core.catalog import AZURE_EDITION, DATACENTER, FAMILIES, Edition

FIRST_AVMA_BUILD = 9600  # Windows Server 2012 R2
_MAX_QUOTED = 120


def grace_left(minutes: int) -> str:
    """Grace time left in whole days, as slmgr counts them; under a day is not "0 days"."""
    days = minutes // 1440
    if days == 0:
        return "less than a day"
    return f"{days} day{'s' if days != 1 else ''}"


def quote(value: str) -> str:
    """Untrusted text as a Python literal: quoted, control characters escaped, length capped."""
    return repr(value if len(value) <= _MAX_QUOTED else value[:_MAX_QUOTED] + "…")


def span(families: Sequence[str]) -> str:
    """ "2012 R2–2022" for a run of families, or the one family."""
    ordered = sorted(families, key=FAMILIES.index)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def is_datacenter(edition: Edition) -> bool:
    """Azure Edition counts: Microsoft's editions table gives it AVMA (as a host on Azure Local)."""
    return edition.name in (DATACENTER, AZURE_EDITION)
