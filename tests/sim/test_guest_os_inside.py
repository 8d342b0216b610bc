"""The guest OS read inside the guest (issue 10): with its license, over PowerShell Direct, the guest's
Win32_OperatingSystem; used where KVP has no OS data, so such a guest still gets its AVMA key and findings."""

from __future__ import annotations

from avma_tui.core.catalog import load_catalog
from avma_tui.core.findings.guest import classify
from avma_tui.core.model import LicenseState, OsSource
from avma_tui.hyperv.host import parse_licenses
from avma_tui.services.report import render_csv, render_text, to_json
from avma_tui.services.session import Session
from tests.sim.simkit import GOOD, avma_key, guest

#: KVP disabled, KVP not reporting, KVP fine: the same 2019 Standard guest with a KMS client key.
VMS = "".join(
    f'[[vms]]\nname = "{name}"\n{extra}\n'
    + guest("2019", "Standard")
    + '[vms.license]\nstatus = 1\nchannel = "VOLUME_KMSCLIENT"\n'
    for name, extra in (("OFFKVP", "kvp_enabled = false"), ("MUTE", 'kvp_status = "NoContact"'), ("FINE", ""))
)


async def _diagnosis(make_sim, credential=GOOD):
    return await Session(make_sim(VMS).host, guest_credential=credential).refresh()


async def test_a_guest_without_kvp_data_gets_its_key_and_findings_from_inside(make_sim) -> None:
    diagnosis = await _diagnosis(make_sim)
    key = avma_key("2019", "Standard")[-5:]
    for name in ("OFFKVP", "MUTE"):
        vmd = next(d for d in diagnosis.vms if d.vm.name == name)
        assert vmd.vm.guest is None  # KVP gave nothing
        assert vmd.vm.os is not None and vmd.vm.os.source is OsSource.INSIDE
        assert vmd.vm.os.build == 17763 and vmd.vm.os.edition_id == 7 and vmd.vm.os.product_type == 3
        assert vmd.vm.os.os_name == "Microsoft Windows Server 2019 Standard"
        assert (vmd.family, vmd.edition, vmd.recommended_key_last5) == ("2019", "Standard", key)
        codes = [f.code for f in vmd.findings]
        assert "GUEST_OS_UNKNOWN" not in codes and "KEY_NOT_AVMA" in codes
        key_finding = next(f for f in vmd.findings if f.code == "KEY_NOT_AVMA")
        assert f"…{key}" in key_finding.remedy_summary
    fine = next(d for d in diagnosis.vms if d.vm.name == "FINE")
    assert fine.vm.os is fine.vm.guest and fine.vm.os.source is OsSource.KVP  # KVP first, where it speaks


async def test_the_evidence_and_the_report_say_where_the_os_came_from(make_sim) -> None:
    diagnosis = await _diagnosis(make_sim)
    mute = next(d for d in diagnosis.vms if d.vm.name == "MUTE")
    # Which findings quote the guest OS depends on the guest; the classification's evidence names its source.
    evidence = classify(mute.vm.os, load_catalog(), "").evidence
    assert "Win32_OperatingSystem BuildNumber = '17763' (read inside the guest)" in evidence
    report = to_json(diagnosis)
    guests = {vm["name"]: vm["guest"] for vm in report["vms"]}
    assert guests["MUTE"]["source"] == "inside-guest" and guests["MUTE"]["family"] == "2019"
    assert guests["FINE"]["source"] == "kvp"
    text = render_text(diagnosis)
    assert "Microsoft Windows Server 2019 Standard (read inside the guest)" in text
    assert "(read inside the guest)" in render_csv(diagnosis)


async def test_without_a_guest_login_nothing_is_known_of_such_a_guest(make_sim) -> None:
    diagnosis = await Session(make_sim(VMS).host).refresh()
    mute = next(d for d in diagnosis.vms if d.vm.name == "MUTE")
    assert mute.vm.license.state is LicenseState.NOT_READ and mute.vm.os is None
    assert mute.recommended_key_last5 is None


async def test_a_failing_licensing_service_still_tells_the_os(make_sim) -> None:
    sim = make_sim(
        '[[vms]]\nname = "SPP"\nkvp_enabled = false\nspp_error = "0x80070422"\n' + guest("2022", "Datacenter")
    )
    vm_id = await sim.vm_id("SPP")
    read = await sim.license(vm_id)
    assert read.state is LicenseState.FAILED and read.os is not None and read.os.build == 20348


async def test_a_guest_powershell_direct_cannot_reach_tells_no_os(make_sim) -> None:
    sim = make_sim('[[vms]]\nname = "NOPSD"\nkvp_enabled = false\nps_direct = false\n' + guest("2022", "Datacenter"))
    read = await sim.license(await sim.vm_id("NOPSD"))
    assert read.state is LicenseState.FAILED and read.os is None


def test_an_answer_without_os_still_parses_and_garbage_is_tolerated() -> None:
    old = parse_licenses({"licenses": [{"vm_id": "A", "license": None, "error": None}]}, ["a"])
    assert old["a"].state is LicenseState.READ and old["a"].os is None
    odd = parse_licenses(
        {
            "licenses": [
                {"vm_id": "a", "license": None, "error": None, "os": {"caption": 5, "build_number": "x", "sku": "y"}}
            ]
        }
    )
    assert odd["a"].os is not None and odd["a"].os.build is None and odd["a"].os.edition_id is None
    assert parse_licenses({"licenses": [{"vm_id": "a", "os": "nonsense"}]})["a"].os is None


async def test_the_details_pane_says_where_the_os_came_from(make_sim) -> None:
    from avma_tui.ui.widgets.vm_details import guest_line

    diagnosis = await _diagnosis(make_sim)
    lines = {d.vm.name: guest_line(d).plain for d in diagnosis.vms}
    assert lines["MUTE"].endswith(" · read inside the guest")
    assert "Microsoft Windows Server 2019 Standard" in lines["MUTE"]
    assert lines["FINE"].endswith("from KVP")
