"""The report over WinRM equals the in-process report: the wire adds nothing and loses nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from avma_tui.core.model import Diagnosis
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.transport import SimTransport
from avma_tui.sim.winrm.server import WinRMEndpoint


def _without_read_time(diagnosis: Diagnosis) -> Diagnosis:
    return dataclasses.replace(diagnosis, inventory=dataclasses.replace(diagnosis.inventory, read_at=""))


async def test_diagnosis_over_winrm_equals_in_process(
    endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., PsrpTransport]
) -> None:
    credential = engine.guest_credentials
    assert credential is not None
    # Cluster nodes are read over connections of their own (services/nodes.py): both read the same sim nodes.
    nodes = SimTransport(engine, latency_ms=0)
    remote = await Session(
        HyperVHost(connect(endpoint)), guest_credential=credential, open_node=lambda n: HyperVHost(nodes.for_node(n))
    ).refresh()
    local = await Session(HyperVHost(SimTransport(engine, latency_ms=0)), guest_credential=credential).refresh()
    assert _without_read_time(remote) == _without_read_time(local)
    assert len(remote.findings) > 10  # the demo is full of problems: this compares something
