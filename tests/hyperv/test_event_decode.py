"""Event 12310 decoded from its ToXml() event data (issue 11): filtered by its provider, the same for a
named and a positional <Data> layout (the layout is not documented: UNCONFIRMED), never from the message."""

from __future__ import annotations

from avma_tui.hyperv.host import decode_event, parse_inventory
from avma_tui.hyperv.operations import script_text

VMS = [("5b0a4d2c-1f6e-4e3a-9c1d-7a2b3c4d5e01", "FS01"), ("5b0a4d2c-1f6e-4e3a-9c1d-7a2b3c4d5e02", "APP01")]
GERMAN = "Der Virtualisierungshost reagiert nicht."  # the simulator's own translation; never read


def doc(data: list[tuple[str | None, str]], message: str = GERMAN) -> dict[str, object]:
    return {
        "time": "2026-11-30T22:14:09Z",
        "data": [{"name": n, "value": v} for n, v in data],
        "message": message,
    }


def test_the_script_filters_by_the_provider_and_sends_the_event_data() -> None:
    text = script_text("inventory")
    assert "ProviderName = 'Microsoft-Windows-Security-SPP'; Id = 12310" in text
    assert "$record.ToXml()" in text and ".Message" in text
    assert "IndexOf" not in text, "no notification is matched in the message"


def test_positional_and_named_layouts_decode_alike() -> None:
    values = ["Invalid Host", "APP01", "{5B0A4D2C-1F6E-4E3A-9C1D-7A2B3C4D5E02}", "0xC004FD02"]
    positional = decode_event(doc([(None, v) for v in values]), VMS)
    named = decode_event(doc(list(zip(("Notification", "VmName", "VmId", "HResult"), values, strict=True))), VMS)
    shuffled = decode_event(doc([(None, v) for v in reversed(values)]), VMS)
    for event in (positional, named, shuffled):
        assert (event.vm_id, event.vm_name) == ("5b0a4d2c-1f6e-4e3a-9c1d-7a2b3c4d5e02", "APP01")
        assert (event.notification, event.hresult) == ("Invalid Host", 0xC004FD02)
        assert event.message == GERMAN


def test_the_message_is_never_read() -> None:
    """A German message naming a notification in English changes nothing; no data means no notification."""
    event = decode_event(doc([(None, "FS01")], message="AVMA Success: Activation Denied"), VMS)
    assert (event.vm_name, event.notification, event.hresult) == ("FS01", "", None)


def test_a_vm_by_name_only_when_the_name_is_unique_and_an_unknown_guid_names_none() -> None:
    twins = [*VMS, ("5b0a4d2c-1f6e-4e3a-9c1d-7a2b3c4d5e03", "APP01")]
    assert decode_event(doc([(None, "APP01"), (None, "AVMA Success")]), twins).vm_id == ""
    unknown = decode_event(doc([(None, "{00000000-0000-4000-8000-000000000000}"), (None, "FS01")]), VMS)
    assert unknown.vm_id == "5b0a4d2c-1f6e-4e3a-9c1d-7a2b3c4d5e01"


def test_the_earlier_document_shape_still_reads() -> None:
    """Captures made before the event data was sent carry the script's own decoding."""
    old = {"time": "t", "vm_name": "FS01", "vm_id": "ABC", "notification": "AVMA Success", "message": "m"}
    event = decode_event(old, VMS)
    assert (event.vm_name, event.vm_id, event.notification, event.hresult) == ("FS01", "abc", "AVMA Success", None)


def test_the_inventory_decodes_its_events_against_its_own_vms() -> None:
    inventory = parse_inventory(
        {
            "host": {"name": "HV01", "build": 20348, "sku": 8},
            "vms": [{"id": VMS[0][0], "name": "FS01", "state": "Running"}],
            "events": [doc([(None, "Activation Denied"), (None, "FS01"), (None, "0xC004FD03")])],
        }
    )
    (event,) = inventory.events
    assert (event.vm_id, event.notification, event.hresult) == (VMS[0][0], "Activation Denied", 0xC004FD03)
