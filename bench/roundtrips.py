"""Round trips and latency of a full refresh through the real pypsrp client and the loopback WinRM endpoint.

Targets 1 and 2 of the performance issue:
1. A full refresh (inventory + guest licenses of every running VM) costs a number of WSMan requests
   that does not grow with the VM count. The endpoint counts the requests it serves; opening the
   connection (runspace pool, key exchange) is counted apart, since it happens once per session.
   The baseline is the naive per-VM way: the VM list, then one `vm` and one `guest_licenses` call
   per VM, measured in the same run against the same endpoint.
2. With 50 ms added to every request at the endpoint, the refresh completes within 1.5x of
   (requests x 50 ms + engine time), engine time being the same refresh without added latency.

Run alone: `python bench/roundtrips.py [--smoke] [--runs N] [--json FILE]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from benchkit import Row, emit, median, parse_args, runs_for

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm import WinRMEndpoint

BENCH = "roundtrips"
USER = "bench"
PASSWORD = "Bench-Pa55word!"
ADDED_LATENCY_MS = 50.0
#: How much slower than (requests x latency + engine time) the refresh may be (target 2).
LATENCY_SLACK = 1.5


@dataclass(frozen=True)
class Sample:
    """One timed piece of work and the WSMan requests the endpoint served for it."""

    seconds: float
    requests: int


@dataclass
class Rig:
    """An endpoint serving one generated host, and a connected client session on it."""

    endpoint: WinRMEndpoint
    transport: PsrpTransport
    session: Session
    credential: Credential

    @property
    def host(self) -> HyperVHost:
        return self.session.host

    async def measure(self, work: Callable[[], Awaitable[object]]) -> Sample:
        self.endpoint.reset_counters()
        start = time.perf_counter()
        await work()
        return Sample(time.perf_counter() - start, self.endpoint.requests)


def start_rig(vm_count: int) -> Rig:
    scenario = parse_scenario(generate_scenario(vm_count, seed=1), source=f"generated-{vm_count}.toml")
    assert scenario.guest_credentials is not None, "generated scenarios carry guest credentials"
    credential = Credential(scenario.guest_credentials.username, scenario.guest_credentials.password)
    endpoint = WinRMEndpoint(SimHost(scenario), username=USER, password=PASSWORD)
    endpoint.start()
    settings = ConnectionSettings(
        host=endpoint.host, port=endpoint.port, https=False, auth="ntlm", username=USER, timeout=600.0
    )
    transport = PsrpTransport(settings, PASSWORD)
    return Rig(endpoint, transport, Session(HyperVHost(transport), guest_credential=credential), credential)


async def naive_refresh(rig: Rig) -> None:
    """The baseline: the VM list, then every VM read on its own and every running guest asked on its own."""
    inventory = await rig.host.inventory()
    for vm in inventory.vms:
        await rig.host.vm(vm.id)
        if vm.running:
            await rig.host.guest_licenses([vm.id], rig.credential)


async def measure_size(vm_count: int, runs: int, naive_runs: int, with_latency: bool) -> list[Row]:
    rig = start_rig(vm_count)
    label = f"{vm_count} VMs"
    try:
        first = await rig.measure(rig.host.inventory)  # opens the runspace pool, then reads
        inventory = await rig.measure(rig.host.inventory)
        refreshes = [await rig.measure(rig.session.refresh) for _ in range(runs)]
        naives = [await rig.measure(lambda: naive_refresh(rig)) for _ in range(naive_runs)]
        slow: list[Sample] = []
        if with_latency:
            rig.endpoint.latency_ms = ADDED_LATENCY_MS
            slow = [await rig.measure(rig.session.refresh) for _ in range(runs)]
            rig.endpoint.latency_ms = 0
    finally:
        await rig.transport.close()
        rig.endpoint.stop()
    requests = sorted({s.requests for s in refreshes})
    naive_requests = sorted({s.requests for s in naives})
    engine_s = median([s.seconds for s in refreshes])
    ratio = naive_requests[-1] / requests[-1]
    rows = [
        Row(BENCH, f"connect (open pool, keys), {label}", first.requests - inventory.requests, "requests"),
        Row(BENCH, f"refresh, {label}", requests[-1], "requests", runs, note=_spread(requests)),
        Row(BENCH, f"refresh time, {label}", engine_s * 1000, "ms", runs),
        Row(BENCH, f"naive per-VM refresh, {label}", naive_requests[-1], "requests", naive_runs),
        Row(BENCH, f"naive per-VM time, {label}", median([s.seconds for s in naives]) * 1000, "ms", naive_runs),
        Row(BENCH, f"naive/refresh request ratio, {label}", ratio, "x", naive_runs),
    ]
    if slow:
        slow_requests = max(s.requests for s in slow)
        bound_s = LATENCY_SLACK * (slow_requests * ADDED_LATENCY_MS / 1000 + engine_s)
        slow_s = median([s.seconds for s in slow])
        rows.append(
            Row(
                BENCH,
                f"refresh with +{ADDED_LATENCY_MS:g} ms/request, {label}",
                slow_s * 1000,
                "ms",
                runs,
                target=f"<= {bound_s * 1000:.0f} ms (1.5 x ({slow_requests} x 50 ms + {engine_s * 1000:.0f} ms))",
                ok=slow_s <= bound_s,
            )
        )
    return rows


def _spread(values: Sequence[int]) -> str:
    """Empty when every run needed the same number of requests, else the range seen."""
    return "" if len(values) == 1 else f"varied {values[0]}..{values[-1]}"


def constant_requests(rows: Sequence[Row]) -> Row:
    """Target 1: the refresh needs as many requests at the largest size as at the smallest."""
    counts = {row.measure: row.value for row in rows if row.measure.startswith("refresh, ")}
    sizes = list(counts)
    smallest, largest = counts[sizes[0]], counts[sizes[-1]]
    return Row(
        BENCH,
        f"refresh requests, {sizes[0].removeprefix('refresh, ')} -> {sizes[-1].removeprefix('refresh, ')}",
        largest - smallest,
        "requests more",
        target="0 (does not grow with VM count)",
        ok=largest == smallest,
    )


async def measure(smoke: bool, runs: int) -> list[Row]:
    sizes = (5, 20) if smoke else (100, 500)
    rows: list[Row] = []
    for vm_count in sizes:
        rows += await measure_size(vm_count, runs, naive_runs=1, with_latency=vm_count == sizes[-1])
    return [*rows, constant_requests(rows)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 5))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
