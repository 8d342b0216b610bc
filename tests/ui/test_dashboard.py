"""The dashboard on the simulated demo host: table, details, refresh, filter, sort, marks, keys."""

from __future__ import annotations

from textual.widgets import Input, Static

from avma_tui.hyperv.transport import Unreachable
from avma_tui.ui.screens.dashboard import DashboardScreen
from avma_tui.ui.widgets.host_summary import HostSummary
from avma_tui.ui.widgets.vm_details import VmDetails
from avma_tui.ui.widgets.vm_table import VmTable


def _table(app) -> VmTable:
    return app.screen.query_one(VmTable)


def _cell(app, vm_id: str, column: str) -> str:
    return _table(app).get_cell(vm_id, column).plain


def _id_of(app, name: str) -> str:
    return next(d.vm.id for d in app.session.diagnosis.vms if d.vm.name == name)


def _names_in_order(app) -> list[str]:
    table = _table(app)
    return [table.get_cell_at((row, 1)).plain for row in range(table.row_count)]


async def test_demo_opens_on_a_complete_dashboard(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        diagnosis = app.session.diagnosis
        assert _table(app).row_count == len(diagnosis.vms) > 0
        summary = app.screen.query_one(HostSummary)
        assert summary._border_title.plain == "HV01.contoso.local"
        assert "read 09:00:00" in summary._border_subtitle.plain
        assert diagnosis.host_can_activate_reason in summary.render().plain
        assert app.focused is _table(app)


async def test_cells_say_where_each_vm_stands(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        print01 = _id_of(app, "PRINT01")
        assert _cell(app, print01, "kvp") == "off"
        assert _cell(app, print01, "finding").startswith("KVP_DISABLED")
        archive = _id_of(app, "ARCHIVE01")
        assert _cell(app, archive, "state") == "Off"
        assert _cell(app, _id_of(app, "APP01"), "activation") == "not read"


async def test_details_follow_the_cursor(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table, details = _table(app), app.screen.query_one(VmDetails)
        table.move_to(_id_of(app, "PRINT01"))
        await pilot.pause()
        assert details._border_title.plain == "PRINT01"
        body = _details_text(details)
        diag = app.session.diagnosis.for_vm(_id_of(app, "PRINT01"))
        for finding in diag.findings:
            assert finding.code in body
            assert finding.remedy_summary[:40] in body.replace("\n", " ")
        assert "KVP items" in body or not diag.vm.guest


async def test_r_refreshes_in_place_keeping_cursor_and_rows(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = _table(app)
        print01 = _id_of(app, "PRINT01")
        table.move_to(print01)
        row_objects = dict(table.rows)
        transport_of(app).engine.run("enable_kvp", {"VmId": print01})
        before = transport_of(app).calls.count("inventory")
        await pilot.press("r")
        await settle(pilot)
        assert transport_of(app).calls.count("inventory") == before + 1
        assert _cell(app, print01, "kvp") != "off"
        assert table.selected_vm_id() == print01
        assert all(table.rows[key] is row for key, row in row_objects.items())  # updated, not rebuilt


async def test_failed_refresh_keeps_data_with_a_stale_banner_and_r_retries(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rows = _table(app).row_count
        transport_of(app).fail_next(Unreachable("cannot reach hv01: connection refused"))
        await pilot.press("r")
        await settle(pilot)
        banner = app.screen.query_one("#stale", Static)
        assert banner.display
        assert banner.render().plain.startswith("Stale since 09:00:00 — cannot reach hv01: connection refused")
        assert _table(app).row_count == rows
        await pilot.press("r")
        await settle(pilot)
        assert not banner.display


async def test_slash_filters_by_name_status_or_code_and_escape_clears(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        total = _table(app).row_count
        await pilot.press("slash")
        field = app.screen.query_one("#filter", Input)
        assert field.display and field.has_focus
        await pilot.press(*"app0")
        assert sorted(_names_in_order(app)) == ["APP01", "APP02", "APP03"]
        field.value = "kvp_disabled"
        await pilot.pause()
        assert _names_in_order(app) == ["PRINT01"]
        field.value = "not-eligible"
        await pilot.pause()
        assert "ADMIN-W11" in _names_in_order(app)
        await pilot.press("escape")
        assert _table(app).row_count == total
        assert not field.display
        assert app.focused is _table(app)


async def test_filter_survives_a_refresh(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"APP0", "enter")
        await pilot.press("r")
        await settle(pilot)
        assert sorted(_names_in_order(app)) == ["APP01", "APP02", "APP03"]


async def test_sort_keys_and_header_click_keep_the_cursor_on_the_vm(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = _table(app)
        names = _names_in_order(app)
        assert names == sorted(names, key=str.casefold)
        print01 = _id_of(app, "PRINT01")
        table.move_to(print01)
        await pilot.press("s")  # → state
        assert table.sort_column == "state"
        assert table.selected_vm_id() == print01
        await pilot.press("s")  # → activation
        await pilot.press("s")  # → worst finding: errors first
        assert table.sort_column == "finding"
        in_order = [table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(table.row_count)]
        ranks = [app.session.diagnosis.for_vm(vm_id).worst for vm_id in in_order]
        rank_values = [-(worst.severity.rank if worst else 0) for worst in ranks]
        assert rank_values == sorted(rank_values)  # errors, then warnings, then info, then fine
        await pilot.press("S")
        assert table.sort_reverse
        assert table.selected_vm_id() == print01
        await pilot.click(VmTable, offset=(6, 0))  # the "VM" header
        await pilot.pause()
        assert table.sort_column == "name"
        assert table.selected_vm_id() == print01


async def test_space_marks_and_marks_survive_refresh(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.marked_vm_ids() == []
        selected = screen.selected_vm_id()
        await pilot.press("space")
        assert screen.marked_vm_ids() == [selected]
        assert _cell(app, selected, "mark") == "●"
        await pilot.press("r")
        await settle(pilot)
        assert screen.marked_vm_ids() == [selected]
        await pilot.press("k", "space")  # space moved the cursor down; k goes back up
        assert screen.marked_vm_ids() == []
        assert _cell(app, selected, "mark") == " "


async def test_enter_focuses_details_and_escape_returns(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert isinstance(app.focused, VmDetails)
        await pilot.press("escape")
        assert app.focused is _table(app)


async def test_guest_credentials_make_licenses_appear(make_app, settle) -> None:
    from avma_tui.ui.screens.credentials import CredentialsScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press(*"Passw0rd!", "enter")  # the user is prefilled; the password has the focus
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.session.guest_credential.username == "Administrator"
        activation = [_cell(app, d.vm.id, "activation") for d in app.session.diagnosis.vms if d.vm.running]
        assert any(text.startswith(("Licensed", "Grace", "Notification", "no key")) for text in activation)
        assert "guest login: Administrator" in app.screen.query_one(HostSummary).render().plain


async def test_cancelled_credentials_change_nothing(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c", "escape")
        assert isinstance(app.screen, DashboardScreen)
        assert app.session.guest_credential is None


async def test_credentials_need_a_user_name_and_a_password(make_app, settle) -> None:
    from avma_tui.ui.screens.credentials import CredentialsScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c", "enter")
        assert isinstance(app.screen, CredentialsScreen)
        assert "Enter the password" in app.screen.query_one("#credentials-error", Static).render().plain
        app.screen.query_one("#guest-user", Input).value = ""
        await pilot.press(*"Passw0rd!", "enter")
        assert isinstance(app.screen, CredentialsScreen)
        assert "Enter a user name" in app.screen.query_one("#credentials-error", Static).render().plain
        assert app.session.guest_credential is None


async def test_enter_in_the_user_field_moves_on_to_the_password(make_app, settle) -> None:
    from avma_tui.ui.screens.credentials import CredentialsScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c", "shift+tab")
        user = app.screen.query_one("#guest-user", Input)
        assert app.focused is user and user.value == "Administrator"
        await pilot.press("enter")
        assert isinstance(app.screen, CredentialsScreen)
        assert app.focused is app.screen.query_one("#guest-password", Input)


async def test_e_shows_events_newest_first_with_meaning(make_app, settle) -> None:
    from avma_tui.ui.screens.events import EventsScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        events = app.session.diagnosis.inventory.events
        times = [event.time for event in screen.events]
        assert times == sorted((e.time for e in events), reverse=True)
        table = screen.query_one("#events")
        assert table.row_count == len(events)
        text = screen.query_one("#event-text", Static).render().plain
        assert "Meaning" in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_question_mark_shows_keys_and_primer(make_app, settle) -> None:
    from avma_tui.core.catalog import load_catalog
    from avma_tui.ui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help Static", Static).render().plain
        catalog = load_catalog()
        assert all(key.key in text for key in catalog.avma_keys)
        assert "inferred" in text
        assert "Activation Denied" in text and catalog.notification("Activation Denied") in text
        assert "Filter VMs by name, status, guest OS, finding code or severity" in text
        assert "j" in text and "Next VM" in text  # the table's own keys are listed too
        await pilot.press("question_mark")
        assert isinstance(app.screen, DashboardScreen)


async def test_periodic_refresh_rearms_and_pauses_under_a_dialog(make_app, settle, transport_of) -> None:
    app = make_app(refresh_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)
        await settle(pilot)
        assert transport_of(app).calls.count("inventory") >= 3
        await pilot.press("question_mark")
        await settle(pilot)
        paused_at = transport_of(app).calls.count("inventory")
        await pilot.pause(0.3)
        assert transport_of(app).calls.count("inventory") == paused_at


async def test_refreshes_never_overlap(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        transport = transport_of(app)
        transport.latency_ms = 100
        before = transport.calls.count("inventory")
        for _ in range(3):  # as fast as keys can repeat
            app.action_refresh()
        await settle(pilot)
        assert transport.calls.count("inventory") == before + 1


async def test_refresh_now_waits_for_a_running_refresh_then_reads_again(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        transport = transport_of(app)
        transport.latency_ms = 50
        before = transport.calls.count("inventory")
        await pilot.press("r")
        diagnosis = await app.refresh_now()
        await settle(pilot)
        assert diagnosis is app.session.diagnosis
        print("CALLS", transport.calls[-12:], before, transport.calls.count("inventory"))
        assert transport.calls.count("inventory") == before + 2


async def test_q_quits_and_closes_the_session(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert transport_of(app)._closed


async def test_a_opens_the_audit_log_for_this_host(make_app, settle) -> None:
    from avma_tui.ui.screens.audit import AuditScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        assert app.audit is app.audit  # opened once, kept for the session


async def test_not_eligible_vms_show_their_license_muted(make_app, settle) -> None:
    from avma_tui.hyperv.transport import Credential

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        admin = _id_of(app, "ADMIN-W11")
        assert _cell(app, admin, "activation") == "not eligible"
        app.session.guest_credential = Credential("Administrator", "Passw0rd!")
        await app.refresh_now()
        await settle(pilot)  # the licenses are read after the inventory, in the background
        cell = _table(app).get_cell(admin, "activation")
        assert cell.plain.startswith("Licensed · ")
        assert [span.style for span in cell.spans] == ["$text-muted"]


async def test_h_shows_the_host_findings(make_app, settle) -> None:
    app = make_app("nested-eval-host.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        summary = app.screen.query_one(HostSummary).render().plain
        codes = [f.code for f in app.session.diagnosis.host_findings]
        assert len(codes) == 2
        assert "HOST_IS_VIRTUAL +1 more" in summary or "HOST_EVALUATION +1 more" in summary
        await pilot.press("h")
        details = app.screen.query_one(VmDetails)
        assert app.focused is details
        body = _details_text(details)
        assert all(code in body for code in codes)


def _details_text(details: VmDetails) -> str:
    """Everything the detail pane shows, block by block, as plain text."""
    return "\n".join(static.render().plain for static in details.query(Static))


async def test_a_refresh_that_changed_nothing_leaves_the_details_alone(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        details = app.screen.query_one(VmDetails)
        _table(app).move_to(_id_of(app, "APP2025"))
        await pilot.pause()
        blocks = list(details.query(Static))
        await pilot.press("r")
        await settle(pilot)
        assert list(details.query(Static)) == blocks
        _table(app).move_to(_id_of(app, "PRINT01"))
        await pilot.pause()
        assert list(details.query(Static)) != blocks


async def test_keys_typed_before_the_first_read_do_not_reach_the_hidden_filter(make_app, settle, transport_of) -> None:
    app = make_app()
    transport_of(app).latency_ms = 200
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", "y")
        await settle(pilot)
        field = app.screen.query_one("#filter", Input)
        assert field.value == "" and not field.display
        assert _table(app).row_count == len(app.session.diagnosis.vms)


async def test_a_running_refresh_shows_itself(make_app, settle, transport_of) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        summary = app.screen.query_one(HostSummary)
        transport_of(app).latency_ms = 300
        app.action_refresh()
        await pilot.pause(0.1)
        assert summary._border_subtitle.plain == "refreshing…"
        await settle(pilot)
        assert summary._border_subtitle.plain == "read 09:00:00"


async def test_a_refresh_updates_only_the_vms_that_changed(make_app, settle, transport_of, monkeypatch) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = _table(app)
        updated: list[str] = []
        original = VmTable.update_cell

        def spy(self, row_key, column_key, value, *, update_width=False):
            updated.append(str(getattr(row_key, "value", row_key)))
            return original(self, row_key, column_key, value, update_width=update_width)

        monkeypatch.setattr(VmTable, "update_cell", spy)
        await pilot.press("r")
        await settle(pilot)
        assert updated == []  # nothing changed on the host: no cell touched
        print01 = _id_of(app, "PRINT01")
        transport_of(app).engine.run("enable_kvp", {"VmId": print01})
        await pilot.press("r")
        await settle(pilot)
        assert updated and set(updated) == {print01}
        assert _cell(app, print01, "kvp") != "off"
        assert table.row_count == len(app.session.diagnosis.vms)


async def test_credentials_given_during_a_refresh_read_the_host_again(make_app, settle, transport_of) -> None:
    """The refresh that was running may have read the guests before the login: the login must read again."""
    from avma_tui.hyperv.transport import Credential

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        transport = transport_of(app)
        transport.latency_ms = 100
        before = transport.calls.count("inventory")
        app.action_refresh()
        app.screen._credentials_given(Credential("Administrator", "Passw0rd!"))
        await settle(pilot)
        await settle(pilot)
        assert transport.calls.count("inventory") == before + 2
        assert transport.calls[-1] == "guest_licenses"


async def test_filter_matches_the_status_as_the_table_shows_it(make_app, settle) -> None:
    """Admins type what they see in the Activation column ("not eligible", "not read"), not the enum's spelling."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"not eligible")
        shown = _names_in_order(app)
        assert "ADMIN-W11" in shown and "APP01" not in shown
        app.screen.query_one("#filter", Input).value = "not read"
        await pilot.pause()
        shown = _names_in_order(app)
        assert "APP01" in shown and "ADMIN-W11" not in shown


async def test_an_evaluation_guest_says_evaluation_not_windows_token(make_app, settle) -> None:
    from avma_tui.hyperv.transport import Credential

    app = make_app()
    app.session.guest_credential = Credential("Administrator", "Passw0rd!")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert _cell(app, _id_of(app, "TEST-EVAL01"), "activation") == "Licensed · Evaluation"


async def test_a_short_terminal_gives_the_table_the_room_and_enter_shows_details_in_its_place(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        details, table_box = app.screen.query_one(VmDetails), app.screen.query_one("#list")
        assert not details.display and table_box.display
        assert _table(app).size.height >= 10  # rows the admin can see at 80x24
        await pilot.press("enter")
        await pilot.pause()
        assert details.display and not table_box.display and app.focused is details
        await pilot.press("escape")
        await pilot.pause()
        assert not details.display and table_box.display and app.focused is _table(app)


async def test_a_tall_terminal_shows_table_and_details_together(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one(VmDetails).display and app.screen.query_one("#list").display


async def test_the_dashboard_asks_the_app_with_messages(make_app, settle) -> None:
    """Screens never call the app back (issue 14 item 5): f, k, F and c become messages the app handles."""
    from avma_tui.ui.messages import CredentialsGiven, DashboardReady, FixRequested
    from avma_tui.ui.screens.fix import FixWizardScreen

    app = make_app()
    seen: list[object] = []
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        assert any(isinstance(m, DashboardReady) for m in seen)
        print01 = _id_of(app, "PRINT01")
        _table(app).move_to(print01)
        await pilot.press("f")
        await settle(pilot)
        # the hook sees a message at each node it bubbles through: the screen, then the app
        requests = {id(m): m for m in seen if isinstance(m, FixRequested)}.values()
        assert [(m.vm_ids, m.mode) for m in requests] == [([print01], "fix")]
        assert isinstance(app.screen, FixWizardScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.click("#guest-password")
        await pilot.press(*"Passw0rd!", "enter")
        await settle(pilot)
        [given] = {id(m): m for m in seen if isinstance(m, CredentialsGiven)}.values()
        assert given.credential.username == "Administrator"
        assert app.session.guest_credential == given.credential


async def test_the_details_start_at_the_top_for_each_vm_and_for_h(make_app, settle) -> None:
    """Issue 13 item 3: enter, page down, escape, down used to open the next VM mid-text."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        details = app.screen.query_one(VmDetails)
        _table(app).move_to(_id_of(app, "APP2025"))
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert details.scroll_y > 0
        await pilot.press("escape", "down", "enter")
        await pilot.pause()
        assert details._border_title.plain != "APP2025"
        assert details.scroll_y == 0
        await pilot.press("escape")
        _table(app).move_to(_id_of(app, "APP2025"))
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert details.scroll_y > 0
        await pilot.press("escape", "h")
        await pilot.pause()
        assert details.scroll_y == 0


async def test_k9s_habits_move_mark_close_and_quit(make_app, settle) -> None:
    """Issue 13 item 10: j/k, g/G/Home/End move; space marks and moves down; q closes dialogs; ctrl+c quits."""
    from avma_tui.ui.screens.events import EventsScreen
    from avma_tui.ui.screens.fix import FixWizardScreen
    from avma_tui.ui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = _table(app)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        first = table.selected_vm_id()
        await pilot.press("space")
        assert table.marks == {first} and table.cursor_row == 1
        for key, screen in (("question_mark", HelpScreen), ("e", EventsScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)
        await pilot.press("i")  # the AVMA key moved off k, which now moves up
        await settle(pilot)
        [wizard] = [screen for screen in app.screen_stack if isinstance(screen, FixWizardScreen)]
        assert wizard.mode == "key"  # (it asks for the guest login first)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_filter_matches_what_admins_type(make_app, settle) -> None:
    """Issue 13 item 11: severities, the guest OS as shown, any case; an empty result says so; f then does nothing."""
    from avma_tui.ui.messages import FixRequested

    app = make_app()
    seen: list[object] = []
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        diagnosis = app.session.diagnosis

        async def filtered(text: str) -> set[str]:
            await pilot.press("slash", *text, "enter")
            await pilot.pause()
            shown = {_table(app).get_cell_at((row, 1)).plain for row in range(_table(app).row_count)}
            await pilot.press("escape")
            return shown

        with_error = {d.vm.name for d in diagnosis.vms if any(f.severity.value == "error" for f in d.findings)}
        assert with_error and await filtered("error") == with_error
        assert await filtered("/WARNING".lstrip("/")) == {
            d.vm.name for d in diagnosis.vms if any(f.severity.value == "warning" for f in d.findings)
        }
        assert "SQL01" in await filtered("2019")  # "2019 Standard" as the Guest OS column shows it
        assert "SQL01" in await filtered("sql")
        await pilot.press("slash", *"nothing-like-this", "enter")
        await pilot.pause()
        title = app.screen.query_one("#list")._border_title.plain
        assert title == "no VM matches 'nothing-like-this' (escape clears)"
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert not [m for m in seen if isinstance(m, FixRequested)]
