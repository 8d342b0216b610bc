"""PsrpTransport: operations run on a real Hyper-V host over WinRM with pypsrp.

pypsrp is synchronous and not thread-safe, so each connection (one WSMan + one RunspacePool) lives
on its own single worker thread and is only touched there. After any transport failure, timeout or
cancellation the connection is abandoned and the next call builds a fresh one: pypsrp objects that
saw an error are never reused (their encryption state may be stale). Every failure becomes one of
the hyperv.transport errors, with a message that says what to do and never contains the password.

Timeout and cancellation guarantees (callers, including background refresh workers, rely on them):

- `run()` returns or raises within `settings.timeout + CLEANUP_SECONDS + GRACE_SECONDS`, whatever the
  host does: silent, answering a byte at a time, or dropping connections. pypsrp and requests bound
  each socket read, not a call, so the deadline is enforced from outside the worker: at the deadline
  (or on cancellation) every socket the connection opened is shut down and no new one may open,
  which ends any read at once.
- A timed-out operation deletes its remote shell (WSMan Delete on a fresh connection, within
  CLEANUP_SECONDS) before `run()` raises TimedOut; the message says whether the shell was deleted or
  is left to WinRM's idle timeout (IDLE_TIMEOUT_SECONDS). A cancelled operation (the awaiting task
  cancelled) raises CancelledError at once and deletes its shell in the background.
- Worker threads are daemon threads and end after their last job: an abandoned worker never keeps
  the process alive, and `close()` waits at most CLOSE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
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
from pypsrp.wsman import SelectorSet, WSMan

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.kerberos import kerberos_problem
from avma_tui.hyperv.operations import OPERATIONS, script_text
from avma_tui.hyperv.transport import (
    WINRM_ACCESS_HINT,
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

log = logging.getLogger(__name__)

#: Longest WSMan long-poll while an operation runs: how quickly a cancellation is noticed.
POLL_SECONDS = 2
#: Longest time spent deleting the remote shell of a timed-out or cancelled operation.
CLEANUP_SECONDS = 2.0
#: Extra time the event loop waits for the worker beyond timeout + cleanup before giving up on it.
GRACE_SECONDS = 0.5
#: Longest time close() waits for the host to delete the shell.
CLOSE_SECONDS = 1.5
#: The shell's idle timeout asked of the host: a shell that could not be deleted ends after this.
IDLE_TIMEOUT_SECONDS = 600
#: Operations that change nothing: safe to run again on a fresh connection when a reused one failed.
READ_ONLY_OPS = frozenset(name for name, op in OPERATIONS.items() if not op.changes)
#: WSMan fault: the shell is unknown (the WinRM service restarted, or the shell idled out).
SHELL_NOT_FOUND = 0x8033805B
#: WSMan/HRESULT access denied.
ACCESS_DENIED = (5, 0x80070005)
#: WSMan quota faults (winerror.h ERROR_WSMAN_QUOTA_LIMIT, _MAX_SHELLS, _MAX_SHELLUSERS, _MAX_SHELLS_PPQ,
#: _MAX_PLUGINSHELLS_PPQ; values as listed by microsoft.github.io/windows-docs-rs, RemoteManagement). Which
#: one a host sends when MaxShellsPerUser is reached is UNCONFIRMED, so all of them read as "too many shells".
SHELL_QUOTA = (0x8033803F, 0x803381A5, 0x803381AB, 0x803381E4, 0x803381E6)

_DEADLINE, _CANCEL = "deadline", "cancel"


class _Worker:
    """One daemon thread running jobs in order; it ends after retire() and its last job."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._retired = False
        self.thread = threading.Thread(target=self._loop, name="psrp-worker", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._retired:
            raise RuntimeError("this connection is retired")
        future: Future[Any] = Future()
        self._jobs.put((fn, args, future))
        return future

    def retire(self) -> None:
        self._retired = True
        self._jobs.put(None)

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as err:  # handed to the caller, as concurrent.futures does
                future.set_exception(err)
            else:
                future.set_result(result)


class _Sockets:
    """Every HTTP connection one WSMan opens, so that another thread can cut them all.

    Cutting shuts each socket down (any read in progress ends at once) and refuses new connections.
    Hooked in the way pypsrp's own _pool_manager wraps urllib3's pool and connection classes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.cut_off = False
        self.answered = False  # the host answered a request: it may hold a shell of ours

    def attach(self, wsman: WSMan) -> None:
        http = wsman.transport
        http.session = http._build_session()  # pypsrp builds it on the first request otherwise
        for adapter in http.session.adapters.values():
            if not isinstance(adapter, requests.adapters.HTTPAdapter):
                continue  # requests mounts HTTPAdapters for http:// and https://; nothing else holds a pool
            manager = adapter.poolmanager
            # urllib3 only calls these entries to make a pool, so a factory stands in for the class
            manager.pool_classes_by_scheme = {
                scheme: self._pool_factory(cls)  # type: ignore[misc]
                for scheme, cls in manager.pool_classes_by_scheme.items()
            }

    def cut(self) -> None:
        with self._lock:
            self.cut_off = True
            connections = list(self._connections)
        for connection in connections:
            _shutdown(connection)

    def _pool_factory(self, pool_class: Callable[..., Any]) -> Callable[..., Any]:
        def make_pool(*args: Any, **kwargs: Any) -> Any:
            pool = pool_class(*args, **kwargs)
            pool.ConnectionCls = self._connection_factory(pool.ConnectionCls)
            return pool

        return make_pool

    def _connection_factory(self, connection_class: Callable[..., Any]) -> Callable[..., Any]:
        def make_connection(*args: Any, **kwargs: Any) -> Any:
            connection = connection_class(*args, **kwargs)
            connect = connection.connect

            def guarded_connect() -> None:
                with self._lock:
                    if self.cut_off:
                        raise ConnectionAbortedError("the operation was stopped")
                    self._connections.append(connection)
                connect()
                if self.cut_off:  # cut while connecting
                    _shutdown(connection)

            def noted_getresponse(*args: Any, **kwargs: Any) -> Any:
                response = getresponse(*args, **kwargs)
                if not self.cut_off:  # after a cut, http.client takes the EOF for the end of a partial answer
                    self.answered = True
                return response

            getresponse = connection.getresponse
            connection.connect = guarded_connect
            connection.getresponse = noted_getresponse
            return connection

        return make_connection


def _shutdown(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # the base-class call also ends a TLS read, not touching its state
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Alarms:
    """One daemon thread that stops operations at their deadlines, for the whole process.

    A thread per operation (threading.Timer) would do the same, but starting a thread waits until it runs:
    on a busy machine that blocked the event loop for milliseconds per call, with 16 license lanes busy
    (bench/RESULTS.md, "The 2000-VM key press during r"). An alarm that fires after its operation finished
    is a no-op (_Control.stop).
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Control]] = []
        self._count = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, at: float, control: _Control) -> None:
        with self._wake:
            heapq.heappush(self._due, (at, next(self._count), control))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="psrp-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, control = heapq.heappop(self._due)
            control.stop(_DEADLINE)


_ALARMS = _Alarms()


class _Control:
    """One operation's deadline and stop switch, shared by the event loop, the alarm thread and the worker."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.reason = ""  # _DEADLINE or _CANCEL once stopped
        self._lock = threading.Lock()
        self._watched: list[_Sockets] = []
        self._finished = False
        _ALARMS.add(self.deadline, self)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, sockets: _Sockets) -> None:
        with self._lock:
            stopped = bool(self.reason)
            if not stopped and not self._finished:
                self._watched.append(sockets)
        if stopped:
            sockets.cut()

    def stop(self, reason: str) -> None:
        """Cut the operation's sockets (any thread); a no-op once the operation finished."""
        with self._lock:
            if self._finished or self.reason:
                return
            self.reason = reason
            watched = list(self._watched)
        for sockets in watched:
            sockets.cut()

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._watched = []  # the alarm keeps this object until its deadline, not the sockets


class _Stopped(TransportError):
    """Raised on the worker when an operation was stopped: why, and what became of its shell."""

    def __init__(self, reason: str, shell: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.shell = shell  # "deleted", "left" or "none"


class _Connection:
    """One WSMan + RunspacePool, built lazily and used only on this object's worker thread."""

    def __init__(self, settings: ConnectionSettings, password: str) -> None:
        self.worker = _Worker()
        self._settings = settings
        self._password = password
        self._wsman: WSMan | None = None
        self._sockets: _Sockets | None = None
        self._pool: RunspacePool | None = None
        self._accepted = False
        self._answered = False
        #: How this connection authenticated ("kerberos", "ntlm", "basic", "credssp"), once it did.
        self.mechanism: str | None = None

    @property
    def answered(self) -> bool:
        """The host answered at least one HTTP request of this connection (read after a call ended)."""
        return self._answered or (self._sockets is not None and self._sockets.answered)

    # --- worker thread only ---------------------------------------------------------------------

    def run(self, op: str, params: Mapping[str, Any], control: _Control) -> Any:
        try:
            result = self._run(op, params, control)
        finally:
            control.finish()
        if control.reason:
            self.discard()  # stopped just as it finished: its sockets are cut
        return result

    def _run(self, op: str, params: Mapping[str, Any], control: _Control) -> Any:
        """Run `op`. When a reused connection fails in a way that cannot have run anything twice (a read,
        or a command the host rejected unrun), it is run once more on a fresh connection."""
        reused = self._pool is not None
        try:
            return self._invoke(op, params, control)
        except RemoteError:
            raise
        except Exception as err:
            self._failed(control, err)
            if not (reused and not control.reason and control.remaining() > 0 and _retryable(op, err, self._accepted)):
                raise
        try:
            return self._invoke(op, params, control)
        except RemoteError:
            raise
        except Exception as err:
            self._failed(control, err)
            raise

    def _failed(self, control: _Control, err: Exception) -> None:
        """After a failure: forget the connection; when the operation was stopped or the host stopped
        answering (a read timeout), delete its shell and raise _Stopped."""
        pool, sockets = self._pool, self._sockets
        self.discard()
        if isinstance(err, requests.exceptions.Timeout):
            control.stop(_DEADLINE)
        if not control.reason:
            return
        if pool is None or sockets is None:
            shell = "none"
        elif sockets.answered:
            shell = "deleted" if self._delete_shell(pool) else "left"
        else:  # a shell needs an answer first, except where the first request (Create) is already authenticated
            shell = "unknown" if self._settings.auth in ("basic", "certificate") else "none"
        raise _Stopped(control.reason, shell) from None

    def _new_wsman(self, control: _Control, operation_timeout: int) -> tuple[WSMan, _Sockets]:
        settings = self._settings
        budget = max(1.0, control.remaining())
        wsman = WSMan(
            _bare_host(settings.host),
            port=settings.effective_port,
            ssl=settings.https,
            auth=settings.auth,
            username=settings.username or None,
            password=self._password or None,
            # pypsrp annotates bool, yet documents and accepts a CA bundle path too (WSMan docstring)
            cert_validation=_cert_validation(settings),  # type: ignore[arg-type]
            connection_timeout=max(1, min(10, int(budget))),
            operation_timeout=operation_timeout,
            read_timeout=operation_timeout + 2,  # Receive is a long-poll held up to operation_timeout
            reconnection_retries=0,
            reconnection_backoff=0.1,  # pypsrp's own Receive retries: 0.1, 0.3, 0.7 … s, not 2, 6, 14 …
            no_proxy=True,  # WinRM hosts sit on the management network, never behind a web proxy
            # Kerberos asks for HTTP/<host>, the service class Windows' own WinRM client uses (pypsrp's default
            # is HOST/, which an Active Directory computer account also answers; a keytab-only realm may not).
            negotiate_service="HTTP",
        )
        sockets = _Sockets()
        sockets.attach(wsman)
        control.watch(sockets)
        return wsman, sockets

    def _open(self, control: _Control) -> RunspacePool:
        if self._pool is not None and self._pool.state == RunspacePoolState.OPENED:
            if self._sockets is not None:
                control.watch(self._sockets)
            return self._pool
        self.discard()
        budget = max(1, int(control.remaining()))
        self._wsman, self._sockets = self._new_wsman(control, max(1, min(20, budget // 2)))
        pool = RunspacePool(self._wsman, idle_timeout=IDLE_TIMEOUT_SECONDS, session_key_timeout_ms=budget * 1000)
        self._pool = pool
        pool.open()
        pool.exchange_keys()  # PSCredential parameters are sent as encrypted SecureStrings
        self.mechanism = _mechanism(self._wsman)
        return pool

    def _invoke(self, op: str, params: Mapping[str, Any], control: _Control) -> Any:
        self._accepted = False
        pool = self._open(control)
        ps = PowerShell(pool)
        ps.add_script(script_text(op), use_local_scope=True)  # no variable (a credential) outlives it
        for name, value in params.items():
            ps.add_parameter(name, _to_powershell(value))
        ps.begin_invoke()
        self._accepted = True  # the host has the command: from here on it may have run
        while ps.state == PSInvocationState.RUNNING:
            remaining = control.remaining()
            if remaining <= 0:
                control.stop(_DEADLINE)
            if control.reason:
                raise ConnectionAbortedError("the operation was stopped")
            ps.poll_invoke(timeout=max(1, min(POLL_SECONDS, int(remaining))))
        try:
            ps.close()  # frees the command on the host
        except (requests.RequestException, WinRMError):
            self.discard()
        return _result(op, ps)

    def _delete_shell(self, pool: RunspacePool) -> bool:
        """WSMan Delete of `pool`'s shell on a fresh connection, within CLEANUP_SECONDS. True when gone."""
        control = _Control(CLEANUP_SECONDS)
        wsman: WSMan | None = None
        try:
            wsman, _ = self._new_wsman(control, 1)
            selectors = SelectorSet()
            selectors.add_option("ShellId", pool.shell.id or pool.id)
            wsman.delete(pool.shell.resource_uri, selector_set=selectors, timeout=1)
        except WSManFaultError as err:
            return err.code == SHELL_NOT_FOUND  # already gone (never created, or the host ended it)
        except Exception as err:  # the host is unreachable or too slow: the shell idles out there
            log.info("could not delete the remote shell %s: %s", pool.id, type(err).__name__)
            return False
        finally:
            control.finish()
            if wsman is not None:
                with contextlib.suppress(Exception):
                    wsman.close()
        return True

    def discard(self) -> None:
        """Forget the pypsrp objects (their state is unknown)."""
        wsman, sockets = self._wsman, self._sockets
        self._wsman, self._sockets, self._pool = None, None, None
        if sockets is not None:
            self._answered = self._answered or sockets.answered
            sockets.cut()
        if wsman is not None:
            with contextlib.suppress(Exception):  # closing a broken session must not hide the real error
                wsman.close()

    def close_remote(self) -> None:
        """Delete the shell on the host (within CLOSE_SECONDS), then forget everything."""
        pool = self._pool
        if pool is not None and pool.state == RunspacePoolState.OPENED and self._sockets is not None:
            control = _Control(CLOSE_SECONDS)
            control.watch(self._sockets)
            with contextlib.suppress(Exception):  # the host may be gone; the shell then idles out there
                pool.close()
            control.finish()
        self.discard()

    # --- any thread -----------------------------------------------------------------------------

    def retire(self) -> None:
        """Stop using this connection: its worker discards it once the current call is over, then ends."""
        with contextlib.suppress(RuntimeError):  # already retired by a concurrent call that failed too
            self.worker.submit(self.discard)
        self.worker.retire()


class PsrpTransport:
    """Runs operations on one host over WinRM (implements hyperv.transport.Transport)."""

    def __init__(self, settings: ConnectionSettings, password: str) -> None:
        self.settings = settings
        self.description = settings.url
        self._password = password
        self._conn: _Connection | None = None
        self._running: set[_Control] = set()

    def clone(self, *, timeout: float | None = None) -> PsrpTransport:
        """Another connection to the same host, same credentials and options (its own WinRM shell);
        the session's background license reads run on such lanes (services/licenses.py)."""
        settings = self.settings if timeout is None else replace(self.settings, timeout=timeout)
        return PsrpTransport(settings, self._password)

    def for_node(self, name: str) -> PsrpTransport:
        """A connection to cluster node `name` with the same credentials and options (services/nodes.py)."""
        return PsrpTransport(replace(self.settings, host=name), self._password)

    @property
    def mechanism(self) -> str | None:
        """How the current connection authenticated ("kerberos", "ntlm", …), or None before it did."""
        return self._conn.mechanism if self._conn is not None else None

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run `op` on the connection's worker thread; bounded by settings.timeout, whatever the host does
        (see the module docstring for the exact guarantee)."""
        refusal = self._refusal()
        if refusal:
            raise TransportError(refusal)
        script_text(op)  # an unknown operation is a programming error: KeyError before any I/O
        conn = self._conn or _Connection(self.settings, self._password)
        self._conn = conn
        timeout = self.settings.timeout
        control = _Control(timeout)
        self._running.add(control)
        try:
            job = conn.worker.submit(conn.run, op, dict(params or {}), control)
            return await asyncio.wait_for(asyncio.wrap_future(job), timeout + CLEANUP_SECONDS + GRACE_SECONDS)
        except asyncio.TimeoutError:  # the worker is stuck where no socket can be cut (e.g. a DNS lookup)
            control.stop(_DEADLINE)
            self._abandon(conn)
            raise self._timed_out(op, "unknown") from None
        except asyncio.CancelledError:
            # The worker's sockets are cut now and it deletes the shell in the background; the caller gets
            # CancelledError, as from any asyncio API and from SimTransport.
            control.stop(_CANCEL)
            self._abandon(conn)
            raise
        except RemoteError:
            raise
        except _Stopped as stopped:
            self._abandon(conn)
            if stopped.reason == _CANCEL:  # close() stopped it
                raise Cancelled(f"{op} was cancelled; its outcome on the host is unknown") from None
            raise self._timed_out(op, stopped.shell) from None
        except Exception as err:
            self._abandon(conn)
            raise self._translate(err, op, answered=conn.answered) from None
        finally:
            control.finish()
            self._running.discard(control)

    async def close(self) -> None:
        """Stop any running operation, delete the shell on the host; returns within CLOSE_SECONDS."""
        conn, self._conn = self._conn, None
        for control in list(self._running):
            control.stop(_CANCEL)
        if conn is None:
            return
        try:
            job = conn.worker.submit(conn.close_remote)
            conn.worker.retire()
            await asyncio.wait_for(asyncio.wrap_future(job), CLOSE_SECONDS)
        except (asyncio.TimeoutError, RuntimeError):
            pass  # the host did not answer in time; the shell idles out there

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

    def _timed_out(self, op: str, shell: str) -> TimedOut:
        """`shell`: what became of the remote shell — deleted, left, none (never opened) or unknown."""
        after = {
            "deleted": " Its remote session was deleted.",
            "left": f" Its remote session could not be deleted; WinRM ends it after {IDLE_TIMEOUT_SECONDS // 60} "
            "minutes idle.",
            "unknown": f" Its remote session may stay open on the host for up to {IDLE_TIMEOUT_SECONDS // 60} minutes.",
        }.get(shell, "")
        return TimedOut(
            f"{op} on {self.description} did not finish within {self.settings.timeout:g} s; "
            f"its outcome on the host is unknown (raise --timeout for a slow host).{after}"
        )

    def _translate(self, err: BaseException, op: str, answered: bool = True) -> TransportError:
        """One line an admin can act on, for any failure below the PowerShell level (`answered`: whether the
        host had answered any request of this connection)."""
        url = self.description
        user = self.settings.username or "the current user"
        message: TransportError
        kerberos = (
            kerberos_problem(err, host=self.settings.host, user=self.settings.username)
            if self.settings.auth in ("kerberos", "negotiate")
            else None
        )
        if isinstance(err, TransportError):
            message = err
        elif kerberos is not None:
            message = AuthenticationFailed(f"{url}: {kerberos}")
        elif isinstance(err, requests.exceptions.SSLError) and _plain_http_answer(err):
            message = Unreachable(
                f"{url}: port {self.settings.effective_port} answers plain HTTP, not HTTPS: use --http "
                "(WinRM's HTTP port is 5985), or the host's HTTPS port (5986)"
            )
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
            message = self._timed_out(op, "none")
        elif isinstance(err, requests.exceptions.ConnectionError) and not answered and not self.settings.https:
            # A TLS listener given plain HTTP ends the connection unanswered (the loopback endpoint resets it;
            # what HTTP.sys on a real 5986 listener does is UNCONFIRMED — if it answers 400 instead, the
            # HTTP 400 message below applies). Nothing ran: no request was ever answered.
            message = Unreachable(
                f"{url}: port {self.settings.effective_port} closed the connection without answering plain HTTP; "
                "if it is an HTTPS listener use --https (WinRM's HTTPS port is 5986), else check the port"
            )
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
                f"{url} rejected the credentials of {user} ({self.settings.auth}): check the password; "
                f"{WINRM_ACCESS_HINT}.{hint}"
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
        return type(message)(scrub(str(message), self._password))


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
    if code in SHELL_QUOTA:  # the setting is winrm/config/winrs/MaxShellsPerUser (MS-WSMV 2.2.4.42 WinrsType)
        return TransportError(
            f"{url} refuses another session for this account (WinRM quota MaxShellsPerUser, fault 0x{code:08X}): "
            "sessions left open by other tools or earlier runs end after WinRM's idle timeout, or raise "
            "winrm/config/winrs MaxShellsPerUser on the host"
        )
    if code in ACCESS_DENIED:
        return AuthenticationFailed(f"{url} denied access during {op}: {WINRM_ACCESS_HINT}")
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


def _bare_host(host: str) -> str:
    """The host as pypsrp wants it: an IPv6 literal without brackets (pypsrp adds them to the URL)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


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


#: What OpenSSL says when the peer's first bytes are not TLS (a plain HTTP listener answering the ClientHello).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "unknown protocol",
            "packet length too long")  # fmt: skip


def _plain_http_answer(err: BaseException) -> bool:
    text = repr(err)
    return any(needle in text for needle in _NOT_TLS)


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


#: A password shorter than this is not scrubbed from messages: replacing every "x" would mangle host
#: names and words (issue 15) while hiding nothing worth hiding.
SCRUB_MIN_LENGTH = 4


def scrub(text: str, password: str) -> str:
    """`text` with every whole occurrence of `password` replaced by `***`.

    Whole: a password that begins (ends) with a letter or digit must not follow (precede) another
    one, so a password that happens to be part of a host name or a word leaves that word alone; a
    password of fewer than SCRUB_MIN_LENGTH characters is not looked for at all.
    """
    if len(password) < SCRUB_MIN_LENGTH:
        return text
    before = r"(?<![^\W_])" if password[0].isalnum() else ""
    after = r"(?![^\W_])" if password[-1].isalnum() else ""
    return re.sub(before + re.escape(password) + after, "***", text)


def _mechanism(wsman: WSMan | None) -> str | None:
    """What authentication a connected WSMan used: Negotiate resolves to "kerberos" or "ntlm"."""
    session = getattr(getattr(wsman, "transport", None), "session", None)
    auth = getattr(session, "auth", None)
    if auth is None:
        return None
    for context in getattr(auth, "contexts", {}).values():
        protocol = getattr(context, "negotiated_protocol", None)
        if protocol:
            return str(protocol)
    name = type(auth).__name__.lower()
    return "basic" if "basic" in name else "credssp" if "credssp" in name else None
