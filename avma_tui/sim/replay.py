"""A capture (services/capture.py) as a host you can rehearse on.

`scenario_text` turns what a real host answered into an editable scenario file (`avma-tui sim import`):
the host, its cluster, every VM with what its guest reported, the licenses read, the 12310 events.
`ReplayTransport` serves the capture itself: reads answer with the documents exactly as the host
returned them (so the real parsing meets the real host's data), until the first change; changes — and
every read after one — run against the simulated engine seeded from the same capture, so an admin can
rehearse the fix of their own host.

The guest password of a replayed capture is `replay` (a capture never holds the real one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from avma_tui.core.operations import OPERATIONS
from avma_tui.hyperv import transport as transport_errors
from avma_tui.hyperv.host import decode_event
from avma_tui.hyperv.transport import RemoteError, TransportError
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import KVP_STATUSES, NODE_STATES, NOTIFICATIONS, VM_STATES, parse_scenario
from avma_tui.sim.transport import SimTransport

#: The guest password a replayed capture accepts (the capture has only the user name).
REPLAY_GUEST_PASSWORD = "replay"

_CHANNEL_IN_DESCRIPTION = re.compile(r",\s*([A-Z_]+)\s+channel\b")
_PRODUCT_KEY_CHANNELS = {"Volume:GVLK": "VOLUME_KMSCLIENT", "Volume:MAK": "VOLUME_MAK", "OEM:DM": "OEM_DM"}


def _toml(value: Any) -> str:
    """One TOML value: strings as basic strings (every control character escaped), numbers, booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes U+FFFD
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _status(value: Any) -> int | None:
    """A LicenseStatus the scenario can hold (0..6), else None (the default applies)."""
    number = _int(value)
    return number if number in range(7) else None


def _lines(table: str, values: Mapping[str, Any]) -> list[str]:
    lines = [table]
    lines += [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
    return lines


def _inventory(capture: Mapping[str, Any]) -> dict[str, Any]:
    for phase in capture.get("phases", []):
        if phase.get("op") == "inventory" and isinstance(phase.get("document"), dict):
            return phase["document"]
    return {}


def _licenses(capture: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """VM id → the license document read (None: PowerShell Direct failed for it), from every guest_licenses
    answer in the capture."""
    found: dict[str, dict[str, Any] | None] = {}
    phases = [*capture.get("phases", []), capture.get("probe") or {}]
    for phase in phases:
        document = phase.get("document") if phase.get("op") == "guest_licenses" else None
        reads = document.get("licenses") if isinstance(document, dict) else None
        for read in reads if isinstance(reads, list) else []:
            if not isinstance(read, dict) or not isinstance(read.get("vm_id"), str):
                continue
            if isinstance(read.get("license"), dict):
                found[read["vm_id"].lower()] = read["license"]
            elif read.get("error"):
                found.setdefault(read["vm_id"].lower(), None)
    return found


def _inside_os(capture: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """VM id → the guest's Win32_OperatingSystem read inside it with its license (captures made before carry none)."""
    found: dict[str, dict[str, Any]] = {}
    for phase in [*capture.get("phases", []), capture.get("probe") or {}]:
        document = phase.get("document") if phase.get("op") == "guest_licenses" else None
        reads = document.get("licenses") if isinstance(document, dict) else None
        for read in reads if isinstance(reads, list) else []:
            if isinstance(read, dict) and isinstance(read.get("vm_id"), str) and isinstance(read.get("os"), dict):
                found[read["vm_id"].lower()] = read["os"]
    return found


def _node_facts(capture: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Node name (casefolded) → what its host_info read gave: build, sku, license_status, or why it failed."""
    facts: dict[str, dict[str, Any]] = {}
    for phase in capture.get("phases", []):
        if phase.get("op") != "host_info" or not isinstance(phase.get("node"), str):
            continue
        document = phase.get("document") if isinstance(phase.get("document"), dict) else {}
        host = document.get("host") if isinstance(document.get("host"), dict) else None
        if phase.get("error") is None and host is not None:
            facts[phase["node"].casefold()] = {k: host.get(k) for k in ("build", "sku", "license_status")}
        else:
            reason = (phase.get("error") or {}).get("message") or str(document.get("error") or "no answer")
            facts[phase["node"].casefold()] = {"reachable": False, "error": reason}
    return facts


def _channel(license_: Mapping[str, Any]) -> str:
    match = _CHANNEL_IN_DESCRIPTION.search(str(license_.get("description") or ""))
    if match:
        return match[1]
    return _PRODUCT_KEY_CHANNELS.get(str(license_.get("product_key_channel") or ""), "RETAIL")


def scenario_text(capture: Mapping[str, Any], *, source: str = "capture") -> str:
    """An editable scenario (docs/scenario.md) of the host in `capture`; values the scenario cannot hold
    (a state or status Windows reported that the simulator does not know) are left at their defaults, with
    a comment naming what the host said."""
    inventory = _inventory(capture)
    host = inventory.get("host")
    if not isinstance(host, dict):
        host = {}
    lines = [
        f"# Imported by avma-tui from {source}, taken {capture.get('taken_at', '?')}",
        f"# from {capture.get('target', '?')}.",
        "# Edit freely; `avma-tui --scenario THIS_FILE` runs it. The guest password is "
        f'"{REPLAY_GUEST_PASSWORD}" (a capture never holds the real one).',
        "format = 1",
        "",
    ]
    build, sku = _int(host.get("build")), _int(host.get("sku"))
    lines += _lines(
        "[host]",
        {
            "name": host.get("name") or "HOST",
            "domain": host.get("domain") or None,
            "os_name": host.get("os_name") or None,
            "build": build if build and build > 0 else 1,
            "sku": sku if sku is not None and sku >= 0 else 0,
            "license_status": _int(host.get("license_status"))
            if _int(host.get("license_status")) in range(7)
            else None,
            "partial_product_key": host.get("partial_product_key") or None,
            "hyperv": host.get("hyperv") if isinstance(host.get("hyperv"), bool) else None,
            "virtual": host.get("virtual") if isinstance(host.get("virtual"), bool) else None,
        },
    )
    cluster = inventory.get("cluster")
    if isinstance(cluster, dict) and cluster.get("name"):
        lines += ["", *_lines("[cluster]", {"name": cluster["name"]})]
        facts = _node_facts(capture)
        for node in cluster.get("nodes") or []:
            if not isinstance(node, dict) or not node.get("name"):
                continue
            node = {**node, **facts.get(str(node["name"]).casefold(), {})}
            lines += [
                "",
                *_lines(
                    "[[cluster.nodes]]",
                    {
                        "name": node["name"],
                        "build": _int(node.get("build")),
                        "sku": _int(node.get("sku")),
                        "license_status": _status(node.get("license_status")),
                        "reachable": bool(node.get("reachable", True)),
                        "error": node.get("error") or None,
                        "state": node.get("state") if node.get("state") in NODE_STATES else None,
                    },
                ),
            ]
    guest_user = capture.get("guest_user") or "Administrator"
    lines += ["", *_lines("[guest_credentials]", {"username": guest_user, "password": REPLAY_GUEST_PASSWORD})]
    licenses = _licenses(capture)
    inside = _inside_os(capture)
    for vm in inventory.get("vms") or []:
        if not isinstance(vm, dict) or not vm.get("name"):
            continue
        lines += ["", *_vm_lines(vm, licenses, inside.get(str(vm.get("id") or "").lower()))]
    vms = [vm for vm in inventory.get("vms") or [] if isinstance(vm, dict)]
    known = [(str(vm.get("id") or ""), str(vm.get("name") or "")) for vm in vms]
    for raw in inventory.get("events") or []:
        if not isinstance(raw, dict):
            continue
        event = decode_event(raw, known)  # the event's data, as the tool reads it (either document shape)
        if event.notification in NOTIFICATIONS and event.time:
            lines += [
                "",
                *_lines(
                    "[[events]]",
                    {
                        "time": event.time,
                        "vm": event.vm_name,
                        "vm_id": event.vm_id or None,
                        "notification": event.notification,
                        "message": event.message or None,
                        "hresult": f"0x{event.hresult:08X}" if event.hresult is not None else None,
                    },
                ),
            ]
    return "\n".join(lines) + "\n"


def _vm_lines(
    vm: Mapping[str, Any], licenses: Mapping[str, Mapping[str, Any] | None], inside: Mapping[str, Any] | None = None
) -> list[str]:
    kvp = vm.get("kvp")
    if not isinstance(kvp, dict):
        kvp = {}
    status = str(kvp.get("status") or "")
    known_status = next((s for s in KVP_STATUSES if s.casefold() == status.casefold()), None)
    state = vm.get("state") if vm.get("state") in VM_STATES else None
    lines = []
    if state is None:
        lines.append(f"# The host reported the state {json.dumps(vm.get('state'))}, which the simulator does not know.")
    vm_id = str(vm.get("id") or "")
    lines += _lines(
        "[[vms]]",
        {
            "name": vm["name"],
            "id": vm_id or None,
            "state": state,
            "generation": _int(vm.get("generation")) if _int(vm.get("generation")) in (1, 2) else None,
            "kvp_enabled": kvp.get("enabled") if isinstance(kvp.get("enabled"), bool) else None,
            "kvp_status": known_status,
            # PowerShell Direct worked for this guest when its license was read, failed when the read failed.
            "ps_direct": (licenses[vm_id.lower()] is not None) if vm_id.lower() in licenses else None,
        },
    )
    intrinsic = vm.get("intrinsic")
    if isinstance(intrinsic, dict) and intrinsic:
        lines += ["", *_lines("[vms.guest]", {str(k): str(v) for k, v in intrinsic.items()})]
    elif inside and known_status != "OK":
        # KVP passed nothing on (disabled or not reporting): the guest's OS as read inside it is its truth, which
        # the simulator serves inside the guest again (and over KVP once KVP is enabled).
        items = {
            "OSName": str(inside.get("caption") or "").removeprefix("Microsoft ").strip(),
            "OSBuildNumber": str(inside.get("build_number") or "").strip(),
            "OSEditionId": str(_int(inside.get("sku")) if _int(inside.get("sku")) is not None else ""),
            "ProductType": str(
                _int(inside.get("product_type")) if _int(inside.get("product_type")) is not None else ""
            ),
        }
        lines += ["", *_lines("[vms.guest]", {k: v for k, v in items.items() if v})]
    license_ = licenses.get(vm_id.lower())
    status_number = _int(license_.get("license_status")) if license_ else None
    if license_ and status_number in range(7):
        reason = _int(license_.get("license_status_reason")) or 0
        lines += [
            "",
            *_lines(
                "[vms.license]",
                {
                    "status": status_number,
                    "reason": f"0x{reason & 0xFFFFFFFF:08X}",
                    "channel": _channel(license_),
                    "partial_product_key": license_.get("partial_product_key") or None,
                    "grace_minutes": max(0, _int(license_.get("grace_minutes")) or 0),
                    "avma_host": license_.get("avma_host") or None,
                    "avma_last_activation": license_.get("avma_last_activation") or None,
                },
            ),
        ]
    return lines


class ReplayTransport:
    """Reads answer from the capture until the first change; after that, the seeded simulator answers."""

    def __init__(self, capture: Mapping[str, Any], *, source: str) -> None:
        self.capture = capture
        self.engine = SimHost(parse_scenario(scenario_text(capture, source=source), source))
        self._sim = SimTransport(self.engine)
        self.description = f"replayed capture {source} of {capture.get('target', 'a host')}"
        self.changed = False

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        params = dict(params or {})
        operation = OPERATIONS.get(op)
        if operation is None or operation.changes or self.changed:
            self.changed = self.changed or (operation is not None and operation.changes)
            return await self._sim.run(op, params)
        answer = self._captured(op, params)
        return answer if answer is not None else await self._sim.run(op, params)

    def _captured(self, op: str, params: Mapping[str, Any]) -> Any:
        """The captured answer to this read, or None when the capture did not ask it."""
        for phase in self.capture.get("phases", []):
            if phase.get("op") != op:
                continue
            if op == "guest_licenses":
                return self._licenses_answer(params)
            if not params:  # inventory, preflight: one answer whatever was asked
                return _answer(phase)
        return None

    def _licenses_answer(self, params: Mapping[str, Any]) -> Any:
        wanted = [str(vm_id).lower() for vm_id in params.get("VmIds") or []]
        reads: dict[str, Any] = {}
        for phase in [*self.capture.get("phases", []), self.capture.get("probe") or {}]:
            if phase.get("op") != "guest_licenses":
                continue
            if phase.get("error") is not None:
                if set(wanted) <= {str(v).lower() for v in phase.get("params", {}).get("VmIds", [])}:
                    return _answer(phase)
                continue
            document = phase.get("document")
            for read in document.get("licenses", []) if isinstance(document, dict) else []:
                if isinstance(read, dict) and str(read.get("vm_id", "")).lower() in wanted:
                    reads[str(read["vm_id"]).lower()] = read
        if set(wanted) - set(reads):
            return None  # not all captured: the seeded simulator answers for all of them
        return {"licenses": [reads[vm_id] for vm_id in wanted]}

    def for_node(self, name: str) -> _CapturedNode:
        """A cluster node as the capture saw it from the client: its host_info answer, or its error."""
        for phase in self.capture.get("phases", []):
            if phase.get("op") == "host_info" and str(phase.get("node", "")).casefold() == name.casefold():
                return _CapturedNode(name, phase)
        return _CapturedNode(name, {"error": {"type": "Unreachable", "message": f"{name} was not read in the capture"}})

    async def close(self) -> None:
        await self._sim.close()


class _CapturedNode:
    """One cluster node of a replayed capture: answers host_info as captured."""

    def __init__(self, name: str, phase: Mapping[str, Any]) -> None:
        self.description = f"captured node {name}"
        self._phase = phase

    async def run(self, op: str, params: Mapping[str, Any] | None = None) -> Any:
        return _answer(self._phase)

    async def close(self) -> None:
        return None


def _answer(phase: Mapping[str, Any]) -> Any:
    """The captured document, or the captured error raised again as the transport raised it."""
    error = phase.get("error")
    if error is None:
        return json.loads(json.dumps(phase.get("document")))
    message = str(error.get("message") or "the host failed this read")
    if error.get("type") == "RemoteError":
        raise RemoteError(str(error.get("remote_message") or message), str(error.get("error_id") or ""))
    kind = getattr(transport_errors, str(error.get("type")), None)
    raise (kind if isinstance(kind, type) and issubclass(kind, TransportError) else TransportError)(message)
