"""The guided fix for one VM (`f`) and the AVMA key flow (`k`) on the simulated demo host, end to end."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from avma_tui.core.model import VmDiagnosis
from avma_tui.hyperv.transport import ConnectionLost, Credential
from avma_tui.services.audit import AuditLog
from avma_tui.services.plan import FixTiming
from avma_tui.sim.transport import SimTransport
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.confirm import ConfirmScreen
from avma_tui.ui.screens.credentials import CredentialsScreen
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.widgets.vm_table import VmTable
from tests.ui.fix_support import GUEST, Gate, click, fast_app, open_on, settle, shown, visible_buttons, vm_id, wizard

SQL01_AVMA_LAST5 = "4GF74"  # Windows Server 2019 Standard AVMA key, from the catalog

TransportOf = Callable[[AvmaApp], SimTransport]


async def _run_current_step(pilot: Pilot[Any], confirm_key: str = "y") -> None:
    await click(pilot, "#run")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConfirmScreen)
    assert pilot.app.focused is not None and pilot.app.focused.id == "cancel"
    await pilot.press(confirm_key)
    await settle(pilot)


def _vm(app: AvmaApp, name: str) -> VmDiagnosis:
    return app.session.diagnosis.for_vm(vm_id(app, name))


async def test_fix_kvp_disabled_end_to_end_and_the_table_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        wizard(app)
        assert "Enable the Data Exchange" in shown(app, "#step-title")
        assert "Enable-VMIntegrationService" in shown(app, "#step-script")
        assert shown(app, "#step-params") == f"VmId = {vm_id(app, 'PRINT01')}"
        await _run_current_step(pilot)
        assert shown(app, "#fix-result").startswith("Done: Enable the Data Exchange")
        assert "✔ Enable the Data Exchange" in shown(app, "#fix-plan")
        # the plan was recomputed: KVP is no longer a finding, the next step is offered
        assert "KVP_DISABLED" not in [f.code for f in _vm(app, "PRINT01").findings]
        assert "Enable the Data Exchange" not in shown(app, "#step-title")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one(VmTable)
        assert table.get_cell(vm_id(app, "PRINT01"), "kvp").plain != "off"
        assert _vm(app, "PRINT01").vm.kvp.enabled


async def test_cancel_at_confirmation_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, transport_of: TransportOf
) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        calls = len(transport_of(app).calls)
        await click(pilot, "#run")
        await pilot.pause()
        await pilot.press("enter")  # Cancel has the focus
        await settle(pilot)
        assert "enable_kvp" not in transport_of(app).calls[calls:]
        assert not _vm(app, "PRINT01").vm.kvp.enabled
        assert AuditLog().records() == []


async def test_key_on_a_kms_vm_asks_login_and_ends_licensed_by_avma(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # AVMA takes 3 s here: long enough that the re-check after the key still sees the guest unlicensed (so the
    # wizard triggers activation) even on a loaded machine, short enough for the verification to see it Licensed.
    app = fast_app(activation_s=3.0, timing=FixTiming(verify_timeout=15.0, poll_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL01", "i")
        assert isinstance(app.screen, CredentialsScreen)  # the key's warning depends on the license read
        await pilot.press(*"Passw0rd!", "enter")  # user prefilled, password focused
        await settle(pilot)
        wizard(app)
        assert "AVMA key …" + SQL01_AVMA_LAST5 in shown(app, "#step-title")
        assert "replaces a KMS client key (…J464C)" in shown(app, "#step-warning")
        assert f"ProductKey = XXXXX-XXXXX-XXXXX-XXXXX-{SQL01_AVMA_LAST5}" in shown(app, "#step-params")
        await _run_current_step(pilot)
        result = shown(app, "#fix-result")
        assert "Done: Install the Windows Server 2019 Standard AVMA key" in result
        assert "Done: Trigger activation in the guest" in result
        lic = _vm(app, "SQL01").vm.license.license
        assert (lic.status, lic.partial_product_key, lic.is_avma, lic.avma_host) == (1, SQL01_AVMA_LAST5, True, "HV01")
        assert _vm(app, "SQL01").status.value == "activated-avma"
        # the closing line says where it stands, in the words of the table
        assert "SQL01: activated by AVMA — Licensed on the AVMA channel, AVMA host HV01" in shown(app, "#step-note")


async def test_show_key_reveals_the_full_key_only_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL01", "i")
        masked = shown(app, "#step-params")
        assert "XXXXX-XXXXX-XXXXX-XXXXX-" + SQL01_AVMA_LAST5 in masked
        await pilot.press("s")
        revealed = shown(app, "#step-params")
        full = revealed.split("ProductKey = ")[1].split()[0]
        assert full.endswith(SQL01_AVMA_LAST5) and not full.startswith("XXXXX")
        assert wizard(app).body.current.step.secret_params == (("ProductKey", full),)
        await pilot.press("s")
        assert shown(app, "#step-params") == masked


async def test_key_refused_for_a_guest_newer_than_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "APP2025", "i")
        assert "GUEST_NEWER_THAN_HOST" in shown(app, "#step-refusal")
        assert "run" not in visible_buttons(app)
        assert app.focused is not None and app.focused.id == "skip"


async def test_replacing_a_mak_warns_and_asks(monkeypatch: pytest.MonkeyPatch, transport_of: TransportOf) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL02", "i")
        warning = shown(app, "#step-warning")
        assert "replaces a MAK key (…R3KMQ)" in warning and "Windows keeps no copy" in warning
        await click(pilot, "#run")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "replaces a MAK key (…R3KMQ)" in confirm.question.plain
        assert str(confirm.query_one("#confirm").label) == "Replace key"
        await pilot.press("n")
        await settle(pilot)
        assert "install_key" not in transport_of(app).calls
        assert _vm(app, "SQL02").vm.license.license.partial_product_key == "R3KMQ"


async def test_2012_r2_guest_gets_the_slmgr_commands_and_a_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "FS-OLD01", "i")
        commands = shown(app, "#step-commands")
        assert commands.startswith("slmgr /ipk ") and commands.endswith("\nslmgr /ato")
        assert {"copy", "recheck", "skip"} <= visible_buttons(app) and "run" not in visible_buttons(app)
        await pilot.press("c")
        assert app.clipboard == commands
        await click(pilot, "#recheck")
        await settle(pilot)
        assert "cannot read this guest's license" in shown(app, "#fix-result")  # no PS Direct to a 2012 R2 guest
        assert "slmgr /dlv" in shown(app, "#fix-result")
        assert "slmgr /ipk" in shown(app, "#step-commands")  # still the current step
        records = AuditLog().records()
        assert [(r["action"], r["outcome"]) for r in records] == [("manual_step_confirmed", "unknown")]


async def test_wrong_guest_password_is_said_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, transport_of: TransportOf
) -> None:
    app = fast_app(credential=Credential("Administrator", "not-the-password"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL01", "i")
        # The background license read met the rejection first: the fix tries no further logon with it,
        # and `i` asks for the login again at once, saying why (the key's warning needs the license).
        assert isinstance(app.screen, CredentialsScreen)
        assert shown(app, "#credentials-error").startswith("The guest login Administrator was rejected by ")
        await pilot.press("escape")
        await settle(pilot)
        assert "login" in visible_buttons(app)
        await click(pilot, "#run")  # Run asks again instead of running a step that cannot log on
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert transport_of(app).engine.guest_logons == 1
    path = AuditLog().path
    assert not path.exists() or "not-the-password" not in path.read_text(encoding="utf-8")


async def test_link_lost_mid_step_is_unknown_with_a_recheck(
    monkeypatch: pytest.MonkeyPatch, transport_of: TransportOf
) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await click(pilot, "#run")
        await pilot.pause()
        transport_of(app).fail_next(ConnectionLost("the link dropped"))
        await pilot.press("y")
        await settle(pilot)
        result = shown(app, "#fix-result")
        assert "Outcome unknown: Enable the Data Exchange" in result
        assert "may or may not have happened" in result
        assert "recheck" in visible_buttons(app)
        await click(pilot, "#recheck")
        await settle(pilot)
        # the step that ended unknown is offered again after the re-check, as the fresh plan still needs it
        assert "Enable the Data Exchange" in shown(app, "#step-title")
    outcomes = [(r["phase"], r["outcome"]) for r in AuditLog().records()]
    assert outcomes == [("intent", None), ("result", "unknown")]


async def _start_held_step(pilot: Pilot[Any], gate: Gate) -> None:
    """Confirm the current step and return while the host holds the change."""
    await click(pilot, "#run")
    await pilot.pause()
    await pilot.press("y")
    await gate.until_held(1)
    assert wizard(pilot.app).body.changing


async def test_escape_while_a_step_runs_asks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app(credential=GUEST)
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await _start_held_step(pilot, gate)
        assert visible_buttons(app) == {"stop"}
        progress = shown(app, "#fix-progress")
        assert progress.startswith("Enable the Data Exchange") and progress.endswith(" s")  # with elapsed time
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        assert "its outcome would be unknown" in app.screen.question
        await pilot.press("n")  # keep it running
        gate.release.set()
        await settle(pilot)
        assert "Done: Enable the Data Exchange" in shown(app, "#fix-result")
        assert AuditLog().pending() == []


async def test_quitting_the_app_while_a_step_runs_asks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await _start_held_step(pilot, gate)
        assert app.operation_running  # the step runs in the app's operation group
        await app.run_action("app.quit")  # the app-level quit (the modal wizard does not bind `q`)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "outcome is unknown" in app.screen.question
        await pilot.press("n")
        gate.release.set()
        await settle(pilot)
        assert app.is_running


async def test_closing_mid_step_records_the_outcome_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await _start_held_step(pilot, gate)
        await pilot.press("escape")
        await pilot.press("y")  # stop it and close
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
    records = AuditLog().records()
    assert [(r["phase"], r["outcome"]) for r in records] == [("intent", None), ("result", "unknown")]
    assert AuditLog().pending() == []


async def test_stop_mid_step_says_the_outcome_is_unknown_and_offers_a_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    gate = Gate(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        await _start_held_step(pilot, gate)
        await click(pilot, "#stop")
        await settle(pilot)
        assert "its outcome is unknown" in shown(app, "#fix-result")
        assert "✘ Enable the Data Exchange" in shown(app, "#fix-plan")
        assert "recheck" in visible_buttons(app)


async def test_a_step_that_needs_the_guest_login_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "WEB01", "f")
        # without guest credentials the license is unknown: reading it is the first step
        assert "Read the guest's license" in shown(app, "#step-title")
        await click(pilot, "#run")
        await pilot.pause()
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"Passw0rd!", "enter")  # user prefilled, password focused
        await settle(pilot)
        assert app.session.guest_credential == GUEST
        # with the license read, the plan moved on to what the guest really needs
        assert "Trigger activation in the guest" in shown(app, "#step-title")
        await _run_current_step(pilot)
        assert "Done: Trigger activation" in shown(app, "#fix-result")
        lic = _vm(app, "WEB01").vm.license.license
        assert lic.avma_host == "HV01"


async def test_host_activation_takes_the_product_key_masked_and_never_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    host_key = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"  # what unactivated-host.toml activates with
    app = fast_app("unactivated-host.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("H")  # the host's own fix, from the dashboard
        await settle(pilot)
        assert "Activate the host with its product key" in shown(app, "#step-title")
        field = app.screen.query_one("#fix-host-key", Input)
        assert field.password and field.display
        await click(pilot, "#run")
        await pilot.pause()
        assert "five groups of five" in shown(app, "#fix-result")
        field.value = host_key
        await _run_current_step(pilot)
        assert field.value == ""
        assert "Done: Activate the host" in shown(app, "#fix-result")
        assert app.session.diagnosis.inventory.host.license_status == 1
    intent = AuditLog().records()[0]
    assert intent["params"]["ProductKey"] == "XXXXX-XXXXX-XXXXX-XXXXX-" + host_key[-5:]


@pytest.mark.parametrize("name", ["[@click=app.quit]y[/]"])
async def test_a_hostile_named_vm_is_shown_raw_through_a_fix(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    app = fast_app("hostile.toml", credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, name, "f")
        assert shown(app, "#fix-heading").startswith(f"Fix {name}  ·")
        await _run_current_step(pilot)
        assert "Done: Trigger activation" in shown(app, "#fix-result")
        assert app.is_running and isinstance(app.screen, type(wizard(app)))
    targets = {r["target"]["name"] for r in AuditLog().records()}
    assert targets == {name}


async def test_the_verification_wait_shows_its_time_and_can_be_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped while verifying: "not verified" in the wizard and the audit log; a re-check that finds the VM
    running says so, updates the step and closes the record (issue 13 item 5)."""
    # the VM reads back Running only after 5 s, long after the stop
    app = fast_app(boot_s=5.0, timing=FixTiming(verify_timeout=20.0, poll_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "ARCHIVE01", "f")
        assert "Start the VM" in shown(app, "#step-title")
        await click(pilot, "#run")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(200):
            if shown(app, "#fix-progress").startswith("Verifying, "):
                break
            await asyncio.sleep(0.01)
        # what is waited for, how long so far and at most (issue 13 item 15), and the step's time so far
        progress = shown(app, "#fix-progress")
        expected = r"Verifying, \d+ s of up to 20 s: waiting for the VM to read Running  \d+ s"
        assert re.fullmatch(expected, progress), progress
        await click(pilot, "#stop")
        await settle(pilot)
        assert "Stopped while verifying “Start the VM”" in shown(app, "#fix-result")
        assert "not verified" in shown(app, "#fix-result")
        assert "? Start the VM  not verified" in shown(app, "#fix-plan")
        assert shown(app, "#step-note") == "“Start the VM” is not verified. Re-check to see whether it took effect."
        records = AuditLog().records()
        assert [(r["phase"], r["outcome"]) for r in records] == [("intent", None), ("result", "unknown")]
        assert records[-1]["error"]["code"] == "not_verified"
        await asyncio.sleep(5.2)  # the VM has booted meanwhile
        await click(pilot, "#recheck")
        await settle(pilot)
        assert "Re-checked: the change is in effect" in shown(app, "#fix-result")
        assert "✔ Start the VM  ok" in shown(app, "#fix-plan") and "not verified" not in shown(app, "#fix-plan")
    recheck = AuditLog().records()[-1]
    assert (recheck["action"], recheck["outcome"], recheck["params"]["intent_action"]) == ("recheck", "ok", "start_vm")


async def test_an_unexpected_error_ends_the_step_in_one_line_instead_of_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only transport and audit errors are expected; anything else must still end the step and free the controls."""
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("no runnable [b]operation[/b]")

        monkeypatch.setattr(wizard(app).body.service, "run_step", broken)
        await _run_current_step(pilot)
        assert shown(app, "#fix-result") == "Unexpected RuntimeError: no runnable [b]operation[/b]"
        assert "stop" not in visible_buttons(app) and "run" in visible_buttons(app)
        assert not app.screen.query_one("#fix-progress-row").display
        assert app.is_running


# --- what the wizard says and asks (issue #13 items 9 and 15) ---------------------------------------


async def test_a_step_two_findings_share_is_listed_once() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL01", "f")
        plan = shown(app, "#fix-plan").splitlines()
        assert [line for line in plan if "Trigger activation in the guest" in line] == [
            "· Trigger activation in the guest"
        ]


async def _focus_cycle(pilot: Pilot[Any]) -> list[str]:
    seen: list[str] = []
    for _ in range(10):
        await pilot.press("tab")
        focused = pilot.app.focused
        seen.append(str(focused.id) if focused is not None else "")
    return seen


async def test_tab_reaches_a_scroll_area_only_when_it_scrolls_and_then_visibly() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL02", "f")
        step_view, script = app.screen.query_one("#fix-step"), app.screen.query_one("#step-script-box")
        assert step_view.max_scroll_y == 0 and script.max_scroll_y > 0  # the step fits; its script does not
        seen = await _focus_cycle(pilot)
        assert "fix-step" not in seen and "step-script-box" in seen
        script.focus()
        await pilot.pause()
        assert script.styles.border_left[0] == "thick"  # the focused area's edge lights up
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_on(pilot, "SQL02", "f")
        assert app.screen.query_one("#fix-step").max_scroll_y > 0  # at 80x24 the step itself scrolls
        assert "fix-step" in await _focus_cycle(pilot)


async def test_a_read_only_step_runs_without_a_confirmation(transport_of: TransportOf) -> None:
    app = fast_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "WEB01", "f")
        assert "Read the guest's license" in shown(app, "#step-title")
        assert "Changes: Nothing" in shown(app, "#step-changes")
        app.session.guest_credential = GUEST  # entered with `c` since the wizard opened
        await pilot.pause()
        assert str(app.screen.query_one("#run", Button).label) == "Read"
        await click(pilot, "#run")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await settle(pilot)
        assert "guest_licenses" in transport_of(app).calls
        assert "Trigger activation in the guest" in shown(app, "#step-title")
        assert str(app.screen.query_one("#run", Button).label) == "Run…"


async def test_the_confirmation_reads_as_a_sentence() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "SQL02", "i")
        await click(pilot, "#run")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        first = confirm.question.plain.splitlines()[0]
        assert first == "SQL02: install the Windows Server 2022 Datacenter AVMA key …DV9BG?"
        await pilot.press("n")


async def test_after_a_failed_step_the_wizard_says_what_is_left_and_why() -> None:
    app = fast_app(credential=GUEST, timing=FixTiming(verify_timeout=0.2, poll_interval=0.02), boot_s=5.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "ARCHIVE01", "f")
        await _run_current_step(pilot)  # the VM takes 5 s to boot: "Start the VM" does not verify in 0.2 s
        text = shown(app, "#step-note")
        assert "Nothing left to do" not in text
        assert text.splitlines()[0] == "Not done: 1 finding(s) left."
        assert "• VM_NOT_RUNNING — VM is Starting: “Start the VM” failed: The change ran but did not verify" in text


async def test_with_only_manual_and_refused_steps_left_it_says_whose_they_are() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "APP2025", "f")
        while "skip" in visible_buttons(app):
            await click(pilot, "#skip")
            await settle(pilot)
        lines = shown(app, "#step-note").splitlines()
        assert lines[0] == "Not done: 3 finding(s) left."
        assert any(line.startswith("• GUEST_NEWER_THAN_HOST") and "is yours to do" in line for line in lines)
        assert any(
            line.startswith("• NOT_ACTIVATED") and "the tool will not “Trigger activation in the guest”" in line
            for line in lines
        )


async def test_nothing_left_to_do_only_when_nothing_is_left() -> None:
    app = fast_app(credential=GUEST)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_on(pilot, "PRINT01", "f")
        while "run" in visible_buttons(app):
            await _run_current_step(pilot)
        assert _vm(app, "PRINT01").findings == ()
        assert shown(app, "#step-note").startswith("Nothing left to do. PRINT01: activated")
