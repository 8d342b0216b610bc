"""Errors as Windows reports them (issue 11): error records, classified by FQEID / exception type / HRESULT only,
attributed to their own VM, and unchanged when the host speaks German (`[sim] language = "de-DE"`)."""

from __future__ import annotations

import pytest

from avma_tui.core.model import LicenseState
from avma_tui.hyperv.host import classify_guest_error, hresult_of
from avma_tui.hyperv.transport import Credential, RemoteError
from tests.sim.simkit import EXPECTED, FIVE, GOOD, HOST_2022_DC, MISSING, avma_key, german, guest


async def _five(make_sim, header: str = HOST_2022_DC):
    sim = make_sim(FIVE, header)
    names = {vm.name: vm.id for vm in (await sim.host.inventory()).vms}
    ids = {"missing": MISSING, **{n: names[n] for n in ("OFF01", "OLD01", "OWNPW", "SPPOFF", "GOOD01")}}
    reads = await sim.host.guest_licenses(list(ids.values()), GOOD)
    return {name: reads[vm_id] for name, vm_id in ids.items()}


async def test_five_guests_failing_for_five_reasons_get_five_errors(make_sim) -> None:
    reads = await _five(make_sim)
    assert reads["GOOD01"].state is LicenseState.READ
    records = {name: reads[name].error_record for name in EXPECTED}
    assert all(r is not None for r in records.values())
    for name, (kind, error_id) in EXPECTED.items():
        assert reads[name].state is LicenseState.FAILED, name
        assert reads[name].error_kind is kind, name
        assert records[name].error_id == error_id, name  # type: ignore[union-attr]
    assert len({(r.fqeid, r.exception, r.hresult, r.message) for r in records.values() if r}) == 5
    # each names its own VM, in Windows' own words
    assert reads["OFF01"].error == "The virtual machine OFF01 is not in running state."
    assert reads["missing"].error == f"The input VMId {MISSING} does not resolve to a single virtual machine."
    assert reads["OLD01"].error.startswith("[OLD01] An error has occurred which Windows PowerShell cannot handle.")
    assert reads["OWNPW"].error == "The credential is invalid."
    assert records["SPPOFF"].hresult == 0x80070422  # type: ignore[union-attr]
    assert records["SPPOFF"].exception == "Microsoft.Management.Infrastructure.CimException"  # type: ignore[union-attr]


async def test_classification_is_the_same_in_german(make_sim) -> None:
    english = await _five(make_sim)
    deutsch = await _five(make_sim, german())
    for name in EXPECTED:
        en, de = english[name], deutsch[name]
        assert en.error != de.error, name  # the texts really differ …
        assert en.error_kind is de.error_kind, name  # … and nothing that decides differs
        assert en.error_record is not None and de.error_record is not None
        assert (en.error_record.fqeid, en.error_record.exception, en.error_record.hresult) == (
            de.error_record.fqeid,
            de.error_record.exception,
            de.error_record.hresult,
        )
    assert deutsch["OWNPW"].error == "Die Anmeldeinformationen sind ungültig."


CHANGES = [
    ("install a malformed key", lambda sim, vm: sim.host.install_key(vm, "BCDFG-HJKMN-PQRTV-WXY23-4678Z", GOOD)),
    ("install another edition's key", lambda sim, vm: sim.host.install_key(vm, avma_key("2022", "Datacenter"), GOOD)),
    ("activate without a key", lambda sim, vm: sim.host.activate_guest(vm, GOOD)),
    ("a wrong password", lambda sim, vm: sim.host.install_key(vm, avma_key("2022", "Standard"), Credential("a", "b"))),
    ("no such VM", lambda sim, vm: sim.host.enable_kvp(MISSING)),
    ("no such VM over PowerShell Direct", lambda sim, vm: sim.host.activate_guest(MISSING, GOOD)),
]


@pytest.mark.parametrize(("what", "change"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_every_change_fails_alike_in_both_languages(make_sim, what, change) -> None:
    outcomes = []
    for header in (HOST_2022_DC, german()):
        sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2022", "Standard"), header)
        with pytest.raises(RemoteError) as caught:
            await change(sim, await sim.vm_id("APP01"))
        outcomes.append(caught.value)
    en, de = outcomes
    assert en.remote_message != de.remote_message
    assert classify_guest_error(en) is classify_guest_error(de)
    assert hresult_of(en) == hresult_of(de)
    assert en.record.fqeid == de.record.fqeid and en.record.exception == de.record.exception


async def test_a_licensing_failure_carries_its_hresult_in_the_record(make_sim) -> None:
    sim = make_sim('[[vms]]\nname = "APP01"\n' + guest("2022", "Standard"))
    with pytest.raises(RemoteError) as caught:
        await sim.host.install_key(await sim.vm_id("APP01"), avma_key("2019", "Standard"), GOOD)
    record = caught.value.record
    assert record.hresult == 0xC004F069
    assert record.exception == "Microsoft.Management.Infrastructure.CimException"
    assert record.fqeid == "HRESULT 0xc004f069,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand"
    assert "0x" not in record.message  # Windows' text, verbatim: the code travels in the record


def test_an_unknown_language_is_a_scenario_error() -> None:
    from avma_tui.sim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError, match=r"\[sim\] language: expected one of en-US \| de-DE"):
        parse_scenario(HOST_2022_DC.replace("[sim]\n", '[sim]\nlanguage = "fr-FR"\n', 1), "x.toml")
