"""The seam between the host facade and whatever runs the operations.

A Transport runs one named operation (docs/operations.md) with named parameters and returns the one
JSON document the operation's script writes. Three transports implement it: PsrpTransport (pypsrp
over WinRM to a real host), SimTransport (the in-process simulated host) and, through the loopback
WinRM endpoint, PsrpTransport against the simulated host.

Every failure surfaces as one of the TransportError classes below, with a message an admin can act
on. Messages never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from avma_tui.core.text import valid


def valid_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8 anywhere (`core.text.valid`).

    Applied where text enters from a host (hyperv.host's parsing, RemoteError), so the report's output
    stream, the audit hash and the TUI never meet an unencodable string (issue 15 item 3).
    """
    return valid(text)


@dataclass(frozen=True)
class Credential:
    """A username and password, kept in memory only. repr() never shows the password."""

    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:
        return self.username


class TransportError(Exception):
    """Base of every transport failure. str() is one line an admin can act on."""


class Unreachable(TransportError):
    """The host could not be reached (DNS, refused, reset, WinRM not listening)."""


class AuthenticationFailed(TransportError):
    """The host rejected the credentials."""


class CertificateRejected(TransportError):
    """The host's TLS certificate was not trusted or did not match the host name."""


class TimedOut(TransportError):
    """The operation did not finish in time; its outcome on the host is unknown."""


class Cancelled(TransportError):
    """The operation was cancelled by the user; its outcome on the host may be unknown."""


class ConnectionLost(TransportError):
    """The connection dropped while an operation ran; its outcome on the host is unknown."""


class RemoteError(TransportError):
    """The operation ran and failed on the host (a PowerShell error).

    `remote_message` is the host's text (untrusted: show it as plain text only); `error_id` is the
    FullyQualifiedErrorId when there is one.
    """

    def __init__(self, remote_message: str, error_id: str = "") -> None:
        remote_message, error_id = valid_text(remote_message), valid_text(error_id)
        super().__init__(remote_message)
        self.remote_message = remote_message
        self.error_id = error_id


#: Outcome of a change whose transport failed this way is unknown: the host may have done it.
OUTCOME_UNKNOWN_ERRORS: tuple[type[TransportError], ...] = (TimedOut, Cancelled, ConnectionLost)


class Transport(Protocol):
    """Runs operations on one host."""

    #: A short, human description of where operations run ("simulated host HV01", "https://hv01:5986").
    description: str

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run operation `op` with named parameters; return its JSON document (parsed)."""
        ...

    async def close(self) -> None:
        """Release the connection. Safe to call twice."""
        ...
