"""What a re-check of an interrupted change finds: the target's state now, and whether the change is in effect.

The outcome is "ok" when the interrupted step is no longer in the target's fresh plan (the change is in
effect, or its problem is gone), "failed" when it still is, "unknown" when the target is gone, the
record names no step, or the step is a detached change (the edition conversion) that may still be running
in the guest (docs/audit.md). Pure: the TUI's re-check screen and the fix service's records use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avma_tui.core.model import Diagnosis
from avma_tui.core.operations import OPERATIONS, Outcome
from avma_tui.core.remedies import plan_for_host, plan_for_vm
from avma_tui.services.snapshot import host_state, vm_state


def target_state(diagnosis: Diagnosis, intent: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Outcome]:
    """The target's state now and the re-check's outcome (see the module docstring)."""
    target = intent.get("target") or {}
    params = intent.get("params") or {}
    step_id = params.get("step") if isinstance(params, Mapping) else None
    if target.get("kind") == "vm":
        vmd = diagnosis.for_vm(str(target.get("id", "")))
        if vmd is None:
            return {"present": False}, Outcome.UNKNOWN
        state: dict[str, Any] = {
            **vm_state(vmd.vm),
            "status": vmd.status.value,
            "findings": [f.code for f in vmd.findings],
        }
        steps = {s.id for r in plan_for_vm(diagnosis, vmd.vm.id) for s in r.steps}
    else:
        host = diagnosis.inventory.host
        state = {**host_state(host), "findings": [f.code for f in diagnosis.host_findings]}
        steps = {s.id for r in plan_for_host(diagnosis) for s in r.steps}
    if not step_id:
        return state, Outcome.UNKNOWN
    if step_id not in steps:
        return state, Outcome.OK
    detached = any(op.detached and op.audit_action == intent.get("action") for op in OPERATIONS.values())
    return state, Outcome.UNKNOWN if detached else Outcome.FAILED
