"""The WQL filter lib/windows_license.ps1 sends, applied by the simulator to its SoftwareLicensingProduct rows.

The simulated guest keeps several licensing products, as Windows does (one per SKU, most without a key, and
add-ons such as an Extended Security Updates license that share Windows' ApplicationID). Which one the scripts
read is decided by the script's own filter, read from the packaged script text, so a filter that loses a
clause (LicenseIsAddon = FALSE) makes the simulator return the wrong product, as Windows would.

Only the clause shapes that filter uses are understood (WQL: https://learn.microsoft.com/windows/win32/wmisdk/wql-sql-for-wmi);
any other clause is an error, never silently true.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from avma_tui.hyperv.operations import script_text

_FILTER = re.compile(r"""Filter\s*=\s*"(?P<filter>ApplicationID\s*=[^"]*)\"""")
_EQUALS_TEXT = re.compile(r"^(?P<name>\w+)\s*=\s*'(?P<value>[^']*)'$")
_NOT_NULL = re.compile(r"^(?P<name>\w+)\s+IS\s+NOT\s+NULL$", re.IGNORECASE)
_BOOLEAN = re.compile(r"^(?P<name>\w+)\s*(?P<op>=|<>)\s*(?P<value>TRUE|FALSE)$", re.IGNORECASE)

Row = Mapping[str, Any]


@cache
def windows_license_filter() -> str:
    """The -Filter of Get-WindowsLicense (lib/windows_license.ps1), as the scripts send it."""
    found = _FILTER.search(script_text("guest_licenses"))
    if found is None:
        raise ValueError("lib/windows_license.ps1 has no SoftwareLicensingProduct filter")
    return found["filter"]


def matches(row: Row, wql_filter: str) -> bool:
    """Whether a product row (WMI property names → values, None for NULL) passes a filter of AND-ed clauses."""
    return all(_clause(row, clause.strip()) for clause in re.split(r"\s+AND\s+", wql_filter, flags=re.IGNORECASE))


def first_match(rows: Iterable[Row], wql_filter: str) -> Row | None:
    """Get-CimInstance -Filter … | Select-Object -First 1."""
    return next((row for row in rows if matches(row, wql_filter)), None)


def _clause(row: Row, clause: str) -> bool:
    if found := _EQUALS_TEXT.match(clause):  # string comparison in WQL is case-insensitive
        value = row.get(found["name"])
        return isinstance(value, str) and value.casefold() == found["value"].casefold()
    if found := _NOT_NULL.match(clause):
        return row.get(found["name"]) is not None
    if found := _BOOLEAN.match(clause):
        equal = row.get(found["name"]) is (found["value"].upper() == "TRUE")
        return equal if found["op"] == "=" else not equal
    raise ValueError(f"the simulator does not understand the WQL clause {clause!r}")
