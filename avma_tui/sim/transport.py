"""SimTransport: the Transport over the in-process simulated host, with latency and fault knobs.

The demo and most tests run the real facade, parsing and diagnosis on top of this, so it behaves
like a remote transport where it matters: every call awaits (latency), results are fresh copies made
through JSON (no caller ever shares engine state, and anything not JSON-shaped fails here as it
would on the wire), and tests can make the next calls fail with any TransportError.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avma_tui.core.operations import OPERATIONS
from avma_tui.hyperv.transport import ConnectionLost, TransportError, Unreachable
from avma_tui.sim.engine import SimHost


class SimTransport:
    """Runs operations on a SimHost. `calls` lists every operation asked for, in order."""

    def __init__(self, engine: SimHost, *, latency_ms: float | None = None) -> None:
        self.engine = engine
        self.latency_ms = engine.scenario.sim.latency_ms if latency_ms is None else latency_ms
        self.description = f"simulated host {engine.name} ({Path(engine.scenario.source).name})"
        self.calls: list[str] = []
        self._faults: list[TransportError] = []
        self._after_change: list[TransportError] = []
        self._then = 0
        self._closed = False

    def fail_next(self, error: TransportError, count: int = 1) -> None:
        """Make the next `count` calls raise `error` (after the latency, as a real failure would)."""
        self._faults.extend([error] * count)

    def fail_after_change(self, error: TransportError, *, and_next: int = 0) -> None:
        """Make the next change operation run on the engine, then raise `error`: the change happened, the
        caller cannot tell (a connection lost after the change point, an error after the change call).
        `and_next`: the calls after it fail with `error` too (a read-back that fails as well)."""
        self._after_change.append(error)
        self._then = and_next

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        self.calls.append(op)
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        else:
            await asyncio.sleep(0)  # still a suspension point, as on the wire
        if self._closed:
            raise ConnectionLost(f"the connection to {self.description} is closed")
        if self._faults:
            raise self._faults.pop(0)
        cost_of = getattr(self.engine, "cost", None)  # [sim] cost knobs: 0 in process unless the file sets them
        cost = cost_of(op, dict(params or {})) if cost_of else 0.0
        if cost > 0:
            await asyncio.sleep(cost)
        result = self.engine.run(op, dict(params or {}))
        if self._after_change and OPERATIONS[op].changes:
            error = self._after_change.pop(0)
            self.fail_next(error, self._then)
            raise error
        return json.loads(json.dumps(result))

    def for_node(self, name: str) -> SimTransport | _SilentNode:
        """A transport to cluster node `name`, as the client opens one to a real node (services/nodes.py)."""
        node = self.engine.node(name)
        nodes = self.engine.scenario.cluster.nodes if self.engine.scenario.cluster else ()
        spec = next((n for n in nodes if n.name == node.name), None) if node else None
        if node is None or spec is None or not spec.reachable:
            error = spec.error if spec else f"{name}: no such host"
            return _SilentNode(name, error, self.engine.scenario.sim.cost("node_timeout_s", real=False))
        return SimTransport(node, latency_ms=self.latency_ms)

    async def close(self) -> None:
        self._closed = True


class _SilentNode:
    """A node that does not answer: every call costs the node timeout, then fails as an unreachable host."""

    def __init__(self, name: str, error: str, timeout_s: float) -> None:
        self.description = f"simulated node {name}"
        self._error = error
        self._timeout_s = timeout_s

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        await asyncio.sleep(self._timeout_s)
        raise Unreachable(self._error)

    async def close(self) -> None:
        pass
