"""PsrpTransport: operations run on a real Hyper-V host over WinRM with pypsrp.

pypsrp is synchronous and not thread-safe, so each connection (one WSMan + one RunspacePool) lives
on its own single worker thread and is only touched there. After any transport failure, timeout or
cancellation the connection is abandoned and the next call builds a fresh one: pypsrp objects that
saw an error are never reused (their encryption state may be stale). Every call is bounded by
`settings.timeout`; every failure becomes one of the hyperv.transport errors, with a message that
says what to do and never contains the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from pypsrp.complex_objects import PSCredential, PSInvocationState, RunspacePoolState
from pypsrp.exceptions import (
    AuthenticationError,
    InvalidPSRPOperation,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.transport import (
    AuthenticationFailed,
    Cancelled,
    CertificateRejected,
    ConnectionLost,
    Credential,
    RemoteError,
    TimedOut,
    TransportError,
    Unreachable,
)

# These libraries log SOAP bodies (parameters in clear) at DEBUG and tracebacks at ERROR; neither may
# reach a terminal the TUI draws on, so they stay at WARNING and never fall back to stderr.
for _name in ("pypsrp", "psrpcore", "spnego", "urllib3", "requests", "requests_credssp"):
    _logger = logging.getLogger(_name)
    _logger.setLevel(max(_logger.level, logging.WARNING))
    _logger.addHandler(logging.NullHandler())

#: Longest WSMan long-poll while an operation runs: how quickly a cancellation is noticed.
POLL_SECONDS = 2
#: Extra time the event loop waits for the worker beyond settings.timeout before giving up on it.
GRACE_SECONDS = 1.0
#: Operations that change nothing: safe to run again on a fresh connection when a reused one failed.
READ_ONLY_OPS = frozenset({"inventory", "vm", "guest_licenses"})
#: WSMan fault: the shell is unknown (the WinRM service restarted, or the shell idled out).
SHELL_NOT_FOUND = 0x8033805B
#: WSMan/HRESULT access denied.
ACCESS_DENIED = (5, 0x80070005)


class _Connection:
    """One WSMan + RunspacePool, built lazily and used only on this object's worker thread."""

    def __init__(self, settings: ConnectionSettings, password: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="psrp")
        self._settings = settings
        self._password = password
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None
        self._accepted = False

    # --- worker thread only ---------------------------------------------------------------------

    def run(self, op: str, params: Mapping[str, Any], cancel: threading.Event, deadline: float) -> Any:
        """Run `op`. When a reused connection fails in a way that cannot have run anything twice (a read,
        or a command the host rejected unrun), it is run once more on a fresh connection."""
        reused = self._pool is not None
        try:
            return self._invoke(op, params, cancel, deadline)
        except RemoteError:
            raise
        except Exception as err:
            self.discard()
            in_time = not cancel.is_set() and time.monotonic() < deadline
            if not (reused and in_time and _retryable(op, err, self._accepted)):
                raise
        try:
            return self._invoke(op, params, cancel, deadline)
        except RemoteError:
            raise
        except Exception:
            self.discard()
            raise

    def _open(self, deadline: float) -> RunspacePool:
        if self._pool is not None and self._pool.state == RunspacePoolState.OPENED:
            return self._pool
        self.discard()
        settings = self._settings
        budget = max(1, int(deadline - time.monotonic()))
        operation_timeout = max(1, min(20, budget // 2))
        self._wsman = WSMan(
            settings.host,
            port=settings.effective_port,
            ssl=settings.https,
            auth=settings.auth,
            username=settings.username or None,
            password=self._password or None,
            cert_validation=_cert_validation(settings),
            connection_timeout=max(1, min(10, budget)),
            operation_timeout=operation_timeout,
            read_timeout=operation_timeout + 2,  # Receive is a long-poll held up to operation_timeout
            reconnection_retries=0,
            reconnection_backoff=0.1,  # pypsrp's own Receive retries: 0.1, 0.3, 0.7 … s, not 2, 6, 14 …
            no_proxy=True,  # WinRM hosts sit on the management network, never behind a web proxy
        )
        pool = RunspacePool(self._wsman, idle_timeout=600, session_key_timeout_ms=budget * 1000)
        self._pool = pool
        pool.open()
        pool.exchange_keys()  # PSCredential parameters are sent as encrypted SecureStrings
        return pool

    def _invoke(self, op: str, params: Mapping[str, Any], cancel: threading.Event, deadline: float) -> Any:
        self._accepted = False
        pool = self._open(deadline)
        ps = PowerShell(pool)
        ps.add_script(script_text(op))
        for name, value in params.items():
            ps.add_parameter(name, _to_powershell(value))
        ps.begin_invoke()
        self._accepted = True  # the host has the command: from here on it may have run
        while ps.state == PSInvocationState.RUNNING:
            remaining = deadline - time.monotonic()
            if cancel.is_set() or remaining <= 0:
                with contextlib.suppress(Exception):  # best effort: the connection is abandoned either way
                    ps.stop()
                self.discard()
                what = "was cancelled" if cancel.is_set() else "ran out of time"
                unknown = f"{op} {what}; its outcome on the host is unknown"
                raise Cancelled(unknown) if cancel.is_set() else TimedOut(unknown)
            ps.poll_invoke(timeout=max(1, min(POLL_SECONDS, int(remaining))))
        try:
            ps.close()  # frees the command on the host
        except (requests.RequestException, WinRMError):
            self.discard()
        return _result(op, ps)

    def discard(self) -> None:
        """Forget the pypsrp objects (their state is unknown); the host idles the shell out."""
        wsman, self._wsman, self._pool = self._wsman, None, None
        if wsman is not None:
            with contextlib.suppress(Exception):  # closing a broken session must not hide the real error
                wsman.close()

    def close_remote(self) -> None:
        """Delete the shell on the host, best effort, then forget everything."""
        pool = self._pool
        if pool is not None and pool.state == RunspacePoolState.OPENED:
            with contextlib.suppress(Exception):  # the host may be gone; the shell then idles out there
                pool.close()
        self.discard()

    # --- any thread -----------------------------------------------------------------------------

    def retire(self) -> None:
        """Stop using this connection: its worker discards it once the current call is over."""
        with contextlib.suppress(RuntimeError):  # already retired by a concurrent call that failed too
            self.executor.submit(self.discard)
        self.executor.shutdown(wait=False)


class PsrpTransport:
    """Runs operations on one host over WinRM (implements hyperv.transport.Transport)."""

    def __init__(self, settings: ConnectionSettings, password: str) -> None:
        self.settings = settings
        self.description = settings.url
        self._password = password
        self._conn: _Connection | None = None

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run `op` on the connection's worker thread; bounded by settings.timeout, whatever the host does."""
        refusal = self._refusal()
        if refusal:
            raise TransportError(refusal)
        script_text(op)  # an unknown operation is a programming error: KeyError before any I/O
        conn = self._conn or _Connection(self.settings, self._password)
        self._conn = conn
        cancel = threading.Event()
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(conn.executor, conn.run, op, dict(params or {}), cancel, deadline)
        try:
            return await asyncio.wait_for(future, timeout + GRACE_SECONDS)
        except asyncio.TimeoutError:
            cancel.set()
            self._abandon(conn)
            raise self._timed_out(op) from None
        except asyncio.CancelledError:
            # The worker stops the pipeline (ctrl_c) at its next poll; the caller gets CancelledError, as from
            # any asyncio API and from SimTransport, so task cancellation keeps its meaning for callers.
            cancel.set()
            self._abandon(conn)
            raise
        except RemoteError:
            raise
        except TimedOut:
            self._abandon(conn)
            raise self._timed_out(op) from None
        except Exception as err:
            self._abandon(conn)
            raise self._translate(err, op) from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(conn.executor, conn.close_remote), min(5.0, self.settings.timeout)
            )
        except (asyncio.TimeoutError, RuntimeError):
            pass  # the host did not answer; the shell idles out there
        finally:
            conn.executor.shutdown(wait=False)

    # --- helpers --------------------------------------------------------------------------------

    def _refusal(self) -> str:
        """Why this configuration must not connect at all ("" when it may)."""
        if self.settings.auth == "basic" and not self.settings.https:
            return (
                "basic authentication over HTTP would send the password in clear: "
                "use HTTPS (port 5986) or --auth negotiate/ntlm/kerberos"
            )
        return ""

    def _abandon(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.retire()

    def _timed_out(self, op: str) -> TimedOut:
        return TimedOut(
            f"{op} on {self.description} did not finish within {self.settings.timeout:g} s; "
            "its outcome on the host is unknown (raise --timeout for a slow host)"
        )

    def _translate(self, err: BaseException, op: str) -> TransportError:
        """One line an admin can act on, for any failure below the PowerShell level."""
        url = self.description
        user = self.settings.username or "the current user"
        message: TransportError
        if isinstance(err, TransportError):
            message = err
        elif isinstance(err, requests.exceptions.SSLError):
            message = CertificateRejected(
                f"{url}: the host's TLS certificate was not trusted or does not match the name "
                f"({_short(err)}); use --ca-cert PEM or, at your own risk, --insecure"
            )
        elif isinstance(err, requests.exceptions.ConnectTimeout) or _refused(err):
            reason = _network_reason(err)
            if reason == DNS_FAILURE:
                hint = "check the host name, or use its IP address"
            else:
                hint = (
                    f"is WinRM listening? On the host run Enable-PSRemoting and open firewall port "
                    f"{self.settings.effective_port} (5985 HTTP / 5986 HTTPS)"
                )
            message = Unreachable(f"cannot reach {url} ({reason}): {hint}")
        elif isinstance(err, requests.exceptions.Timeout):
            message = self._timed_out(op)
        elif isinstance(err, requests.exceptions.ConnectionError):
            message = ConnectionLost(
                f"the connection to {url} dropped during {op}; its outcome on the host is unknown. "
                "The next attempt reconnects"
            )
        elif isinstance(err, AuthenticationError):
            hint = ""
            if not self.settings.https and self.settings.auth in ("ntlm", "negotiate"):
                hint = " With NTLM over HTTP the host must also trust this client (TrustedHosts / domain membership)."
            message = AuthenticationFailed(
                f"{url} rejected the credentials of {user} ({self.settings.auth}): check the password; the account "
                f"must be an administrator or in Hyper-V Administrators on the host.{hint}"
            )
        elif isinstance(err, WSManFaultError):
            message = _fault(err, url, op)
        elif isinstance(err, WinRMTransportError) and err.code == 400:
            message = TransportError(
                f"{url} rejected a request during {op} (HTTP 400): the host re-authenticated the connection or "
                "does not accept this client's encryption; the next attempt reconnects"
            )
        elif isinstance(err, WinRMTransportError):
            message = TransportError(f"{url} answered HTTP {err.code} during {op}; is this a WinRM endpoint?")
        elif isinstance(err, InvalidPSRPOperation):
            message = TransportError(
                f"the PowerShell session on {url} failed ({_short(err)}); check the endpoint configuration "
                "(Microsoft.PowerShell) and that the account may use it"
            )
        elif isinstance(err, ImportError):
            message = TransportError(
                f"--auth {self.settings.auth} is not available on this machine ({_short(err)}); install "
                f"pypsrp[{self.settings.auth}] or use --auth ntlm"
            )
        elif type(err).__module__.startswith("spnego"):
            message = AuthenticationFailed(
                f"{self.settings.auth} authentication could not start on this machine ({_short(err)}); "
                "for Kerberos get a ticket (kinit) or use --auth ntlm"
            )
        else:
            message = TransportError(f"{op} on {url} failed: {type(err).__name__}: {_short(err)}")
        return type(message)(_scrub(str(message), self._password))


def _retryable(op: str, err: BaseException, accepted: bool) -> bool:
    """True when running `op` again on a fresh connection cannot do anything twice."""
    if isinstance(err, (AuthenticationError, TransportError)):
        return False
    refused = (isinstance(err, WSManFaultError) and err.code == SHELL_NOT_FOUND) or (
        isinstance(err, WinRMTransportError) and err.code == 400
    )
    if refused and not accepted:
        return True  # the host rejected the command itself (unknown shell, stale encryption): it never ran
    return op in READ_ONLY_OPS and isinstance(err, (requests.RequestException, WinRMError))


def _fault(err: WSManFaultError, url: str, op: str) -> TransportError:
    code = err.code if isinstance(err.code, int) else -1
    reason = _short(err.reason or "")
    if code == SHELL_NOT_FOUND:
        return ConnectionLost(
            f"{url} no longer knows this session (WinRM restarted or the shell timed out) during {op}; "
            "the next attempt reconnects"
        )
    if code in ACCESS_DENIED:
        return AuthenticationFailed(
            f"{url} denied access during {op}: the account must be an administrator or in Hyper-V Administrators"
        )
    shown = f"0x{code:08X}" if code >= 0 else str(err.code)
    return TransportError(f"WinRM on {url} reported fault {shown} during {op}: {reason or 'no reason given'}")


def _result(op: str, ps: PowerShell) -> Any:
    """The operation's one JSON document, or RemoteError with the host's own message."""
    if ps.had_errors or ps.state == PSInvocationState.FAILED:
        record = ps.streams.error[-1] if ps.streams.error else None
        text = str(record) if record is not None else f"{op} failed on the host without an error message"
        raise RemoteError(text, getattr(record, "fq_error", "") or "")
    texts = [item for item in ps.output if isinstance(item, str)]
    if len(texts) != 1:
        raise RemoteError(f"{op} returned {len(texts)} JSON documents instead of one", "avma-tui.BadOutput")
    try:
        return json.loads(texts[0])
    except ValueError:
        raise RemoteError(f"{op} returned text that is not JSON", "avma-tui.BadOutput") from None


def _to_powershell(value: Any) -> Any:
    """Parameters as pypsrp serializes them: a Credential becomes a PSCredential (SecureString password)."""
    if isinstance(value, Credential):
        return PSCredential(username=value.username, password=value.password)
    if isinstance(value, (list, tuple)):
        return [_to_powershell(item) for item in value]
    return value


def _cert_validation(settings: ConnectionSettings) -> bool | str:
    if settings.insecure:
        return False
    return settings.ca_cert or True


def _refused(err: BaseException) -> bool:
    """True when no TCP connection could be made at all (refused, DNS, no route)."""
    seen: set[int] = set()
    pending: list[Any] = [err]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        name = type(item).__name__
        if name in ("NewConnectionError", "NameResolutionError", "ConnectionRefusedError", "gaierror"):
            return True
        if isinstance(item, BaseException):
            pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


def _short(err: BaseException | str) -> str:
    """The first line of an error's text, capped: enough to recognise it, never a wall of text."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


DNS_FAILURE = "the name does not resolve (DNS)"
_NETWORK_REASONS = (
    (("NameResolutionError", "Name or service not known", "getaddrinfo failed", "Failed to resolve"), DNS_FAILURE),
    (("Connection refused", "ConnectionRefusedError", "actively refused"), "connection refused"),
    (("timed out", "ConnectTimeout"), "no answer within the timeout"),
)  # fmt: skip


def _network_reason(err: BaseException) -> str:
    """Why a connection could not be made, in three words where urllib3 writes three lines."""
    text = repr(err)
    for needles, reason in _NETWORK_REASONS:
        if any(needle in text for needle in needles):
            return reason
    return _short(err)


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text
