"""The facade's parsing is tolerant: garbage from a guest or a host never raises and never hides a VM."""

from __future__ import annotations

import pytest

from avma_tui.core.model import GuestErrorKind, HostError, KvpStatus, LicenseState
from avma_tui.hyperv.host import (
    classify_guest_error,
    error_document,
    hresult_of,
    parse_error,
    parse_inventory,
    parse_licenses,
    parse_vm,
)
from avma_tui.hyperv.transport import Credential, RemoteError


def test_a_well_formed_vm_is_parsed() -> None:
    vm = parse_vm(
        {
            "id": "6F1E4D7A-0000-4000-8000-000000000001",
            "name": "APP01",
            "state": "Running",
            "generation": 2,
            "kvp": {"enabled": True, "status": "Ok"},
            "intrinsic": {
                "OSName": "Windows Server 2019 Standard",
                "OSBuildNumber": "17763",
                "OSEditionId": "7",
                "ProductType": "3",
                "OSVersion": "10.0.17763",
            },
        }
    )
    assert vm.id == "6f1e4d7a-0000-4000-8000-000000000001"  # Ids compare lower-case
    assert vm.running and vm.kvp.enabled and vm.kvp.status is KvpStatus.OK
    assert vm.guest is not None
    assert (vm.guest.build, vm.guest.edition_id, vm.guest.product_type) == (17763, 7, 3)
    assert vm.license.state is LicenseState.NOT_READ


@pytest.mark.parametrize(
    ("intrinsic", "build", "edition"),
    [
        ({"OSBuildNumber": "abc", "OSEditionId": "[red]x"}, None, None),
        ({"OSBuildNumber": "17763\n", "OSEditionId": " 8 "}, 17763, 8),
        ({"OSBuildNumber": "-5"}, None, None),
        ({"OSBuildNumber": "", "OSVersion": "10.0.20348"}, 20348, None),
        ({"OSBuildNumber": "1" * 5000}, None, None),  # no Windows number has 1024 digits
        ({"OSBuildNumber": str(2**64)}, None, None),
        ({"OSEditionId": "0x8"}, None, 8),
        ({"OSBuildNumber": "17763\x00"}, 17763, None),
    ],
)
def test_garbled_kvp_values_become_none_not_errors(intrinsic, build, edition) -> None:
    vm = parse_vm({"id": "x", "name": "VM", "state": "Running", "intrinsic": intrinsic})
    assert vm.guest is not None
    assert vm.guest.build == build
    assert vm.guest.edition_id == edition


@pytest.mark.parametrize("doc", [None, [], "garbage", 42, {"vms": "nope", "events": [1, None, "x"], "host": []}])
def test_a_garbage_document_yields_an_empty_inventory(doc) -> None:
    inventory = parse_inventory(doc)
    assert inventory.vms == ()
    assert inventory.events == ()
    assert inventory.host.name == "(unknown host)"


def test_non_mapping_vm_entries_are_skipped_named_and_the_rest_kept() -> None:
    inventory = parse_inventory(
        {"host": {"name": "HV01", "build": "20348"}, "vms": [None, {"id": "a", "name": "A"}, 7]}
    )
    assert [vm.name for vm in inventory.vms] == ["A"]
    assert inventory.host.build == 20348
    assert inventory.read_errors == (
        "vms[0]: expected an object, found null; that VM is not shown",
        "vms[2]: expected an object, found a number; that VM is not shown",
    )


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"vms": 5}, "vms: expected a list, found a number; no VM is shown"),
        ({"events": {"a": 1}}, "events: expected a list, found an object; no event is shown"),
        ({"cluster": "CL"}, "cluster: expected an object, found a string; the cluster is unknown"),
        ({"cluster": {"nodes": True}}, "cluster.nodes: expected a list, found a boolean; no node is shown"),
        ({"host": [1]}, "host: expected an object, found a list; the host's own data is unknown"),
        (
            {"vms": [{"name": "A", "kvp": "on"}]},
            "VM A: kvp: expected an object, found a string; its KVP state is unknown",
        ),
    ],
)
def test_a_member_of_the_wrong_type_is_named(doc, error) -> None:
    doc = {"host": {"name": "HV01"}, **doc}
    assert error in parse_inventory(doc).read_errors


def test_lone_surrogates_become_replacement_characters_everywhere() -> None:
    lone = "x\ud800y\udfff"
    inventory = parse_inventory(
        {
            "host": {"name": lone},
            "vms": [{"id": lone, "name": lone, "intrinsic": {lone: lone, "OSName": lone}}],
            "events": [{"message": lone}],
        }
    )
    vm = inventory.vms[0]
    assert inventory.host.name == vm.name == "x\ufffdy\ufffd"
    assert vm.guest is not None and vm.guest.os_name == "x\ufffdy\ufffd"
    assert all(k.encode() and v.encode() for k, v in vm.guest.items)
    assert inventory.events[0].message.encode()
    assert RemoteError(lone, lone).remote_message.encode()


def test_lists_and_objects_are_not_texts() -> None:
    vm = parse_vm({"id": ["x"], "name": {"a": 1}, "state": [], "intrinsic": {"OSName": ["Windows"]}})
    assert (vm.id, vm.name, vm.state) == ("", "", "Unknown")
    assert vm.guest is not None and vm.guest.os_name == ""


def test_a_license_answer_of_the_wrong_shape_fails_each_asked_vm_alone() -> None:
    assert parse_licenses({"licenses": 3}, ["A", "b"])["a"].error == (
        "The host's answer was not readable: licenses is a number, not a list."
    )
    reads = parse_licenses({"licenses": [{"vm_id": "a", "license": "x"}, {"vm_id": "b", "error": 7}]}, ["a", "b", "c"])
    assert reads["a"].state is LicenseState.FAILED and "the license is a string" in reads["a"].error
    assert reads["b"].state is LicenseState.FAILED and reads["b"].error == "7"
    assert reads["c"].state is LicenseState.FAILED and "no answer for this VM" in reads["c"].error


def test_unknown_kvp_status_is_kept_raw() -> None:
    vm = parse_vm({"kvp": {"enabled": "True", "status": "Degraded"}})
    assert vm.kvp.enabled
    assert vm.kvp.status is KvpStatus.OTHER
    assert vm.kvp.raw_status == "Degraded"


def test_no_intrinsic_items_means_no_guest_data() -> None:
    assert parse_vm({"intrinsic": {}}).guest is None
    assert parse_vm({"intrinsic": "junk"}).guest is None


def test_license_reads_keep_per_vm_errors_classified() -> None:
    reads = parse_licenses(
        {
            "licenses": [
                {
                    "vm_id": "A",
                    "license": {
                        "license_status": 1,
                        "description": "Windows(R) Operating System, VIRTUAL_MACHINE_ACTIVATION channel",
                        "avma_last_activation": "1601-01-01T00:00:00Z",
                    },
                    "error": None,
                },
                {
                    "vm_id": "b",
                    "license": None,
                    "error": {
                        "fqeid": "PSSessionOpenFailed,Microsoft.PowerShell.Commands.NewPSSessionCommand",
                        "exception": "System.Management.Automation.Remoting.PSDirectException",
                        "message": "Die Anmeldeinformationen sind ungültig.",
                    },
                },
                {"vm_id": "c", "license": None, "error": None},
                "junk",
            ]
        }
    )
    assert reads["a"].license is not None and reads["a"].license.is_avma
    assert reads["a"].license.avma_last_activation == ""  # 1601 is Windows' "never"
    assert reads["b"].state is LicenseState.FAILED and reads["b"].error_kind is GuestErrorKind.CREDENTIAL
    assert reads["c"].state is LicenseState.READ and reads["c"].license is None


def test_channel_is_read_from_the_description() -> None:
    reads = parse_licenses(
        {
            "licenses": [
                {
                    "vm_id": "a",
                    "license": {
                        "description": "Windows(R) Operating System, VOLUME_KMSCLIENT channel",
                        "product_key_channel": "Volume:GVLK",
                    },
                }
            ]
        }
    )
    assert reads["a"].license is not None
    assert reads["a"].license.channel == "VOLUME_KMSCLIENT"
    assert not reads["a"].license.is_avma


NRC = "Microsoft.PowerShell.Commands.NewPSSessionCommand"


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (
            HostError(
                "x", f"PSSessionOpenFailed,{NRC}", exception="System.Management.Automation.Remoting.PSDirectException"
            ),
            GuestErrorKind.CREDENTIAL,
        ),
        (
            HostError(
                "x",
                f"PSSessionOpenFailed,{NRC}",
                exception="System.Management.Automation.Remoting.PSRemotingDataStructureException",
            ),
            GuestErrorKind.PS_DIRECT,
        ),
        (HostError("x", f"PSSessionStateBroken,{NRC}", exception="System.Exception"), GuestErrorKind.PS_DIRECT),
        (HostError("x", f"InvalidVMState,{NRC}", exception="System.ArgumentException"), GuestErrorKind.NOT_RUNNING),
        (HostError("x", f"InvalidVMIdNotSingle,{NRC}"), GuestErrorKind.NOT_FOUND),
        (HostError("x", "AccessDenied,PSSessionOpenFailed"), GuestErrorKind.ACCESS),
        (
            HostError("x", "HRESULT 0xc004f025,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand"),
            GuestErrorKind.ACCESS,
        ),
        (HostError("x", "X", hresult=0x80070005), GuestErrorKind.ACCESS),
        (HostError("The credential is invalid.", "RuntimeException"), GuestErrorKind.OTHER),  # never the text
    ],
)
def test_guest_errors_are_classified_by_record_never_by_message(record, kind) -> None:
    assert classify_guest_error(record) is kind
    assert classify_guest_error(RemoteError("", record=record)) is kind


def test_hresults_come_from_the_record_or_a_cim_fqeid_never_the_message() -> None:
    assert hresult_of(RemoteError("", record=HostError("m", hresult=0xC004F050))) == 0xC004F050
    cim = "HRESULT 0xc004f069,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand"
    assert hresult_of(HostError("m", cim)) == 0xC004F069
    assert hresult_of(RemoteError("Error: 0xC004F050 The key is invalid")) is None
    assert hresult_of(ValueError("0xC004F050")) is None


def test_an_error_record_round_trips_and_a_bad_one_degrades() -> None:
    record = HostError("m", "F,C", "OpenError", "System.Exception", 0x80070005, "vm")
    assert parse_error(error_document(record)) == record
    assert parse_error({"message": "m", "hresult": -2147024891}).hresult == 0x80070005  # a signed HResult
    assert parse_error("bare text").message == "bare text"
    assert parse_error({"hresult": "junk", "fqeid": ["x"]}) == HostError(
        "The host reported an error without a message."
    )


def test_a_credential_never_shows_its_password() -> None:
    cred = Credential("Administrator", "S3cret!")
    assert "S3cret!" not in repr(cred)
    assert "S3cret!" not in str(cred)
