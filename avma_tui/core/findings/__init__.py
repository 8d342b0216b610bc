"""Inventory → findings and a status per VM. Pure, no I/O.

Each finding says what is wrong in plain words with the facts it rests on and where they came from, so an
admin can check the tool's reasoning. The codes, their severity, remedy kind and fix order are the registry's
(`registry.py`, documented in docs/findings.md); detection lives in `host` (host and cluster nodes), `guest`
(what the guest is) and `vm` (one VM's checks). Findings come in fix order, so "fix all" can walk them top
to bottom.
"""

from __future__ import annotations

from avma_tui.core.catalog import FAMILIES, Catalog, load_catalog
from avma_tui.core.findings.common import grace_left
from avma_tui.core.findings.host import can_activate_reason, host_facts, host_findings, node_findings
from avma_tui.core.findings.registry import ORDER, RANK, REGISTRY, SPEC, FindingSpec, Subject
from avma_tui.core.findings.vm import EventIndex, VmCheck
from avma_tui.core.model import Diagnosis, Inventory, Vm, VmDiagnosis, VmStatus

__all__ = ["ORDER", "REGISTRY", "SPEC", "FindingSpec", "Subject", "diagnose", "grace_left"]


def diagnose(inventory: Inventory, catalog: Catalog | None = None, *, previous: Diagnosis | None = None) -> Diagnosis:
    """Every finding for the host, its cluster nodes and each VM, with a status per VM.

    With `previous` (an earlier diagnosis of the same host and events, with the same catalog), a VM equal to
    the one diagnosed there keeps its diagnosis: a VM's findings depend only on itself, the host, the catalog
    and its events, so only the VMs that changed are checked again (a license chunk, a refresh).
    """
    catalog = catalog or load_catalog()
    host = inventory.host
    facts = host_facts(host, catalog)
    events = EventIndex(inventory.events)
    before: dict[str, VmDiagnosis] = {}
    if previous is not None and previous.inventory.host == host and previous.inventory.events == inventory.events:
        before = {d.vm.id: d for d in previous.vms}
        if len(before) != len(previous.vms):  # one Id twice: which is which is unclear, so check every VM
            before = {}

    def check(vm: Vm) -> VmDiagnosis:
        earlier = before.get(vm.id)
        if earlier is not None and (earlier.vm is vm or earlier.vm == vm):
            return earlier
        return VmCheck(vm, inventory, facts, catalog, events).run()

    vms = tuple(check(vm) for vm in inventory.vms)

    found = sorted(host_findings(host, facts, catalog), key=lambda f: RANK[f.code])
    can_activate, reason = can_activate_reason(host, facts, found)
    if inventory.cluster is not None:
        server_families = {d.family for d in vms if d.family is not None and d.status is not VmStatus.NOT_ELIGIBLE}
        newest = max(server_families, key=FAMILIES.index, default=None)
        for node in sorted(inventory.cluster.nodes, key=lambda n: n.name.casefold()):
            node_found = node_findings(inventory.cluster.name, node, newest, catalog)
            found.extend(sorted(node_found, key=lambda f: RANK[f.code]))
    return Diagnosis(
        inventory=inventory,
        host_findings=tuple(found),
        host_family=facts.family,
        host_edition=facts.edition.label,
        host_can_activate=can_activate,
        host_can_activate_reason=reason,
        vms=vms,
    )
