"""refresh: issue 10's targets against the real-cost simulator (the loopback endpoint waits what Windows costs).

The endpoint waits the [sim] cost knobs at their real-world defaults (docs/scenario.md; PowerShell Direct
opened one guest after another, 1.5 s each) plus 50 ms per request, and the real pypsrp client talks to
it; the TUI runs headless on top. Measured per run:

- the complete inventory on screen after the connection (< 1.5 s);
- every guest license known (< 60 s), while key presses are answered (< 50 ms median);
- a periodic refresh when nothing changed: WSMan requests (<= 3) and guest sessions opened (0);
- a 5-node cluster with one node silent: the inventory on screen without waiting for that node.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from benchkit import CursorDownTimer, Row, emit, median, parse_args, runs_for

from avma_tui.config import ConnectionSettings
from avma_tui.core.model import LicenseState
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.generate import generate_scenario
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.widgets.vm_table import VmTable

BENCH = "refresh"
USER, PASSWORD = "admin", "Bench-Pa55word!"
GUEST = Credential("Administrator", "Passw0rd!")  # generated scenarios' guest account
LATENCY_MS = 50.0


def settings(endpoint_or_port: WinRMEndpoint | int, timeout: float = 30.0) -> ConnectionSettings:
    port = endpoint_or_port if isinstance(endpoint_or_port, int) else endpoint_or_port.port
    return ConnectionSettings(host="127.0.0.1", port=port, https=False, auth="ntlm", username=USER, timeout=timeout)


def engine_for(vm_count: int, open_s: float | None) -> SimHost:
    text = generate_scenario(vm_count)
    if open_s is not None:
        text = text.replace("[sim]\n", f"[sim]\nps_direct_open_s = {open_s}\n", 1)
    return SimHost(parse_scenario(text, f"generated-{vm_count}.toml"))


def serving(engine: SimHost) -> WinRMEndpoint:
    endpoint = WinRMEndpoint(engine, username=USER, password=PASSWORD)
    endpoint.real_costs = True
    endpoint.latency_ms = LATENCY_MS
    return endpoint


def _serve_in_child(vm_count: int, open_s: float | None, conn: Connection) -> None:
    """The child process: one real-cost endpoint for a generated host, driven over `conn` (counters, reset, stop)."""
    engine = engine_for(vm_count, open_s)
    with serving(engine) as endpoint:
        conn.send((endpoint.port, engine.scenario.vms[0].id))
        while True:
            command = conn.recv()
            if command == "counters":
                conn.send((endpoint.requests, engine.guest_sessions))
            elif command == "reset":
                endpoint.reset_counters()
                conn.send(None)
            else:
                break


class RemoteHost:
    """The real-cost endpoint in a process of its own, as a real host is: its CPU work (NTLM sealing, the
    engine) never competes with the TUI for the GIL, so what the TUI's event loop suffers is its own."""

    def __init__(self, vm_count: int, open_s: float | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_in_child, args=(vm_count, open_s, child), daemon=True)
        self._process.start()
        self.port, self.first_vm_id = self._conn.recv()

    def counters(self) -> tuple[int, int]:
        """(WSMan requests, guest sessions opened) since the last reset."""
        self._conn.send("counters")
        requests, sessions = self._conn.recv()
        return requests, sessions

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


class LoopWatch:
    """The event loop's blocks while it runs: a task asks for 5 ms sleeps and records how late each wakes."""

    def __init__(self) -> None:
        self.blocks: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.blocks.append(time.perf_counter() - before - 0.005)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Silent:
    """A TCP port that accepts connections and never answers: a node that is down behind a live switch."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


async def until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 - polling what the app shows
        await asyncio.sleep(0.005)


async def tui_run(vm_count: int, open_s: float | None, presses: int) -> dict[str, float]:
    """One headless TUI on a real-cost endpoint; the run's numbers."""
    remote = RemoteHost(vm_count, open_s)
    silent = Silent()
    numbers: dict[str, float] = {}
    watch = LoopWatch()
    try:
        host = HyperVHost(PsrpTransport(settings(remote.port), PASSWORD))
        await host.transport.run("vm", {"VmId": remote.first_vm_id})  # the connection is open
        nodes = {name: settings(silent.port, timeout=5.0) for name in ("HV-BIG02", "HV-BIG03")}
        session = Session(
            host,
            guest_credential=GUEST,
            open_node=lambda name: HyperVHost(PsrpTransport(nodes[name], PASSWORD)),
        )
        app = AvmaApp(session, refresh_interval=0)
        first_read: list[float] = []
        inventory = host.inventory

        async def timed_inventory() -> Any:
            first_read.append(time.perf_counter())
            return await inventory()

        host.inventory = timed_inventory  # type: ignore[method-assign]
        async with app.run_test(size=(160, 50)) as pilot:
            table = await _table(app)
            await until(lambda: table.row_count == vm_count, 60)
            started = first_read[0]  # the app's first read, on the open connection
            numbers["inventory_s"] = time.perf_counter() - started
            watch.start()
            numbers["latencies"] = await _presses(app, table, presses)  # type: ignore[assignment]

            def licenses_known() -> bool:
                diagnosis = session.diagnosis
                return (
                    diagnosis is not None
                    and all(vm.license.state is not LicenseState.READING for vm in diagnosis.inventory.vms)
                    and not any(w.name == "licenses" and not w.is_finished for w in app.workers)
                )

            await until(licenses_known, 600)
            numbers["licenses_s"] = time.perf_counter() - started
            watch.stop()
            numbers["read"] = sum(vm.license.state is LicenseState.READ for vm in session.diagnosis.inventory.vms)
            await app.workers.wait_for_complete()
            await pilot.pause()
            remote.reset()
            _, sessions = remote.counters()
            await app.refresh_now()  # the periodic refresh: nothing changed
            await app.workers.wait_for_complete()
            requests, sessions_after = remote.counters()
            numbers["steady_requests"] = requests
            numbers["steady_sessions"] = sessions_after - sessions
            await app.action_quit()
    finally:
        watch.stop()
        remote.close()
        silent.close()
    blocks = sorted(watch.blocks)
    numbers["block_max_ms"] = blocks[-1] * 1000 if blocks else 0.0
    numbers["block_p99_ms"] = blocks[int(len(blocks) * 0.99)] * 1000 if blocks else 0.0
    return numbers


async def _table(app: AvmaApp) -> VmTable:
    for _ in range(2000):
        tables = app.screen.query(VmTable)
        if tables:
            return tables.first()
        await asyncio.sleep(0.005)
    raise TimeoutError("no dashboard")


async def _presses(app: AvmaApp, table: VmTable, presses: int) -> list[float]:
    """`down` while the licenses are read; seconds until the cursor moved."""
    latencies = []
    with CursorDownTimer(app, table) as timer:
        for _ in range(presses):
            await asyncio.sleep(0.3)
            try:
                latencies.append(await timer.press(10))
            except asyncio.TimeoutError:  # not answered within 10 s: counted as 10 s (a MISS), not a crash
                latencies.append(10.0)
    return latencies


async def cluster_run(node_timeout: float) -> dict[str, float]:
    """A host of 50 VMs in a 5-node cluster: three nodes answer, one is silent until its timeout."""
    engine = engine_for(50, None)
    text = generate_scenario(50).replace(
        "[guest_credentials]",
        "\n".join(f'[[cluster.nodes]]\nname = "HV-BIG0{n}"\nbuild = 20348\nsku = 8' for n in (4, 5))
        + "\n\n[guest_credentials]",
        1,
    )
    engine = SimHost(parse_scenario(text, "cluster.toml"))
    silent = Silent()
    answering = {name: engine.node(name) for name in ("HV-BIG02", "HV-BIG03", "HV-BIG04")}
    endpoints = {name: serving(node) for name, node in answering.items() if node is not None}
    for endpoint in endpoints.values():
        endpoint.start()
    addresses = {name: settings(endpoint) for name, endpoint in endpoints.items()}
    addresses["HV-BIG05"] = settings(silent.port, timeout=node_timeout)
    try:
        with serving(engine) as endpoint:
            host = HyperVHost(PsrpTransport(settings(endpoint), PASSWORD))
            await host.transport.run("vm", {"VmId": engine.scenario.vms[0].id})
            session = Session(host, open_node=lambda name: HyperVHost(PsrpTransport(addresses[name], PASSWORD)))
            started = time.perf_counter()
            await session.refresh(licenses=False)  # what the TUI shows at once
            inventory_s = time.perf_counter() - started
            async for _ in session.read_nodes():
                pass
            nodes_s = time.perf_counter() - started
            await session.close()
    finally:
        for endpoint in endpoints.values():
            endpoint.stop()
        silent.close()
    return {"inventory_s": inventory_s, "nodes_s": nodes_s}


async def measure(smoke: bool, runs: int) -> list[Row]:
    vm_count, open_s, presses, node_timeout = (30, 0.05, 3, 1.0) if smoke else (500, None, 20, 10.0)
    label = f"{vm_count} VMs, PowerShell Direct {open_s or 1.5} s/guest, +{LATENCY_MS:g} ms/request"
    results = [await tui_run(vm_count, open_s, presses) for _ in range(runs)]
    clusters = [await cluster_run(node_timeout) for _ in range(runs)]
    latencies = [lat for r in results for lat in r["latencies"]]  # type: ignore[union-attr]
    inventory = median([r["inventory_s"] for r in results]) * 1000
    licenses = median([r["licenses_s"] for r in results])
    key = median(latencies) * 1000
    requests = max(r["steady_requests"] for r in results)
    sessions = max(r["steady_sessions"] for r in results)
    cluster_inventory = median([c["inventory_s"] for c in clusters]) * 1000
    cluster_nodes = median([c["nodes_s"] for c in clusters])
    return [
        Row(
            BENCH,
            f"complete inventory on screen after the connection, {label}",
            inventory,
            "ms",
            runs,
            "< 1500 ms",
            inventory < 1500,
        ),
        Row(
            BENCH,
            f"every license known, {label} ({median([r['read'] for r in results]):.0f} read)",
            licenses,
            "s",
            runs,
            "< 60 s",
            licenses < 60,
        ),
        Row(
            BENCH,
            f"key press answered while licenses are read (max {max(latencies) * 1000:.0f} ms)",
            key,
            "ms",
            len(latencies),
            "< 50 ms median",
            key < 50,
        ),
        Row(
            BENCH,
            "longest event-loop block while licenses are read (median of runs; 99th percentile "
            f"{median([r['block_p99_ms'] for r in results]):.0f} ms)",
            median([r["block_max_ms"] for r in results]),
            "ms",
            runs,
        ),
        Row(
            BENCH,
            "periodic refresh, nothing changed: WSMan requests",
            requests,
            "requests",
            runs,
            "<= 3",
            requests <= 3,
        ),
        Row(
            BENCH,
            "periodic refresh, nothing changed: guest sessions opened",
            sessions,
            "sessions",
            runs,
            "0",
            sessions == 0,
        ),
        Row(
            BENCH,
            f"5-node cluster, one node silent ({node_timeout:g} s timeout): inventory on screen",
            cluster_inventory,
            "ms",
            runs,
            f"< 1500 ms, without waiting {node_timeout:g} s",
            cluster_inventory < min(1500, node_timeout * 1000),
        ),
        Row(BENCH, "5-node cluster: every node known (the silent one at its timeout)", cluster_nodes, "s", runs),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    emit(asyncio.run(measure(args.smoke, runs_for(args, 3))), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
