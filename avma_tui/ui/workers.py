"""What the app's workers share: the group of workers that change a host, and how their errors read."""

from __future__ import annotations

from avma_tui.hyperv.transport import TransportError

#: Workers in this group change things on the host; quitting while one runs asks first.
OPERATION_GROUP = "operation"


def describe_error(err: BaseException) -> str:
    """One line for the admin. Transport errors are written for them; anything else is named."""
    if isinstance(err, TransportError):
        return str(err) or type(err).__name__
    return f"unexpected {type(err).__name__}: {err}"
