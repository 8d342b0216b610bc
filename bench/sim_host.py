"""Child process of tui_big.py: a generated simulated host on a loopback WinRM endpoint.

The host runs in its own process so that the TUI process measured by tui_big.py holds only what
the app holds against a real host: its memory, and the time its event loop is busy, are the app's
alone. Prints one JSON line (port, account, guest account of the generated scenario), then serves
until its stdin closes.

Usage: `BENCH_SIM_PASSWORD=… python bench/sim_host.py VM_COUNT [--windows-costs]`. With --windows-costs the
endpoint waits what Windows costs (the [sim] cost knobs at their real-world defaults, docs/scenario.md) plus
LATENCY_MS per request, as bench/refresh.py's endpoint does.
"""

from __future__ import annotations

import json
import os
import sys

from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

USER = "bench"
LATENCY_MS = 50.0


def main(vm_count: int, windows_costs: bool = False) -> int:
    scenario = parse_scenario(generate_scenario(vm_count, seed=1), source=f"generated-{vm_count}.toml")
    assert scenario.guest_credentials is not None, "generated scenarios carry guest credentials"
    endpoint = WinRMEndpoint(SimHost(scenario), username=USER, password=os.environ["BENCH_SIM_PASSWORD"])
    endpoint.real_costs = windows_costs
    endpoint.latency_ms = LATENCY_MS if windows_costs else 0.0
    endpoint.start()
    guest = scenario.guest_credentials
    # The guest account is the generated scenario's fixture (the same in every run), not a secret.
    print(json.dumps({"port": endpoint.port, "user": USER, "guest": [guest.username, guest.password]}), flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]), "--windows-costs" in sys.argv[2:]))
