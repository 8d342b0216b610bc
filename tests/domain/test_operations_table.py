"""The operation table (core/operations.py) is the one place an operation is described: everything else reads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import avma_tui
from avma_tui.core.operations import (
    AUDIT_OUTCOMES,
    KEY_OPS,
    OPERATIONS,
    Check,
    Outcome,
    ReadBack,
    Subject,
)
from avma_tui.core.remedies import Step, StepKind, console_commands
from avma_tui.hyperv.operations import script_text
from avma_tui.services import audit as audit_module
from avma_tui.services.fixing import _CHECKS
from avma_tui.sim.engine import SimHost

PACKAGE = Path(avma_tui.__file__).parent
DOCS = PACKAGE.parent / "docs"


def doc_row(name: str) -> str:
    """The row docs/operations.md's table has for operation `name`, rendered from its record."""
    op = OPERATIONS[name]
    params = ", ".join(f"`{p}`" for p in op.params) or "—"
    kind = "change" if op.changes else "read"
    check = f"`{op.read_back.value}` → `{op.check.value}`" if op.check and op.read_back else "—"
    if op.confirm:
        check += f", then `license` → `{op.confirm.value}`"
    timeout = f"{op.wait_s / 60:g} min" if op.wait_s else "—"
    if op.detached:
        timeout += ", detached"
    console = "yes" if op.console else "—"
    action = f"`{op.audit_action}`" if op.changes else "—"
    return f"| `{name}` | {params} | {op.subject.value} | {kind} | {action} | {check} | {timeout} | {console} |"


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_every_operation_has_its_script_its_sim_handler_and_its_doc_row(name: str) -> None:
    assert script_text(name).strip()
    assert callable(getattr(SimHost, f"_{name}", None)), f"sim/engine.py has no _{name}"
    assert doc_row(name) in (DOCS / "operations.md").read_text(encoding="utf-8")


def test_every_check_is_judged_by_the_service() -> None:
    assert set(_CHECKS) == set(Check)
    assert {op.check for op in OPERATIONS.values() if op.check} <= set(Check)


def test_changes_are_verified_and_reads_are_not() -> None:
    for op in OPERATIONS.values():
        assert (op.check is None) is (not op.changes), op.name
        if op.read_back is ReadBack.LICENSE:
            assert "Credential" in op.params
        if op.changes and op.subject is Subject.VM:
            assert "VmId" in op.params


def test_key_ops_are_the_operations_that_install_a_key() -> None:
    assert {"install_key", "set_edition"} == KEY_OPS
    assert all("ProductKey" in OPERATIONS[name].params for name in KEY_OPS)


def test_audit_outcomes_keep_their_strings() -> None:
    """The audit format is a contract (docs/audit.md): the enum must not change what is written."""
    assert audit_module.OUTCOMES == ("ok", "failed", "cancelled", "unknown")
    assert [o.value for o in AUDIT_OUTCOMES] == list(audit_module.OUTCOMES)
    assert f"{Outcome.UNKNOWN}" == str(Outcome.UNKNOWN) == "unknown"
    assert {"ok": 1}[Outcome.OK] == 1


def test_audit_records_an_outcome_as_its_plain_string(tmp_path: Path) -> None:
    log = audit_module.AuditLog(tmp_path / "audit.jsonl")
    target = audit_module.Target("host", "HV01")
    intent = log.intent(host="HV01", remote_user="u", target=target, action="activate_host", interaction="i")
    log.result(intent, outcome=Outcome.UNKNOWN)
    line = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    assert '"outcome":"unknown"' in line.replace(" ", "")
    assert log.verify().ok


def _op_step(op: str, params: tuple[tuple[str, str], ...], secret: tuple[tuple[str, str], ...] = ()) -> Step:
    return Step(op, op, "", StepKind.ASSISTED, op, params, "", "", "", (), secret_params=secret)


def test_console_fallbacks_come_from_the_table() -> None:
    key = "ABCDE-FGHIJ-KLMNO-PQRST-VWXYZ"
    masked = (("ProductKey", "XXXXX-XXXXX-XXXXX-XXXXX-VWXYZ"),)
    assert console_commands(_op_step("install_key", masked, (("ProductKey", key),))) == f"slmgr /ipk {key}\nslmgr /ato"
    assert console_commands(_op_step("install_key", masked)) == "slmgr /ipk <AVMA key>\nslmgr /ato"
    assert console_commands(_op_step("set_edition", (("Edition", "ServerStandard"),))) == (
        "DISM /Online /Set-Edition:ServerStandard /ProductKey:<AVMA key> /AcceptEula"
    )
    assert console_commands(_op_step("set_edition", ())).startswith("DISM /Online /Set-Edition:<edition> ")
    for name, op in OPERATIONS.items():
        text = console_commands(_op_step(name, ()))
        assert text == ("" if not op.console else text) and "{" not in text


def test_no_module_names_a_change_operation_in_an_if_chain() -> None:
    """The service, facade and simulator dispatch by the table, never by comparing operation names."""
    names = "|".join(name for name, op in OPERATIONS.items() if op.changes)
    pattern = re.compile(rf"\bop\b\s*(?:==|in)\s*[(\[{{]?\s*\"({names})\"")
    for module in ("services/fixing.py", "hyperv/host.py", "sim/engine.py", "sim/transport.py"):
        assert not pattern.search((PACKAGE / module).read_text(encoding="utf-8")), module
