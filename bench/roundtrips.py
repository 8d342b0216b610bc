"""Round trips and latency of a full refresh through the real pypsrp client and the loopback WinRM endpoint.

Targets 1 and 2 of the performance issue:
1. A full refresh (inventory + guest licenses of every running VM) costs a number of WSMan requests
   that does not grow with the VM count. The endpoint counts the requests it serves; opening the
   connection (runspace pool, key exchange) is counted apart, since it happens once per session.
   The baseline is the naive per-VM way: the VM list, then one `vm` and one `guest_licenses` call
   per VM, measured in the same run against the same endpoint. A 2000-VM host is counted too: a
   Receive carries at most one WSMan envelope, so a document of hundreds of KiB takes a few more
   requests (one per ~110 KiB of output), which is growth with bytes, not one request per VM.
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
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint

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


@dataclass(frozen=True)
class SizeResult:
    """What one host size gave: its rows, and the fewest requests a refresh needed there."""

    rows: list[Row]
    fewest_requests: int


async def measure_size(vm_count: int, runs: int, naive_runs: int, with_latency: bool) -> SizeResult:
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
    requests = [s.requests for s in refreshes]
    engine_s = median([s.seconds for s in refreshes])
    rows = [
        Row(BENCH, f"connect (open pool, keys), {label}", first.requests - inventory.requests, "requests"),
        Row(BENCH, f"refresh, {label}", median(requests), "requests", runs, note=_spread(requests)),
        Row(BENCH, f"refresh time, {label}", engine_s * 1000, "ms", runs),
    ]
    if naives:
        naive_requests = median([s.requests for s in naives])
        rows += [
            Row(BENCH, f"naive per-VM refresh, {label}", naive_requests, "requests", naive_runs),
            Row(BENCH, f"naive per-VM time, {label}", median([s.seconds for s in naives]) * 1000, "ms", naive_runs),
            Row(BENCH, f"naive/refresh request ratio, {label}", naive_requests / median(requests), "x", naive_runs),
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
    return SizeResult(rows, min(requests))


def _spread(values: Sequence[int]) -> str:
    """Empty when every run needed the same number of requests, else the range seen."""
    low, high = min(values), max(values)
    return "" if low == high else f"{low}..{high}: one more Receive when the output was not ready yet"


def constant_requests(fewest: dict[int, int], sizes: Sequence[int]) -> Row:
    """Target 1: a refresh needs no more requests at the larger size than at the smaller one.

    Compared on the fewest requests seen at each size: a run sometimes needs one more Receive
    because it asked before the host had finished, which is timing, not VM count.
    """
    small, large = sizes
    return Row(
        BENCH,
        f"refresh requests, {small} -> {large} VMs",
        fewest[large] - fewest[small],
        "requests more",
        target="0 (does not grow with VM count)",
        ok=fewest[large] <= fewest[small],
    )


async def measure(smoke: bool, runs: int) -> list[Row]:
    """Naive baseline and latency at the issue's sizes; a bigger host once more, for the envelope growth."""
    sizes, bigger = ((5, 20), 60) if smoke else ((100, 500), 2000)
    rows: list[Row] = []
    fewest: dict[int, int] = {}
    for vm_count in (*sizes, bigger):
        result = await measure_size(
            vm_count, runs, naive_runs=0 if vm_count == bigger else 1, with_latency=vm_count == sizes[-1]
        )
        rows += result.rows
        fewest[vm_count] = result.fewest_requests
    growth = Row(
        BENCH,
        f"refresh requests, {sizes[0]} -> {bigger} VMs",
        fewest[bigger] - fewest[sizes[0]],
        "requests more",
        note="a Receive carries at most one WSMan envelope (pypsrp: 150 KiB), so a bigger document takes more",
    )
    return [*rows, constant_requests(fewest, sizes), growth]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 5))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
