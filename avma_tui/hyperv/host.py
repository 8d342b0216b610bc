"""HyperVHost: the async facade over one host's Transport; turns operation JSON into model objects.

The JSON shapes are in docs/operations.md. This module is the parsing boundary: a guest can write
anything into KVP and a host can return surprising values, so

- every text from the host is made valid here (a lone UTF-16 surrogate, which JSON allows as
  "\\ud800" and no encoder accepts, becomes U+FFFD), so nothing downstream — the report's
  output stream, the audit hash, the TUI — ever meets an unencodable string;
- a scalar field that is missing or malformed becomes None / "";
- a member of the wrong JSON type (a number where the VM list belongs, a string for a VM) degrades
  only that item and is named in `Inventory.read_errors`; one bad VM never hides the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from avma_tui.core.catalog import load_catalog
from avma_tui.core.model import (
    LICENSE_NOT_READ,
    AvmaEvent,
    Cluster,
    ClusterNode,
    GuestErrorKind,
    GuestLicense,
    GuestOs,
    Host,
    HostError,
    Inventory,
    Kvp,
    KvpStatus,
    LicenseRead,
    LicenseState,
    OsSource,
    Vm,
)
from avma_tui.core.operations import CREDENTIAL, OPERATIONS, PRODUCT_KEY, VM_ID, Returns
from avma_tui.hyperv.transport import Credential, RemoteError, Transport, valid_text

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
        return parse_inventory(await self._run("inventory", {}))

    async def host_info(self) -> Host:
        """This host's own facts (a cluster node, read over its own connection)."""
        return parse_host(_member(await self.transport.run("host_info", {}), "host"))

    async def vm(self, vm_id: str) -> Vm:
        return parse_vm(await self._run("vm", {"VmId": vm_id}))

    async def conversion_status(self, vm_id: str, credential: Credential) -> ConversionTask | None:
        """The guest's edition conversion task (set_edition), or None when it has none."""
        doc = await self._run("conversion_status", {"VmId": vm_id, "Credential": credential})
        return parse_conversion_task(doc)

    async def guest_licenses(self, vm_ids: Iterable[str], credential: Credential) -> dict[str, LicenseRead]:
        ids = list(vm_ids)
        if not ids:
            return {}
        doc = await self._run("guest_licenses", {"VmIds": ids, "Credential": credential})
        return parse_licenses(doc, ids)

    async def change(self, op: str, params: Mapping[str, Any]) -> Any:
        """Run change operation `op` (core/operations.py) with its bound parameters; what it returns, parsed.

        Any operation of the table runs here without a method of its own: the table says what the
        returned document carries.
        """
        record = OPERATIONS[op]
        if not record.changes:
            raise ValueError(f"{op} is not a change")
        return _PARSE[record.returns](await self._run(op, dict(params)))

    async def _run(self, op: str, params: Mapping[str, Any]) -> Any:
        """The operation's document; RemoteError with the script's error record when it reports one."""
        doc = await self.transport.run(op, params)
        if isinstance(doc, Mapping) and isinstance(doc.get("error"), Mapping):
            raise RemoteError("", record=parse_error(doc["error"]))
        return doc

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

    async def set_edition(self, vm_id: str, edition: str, product_key: str, credential: Credential) -> dict[str, str]:
        """Start the conversion in the guest (detached); returns at once with the guest's task."""
        params = {VM_ID: vm_id, "Edition": edition, PRODUCT_KEY: product_key, CREDENTIAL: credential}
        started: dict[str, str] = await self.change("set_edition", params)
        return started

    async def activate_host(self, product_key: str) -> Host:
        return await self.change("activate_host", {PRODUCT_KEY: product_key})

    async def close(self) -> None:
        await self.transport.close()


# --- error records and their classification ----------------------------------------------------
#
# Classification reads the FullyQualifiedErrorId, the exception type and the HRESULT, never the
# message: Windows localizes messages (a German host says something else), and the tool shows the
# message as Windows wrote it. Sources of each identifier (PowerShell/PowerShell, the same design as
# Windows PowerShell 5.1 on builds >= 14393; see docs/operations.md "Errors"):
#  - InvalidVMState, InvalidVMIdNotSingle, InvalidVMNameNotSingle, PSSessionOpenFailed: errorIds of
#    src/System.Management.Automation/engine/remoting/commands/newrunspacecommand.cs
#    (CreateRunspacesWhenVMParameterSpecified, HandleRunspaceStateChanged; _defaultFQEID) and
#    PSRemotingCmdlet.cs (CreateHelpersForSpecifiedVMSession) for Invoke-Command -VMId;
#    PSSessionStateBroken: engine/remoting/client/Job.cs ProcessJobFailure.
#  - PSDirectException (engine/remoting/common/RemoteSessionHyperVSocket.cs): thrown for
#    RemotingErrorIdStrings InvalidCredential / InvalidUsername when the guest refuses the logon
#    (its only other use, a socket option for containers, does not occur with -VMId).
#  - PSRemotingDataStructureException wraps FatalErrorCausingClose ("A remote session might have
#    ended"): clientremotesessionprotocolstatemachine.cs; VMSessionConnectFailed: OutOfProcTransportManager.cs.
#  - AccessDenied: WSManTransportManager.cs maps WinRM error 5 to the errorId "AccessDenied".
#  - 0x80070005 E_ACCESSDENIED and 0xC004F025 SL_E_LUA_ACCESSDENIED ("The action requires
#    administrator privilege."): https://learn.microsoft.com/en-us/windows/win32/api/slpublic/nf-slpublic-slinstallproofofpurchase

#: What to do about an access-denied error, in plain words (issue 11 item 8). Licensing changes need an
#: administrator token: "SL_E_LUA_ACCESSDENIED 0xC004F025 The action requires administrator privilege."
#: (learn.microsoft.com slinstallproofofpurchase); UAC filters a local, non-built-in administrator's
#: token over the network unless LocalAccountTokenFilterPolicy = 1 ("User Account Control and WMI",
#: https://learn.microsoft.com/windows/win32/wmisdk/user-account-control-and-wmi).
ACCESS_HINT = (
    "Licensing and PowerShell Direct need a member of the local Administrators group: in the guest for the "
    "guest account, on the host for the host account. A local account other than the built-in Administrator "
    "is filtered by UAC over the network unless LocalAccountTokenFilterPolicy is 1 "
    "(HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System); a domain account in "
    "the local Administrators group is not filtered."
)

_PS_DIRECT_IDS = frozenset(
    {"PSSessionOpenFailed", "PSSessionStateBroken", "VMSessionConnectFailed", "CreateRemoteRunspaceForVMFailed"}
)
_PS_DIRECT_EXCEPTIONS = frozenset({"PSRemotingDataStructureException", "PSRemotingTransportException"})
_NOT_FOUND_IDS = frozenset({"InvalidVMIdNotSingle", "InvalidVMNameNotSingle"})
ACCESS_DENIED_HRESULTS = frozenset({0x80070005, 0xC004F025})
#: "HRESULT 0x80004005,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand": how a
#: CimException's FQEID carries the code (public transcripts; docs/avma-reference.md).
_FQEID_HRESULT = re.compile(r"^HRESULT 0x([0-9a-fA-F]{8})\b")


def classify_guest_error(error: HostError | RemoteError) -> GuestErrorKind:
    """Why an operation in a guest failed, from the record's FQEID, exception type and HRESULT."""
    record = error.record if isinstance(error, RemoteError) else error
    error_id, exception = record.error_id, record.exception_name
    if exception == "PSDirectException":
        return GuestErrorKind.CREDENTIAL
    if error_id == "InvalidVMState":
        return GuestErrorKind.NOT_RUNNING
    if error_id in _NOT_FOUND_IDS:
        return GuestErrorKind.NOT_FOUND
    if error_id == "AccessDenied" or hresult_of(record) in ACCESS_DENIED_HRESULTS:
        return GuestErrorKind.ACCESS
    if error_id in _PS_DIRECT_IDS or exception in _PS_DIRECT_EXCEPTIONS:
        return GuestErrorKind.PS_DIRECT
    return GuestErrorKind.OTHER


def hresult_of(error: HostError | BaseException) -> int | None:
    """The error's HRESULT (uint32): the record's own, else one a CimException's FQEID carries."""
    record = error.record if isinstance(error, RemoteError) else error
    if not isinstance(record, HostError):
        return None
    if record.hresult is not None:
        return record.hresult
    match = _FQEID_HRESULT.match(record.fqeid)
    return int(match.group(1), 16) if match else None


def parse_error(doc: Any) -> HostError:
    """An error record of a script's document (docs/operations.md, "Errors"); a bare text is a message."""
    if not isinstance(doc, Mapping):
        return HostError(message=_text(doc) or "The host reported an error without a record.")
    code = _int(doc.get("hresult"))
    return HostError(
        message=_text(doc.get("message")) or "The host reported an error without a message.",
        fqeid=_text(doc.get("fqeid")),
        category=_text(doc.get("category")),
        exception=_text(doc.get("exception")),
        hresult=code & 0xFFFFFFFF if code is not None else None,
        target=_text(doc.get("target")),
    )


def error_document(record: HostError) -> dict[str, Any]:
    """The JSON a script writes for an error record (the simulated host writes the same)."""
    return {
        "fqeid": record.fqeid,
        "category": record.category,
        "exception": record.exception,
        "hresult": record.hresult,
        "target": record.target or None,
        "message": record.message,
    }


# --- parsing ------------------------------------------------------------------------------------


def _member(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, Mapping) else None


def _text(value: Any) -> str:
    """A remote string, capped and valid; numbers and bools become their text; None, lists and objects ""."""
    if value is None or isinstance(value, (list, tuple, Mapping)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return valid_text(str(value)[:MAX_TEXT])


def _kind(value: Any) -> str:
    """The JSON type of a value, for a read error."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object"


class _Problems:
    """The read errors of one document: where the host sent a value of the wrong JSON type."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def note(self, where: str, expected: str, found: Any, consequence: str) -> None:
        self.items.append(f"{valid_text(where)}: expected {expected}, found {_kind(found)}; {consequence}")

    def mapping(self, value: Any, where: str, consequence: str, *, optional: bool = True) -> Mapping[str, Any]:
        """`value` if it is an object; {} (noted unless it is an allowed null) otherwise."""
        if isinstance(value, Mapping):
            return value
        if not (optional and value is None):
            self.note(where, "an object", value, consequence)
        return {}

    def listing(self, value: Any, where: str, consequence: str) -> list[Any]:
        """`value` if it is a list; [] (noted unless null) otherwise."""
        if isinstance(value, (list, tuple)):
            return list(value)
        if value is not None:
            self.note(where, "a list", value, consequence)
        return []


#: Integers outside this range are not Windows values (DWORDs, QWORDs, builds): treated as garbage.
_INT_RANGE = range(-(2**63), 2**64)


def _int(value: Any) -> int | None:
    """An integer from a number or a decimal / 0x-hex string; None for anything else."""
    if isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip().rstrip("\x00").strip()
        if len(text) > 40:  # longer than any 64-bit number: never parse a guest's megabyte of digits
            return None
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            return None
    return number if number is not None and number in _INT_RANGE else None


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _time(value: Any) -> str:
    """An ISO time, or "" for unset (None, "", Windows' 1601-01-01 'never')."""
    text = _text(value).strip()
    return "" if not text or text.startswith("1601-01-01") else text


def parse_host(doc: Any, problems: _Problems | None = None) -> Host:
    problems = problems or _Problems()
    doc = problems.mapping(doc, "host", "the host's own data is unknown", optional=False)
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
        ps_version=_text(doc.get("ps_version")).strip(),
    )


def parse_cluster(doc: Any, problems: _Problems | None = None) -> Cluster | None:
    problems = problems or _Problems()
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        problems.note("cluster", "an object", doc, "the cluster is unknown")
        return None
    nodes: list[ClusterNode] = []
    for index, node in enumerate(problems.listing(doc.get("nodes"), "cluster.nodes", "no node is shown")):
        if not isinstance(node, Mapping):
            problems.note(f"cluster.nodes[{index}]", "an object", node, "that node is not shown")
            continue
        nodes.append(
            ClusterNode(
                name=_text(node.get("name")),
                build=_int(node.get("build")),
                sku=_int(node.get("sku")),
                license_status=_int(node.get("license_status")),
                reachable=node.get("reachable", True) is not False,
                error=_text(node.get("error")),
                # Today's inventory gives a node's name and cluster state only; the client reads the node
                # itself over its own connection (services/nodes.py): until then it is pending. A document
                # with the node's facts (a capture made with the earlier script) is taken as it is.
                state=_text(node.get("state")) or "Up",
                pending="build" not in node and "reachable" not in node,
            )
        )
    return Cluster(name=_text(doc.get("name")), nodes=tuple(nodes))


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


def parse_inside_os(doc: Any) -> GuestOs | None:
    """The guest's Win32_OperatingSystem as guest_licenses read it inside the guest; None when absent.

    Caption (a string that "may contain trailing characters"), BuildNumber (a string), OperatingSystemSKU
    (GetProductInfo's PRODUCT_* values, as KVP's OSEditionId) and ProductType (1 Work Station, 2 Domain
    Controller, 3 Server): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem.
    PowerShell Direct reaches Windows guests only, so the platform is Windows (2).
    """
    if not isinstance(doc, Mapping):
        return None
    caption = _text(doc.get("caption")).strip()
    build_text = _text(doc.get("build_number")).strip()
    build = _int(build_text)
    sku = _int(doc.get("sku"))
    product_type = _int(doc.get("product_type"))
    items = (
        ("Caption", caption),
        ("BuildNumber", build_text),
        ("OperatingSystemSKU", "" if sku is None else str(sku)),
        ("ProductType", "" if product_type is None else str(product_type)),
    )
    return GuestOs(
        os_name=caption,
        os_version="",
        build=build if build is not None and build >= 0 else None,
        edition_id=sku,
        product_type=product_type,
        platform_id=2,
        fqdn="",
        items=tuple((name, value) for name, value in items if value),
        source=OsSource.INSIDE,
    )


def parse_vm(doc: Any, license_read: LicenseRead = LICENSE_NOT_READ, problems: _Problems | None = None) -> Vm:
    problems = problems or _Problems()
    doc = problems.mapping(doc, "vm", "the VM is unknown", optional=False)
    name = _text(doc.get("name"))
    where = f"VM {name or _text(doc.get('id')) or '(no name)'}"
    problems.mapping(doc.get("kvp"), f"{where}: kvp", "its KVP state is unknown")
    problems.mapping(doc.get("intrinsic"), f"{where}: intrinsic", "its guest OS is unknown")
    if doc.get("error") is not None:  # the VM failed mid-read (it vanished): its own error, the rest stands
        problems.items.append(f"{where}: {parse_error(doc.get('error')).message}")
    return Vm(
        id=_text(doc.get("id")).lower(),
        name=name,
        state=_text(doc.get("state")) or "Unknown",
        generation=_int(doc.get("generation")),
        kvp=parse_kvp(doc.get("kvp")),
        guest=parse_guest_os(doc.get("intrinsic")),
        license=license_read,
    )


_GUID_TEXT = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_HRESULT_TEXT = re.compile(r"^0[xX]([0-9a-fA-F]{8})$")


def decode_event(doc: Mapping[str, Any], vms: Iterable[tuple[str, str]] = ()) -> AvmaEvent:
    """One event 12310 from inventory.ps1: its time, its ToXml() event data and its message.

    The data layout is not documented (UNCONFIRMED), so the values are read the same whether the <Data>
    elements carry a Name or not, and in any order: a GUID that is a VM's Id (`vms`: (id, name) pairs) or a
    value that is a unique VM's name names the VM; a value that is one of the four notifications, in
    Microsoft's words (learn.microsoft.com/windows-server/get-started/automatic-vm-activation), is the
    notification; a 0x-prefixed 8-digit hex value is an HRESULT. The message is in the host's language and
    is never read. A document without `data` is the earlier shape (vm_name, vm_id, notification), as older
    captures hold it.
    """
    data = doc.get("data")
    if not isinstance(data, list):
        return AvmaEvent(
            time=_text(doc.get("time")),
            vm_name=_text(doc.get("vm_name")),
            vm_id=_text(doc.get("vm_id")).lower(),
            notification=_text(doc.get("notification")),
            message=_text(doc.get("message")),
            hresult=_int(doc.get("hresult")),
        )
    by_id = {vm_id.lower(): name for vm_id, name in vms}
    by_name: dict[str, str | None] = {}
    for vm_id, name in vms:
        by_name[name.casefold()] = None if name.casefold() in by_name else vm_id.lower()  # names need not be unique
    catalog = load_catalog()
    vm_id = notification = ""
    vm_name = ""
    hresult: int | None = None
    values = [_text(item.get("value")).strip() for item in data if isinstance(item, Mapping)]
    for value in values:
        guid = _GUID_TEXT.match(value)
        if guid and guid[1].lower() in by_id and not vm_id:
            vm_id, vm_name = guid[1].lower(), by_id[guid[1].lower()]
        named = catalog.notification_name(value)
        if named and not notification:
            notification = named
        code = _HRESULT_TEXT.match(value)
        if code and hresult is None:
            hresult = int(code[1], 16)
    if not vm_id:
        for value in values:
            found = by_name.get(value.casefold())
            if found:
                vm_id, vm_name = found, by_id[found]
                break
    return AvmaEvent(
        time=_text(doc.get("time")),
        vm_name=vm_name,
        vm_id=vm_id,
        notification=notification,
        message=_text(doc.get("message")),
        hresult=hresult,
    )


def parse_inventory(doc: Any) -> Inventory:
    problems = _Problems()
    doc = problems.mapping(doc, "inventory", "nothing could be read", optional=False)
    vms: list[Vm] = []
    for index, entry in enumerate(problems.listing(doc.get("vms"), "vms", "no VM is shown")):
        if isinstance(entry, Mapping):
            vms.append(parse_vm(entry, problems=problems))
        else:
            problems.note(f"vms[{index}]", "an object", entry, "that VM is not shown")
    events: list[AvmaEvent] = []
    known = [(vm.id, vm.name) for vm in vms]
    for index, entry in enumerate(problems.listing(doc.get("events"), "events", "no event is shown")):
        if isinstance(entry, Mapping):
            events.append(decode_event(entry, known))
        else:
            problems.note(f"events[{index}]", "an object", entry, "that event is not shown")
    host = parse_host(doc.get("host"), problems)
    cluster = parse_cluster(doc.get("cluster"), problems)
    return Inventory(
        host=host,
        cluster=cluster,
        vms=tuple(vms),
        events=tuple(events),
        read_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        read_errors=tuple(problems.items),
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


def _unreadable(what: str) -> LicenseRead:
    return LicenseRead(LicenseState.FAILED, error=f"The host's answer was not readable: {what}.")


def parse_licenses(doc: Any, vm_ids: Iterable[str] = ()) -> dict[str, LicenseRead]:
    """Each VM's license read. A requested VM the answer does not cover, or covers with a value of
    the wrong type, gets its own FAILED read; the other VMs keep theirs."""
    licenses = _member(doc, "licenses")
    entries = licenses if isinstance(licenses, list) else []
    why = "no answer for this VM"
    if not isinstance(doc, Mapping):
        why = f"the answer is {_kind(doc)}, not an object"
    elif not isinstance(licenses, list):
        why = f"licenses is {_kind(licenses)}, not a list"
    reads: dict[str, LicenseRead] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        vm_id = _text(entry.get("vm_id")).lower()
        if not vm_id:
            continue
        error = entry.get("error")
        license_doc = entry.get("license")
        inside = parse_inside_os(entry.get("os"))  # older scripts and captures have none
        if error is not None and error != "":
            record = parse_error(error)
            reads[vm_id] = LicenseRead(
                LicenseState.FAILED,
                error=record.message,
                error_kind=classify_guest_error(record),
                error_record=record,
                os=inside,
            )
        elif license_doc is not None and not isinstance(license_doc, Mapping):
            reads[vm_id] = replace(_unreadable(f"the license is {_kind(license_doc)}, not an object"), os=inside)
        else:
            reads[vm_id] = LicenseRead(LicenseState.READ, license=parse_license(license_doc), os=inside)
    for vm_id in vm_ids:
        reads.setdefault(vm_id.lower(), _unreadable(why))
    return reads


@dataclass(frozen=True)
class ConversionTask:
    """How the guest's conversion task stands: its State and the last result (DISM's exit code) as uint32."""

    state: str
    last_result: int


def parse_conversion_task(doc: Any) -> ConversionTask | None:
    """{"vm_id", "task": {"state", "last_result"} | null}; anything else reads as no task (nothing concluded)."""
    task = doc.get("task") if isinstance(doc, Mapping) else None
    if not isinstance(task, Mapping):
        return None
    result = task.get("last_result")
    code = result if isinstance(result, int) and not isinstance(result, bool) and 0 <= result <= 0xFFFFFFFF else 0
    return ConversionTask(valid_text(str(task.get("state") or ""))[:40], code)


def parse_started(doc: Any) -> dict[str, str]:
    """What a detached change's answer names ({"vm_id", "started": true, "task"}): the guest's task, as text."""
    task = doc.get("task") if isinstance(doc, Mapping) else None
    return {"task": valid_text(task)[:200]} if isinstance(task, str) and task else {}


#: How each kind of returned document becomes model objects (core/operations.py, `Operation.returns`).
_PARSE: dict[Returns, Callable[[Any], Any]] = {
    Returns.NOTHING: lambda _doc: None,
    Returns.INVENTORY: parse_inventory,
    Returns.VM: parse_vm,
    Returns.LICENSES: parse_licenses,
    Returns.VM_MEMBER: lambda doc: parse_vm(_member(doc, "vm")),
    Returns.LICENSE_MEMBER: lambda doc: parse_license(_member(doc, "license")),
    Returns.HOST_MEMBER: lambda doc: parse_host(_member(doc, "host")),
    Returns.STARTED: lambda doc: parse_started(doc),
}


def with_licenses(inventory: Inventory, reads: Mapping[str, LicenseRead]) -> Inventory:
    """The inventory with each VM's license read attached (VMs not in `reads` keep theirs)."""
    vms = tuple(replace(vm, license=reads[vm.id]) if vm.id in reads else vm for vm in inventory.vms)
    return replace(inventory, vms=vms)
