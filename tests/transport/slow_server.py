"""A hostile HTTP server on loopback: it accepts WinRM's requests and answers too slowly to be useful.

Modes:
  dribble — the answer (a valid HTTP response) trickles out `chunk` bytes every `interval` seconds, so
            no single socket read ever times out (one byte every 0.5 s, or a chunk every 3 s);
  silent  — the connection is accepted and nothing is ever said.

Every loop is bounded (at most `max_steps` writes per connection, and stop() ends everything), so a
broken test can never leave it running.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: 100000\r\n\r\n"


class SlowServer:
    def __init__(self, mode: str = "dribble", interval: float = 0.5, chunk: int = 1, max_steps: int = 2000) -> None:
        if mode not in ("dribble", "silent"):
            raise ValueError(mode)
        self.mode, self.interval, self.chunk, self.max_steps = mode, interval, chunk, max_steps
        self.host = "127.0.0.1"
        self.accepted = 0
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> SlowServer:
        thread = threading.Thread(target=self._accept, name="slow-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._answer, args=(connection,), name="slow-conn", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _answer(self, connection: socket.socket) -> None:
        with contextlib.closing(connection):
            connection.settimeout(0.2)
            with contextlib.suppress(OSError):
                connection.recv(65536)  # the request (its rest, if any, is never read)
            body = _ANSWER + b"<" * 100000
            for step in range(self.max_steps):
                if self._stop.wait(self.interval):
                    return
                if self.mode == "silent":
                    continue
                piece = body[step * self.chunk : (step + 1) * self.chunk]
                try:
                    connection.sendall(piece)
                except OSError:
                    return  # the client gave up: what it should do
