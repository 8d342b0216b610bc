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

from avma_tui.core.model import HostError
from avma_tui.core.text import valid


def valid_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8 anywhere (`core.text.valid`).

    Applied where text enters from a host (hyperv.host's parsing, RemoteError), so the report's output
    stream, the audit hash and the TUI never meet an unencodable string (issue 15 item 3).
    """
    return valid(text)


def _valid_record(record: HostError) -> HostError:
    return HostError(
        message=valid_text(record.message),
        fqeid=valid_text(record.fqeid),
        category=valid_text(record.category),
        exception=valid_text(record.exception),
        hresult=record.hresult,
        target=valid_text(record.target),
    )


@dataclass(frozen=True)
class Credential:
    """A username and password, kept in memory only. repr() never shows the password."""

    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:
        return self.username


#: Who may use the host's WinRM endpoint, in plain words (issue 11 item 8). The default endpoint's SDDL grants
#: BUILTIN\\Administrators, Remote Management Users and INTERACTIVE (PowerShell/PowerShell
#: CustomShellCommands.cs remoteSDDL_Win8; about_Remote_Requirements: "a member of the Administrators or Remote
#: Management Users group") — not Hyper-V Administrators. A local account other than the built-in Administrator
#: runs with a filtered token over the network unless LocalAccountTokenFilterPolicy is 1 (about_Remote_Troubleshooting;
#: https://learn.microsoft.com/windows/win32/wmisdk/user-account-control-and-wmi).
WINRM_ACCESS_HINT = (
    "the account must be in the host's Administrators or Remote Management Users group (Hyper-V Administrators "
    "alone does not admit it to WinRM); reading licenses and PowerShell Direct need a local Administrator, and a "
    "local account other than the built-in Administrator needs LocalAccountTokenFilterPolicy = 1 on the host"
)


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

    `record` is the error as the script reported it (FullyQualifiedErrorId, exception type, HRESULT,
    target, message); classification reads only its first three. `remote_message` is the host's text
    verbatim (untrusted: show it as plain text only); `error_id` the FullyQualifiedErrorId.
    """

    def __init__(self, remote_message: str, error_id: str = "", *, record: HostError | None = None) -> None:
        if record is None:
            record = HostError(message=remote_message, fqeid=error_id)
        record = _valid_record(record)
        super().__init__(record.message)
        self.record = record
        self.remote_message = record.message
        self.error_id = record.fqeid


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
