"""The raw JSON each operation returns: exactly the keys and types docs/operations.md gives the scripts."""

from __future__ import annotations

from typing import Any

from tests.sim.simkit import GOOD, FakeClock, avma_key, guest, make_sim

HOST_KEYS = {
    "name",
    "domain",
    "os_name",
    "build",
    "sku",
    "license_status",
    "partial_product_key",
    "hyperv",
    "virtual",
    "ps_version",
}
NODE_KEYS = {"name", "state"}  # the client reads each node itself (host_info)
VM_KEYS = {"id", "name", "state", "generation", "kvp", "intrinsic", "error"}
EVENT_KEYS = {"time", "data", "message"}
LICENSE_KEYS = {
    "name",
    "description",
    "license_status",
    "license_status_reason",
    "grace_minutes",
    "partial_product_key",
    "product_key_channel",
    "avma_host",
    "avma_last_activation",
}

VMS = (
    '[cluster]\nname = "CL01"\n[[cluster.nodes]]\nname = "HV02"\nbuild = 20348\nsku = 8\n'
    '[[vms]]\nname = "APP01"\n' + guest("2019", "Standard") + '[vms.license]\nstatus = 1\nchannel = "RETAIL"\n'
    'partial_product_key = "46789"\n'
    '[[vms]]\nname = "OFF01"\nstate = "Off"\nkvp_enabled = false\n'
    '[[events]]\ntime = "2026-11-27T08:00:00Z"\nvm = "APP01"\nnotification = "AVMA Success"\n'
)


def check_vm(doc: dict[str, Any]) -> None:
    assert set(doc) == VM_KEYS and set(doc["kvp"]) == {"enabled", "status"}
    assert isinstance(doc["generation"], int) and isinstance(doc["kvp"]["enabled"], bool)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in doc["intrinsic"].items())


async def test_inventory_document(clock: FakeClock):
    doc = await make_sim(VMS, clock).transport.run("inventory", {})
    assert set(doc) == {"host", "cluster", "vms", "events"}
    assert set(doc["host"]) == HOST_KEYS and isinstance(doc["host"]["build"], int)
    assert set(doc["cluster"]) == {"name", "nodes"} and set(doc["cluster"]["nodes"][0]) == NODE_KEYS
    running, off = doc["vms"]
    for vm in (running, off):
        check_vm(vm)
    assert running["kvp"]["status"] == "Ok" and running["intrinsic"]["OSBuildNumber"] == "17763"
    assert off["kvp"] == {"enabled": False, "status": None} and off["intrinsic"] == {}
    [event] = doc["events"]
    assert set(event) == EVENT_KEYS
    assert {"{" + running["id"].upper() + "}", "AVMA Success", "APP01"} <= {item["value"] for item in event["data"]}


async def test_no_cluster_is_null_and_empty_values_are_null(clock: FakeClock):
    header = 'format = 1\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8\n'
    doc = await make_sim("", clock, header).transport.run("inventory", {})
    assert doc["cluster"] is None
    assert (doc["host"]["domain"], doc["host"]["os_name"], doc["host"]["partial_product_key"]) == (None, None, None)


async def test_license_and_change_documents(clock: FakeClock):
    sim = make_sim(VMS, clock)
    vm_id = await sim.vm_id("APP01")
    run = sim.transport.run
    licenses = await run("guest_licenses", {"VmIds": [vm_id], "Credential": GOOD})
    [entry] = licenses["licenses"]
    assert set(entry) == {"vm_id", "license", "error", "os"} and entry["error"] is None
    assert set(entry["license"]) == LICENSE_KEYS
    assert set(entry["os"]) == {"caption", "build_number", "sku", "product_type"}  # Win32_OperatingSystem
    assert entry["license"]["avma_host"] is None and entry["license"]["avma_last_activation"] is None
    check_vm(await run("vm", {"VmId": vm_id}))
    for op in ("enable_kvp", "start_vm"):
        result = await run(op, {"VmId": vm_id})
        assert set(result) == {"vm"}
        check_vm(result["vm"])
    assert await run("start_guest_kvp", {"VmId": vm_id, "Credential": GOOD}) == {"vm_id": vm_id, "service": "Running"}
    key = avma_key("2019", "Standard")
    installed = await run("install_key", {"VmId": vm_id, "ProductKey": key, "Credential": GOOD})
    assert set(installed) == {"vm_id", "license"} and set(installed["license"]) == LICENSE_KEYS
    activated = await run("activate_guest", {"VmId": vm_id, "Credential": GOOD})
    assert set(activated) == {"vm_id", "license"}


async def test_set_edition_and_activate_host_documents(clock: FakeClock):
    evaluation = guest("2022", "Standard", sku=79, os_name="Windows Server 2022 Standard Evaluation")
    eval_vm = '[[vms]]\nname = "EVAL"\n' + evaluation
    header = (
        'format = 1\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8\nlicense_status = 5\n'
        'product_key = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"\n'
        '[guest_credentials]\nusername = "Administrator"\npassword = "Passw0rd!"\n'
    )
    sim = make_sim(eval_vm, clock, header)
    vm_id = await sim.vm_id("EVAL")
    key = avma_key("2022", "Standard")
    params = {"VmId": vm_id, "Edition": "ServerStandard", "ProductKey": key, "Credential": GOOD}
    started = {"vm_id": vm_id, "started": True, "task": "\\avma-tui\\set-edition"}
    assert await sim.transport.run("set_edition", params) == started
    host = await sim.transport.run("activate_host", {"ProductKey": "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"})
    assert set(host) == {"host"} and set(host["host"]) == HOST_KEYS and host["host"]["license_status"] == 1


async def test_events_are_capped_at_the_200_newest(clock: FakeClock):
    events = "".join(
        f'[[events]]\ntime = "2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00Z"\nvm = "A"\nnotification = "Invalid Data"\n'
        for n in range(250)
    )
    doc = await make_sim('[[vms]]\nname = "A"\n' + events, clock).transport.run("inventory", {})
    times = [e["time"] for e in doc["events"]]
    assert len(times) == 200 and times == sorted(times, reverse=True)
    assert times[0] == "2026-11-11T09:00:00Z"  # the newest of the 250
