"""A loopback WinRM endpoint serving the simulated host to the real pypsrp client.

HTTP on 127.0.0.1 with NTLM (pyspnego acceptor) and WinRM message encryption, or HTTPS with a
certificate generated at start (NTLM with channel binding, or Basic); WS-Management and PowerShell
remoting behind it (winrm_wsman, winrm_shell). Tests use it to drive PsrpTransport through real
authentication, encryption, faults and timeouts; `avma-tui sim serve` uses it for demos.

The password is kept in memory; the NTLM acceptor reads its account from a temporary file holding
only the NT hash, deleted on stop. Fault injection (`fail_next`) reproduces what goes wrong with
real hosts: dropped connections, re-authentication, WSMan faults, WinRM restarts, slow answers, hung
operations. `fail_after_change` makes the next change operation run on the engine and then go wrong
(an error, garbled output, a dropped connection): the ambiguous failures only a read-back can settle.
Like WinRM it refuses a Create beyond MaxShellsPerUser, so a client that leaks shells fails.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import spnego
from pypsrp.encryption import WinRMEncryption
from spnego.channel_bindings import GssChannelBindings

from avma_tui.core.operations import OPERATIONS
from avma_tui.hyperv.transport import RemoteError
from avma_tui.sim.engine import SimHost
from avma_tui.sim.winrm.shell import RawOutput
from avma_tui.sim.winrm.tls import make_certificate
from avma_tui.sim.winrm.wsman import RECEIVE, WSManService

AFTER_CHANGE_FAULTS = ("error", "not_json", "two_documents", "drop")
FAULT_KINDS = ("drop", "401", "500", "shell_gone", "slow_receive", "dribble", "hang")
_HTTP_FAULTS = ("drop", "401", "dribble")
#: Longest a dribbled answer trickles: bounded, so a test that forgets it never leaves a thread running.
_DRIBBLE_STEPS = 4000
_ENCRYPTED_TYPE = (
    'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
)

#: spnego's NTLM acceptor reads its accounts from the file named by NTLM_USER_FILE, a process-wide
#: setting; endpoints (and tests running several) set it only while they step a context.
_NTLM_ENV_LOCK = threading.Lock()


class WinRMEndpoint:
    """A WinRM server for one SimHost, running on background threads until stop()."""

    def __init__(
        self,
        engine: SimHost,
        *,
        username: str,
        password: str,
        https: bool = False,
        port: int = 0,
        keytab: Path | None = None,
    ) -> None:
        self.engine = engine
        #: With a keytab holding HTTP/<host name>, Kerberos is accepted beside NTLM (Negotiate picks it),
        #: as a domain-joined Windows host does; the client must then reach this endpoint by that name.
        self.keytab = keytab
        self.username = username
        self.https = https
        self.host = "127.0.0.1"
        self.port = port
        self.ca_cert_path: Path | None = None
        self.requests = 0
        #: Who authenticated, in order (`alice@AVMA.TEST` for Kerberos, `DOMAIN\\user` for NTLM): tests read it.
        self.principals: list[str] = []
        self.latency_ms = 0.0
        #: Wait what Windows costs ([sim] cost knobs, docs/scenario.md): a knob the scenario sets is always
        #: waited; with real_costs an unset one is waited at its real-world default (benchmarks, sim serve).
        self.real_costs = False
        self.slow_receive_seconds = 5.0
        self.dribble_seconds = 0.5
        self.hang_seconds = 30.0
        self._password = password
        self._faults: list[str] = []
        self._after_change: list[tuple[str, str]] = []
        self._receiving = threading.Event()  # a Receive is being answered (set), or a Command started (clear)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        #: Every pipeline clients created: (shell id, operation or None when refused, UseLocalScope per command).
        self.pipelines: list[tuple[str, str | None, tuple[bool | None, ...]]] = []
        self._service = WSManService(self._run_op, self.host, self._stopping, self._op_pause, self._record_pipeline)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self._user_file: Path | None = None
        self._channel_binding: bytes | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # never leave the account file behind (a port in use, a bad certificate)
            raise

    def _start(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="avma-sim-winrm-"))
        self._user_file = self._tmp / "ntlm-users"
        _write_private(self._user_file, _ntlm_user_line(self.username, self._password))
        context: ssl.SSLContext | None = None
        if self.https:
            certificate = make_certificate(self.host)
            self.ca_cert_path = self._tmp / "ca.pem"
            self.ca_cert_path.write_bytes(certificate.ca_pem)
            chain, key = self._tmp / "server.pem", self._tmp / "server.key"
            _write_private(chain, certificate.chain_pem.decode())
            _write_private(key, certificate.key_pem.decode())
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(chain, key)
            key.unlink()
            self._channel_binding = certificate.channel_binding
        self._server = _Server((self.host, self.port), self, context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-winrm", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._service.forget_shells()  # hung operations end with their shells
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> WinRMEndpoint:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- knobs ---------------------------------------------------------------------------------

    def fail_next(self, kind: str, count: int = 1) -> None:
        """Make the next `count` requests fail this way.

        slow_receive: the next Receives answer after slow_receive_seconds; dribble: the next answer trickles
        out a byte every dribble_seconds; hang: the next operation runs only after hang_seconds, or never
        when its shell is deleted first.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    @property
    def max_shells_per_user(self) -> int:
        """WinRM's MaxShellsPerUser: a Create beyond it gets Windows' QuotaLimit fault (default 30)."""
        return self._service.max_shells_per_user

    @max_shells_per_user.setter
    def max_shells_per_user(self, value: int) -> None:
        self._service.max_shells_per_user = value

    def fail_after_change(self, kind: str, message: str = "The Hyper-V socket target process has ended.") -> None:
        """The next change operation runs on the engine, then: `error` (the pipeline fails with `message`),
        `not_json` (text that is not JSON), `two_documents` (its document twice), or `drop` (the connection
        waiting for its answer is cut)."""
        if kind not in AFTER_CHANGE_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(AFTER_CHANGE_FAULTS)}")
        with self._lock:
            self._after_change.append((kind, message))

    def open_shells(self) -> int:
        """How many remote shells are open (all users)."""
        return self._service.shell_count()

    def clear_faults(self) -> None:
        """Forget injected faults not yet used."""
        with self._lock:
            self._faults.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0

    # --- used by the request handler -----------------------------------------------------------

    def _take_fault(self, kinds: tuple[str, ...], action: str = "") -> str | None:
        if action == RECEIVE:
            self._receiving.set()
        elif action:
            self._receiving.clear()
        with self._lock:
            for index, kind in enumerate(self._faults):
                if kind in kinds and (kind != "slow_receive" or action == RECEIVE):
                    return self._faults.pop(index)
        return None

    def _op_pause(self) -> float:
        """Seconds the next operation waits before it runs ("hang": hang_seconds, or until its shell is deleted)."""
        if self._take_fault(("hang",)) is not None:
            return self.hang_seconds
        return 0.0

    def _record_pipeline(self, shell_id: str, op: str | None, scopes: tuple[bool | None, ...]) -> None:
        with self._lock:
            self.pipelines.append((shell_id, op, scopes))

    def _serve(self, body: bytes, user: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
        return self._service.handle(
            body,
            user,
            lambda action: self._take_fault(("500", "shell_gone", "slow_receive"), action),
            self.slow_receive_seconds,
        )

    def _run_op(self, op: str, params: Any) -> Any:
        cost_of = getattr(self.engine, "cost", None)  # tests may serve a wrapper without costs
        cost = cost_of(op, params, real=self.real_costs) if cost_of else 0.0
        if cost > 0:  # the server really takes that long (on the pipeline's own thread), as Windows would
            self._stopping.wait(cost)
        result = self.engine.run(op, params)
        with self._lock:
            fault = self._after_change.pop(0) if self._after_change and OPERATIONS[op].changes else None
        if fault is None:
            return result
        kind, message = fault
        if kind == "error":
            raise RemoteError(message, "avma-tui.AfterChange")
        if kind == "not_json":
            return RawOutput(("The operation completed successfully.",))
        if kind == "two_documents":
            return RawOutput((json.dumps(result),) * 2)
        # drop: cut the connection once the client waits for this answer (its Receive has arrived).
        self._receiving.wait(5)
        time.sleep(0.05)
        if self._server is not None:
            self._server.close_connections()
        return result

    def _new_context(self) -> Any:
        bindings = GssChannelBindings(application_data=self._channel_binding) if self._channel_binding else None
        return spnego.server(protocol="negotiate", channel_bindings=bindings)

    def _step(self, context: Any | None, token: bytes) -> tuple[Any, bytes | None]:
        """One authentication leg with this endpoint's NTLM account file (and Kerberos keytab) in effect."""
        settings = {"NTLM_USER_FILE": str(self._user_file)}
        if self.keytab is not None:
            settings["KRB5_KTNAME"] = f"FILE:{self.keytab}"
        with _NTLM_ENV_LOCK:
            saved = {name: os.environ.get(name) for name in settings}
            os.environ.update(settings)
            try:
                context = context or self._new_context()
                return context, context.step(token)
            finally:
                # Put back a value another endpoint set, but never delete a variable: a client thread in this
                # process (requests' proxy lookup iterates os.environ) would read a key that vanished mid-way
                # and fail with KeyError. A variable this endpoint added stays, pointing at its file.
                for name, value in saved.items():
                    if value is not None:
                        os.environ[name] = value

    def accepts(self, principal: str) -> bool:
        """Whether an authenticated client may use this host: the configured account, by its user part.

        NTLM names it `user` or `DOMAIN\\user`, Kerberos `user@REALM`; the comparison ignores case, as Windows does.
        """
        user = principal.rpartition("\\")[2].partition("@")[0]
        return user.casefold() == self.username.rpartition("\\")[2].partition("@")[0].casefold()

    def _basic_ok(self, encoded: str) -> bool:
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.casefold().encode(), self.username.casefold().encode()) & hmac.compare_digest(
            password.encode(), self._password.encode()
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: The listen backlog. socketserver's default (5) dropped connections when 100 clients connected at
    #: once (seen as "is WinRM listening?"); one thread per connection serves them once accepted.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], endpoint: WinRMEndpoint, context: ssl.SSLContext | None) -> None:
        self.endpoint = endpoint
        self.ssl_context = context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-request is normal here (timeouts, faults): no traceback."""

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in list(self.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """One client connection; NTLM authentication and encryption are per connection, as on Windows."""

    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120

    def setup(self) -> None:
        if self.server.ssl_context is not None:
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go out at once
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
        self.context: Any | None = None
        self.user: str | None = None

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines would only clutter the terminal of `sim serve`."""

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/").lower() != "/wsman":
            self._reply(404)
            return
        if endpoint.latency_ms > 0:
            time.sleep(endpoint.latency_ms / 1000)
        final_token = self._authenticate()
        if final_token is None:  # a 401 went out
            return
        headers = {"WWW-Authenticate": f"Negotiate {base64.b64encode(final_token).decode()}"} if final_token else {}
        if not body:  # pypsrp's empty POST that sets up the security context for encryption
            self._reply(200, headers=headers)
            return
        fault = endpoint._take_fault(_HTTP_FAULTS)
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "401":  # as when the host forgets the connection's authentication
            self._refuse()
            return
        encrypted = self.headers.get("Content-Type", "").startswith("multipart/encrypted")
        request = self._unseal(body) if encrypted else body
        if request is None or (not encrypted and not endpoint.https):  # AllowUnencrypted is false on Windows
            self._reply(400, headers=headers)
            return
        assert self.user is not None
        status, answer = endpoint._serve(request, self.user)
        if encrypted:
            _, answer = WinRMEncryption(self.context, WinRMEncryption.SPNEGO).wrap_message(answer)
            headers["Content-Type"] = _ENCRYPTED_TYPE
        else:
            headers["Content-Type"] = "application/soap+xml;charset=UTF-8"
        if fault == "dribble":
            self._dribble(status, answer, headers)
            return
        self._reply(status, answer, headers)

    def _authenticate(self) -> bytes | None:
        """Step this connection's authentication with the request's Authorization header (NTLM and Kerberos
        are per connection, as on Windows). The token to send back ("" when none), or None when a 401 went out."""
        endpoint = self.server.endpoint
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        final_token = b""
        if scheme.lower() in ("negotiate", "ntlm", "kerberos"):
            fresh = self.context is None or self.user is not None
            try:
                context, out = endpoint._step(None if fresh else self.context, base64.b64decode(credentials))
            except Exception:  # a wrong password, a bad token, a channel binding mismatch
                self._refuse()
                return None
            self.context, self.user = context, None
            if not context.complete:
                self._reply(401, headers={"WWW-Authenticate": f"Negotiate {base64.b64encode(out or b'').decode()}"})
                return None
            self.user = str(context.client_principal or endpoint.username)
            if not endpoint.accepts(self.user):  # a valid ticket of another account
                self._refuse()
                return None
            with endpoint._lock:
                endpoint.principals.append(self.user)
            final_token = out or b""
        elif scheme.lower() == "basic" and endpoint.https:
            if not endpoint._basic_ok(credentials):
                self._reply(401, headers={"WWW-Authenticate": 'Negotiate, Basic realm="WSMAN"'})
                return None
            self.user = endpoint.username
        if self.user is None:
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return None
        return final_token

    def _refuse(self) -> None:
        """Forget this connection's authentication and ask for it again."""
        self.context, self.user = None, None
        self._reply(401, headers={"WWW-Authenticate": "Negotiate"})

    def _unseal(self, body: bytes) -> bytes | None:
        """The request inside WinRM message encryption, or None when it was sealed with another context."""
        try:
            return bytes(
                WinRMEncryption(self.context, WinRMEncryption.SPNEGO).unwrap_message(body, "Encrypted Boundary")
            )
        except Exception:  # sealed with another context (a stale client) or garbage
            return None

    def _dribble(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """The answer, one byte every `dribble_seconds`: no single read of the client ever times out."""
        self.close_connection = True
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        lines += [f"{name}: {value}" for name, value in {**headers, "Content-Length": str(len(body))}.items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        stopping = self.server.endpoint._stopping
        for index in range(min(len(raw), _DRIBBLE_STEPS)):
            if stopping.wait(self.server.endpoint.dribble_seconds):
                return
            try:
                self.connection.sendall(raw[index : index + 1])
            except OSError:
                return  # the client gave up

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up (a timeout): nothing to tell it


def _ntlm_user_line(username: str, password: str) -> str:
    """An smbpasswd-format line for pyspnego's NTLM acceptor: the NT hash only, never the password.

    The LM field is zeros (as in pyspnego's own example, spnego/_ntlm.py `_get_credential`): NTLMv2, the
    only variant the acceptor checks here, needs the NT hash alone, and an LM hash is crackable in minutes.
    """
    from spnego._ntlm_raw.crypto import ntowfv1

    name = re.sub(r"[:\r\n]", "", username)
    return f"{name}:1000:{'0' * 32}:{ntowfv1(password).hex().upper()}:[U]:LCT-00000000\n"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
