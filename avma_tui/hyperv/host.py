"""HyperVHost: the async facade over one host's Transport; turns operation JSON into model objects.

The JSON shapes are in docs/operations.md. Parsing is tolerant: a guest can write anything into
KVP and a host can return surprising values, so a field that is missing or malformed becomes
None / "" rather than an exception — one bad VM never hides the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from avma_tui.core.model import (
    LICENSE_NOT_READ,
    AvmaEvent,
    Cluster,
    ClusterNode,
    GuestErrorKind,
    GuestLicense,
    GuestOs,
    Host,
    Inventory,
    Kvp,
    KvpStatus,
    LicenseRead,
    LicenseState,
    Vm,
)
from avma_tui.core.operations import CREDENTIAL, OPERATIONS, PRODUCT_KEY, VM_ID, Returns
from avma_tui.hyperv.transport import Credential, RemoteError, Transport

#: Longest string kept from any remote field (KVP Data is at most 1024 characters on Windows).
MAX_TEXT = 1024


class HyperVHost:
    """Operations on one Hyper-V host. Every method is one round trip."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def description(self) -> str:
        return self.transport.description

    async def inventory(self) -> Inventory:
        return parse_inventory(await self.transport.run("inventory", {}))

    async def vm(self, vm_id: str) -> Vm:
        return parse_vm(await self.transport.run("vm", {"VmId": vm_id}))

    async def guest_licenses(self, vm_ids: Iterable[str], credential: Credential) -> dict[str, LicenseRead]:
        ids = list(vm_ids)
        if not ids:
            return {}
        doc = await self.transport.run("guest_licenses", {"VmIds": ids, "Credential": credential})
        return parse_licenses(doc)

    async def change(self, op: str, params: Mapping[str, Any]) -> Any:
        """Run change operation `op` (core/operations.py) with its bound parameters; what it returns, parsed.

        Any operation of the table runs here without a method of its own: the table says what the
        returned document carries.
        """
        record = OPERATIONS[op]
        if not record.changes:
            raise ValueError(f"{op} is not a change")
        return _PARSE[record.returns](await self.transport.run(op, dict(params)))

    # Typed conveniences over change(), one per change operation of today's table.

    async def enable_kvp(self, vm_id: str) -> Vm:
        return await self.change("enable_kvp", {VM_ID: vm_id})

    async def start_vm(self, vm_id: str) -> Vm:
        return await self.change("start_vm", {VM_ID: vm_id})

    async def start_guest_kvp(self, vm_id: str, credential: Credential) -> None:
        await self.change("start_guest_kvp", {VM_ID: vm_id, CREDENTIAL: credential})

    async def install_key(self, vm_id: str, product_key: str, credential: Credential) -> GuestLicense | None:
        return await self.change("install_key", {VM_ID: vm_id, PRODUCT_KEY: product_key, CREDENTIAL: credential})

    async def activate_guest(self, vm_id: str, credential: Credential) -> GuestLicense | None:
        return await self.change("activate_guest", {VM_ID: vm_id, CREDENTIAL: credential})

    async def set_edition(self, vm_id: str, edition: str, product_key: str, credential: Credential) -> None:
        params = {VM_ID: vm_id, "Edition": edition, PRODUCT_KEY: product_key, CREDENTIAL: credential}
        await self.change("set_edition", params)

    async def activate_host(self, product_key: str) -> Host:
        return await self.change("activate_host", {PRODUCT_KEY: product_key})

    async def close(self) -> None:
        await self.transport.close()


# --- classification of guest errors -------------------------------------------------------------

_HRESULT = re.compile(r"0x[0-9a-fA-F]{8}")


def classify_guest_error(message: str) -> GuestErrorKind:
    """Why a PowerShell Direct call failed, from Windows' (English) message."""
    text = message.lower()
    if "credential is invalid" in text:
        return GuestErrorKind.CREDENTIAL
    if "not in a valid state" in text or "is not running" in text:
        return GuestErrorKind.NOT_RUNNING
    if "remote session might have ended" in text or "powershell direct" in text:
        return GuestErrorKind.PS_DIRECT
    return GuestErrorKind.OTHER


def hresult_of(error: BaseException | str) -> int | None:
    """The first HRESULT (0xC004F050, …) in an error message, if any."""
    text = error.remote_message if isinstance(error, RemoteError) else str(error)
    match = _HRESULT.search(text)
    return int(match.group(0), 16) if match else None


# --- parsing ------------------------------------------------------------------------------------


def _member(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, Mapping) else None


def _text(value: Any) -> str:
    """A remote string, capped; non-strings (numbers, bools) become their text; None becomes ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:MAX_TEXT]


def _int(value: Any) -> int | None:
    """An integer from a number or a decimal / 0x-hex string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().rstrip("\x00").strip()
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            return None
    return None


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _time(value: Any) -> str:
    """An ISO time, or "" for unset (None, "", Windows' 1601-01-01 'never')."""
    text = _text(value).strip()
    return "" if not text or text.startswith("1601-01-01") else text


def parse_host(doc: Any) -> Host:
    doc = doc if isinstance(doc, Mapping) else {}
    return Host(
        name=_text(doc.get("name")) or "(unknown host)",
        domain=_text(doc.get("domain")),
        os_name=_text(doc.get("os_name")),
        build=_int(doc.get("build")),
        sku=_int(doc.get("sku")),
        license_status=_int(doc.get("license_status")),
        partial_product_key=_text(doc.get("partial_product_key")),
        hyperv=doc.get("hyperv", True) is not False,
        virtual=_bool(doc.get("virtual")),
    )


def parse_cluster(doc: Any) -> Cluster | None:
    if not isinstance(doc, Mapping):
        return None
    nodes = tuple(
        ClusterNode(
            name=_text(node.get("name")),
            build=_int(node.get("build")),
            sku=_int(node.get("sku")),
            license_status=_int(node.get("license_status")),
            reachable=node.get("reachable", True) is not False,
            error=_text(node.get("error")),
        )
        for node in doc.get("nodes") or ()
        if isinstance(node, Mapping)
    )
    return Cluster(name=_text(doc.get("name")), nodes=nodes)


_KVP_STATUS = {"ok": KvpStatus.OK, "nocontact": KvpStatus.NO_CONTACT, "lostcommunication": KvpStatus.LOST_COMMUNICATION}


def parse_kvp(doc: Any) -> Kvp:
    doc = doc if isinstance(doc, Mapping) else {}
    raw = _text(doc.get("status")).strip()
    key = raw.replace(" ", "").lower()
    status = KvpStatus.NONE if not raw else _KVP_STATUS.get(key, KvpStatus.OTHER)
    return Kvp(enabled=_bool(doc.get("enabled")), status=status, raw_status=raw)


def parse_guest_os(items: Any) -> GuestOs | None:
    """The intrinsic KVP items as a GuestOs; None when the guest reported nothing at all."""
    if not isinstance(items, Mapping) or not items:
        return None
    raw = {_text(k): _text(v) for k, v in items.items()}

    def item(name: str) -> str:
        return raw.get(name, "").strip().rstrip("\x00").strip()

    build = _int(item("OSBuildNumber"))
    if build is None:  # some guests only report OSVersion "10.0.17763"
        build = _int(item("OSVersion").rsplit(".", 1)[-1]) if item("OSVersion").count(".") == 2 else None
    return GuestOs(
        os_name=item("OSName"),
        os_version=item("OSVersion"),
        build=build if build is not None and build >= 0 else None,
        edition_id=_int(item("OSEditionId")),
        product_type=_int(item("ProductType")),
        platform_id=_int(item("OSPlatformId")),
        fqdn=item("FullyQualifiedDomainName"),
        items=tuple(sorted(raw.items())),
    )


def parse_vm(doc: Any, license_read: LicenseRead = LICENSE_NOT_READ) -> Vm:
    doc = doc if isinstance(doc, Mapping) else {}
    return Vm(
        id=_text(doc.get("id")).lower(),
        name=_text(doc.get("name")),
        state=_text(doc.get("state")) or "Unknown",
        generation=_int(doc.get("generation")),
        kvp=parse_kvp(doc.get("kvp")),
        guest=parse_guest_os(doc.get("intrinsic")),
        license=license_read,
    )


def parse_event(doc: Mapping[str, Any]) -> AvmaEvent:
    return AvmaEvent(
        time=_text(doc.get("time")),
        vm_name=_text(doc.get("vm_name")),
        vm_id=_text(doc.get("vm_id")).lower(),
        notification=_text(doc.get("notification")),
        message=_text(doc.get("message")),
    )


def parse_inventory(doc: Any) -> Inventory:
    doc = doc if isinstance(doc, Mapping) else {}
    vms = tuple(parse_vm(vm) for vm in doc.get("vms") or () if isinstance(vm, Mapping))
    events = tuple(parse_event(e) for e in doc.get("events") or () if isinstance(e, Mapping))
    return Inventory(
        host=parse_host(doc.get("host")),
        cluster=parse_cluster(doc.get("cluster")),
        vms=vms,
        events=events,
        read_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def parse_license(doc: Any) -> GuestLicense | None:
    if not isinstance(doc, Mapping):
        return None
    return GuestLicense(
        name=_text(doc.get("name")),
        description=_text(doc.get("description")),
        status=_int(doc.get("license_status")) or 0,
        reason=_int(doc.get("license_status_reason")) or 0,
        grace_minutes=_int(doc.get("grace_minutes")) or 0,
        partial_product_key=_text(doc.get("partial_product_key")),
        product_key_channel=_text(doc.get("product_key_channel")),
        avma_host=_text(doc.get("avma_host")),
        avma_last_activation=_time(doc.get("avma_last_activation")),
    )


def parse_licenses(doc: Any) -> dict[str, LicenseRead]:
    reads: dict[str, LicenseRead] = {}
    for entry in _member(doc, "licenses") or ():
        if not isinstance(entry, Mapping):
            continue
        vm_id = _text(entry.get("vm_id")).lower()
        error = _text(entry.get("error"))
        if error:
            reads[vm_id] = LicenseRead(LicenseState.FAILED, error=error, error_kind=classify_guest_error(error))
        else:
            reads[vm_id] = LicenseRead(LicenseState.READ, license=parse_license(entry.get("license")))
    return reads


#: How each kind of returned document becomes model objects (core/operations.py, `Operation.returns`).
_PARSE: dict[Returns, Callable[[Any], Any]] = {
    Returns.NOTHING: lambda _doc: None,
    Returns.INVENTORY: parse_inventory,
    Returns.VM: parse_vm,
    Returns.LICENSES: parse_licenses,
    Returns.VM_MEMBER: lambda doc: parse_vm(_member(doc, "vm")),
    Returns.LICENSE_MEMBER: lambda doc: parse_license(_member(doc, "license")),
    Returns.HOST_MEMBER: lambda doc: parse_host(_member(doc, "host")),
}


def with_licenses(inventory: Inventory, reads: Mapping[str, LicenseRead]) -> Inventory:
    """The inventory with each VM's license read attached (VMs not in `reads` keep theirs)."""
    from dataclasses import replace

    vms = tuple(replace(vm, license=reads[vm.id]) if vm.id in reads else vm for vm in inventory.vms)
    return replace(inventory, vms=vms)
