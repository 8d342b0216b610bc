"""A host that reports one VM id twice: the dashboard shows a row per VM, as `report` lists them."""

from __future__ import annotations

import dataclasses

from avma_tui.ui.widgets.vm_table import VmTable


async def test_two_vms_with_one_id_get_two_rows(make_app, settle) -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        diagnosis = app.session.diagnosis
        first = diagnosis.vms[0]
        twin = dataclasses.replace(first, vm=dataclasses.replace(first.vm, name="TWIN-OF-" + first.vm.name))
        app.dashboard.show(dataclasses.replace(diagnosis, vms=(*diagnosis.vms, twin)), "09:00:00")
        await pilot.pause()
        table = app.dashboard.query_one(VmTable)
        assert table.row_count == table.vm_count == len(diagnosis.vms) + 1
        names = [table.get_row_at(row)[1].plain for row in range(table.row_count)]
        assert first.vm.name in names and twin.vm.name in names
        table.move_cursor(row=names.index(twin.vm.name))
        assert table.selected_vm_id() == first.vm.id  # the row stands for the VM id the host gave
        await pilot.press("space")
        assert table.marked_vm_ids() == [first.vm.id]
        app.dashboard.show(diagnosis, "09:00:05")  # the twin is gone again: its row goes
        await pilot.pause()
        assert table.row_count == len(diagnosis.vms)
