"""`avma-tui sim serve`: the simulated host on a loopback WinRM endpoint, for demos and manual tests.

The password comes from AVMA_SIM_PASSWORD only (never the command line, where `ps` would show it).
The endpoint's temporary files (the NTLM account file with the NT hash, the TLS key material) are
removed on every way out that can be caught: Ctrl+C, SIGTERM, SIGHUP (the terminal closed), SIGQUIT.
Only SIGKILL leaves them, in a 0700 directory under the temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from avma_tui.errors import CliError
from avma_tui.services.targets import read_scenario, scenario_path

if TYPE_CHECKING:
    from avma_tui.sim.winrm.server import WinRMEndpoint


def run(args: argparse.Namespace) -> int:
    if args.sim_command == "import":
        return import_capture(args)
    return serve(args)


def import_capture(args: argparse.Namespace) -> int:
    """`avma-tui sim import CAPTURE --output SCENARIO.toml`: a capture as an editable scenario."""
    from pathlib import Path

    from avma_tui.services.capture import CaptureError, read
    from avma_tui.sim.replay import scenario_text
    from avma_tui.sim.scenario import ScenarioError, parse_scenario

    source = Path(args.capture)
    try:
        text = scenario_text(read(source), source=source.name)
        parse_scenario(text, args.output)  # what we write must load
    except (CaptureError, ScenarioError) as err:
        raise CliError(str(err)) from None
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(f"wrote {args.output}\nrun it with: avma-tui --scenario {args.output}", file=sys.stderr)
    return 0


def serve(args: argparse.Namespace) -> int:
    from avma_tui.sim.engine import SimHost
    from avma_tui.sim.winrm.server import WinRMEndpoint

    password = os.environ.get("AVMA_SIM_PASSWORD")
    if not password:
        raise CliError("set AVMA_SIM_PASSWORD to the password the simulated host should accept")
    path = scenario_path(args)
    if path is None:
        raise CliError("name the host to serve: --demo or --scenario FILE")
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port} is not a TCP port")
    scenario = read_scenario(path)
    engine = SimHost(scenario)
    endpoint = WinRMEndpoint(engine, username=args.user, password=password, https=args.https, port=args.port)
    endpoint.latency_ms = scenario.sim.latency_ms
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in EXIT_SIGNALS}
    try:  # the handlers are in place before the account file exists
        _serve(endpoint, engine.name, args, stop)
    finally:
        endpoint.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


#: The signals that end `sim serve` cleanly (its temporary files removed).
EXIT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


def _serve(endpoint: WinRMEndpoint, name: str, args: argparse.Namespace, stop: threading.Event) -> None:
    try:
        endpoint.start()
    except OSError as err:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port}: {err.strerror or err}") from None
    scheme = "" if args.https else " --http"
    trust = f" --ca-cert {endpoint.ca_cert_path}" if endpoint.ca_cert_path else ""
    # Two lines that fit 80 columns: where it serves, then the command to paste (whole, on a line of its own).
    print(f"serving simulated host {name} at {endpoint.url} (user {args.user})", flush=True)
    print(
        f"connect with: avma-tui {endpoint.host} --port {endpoint.port}{scheme} --auth ntlm --user {args.user}{trust}",
        flush=True,
    )
    if endpoint.ca_cert_path:
        print(f"CA certificate: {endpoint.ca_cert_path}", flush=True)
    print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        print("stopped", file=sys.stderr)
