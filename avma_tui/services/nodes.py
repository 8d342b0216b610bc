"""Cluster nodes, read by the client over connections of their own, in the background, and cached.

The host's inventory names its cluster's other nodes and their cluster state only. Reading a node
from inside the host's WinRM session (`Get-CimInstance -ComputerName <node>`) is a second hop, which
has no credentials with NTLM, or Kerberos without delegation ("Access to the resource on ServerC is
denied, because the credentials you used to create the PowerShell Remoting session aren't passed from
ServerB to ServerC": PowerShell-Docs reference/docs-conceptual/security/remoting/PS-remoting-second-hop.md).
So the client connects to each node itself, with the same credentials and connection options, all
nodes in parallel, each bounded by the connection's timeout, and runs `host_info` there.

A node whose cluster state is not Up is reported as such and not contacted. The inventory never waits
for a node: until its answer arrives a node is `pending` (no finding, "reading…" in the header).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from avma_tui.core.model import ClusterNode, Inventory
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import TransportError

#: Seconds a node's facts stay fresh (its edition and activation rarely change).
NODE_MAX_AGE = 900.0


@dataclass(frozen=True)
class _Entry:
    node: ClusterNode
    at: float


class NodeBook:
    """What is known of each cluster node, and the reads that learn it. `open_node(name)` connects to a node."""

    def __init__(
        self,
        open_node: Callable[[str], HyperVHost] | None,
        *,
        timeout: float = 30.0,
        max_age: float = NODE_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_node = open_node
        self.timeout = timeout
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._inflight: set[str] = set()

    def overlay(self, inventory: Inventory) -> Inventory:
        cluster = inventory.cluster
        if cluster is None:
            return inventory
        nodes = tuple(self._known(node) for node in cluster.nodes)
        return replace(inventory, cluster=replace(cluster, nodes=nodes))

    def _known(self, node: ClusterNode) -> ClusterNode:
        if not node.pending:
            return node  # the document carried the node's facts
        if node.state != "Up":
            return replace(
                node,
                pending=False,
                reachable=False,
                error=f"The cluster reports this node {node.state}; it was not contacted.",
            )
        entry = self._entries.get(node.name)
        if entry is not None:
            return entry.node
        if self._open_node is None:
            return replace(node, pending=False, reachable=False, error="No connection to cluster nodes is possible.")
        return node

    def due(self, inventory: Inventory) -> list[str]:
        if inventory.cluster is None or self._open_node is None:
            return []
        now = self._clock()
        return [
            node.name
            for node in inventory.cluster.nodes
            if node.pending
            and node.state == "Up"
            and node.name not in self._inflight
            and (node.name not in self._entries or now - self._entries[node.name].at >= self.max_age)
        ]

    def forget_all(self) -> None:
        self._entries.clear()

    async def read(self, names: list[str]) -> AsyncIterator[str]:
        """Read these nodes in parallel; yields each node's name as its answer (or failure) arrives."""
        names = [name for name in names if name not in self._inflight]
        self._inflight.update(names)
        try:
            tasks = [asyncio.ensure_future(self._read_one(name)) for name in names]
            for done in asyncio.as_completed(tasks):
                yield await done
        finally:
            self._inflight.difference_update(names)

    async def _read_one(self, name: str) -> str:
        assert self._open_node is not None
        try:
            node_host = self._open_node(name)
        except Exception as err:  # a name the transport cannot even address
            self._store(name, ClusterNode(name, None, None, None, reachable=False, error=str(err)))
            return name
        try:
            facts = await asyncio.wait_for(node_host.host_info(), self.timeout + 1.0)
        except (asyncio.TimeoutError, TransportError) as err:
            reason = str(err) or f"no answer within {self.timeout:g} s"
            self._store(name, ClusterNode(name, None, None, None, reachable=False, error=reason))
        else:
            self._store(name, ClusterNode(name, facts.build, facts.sku, facts.license_status, reachable=True))
        finally:
            with contextlib.suppress(Exception):  # a node that went away must not stop the others
                await node_host.close()
        return name

    def _store(self, name: str, node: ClusterNode) -> None:
        self._entries[name] = _Entry(node, self._clock())
