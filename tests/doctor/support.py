"""Running the CLI as a user does, and a loopback WinRM endpoint serving a packaged scenario."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from avma_tui.paths import asset
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

USER, PASSWORD = "admin", "Endpoint-Passw0rd!"
GUEST_PASSWORD = "Passw0rd!"  # the packaged scenarios' guest login (Administrator)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`avma-tui ARGS` as a subprocess with no terminal; secrets only through the environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AVMA_")}
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@contextmanager
def serving(scenario: str = "demo.toml", *, https: bool = False) -> Iterator[WinRMEndpoint]:
    with WinRMEndpoint(
        SimHost(load_scenario(asset("scenarios", scenario))), username=USER, password=PASSWORD, https=https
    ) as endpoint:
        yield endpoint


def connection_args(endpoint: WinRMEndpoint, *, host: str = "127.0.0.1") -> list[str]:
    args = [host, "--port", str(endpoint.port), "--auth", "ntlm", "--user", USER]
    if endpoint.https:
        assert endpoint.ca_cert_path is not None
        return [*args, "--https", "--ca-cert", str(Path(endpoint.ca_cert_path))]
    return [*args, "--http"]
