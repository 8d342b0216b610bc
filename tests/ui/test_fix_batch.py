"""Fixing the marked VMs (`F`): one plan grouped by step, one confirmation, a true summary, a true stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from avma_tui.core.remedies import plan_for_vm
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.plan import BATCH_PARALLELISM, FixTiming
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.widgets.fix.batch import BatchFix
from tests.ui.fix_support import GUEST, Gate, click, fast_app, settle, shown, visible_buttons, vm_id, wizard

#: Verification gives up long before a VM that takes 5 s to boot reads back Running.
SHORT = FixTiming(verify_timeout=0.2, poll_interval=0.02)


async def _mark_and_open(pilot: Pilot[Any], names: list[str]) -> BatchFix:
    app = pilot.app
    await settle(pilot)
    dashboard = app.screen
    assert isinstance(dashboard, DashboardScreen)
    for name in names:
        dashboard.table.toggle_mark(vm_id(app, name))
    await pilot.press("F")
    await settle(pilot)
    body = wizard(app).body
    assert isinstance(body, BatchFix)
    return body


def _row(app: AvmaApp, name: str) -> tuple[str, str, str]:
    table = app.screen.query_one("#batch-table", DataTable)
    key = vm_id(app, name)
    return tuple(table.get_cell(key, column).plain for column in ("step", "outcome", "detail"))


async def _run_all(pilot: Pilot[Any]) -> None:
    """Run the plan; returns as soon as the batch started (pilot.pause would wait for it to go idle)."""
    await click(pilot, "#batch-run")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConfirmScreen)
    await pilot.press("y")


async def test_plan_is_grouped_by_step_with_the_vm_names(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, ["SQL01", "SQL02", "RDS01", "APP2025"])
        marked = [app.session.diagnosis.for_vm(vm).vm.name for vm in body.vm_ids]
        three = ", ".join(name for name in marked if name != "APP2025")
        plan = shown(app, "#batch-plan").splitlines()
        assert f"run     Install the AVMA key — 3 VMs: {three}" in plan
        activation = next(line for line in plan if line.startswith("run     Trigger activation in the guest"))
        assert activation.endswith(f"— 3 VMs: {three}")
        assert any(line.startswith("manual  Move the VM") and "1 VM: APP2025" in line for line in plan)
        assert any(line.startswith("refused Trigger activation") and "APP2025" in line for line in plan)
        assert _row(app, "APP2025")[1] == "nothing to run"
        assert _row(app, "SQL01")[1] == "queued"


async def test_batch_over_three_vms_ends_with_fixed_failed_and_manual(monkeypatch: pytest.MonkeyPatch) -> None:
    # ARCHIVE01 takes 5 s to boot but verification waits 0.2 s: its start "did not verify"
    app = fast_app(credential=GUEST, timing=SHORT, boot_s=5.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["PRINT01", "APP2025", "ARCHIVE01"])
        await _run_all(pilot)
        await settle(pilot)
        summary = shown(app, "#batch-summary")
        assert summary.splitlines()[0] == "Done: 1 fixed · 1 failed · 1 need manual work"
        assert "ARCHIVE01 — failed: Start the VM: failed — The change ran but did not verify within 0.2 s" in summary
        assert "APP2025 — manual:" in summary
        assert _row(app, "PRINT01")[1] == "fixed"
        assert _row(app, "ARCHIVE01")[1] == "failed"
        assert app.session.diagnosis.for_vm(vm_id(app, "PRINT01")).status.value == "activated-avma"
        assert visible_buttons(app) == {"batch-close"}
    records = AuditLog().records()
    assert AuditLog().pending() == []
    intents = [(r["target"]["name"], r["action"]) for r in records if r["phase"] == "intent"]
    assert sorted(intents) == [("ARCHIVE01", "start_vm"), ("PRINT01", "activate"), ("PRINT01", "enable_kvp")]
    assert len({r["interaction"] for r in records}) == 1


async def test_the_audit_log_has_intent_and_result_per_change_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["SQL01", "SQL02"])
        full_keys = {
            dict(step.secret_params)["ProductKey"]
            for name in ("SQL01", "SQL02")
            for remedy in plan_for_vm(app.session.diagnosis, vm_id(app, name))
            for step in remedy.steps
            if step.secret_params
        }
        await _run_all(pilot)
        await settle(pilot)
        assert shown(app, "#batch-summary").startswith("Done: 2 fixed")
    records = AuditLog().records()
    intents = sorted((r["target"]["name"], r["action"]) for r in records if r["phase"] == "intent")
    results = sorted((r["target"]["name"], r["action"]) for r in records if r["phase"] == "result")
    assert intents == results  # every change announced, then closed
    assert {("SQL01", "install_key"), ("SQL02", "install_key")} <= set(intents)
    assert {r["outcome"] for r in records if r["phase"] == "result"} == {"ok"}
    assert AuditLog().pending() == []
    text = AuditLog().path.read_text(encoding="utf-8")
    assert GUEST.password not in text
    assert len(full_keys) == 2 and not any(key in text for key in full_keys)


async def test_without_a_login_the_batch_asks_once_then_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["WEB01", "PRINT01"])
        await _run_all(pilot)
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"Passw0rd!", "enter")  # user prefilled, password focused
        await settle(pilot)
        assert app.session.guest_credential == GUEST
        assert shown(app, "#batch-summary").startswith("Done:")
        assert _row(app, "PRINT01")[1] in ("fixed", "more to do")  # the login may add the activation


async def test_stop_lets_running_steps_finish_starts_no_new_one_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["PRINT01", "ARCHIVE01", "DEV01", "WEB01", "SQL01", "SQL02"]
    app = fast_app(credential=GUEST)
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, names)
        await _run_all(pilot)
        await gate.until_held(BATCH_PARALLELISM)
        await click(pilot, "#batch-stop")
        assert "no new step starts" in shown(app, "#batch-summary")
        gate.release.set()
        await settle(pilot)
        accounts = {account.name: account for account in body.accounts}
        started = [name for name in names if accounts[name].results]
        not_started = [name for name in names if not accounts[name].results]
        assert len(started) == BATCH_PARALLELISM  # the ones already running finished their step
        assert [len(accounts[name].results) for name in started] == [1] * len(started)  # and began no other
        assert all(accounts[name].results[0].outcome == "ok" for name in started)
        for name in not_started:
            assert _row(app, name)[1:] == ("stopped", "stopped before all its steps ran")
        categories = [accounts[name].category for name in names]
        assert set(categories) <= {"fixed", "stopped"}  # a VM whose one step ran is fixed
        counts = " · ".join(f"{categories.count(c)} {c}" for c in ("fixed", "stopped") if c in categories)
        assert shown(app, "#batch-summary").splitlines()[0] == f"Done: {counts}"
    assert AuditLog().pending() == []
    assert {r["target"]["name"] for r in AuditLog().records()} == set(started)


async def test_stop_now_cancels_running_steps_and_calls_them_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, ["SQL01", "SQL02"])
        await _run_all(pilot)
        await gate.until_held(2)
        await click(pilot, "#batch-stop")
        await click(pilot, "#batch-stop")  # now "Stop now"
        await settle(pilot)
        assert [account.category for account in body.accounts] == ["unknown", "unknown"]
        assert _row(app, "SQL01")[1] == "unknown"
        assert "cancelled mid-step, its outcome is unknown" in _row(app, "SQL01")[2]
        assert "2 outcome unknown" in shown(app, "#batch-summary")
    results = [r["outcome"] for r in AuditLog().records() if r["phase"] == "result"]
    assert results == ["unknown", "unknown"]
    assert AuditLog().pending() == []


async def test_hostile_names_stay_plain_text_in_the_plan_the_table_and_the_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ["[@click=app.quit]y[/]", "[$accent]", "$(Stop-Computer -Force)"]
    app = fast_app("hostile.toml", credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, names)
        plan = shown(app, "#batch-plan")
        assert all(name in plan for name in names)
        await _run_all(pilot)
        await settle(pilot)
        assert app.is_running
        table = app.screen.query_one("#batch-table", DataTable)
        assert sorted(table.get_cell(vm_id(app, name), "vm").plain for name in names) == sorted(names)
        assert shown(app, "#batch-summary").startswith("Done:")
    assert {r["target"]["name"] for r in AuditLog().records()} == set(names)


async def test_an_unexpected_error_on_one_vm_leaves_the_others_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """One VM's surprise must neither end the batch early (its summary would lie) nor orphan the other VMs' steps."""
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, ["PRINT01", "SQL01"])
        real_run_step, broken_vm = body.service.run_step, vm_id(app, "PRINT01")

        async def run_step(vm: str | None, *args: Any, **kwargs: Any) -> Any:
            if vm == broken_vm:
                raise RuntimeError("no runnable [b]operation[/b]")
            return await real_run_step(vm, *args, **kwargs)

        monkeypatch.setattr(body.service, "run_step", run_step)
        await _run_all(pilot)
        await settle(pilot)
        summary = shown(app, "#batch-summary")
        assert summary.splitlines()[0] == "Done: 1 fixed · 1 failed"
        assert "PRINT01 — failed: unexpected RuntimeError: no runnable [b]operation[/b]" in summary
        assert _row(app, "SQL01")[1] == "fixed"


#: An Evaluation domain controller beside the demo's VMs: its conversion is refused.
_DC_EVAL = """
[[vms]]
name = "DC-EVAL01"
id = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6cee"
[vms.guest]
OSName = "Windows Server 2022 Standard Evaluation"
OSVersion = "10.0.20348"
OSBuildNumber = "20348"
OSEditionId = "79"
ProductType = "2"
OSPlatformId = "2"
[vms.license]
status = 1
channel = "TIMEBASED_EVAL"
partial_product_key = "KPQ4H"
grace_minutes = 43200
"""


def _demo_with_an_evaluation_dc(tmp_path: Path) -> str:
    path = tmp_path / "demo-dc.toml"
    path.write_text(asset("scenarios", "demo.toml").read_text(encoding="utf-8") + _DC_EVAL, encoding="utf-8")
    return str(path)


async def test_the_plan_and_the_confirmation_name_every_warning_a_single_fix_shows(tmp_path: Path) -> None:
    app = fast_app(_demo_with_an_evaluation_dc(tmp_path), credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["SQL02", "TEST-EVAL01", "PRINT01", "DC-EVAL01"])
        plan = shown(app, "#batch-plan").splitlines()
        assert "Per VM, as its own wizard would warn:" in plan
        assert any(
            line.startswith("warning SQL02 — Install the") and "replaces a MAK key (…R3KMQ)" in line for line in plan
        )
        assert any(line.startswith("warning TEST-EVAL01 — Convert") and "the guest restarts" in line for line in plan)
        assert any(line.startswith("refused DC-EVAL01 — Convert") and "domain controller" in line for line in plan)
        await click(pilot, "#batch-run")
        await pilot.pause()
        question = app.screen.query_one(Static).render().plain
        assert question.startswith("Run 5 steps on 3 VMs? This replaces 1 MAK key and restarts 1 guest.\n")
        assert "SQL02 — Install the" in question and "(…R3KMQ)" in question
        assert "TEST-EVAL01 — Convert" in question
        assert "Refused, not run: DC-EVAL01 (the plan says why)" in question
        await pilot.press("n")  # nothing ran
    assert AuditLog().records() == []


async def test_after_a_conversion_the_row_says_what_ran_and_what_is_next_never_manual() -> None:
    app = fast_app(credential=GUEST, activation_s=60.0)  # the converted guest does not activate by itself yet
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, ["TEST-EVAL01"])
        await _run_all(pilot)
        await settle(pilot)
        [account] = body.accounts
        assert [(r.step.op, r.outcome) for r in account.results] == [("set_edition", "ok")]
        step, outcome, detail = _row(app, "TEST-EVAL01")
        assert step.startswith("Convert the Evaluation edition") and outcome == "more to do"
        assert detail.startswith("Convert the Evaluation edition to ServerDatacenter (DISM) with the AVMA key: done.")
        assert "Next: Trigger activation in the guest" in detail
        assert shown(app, "#batch-summary").splitlines()[0] == "Done: 1 have a next step"


async def test_a_key_step_that_changed_since_the_confirmation_does_not_run() -> None:
    """A license read landing between plan and run (now a MAK key) makes it another step: never run unseen."""
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        body = await _mark_and_open(pilot, ["SQL01"])
        sim = app.session.host.transport.engine
        sim._by_id[vm_id(app, "SQL01")].license.channel = "VOLUME_MAK"
        await app.session.refresh(force=True)
        await _run_all(pilot)
        await settle(pilot)
        [account] = body.accounts
        assert account.results == []
        _, outcome, detail = _row(app, "SQL01")
        assert outcome == "stopped" and "not run, it changed since you confirmed (now it replaces a MAK key" in detail
    assert AuditLog().records() == []


async def test_marks_clear_for_the_vms_a_batch_fixed_and_stay_on_the_others() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["SQL01", "APP2025"])
        await _run_all(pilot)
        await settle(pilot)
        assert [_row(app, name)[1] for name in ("SQL01", "APP2025")] == ["fixed", "manual"]
        await pilot.press("escape")
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert _row_marks(dashboard) == [vm_id(app, "APP2025")]  # APP2025 needs manual work: still marked


def _row_marks(dashboard: DashboardScreen) -> list[str]:
    """The VMs whose row shows the mark, as the admin sees it."""
    table = dashboard.table
    return [str(row.value) for row in table.rows if table.get_cell(row, "mark").plain.strip()]


async def test_a_rejected_guest_login_is_asked_again_before_the_batch_runs() -> None:
    app = fast_app(credential=Credential("Administrator", "not-the-password"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_and_open(pilot, ["WEB01", "PRINT01"])
        assert app.session.guest_login_rejected
        await _run_all(pilot)
        assert isinstance(app.screen, CredentialsScreen)
        assert "was rejected by" in shown(app, "#credentials-error")
        await pilot.press(*"Passw0rd!", "enter")
        await settle(pilot)
        assert app.session.guest_credential == GUEST and not app.session.guest_login_rejected
        assert shown(app, "#batch-summary").startswith("Done:")
