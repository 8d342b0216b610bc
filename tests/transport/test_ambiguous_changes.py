"""Ambiguous failures over the real wire (issue 15 item 1): the loopback endpoint runs a change on the
simulated host, then garbles or cuts the answer; pypsrp reports an error, and only the read-back decides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import Step, key_step, plan_for_vm
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.hyperv.transport import Credential
from avma_tui.services.audit import AuditLog
from avma_tui.services.fixing import FixService
from avma_tui.services.session import Session
from avma_tui.sim.winrm.server import WinRMEndpoint

GUEST = Credential("Administrator", "Passw0rd!")


def _step(session: Session, vm: str, code: str) -> tuple[str, Step]:
    diagnosis = session.diagnosis
    assert diagnosis is not None
    (vm_id,) = [v.id for v in diagnosis.inventory.vms if v.name == vm]
    if not code:
        return vm_id, key_step(diagnosis, vm_id)
    (remedy,) = [r for r in plan_for_vm(diagnosis, vm_id) if r.finding.code == code]
    return vm_id, remedy.steps[0]


@pytest.mark.parametrize(
    ("vm", "code", "fault", "message"),
    [
        ("PRINT01", "KVP_DISABLED", "error", "The Hyper-V socket target process has ended."),
        ("PRINT01", "KVP_DISABLED", "drop", ""),
        ("WSUS01", "KVP_NO_CONTACT", "two_documents", ""),
        ("SQL01", "", "not_json", ""),
        # InstallProductKey succeeded, then RefreshLicenseStatus failed: an HRESULT, but after the change.
        ("SQL01", "", "error", "The Software Licensing Service reported an error. (0xC004F074)"),
    ],
    ids=[
        "enable_kvp-error",
        "enable_kvp-drop",
        "start_guest_kvp-two-documents",
        "install_key-not-json",
        "install_key-hresult-after",
    ],
)
async def test_a_change_garbled_after_its_change_point_is_read_back(
    endpoint: WinRMEndpoint,
    connect: Callable[..., PsrpTransport],
    tmp_path: Path,
    vm: str,
    code: str,
    fault: str,
    message: str,
) -> None:
    session = Session(HyperVHost(connect(endpoint)), guest_credential=GUEST, remote_user="admin")
    audit = AuditLog(tmp_path / "audit.jsonl")
    service = FixService(session, audit, verify_timeout=5, poll_interval=0.1)
    await session.refresh()
    vm_id, step = _step(session, vm, code)
    endpoint.fail_after_change(fault, *([message] if message else []))
    result = await service.run_step(vm_id, step, interaction="t")
    intent, closing = audit.records()[-2:]
    assert (intent["phase"], closing["phase"]) == ("intent", "result")
    assert result.outcome is Outcome.OK, result
    assert "verified by reading it back" in result.message
    assert closing["outcome"] == "ok" and closing["after"] and closing["error"]["message"]
    if fault == "drop":
        assert closing["error"]["code"] == "ConnectionLost"
    assert audit.verify().ok
