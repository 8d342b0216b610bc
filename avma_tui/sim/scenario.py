"""Scenario TOML (docs/scenario.md) → a frozen Scenario, with one precise line for every mistake.

People write scenario files by hand to reproduce what they saw at a customer, so a typo must not
pass silently (unknown keys are errors) and every error names the file, the table, the key and what
was expected. Nothing here raises anything but ScenarioError.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from avma_tui.core.catalog import PS_DIRECT_MIN_BUILD
from avma_tui.sim.messages import LANGUAGES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FORMAT_VERSION = 1
VM_STATES = ("Running", "Off", "Saved", "Paused")
KVP_STATUSES = ("OK", "NoContact", "LostCommunication")
NODE_STATES = ("Up", "Down", "Paused", "Joining")
NOTIFICATIONS = ("AVMA Success", "Invalid Host", "Invalid Data", "Activation Denied")
#: How a simulated event 12310 carries its data (ToXml() <EventData>): its layout is not documented
#: (UNCONFIRMED), so the simulator writes either and the tool must read both (hyperv/host.py decode_event).
EVENT_LAYOUTS = ("positional", "named")

#: Namespace of the VM ids derived from names, so the same file always yields the same ids.
VM_ID_NAMESPACE = uuid.UUID("6f1e4d7a-5a3c-4b1e-9d2f-a7a0c0ffee01")

_KEY_SHAPE = re.compile(r"^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$")
_UINT32 = 0xFFFFFFFF  # builds and SKUs are DWORDs on Windows
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


class ScenarioError(ValueError):
    """A bad scenario file. str() is one line: "<file>: [<table>] <key>: <expected, found>"."""


@dataclass(frozen=True)
class SimKnobs:
    latency_ms: float = 0.0
    activation_delay_s: float = 2.0
    boot_delay_s: float = 3.0  # from Start-VM (or a reboot) to Running
    #: DISM /Set-Edition in the guest, from the start of its scheduled task to the restart that finishes it.
    #: Windows' duration is UNCONFIRMED (Microsoft's conversion page says only that the server restarts, twice in
    #: its 2016 text); 10 minutes is a guess, and every test or demo that waits for one sets its own.
    conversion_s: float = 600.0
    seed: int = 1
    #: The host's display language: the language of its error messages (sim/messages.py; de-DE texts are
    #: the simulator's own translations, there to prove classification never reads a message).
    language: str = "en-US"
    event_layout: str = "positional"  # EVENT_LAYOUTS: unnamed <Data> elements (as SPP's events have) or named ones
    #: What Windows costs (docs/scenario.md, [sim]); None: not set in the file. The loopback endpoint waits
    #: REAL_COSTS for an unset one (SimKnobs.cost), the in-process demo waits nothing unless the file says.
    ps_direct_open_s: float | None = None  # opening one PowerShell Direct session, serially
    guest_query_s: float | None = None  # one query in a guest (the license), the sessions' queries in parallel
    inventory_per_vm_s: float | None = None  # the inventory's cost per VM
    node_timeout_s: float | None = None  # a node that does not answer: the client waits its full timeout

    def cost(self, name: str, *, real: bool) -> float:
        """A cost knob's value: the file's, else the real-world default (`real`, the endpoint) or 0."""
        value = getattr(self, name)
        return value if value is not None else REAL_COSTS[name] if real else 0.0


#: What Windows costs, for the knobs a file does not set (the loopback endpoint's defaults). Sources:
#: - ps_direct_open_s: `New-PSSession -VMId` resolves the VMs one by one (`Get-VM -Id`, PowerShell/PowerShell
#:   src/System.Management.Automation/engine/remoting/commands/newrunspacecommand.cs,
#:   CreateRunspacesWhenVMParameterSpecified), then a Hyper-V socket connect, a logon and a powershell.exe
#:   start in the guest: about 1-3 s per guest (issue 10's review; UNCONFIRMED by a Microsoft measurement).
#: - guest_query_s: Get-CimInstance SoftwareLicensingProduct in the guest (UNCONFIRMED, a typical 0.5 s).
#: - inventory_per_vm_s: Get-VM, its KVP integration service and the KVP CIM data, per VM (UNCONFIRMED, 2 ms).
#: - node_timeout_s: a silent node costs the client its whole connection timeout (ConnectionSettings.timeout,
#:   30 s by default).
REAL_COSTS = {"ps_direct_open_s": 1.5, "guest_query_s": 0.5, "inventory_per_vm_s": 0.002, "node_timeout_s": 30.0}


@dataclass(frozen=True)
class HostSpec:
    name: str
    domain: str
    os_name: str
    build: int
    sku: int
    license_status: int
    partial_product_key: str
    hyperv: bool
    virtual: bool
    product_key: str | None = field(repr=False)  # the key that activates this host in the sim
    ps_version: str = "5.1"  # $PSVersionTable.PSVersion (major.minor); PowerShell Direct needs 5


@dataclass(frozen=True)
class NodeSpec:
    name: str
    build: int | None
    sku: int | None
    license_status: int | None
    reachable: bool
    error: str
    state: str = "Up"  # the cluster's view (Get-ClusterNode .State): a node not Up is not contacted


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    nodes: tuple[NodeSpec, ...]


@dataclass(frozen=True)
class GuestCredentials:
    username: str
    password: str = field(repr=False)  # a repr may end up in a log or a traceback


@dataclass(frozen=True)
class LicenseSpec:
    status: int
    reason: int
    channel: str
    partial_product_key: str
    grace_minutes: int
    avma_host: str | None
    avma_last_activation: str | None


@dataclass(frozen=True)
class AddonSpec:
    """A licensing add-on in the guest, such as an Extended Security Updates license: a SoftwareLicensingProduct
    with Windows' ApplicationID, LicenseIsAddon TRUE and a key and status of its own (docs/scenario.md)."""

    name: str
    partial_product_key: str
    status: int
    reason: int


@dataclass(frozen=True)
class VmSpec:
    name: str
    id: str  # lower-case GUID
    state: str
    generation: int
    kvp_enabled: bool
    kvp_status: str
    ps_direct: bool
    guest: tuple[tuple[str, str], ...]  # intrinsic items in file order; () = none
    license: LicenseSpec | None
    spp_error: int | None = None  # every licensing call in the guest fails with this HRESULT (CimException)
    credentials: GuestCredentials | None = None  # this guest's own account, instead of [guest_credentials]
    addons: tuple[AddonSpec, ...] = ()  # licensing add-ons ([[vms.addons]]), never the Windows license


@dataclass(frozen=True)
class EventSpec:
    time: str
    vm: str
    vm_id: str | None
    notification: str
    message: str  # "": the host's own text for the notification, in its language
    hresult: int | None = None  # an HRESULT the event's data carries (0xC004FD02, …)


@dataclass(frozen=True)
class Scenario:
    host: HostSpec
    cluster: ClusterSpec | None
    guest_credentials: GuestCredentials | None
    vms: tuple[VmSpec, ...]
    events: tuple[EventSpec, ...]
    sim: SimKnobs
    source: str  # the file name, for messages and the transport's description


UNREACHABLE_NODE_ERROR = (
    "WinRM cannot complete the operation. Verify that the specified computer name is valid, that the computer is "
    "accessible over the network, and that a firewall exception for the WinRM service is enabled."
)


def derived_vm_id(name: str, occurrence: int = 0) -> str:
    """The id of a VM whose file gives none: stable per name; the n-th duplicate name gets its own."""
    seed = name if occurrence == 0 else f"{name}\x00{occurrence}"
    return str(uuid.uuid5(VM_ID_NAMESPACE, seed))


def is_well_formed_key(key: str) -> bool:
    """Five groups of five letters/digits: the shape of every Windows product key."""
    return bool(_KEY_SHAPE.match(key))


def _describe(value: Any, *, secret: bool = False) -> str:
    """A short, printable rendering of a found value for an error line (repr escapes control characters).

    A `secret` value (a password) is described by its type only.
    """
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (datetime, date, dt_time)):
        zone = "" if getattr(value, "tzinfo", None) else " without a time zone"
        return "a TOML date/time" if secret else f"a TOML date/time {value.isoformat()}{zone}"
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(value), "a value")
    if secret:
        return kind
    text = repr(value)
    return f"{kind} {text[:37] + '...' if len(text) > 40 else text}"


class _Table:
    """One TOML table being read; remembers which keys were used so leftovers can be reported."""

    def __init__(self, data: Any, label: str, source: str) -> None:
        self.label = label
        self.source = source
        if not isinstance(data, dict):
            raise self.error_for("", f"expected a table, found {_describe(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def error_for(self, key: str, what: str) -> ScenarioError:
        if key and not _BARE_KEY.match(key):  # a quoted key can hold anything, even a line break
            key = _describe(key).removeprefix("a string ")
        where = f"[{self.label}] {key}: " if key else f"[{self.label}]: "
        return ScenarioError(f"{self.source}: {where}{what}")

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error_for(key, "required key is missing")
            return None
        return self.data[key]

    def string(
        self, key: str, *, required: bool = False, default: str = "", nonempty: bool = False, secret: bool = False
    ) -> str:
        """A string; a `secret` one is never echoed into the error (it may be a password)."""
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error_for(key, f"expected a string, found {_describe(value, secret=secret)}")
        if nonempty and not value.strip():
            raise self.error_for(key, "expected a non-empty string, found an empty one")
        return value

    def optional_string(self, key: str) -> str | None:
        self.used.add(key)
        return self.string(key) if key in self.data else None

    def integer(
        self, key: str, *, required: bool = False, default: int = 0, low: int | None = None, high: int | None = None
    ) -> int:
        value = self._get(key, required)
        if value is None:
            return default
        if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
            raise self.error_for(key, f"expected {_range_text('an integer', low, high)}, found {_describe(value)}")
        return value

    def optional_integer(self, key: str, *, low: int | None = None, high: int | None = None) -> int | None:
        self.used.add(key)
        return self.integer(key, low=low, high=high) if key in self.data else None

    def number(self, key: str, *, default: float, low: float = 0.0) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if type(value) not in (int, float) or not value >= low or value == float("inf"):
            raise self.error_for(key, f"expected a number >= {low:g}, found {_describe(value)}")
        return float(value)

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error_for(key, f"expected true or false, found {_describe(value)}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, default: str | None = None) -> str:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        if value not in choices:
            raise self.error_for(key, f"expected one of {' | '.join(choices)}, found {_describe(value)}")
        return value

    def guid(self, key: str) -> str | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, str) or not _GUID.match(value):
            raise self.error_for(
                key, f"expected a GUID like 6f1e4d7a-0000-4000-8000-000000000001, found {_describe(value)}"
            )
        return value.strip("{}").lower()

    def time(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else _iso_time(value) if isinstance(value, str) else None
        if moment is None or moment.tzinfo is None:
            raise self.error_for(key, f"expected a UTC time like 2026-11-27T08:00:00Z, found {_describe(value)}")
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        value = self._get(key, required)
        if value is None:
            return None
        label = f"{self.label}.{key}" if self.label != "top level" else key
        return _Table(value, label, self.source)

    def tables(self, key: str) -> list[_Table]:
        """An array of tables ([[vms]]); each labelled with its 1-based position, e.g. vms.3."""
        value = self._get(key, False)
        if value is None:
            return []
        prefix = f"{self.label}.{key}" if self.label != "top level" else key
        if not isinstance(value, list):
            raise self.error_for(key, f"expected an array of tables ([[{prefix}]]), found {_describe(value)}")
        return [_Table(item, f"{prefix}.{n}", self.source) for n, item in enumerate(value, start=1)]

    def done(self) -> None:
        """Reject any key nobody asked for: a typo must not pass silently."""
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            expected = ", ".join(sorted(self.used)) or "no keys"
            raise self.error_for(unknown[0], f"unknown key (expected one of: {expected})")


def _iso_time(text: str) -> datetime | None:
    """An ISO 8601 time; a trailing Z means UTC (Python 3.10's fromisoformat does not know it)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None


def _range_text(kind: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{kind} {low}..{high}"
    if low is not None:
        return f"{kind} >= {low}"
    return kind


def _product_key(table: _Table, key: str) -> str | None:
    """A product key; a malformed one is described by its length only (it may be a real key with a typo)."""
    if key not in table.data:
        table.used.add(key)
        return None
    value = table.string(key, secret=True).strip().upper()
    if not is_well_formed_key(value):
        found = f"{len(value)} characters that are not five groups of five letters and digits"
        raise table.error_for(key, f"expected a product key XXXXX-XXXXX-XXXXX-XXXXX-XXXXX, found {found}")
    return value


def _sim(table: _Table | None) -> SimKnobs:
    if table is None:
        return SimKnobs()
    defaults = SimKnobs()
    knobs = SimKnobs(
        latency_ms=table.number("latency_ms", default=defaults.latency_ms),
        activation_delay_s=table.number("activation_delay_s", default=defaults.activation_delay_s),
        boot_delay_s=table.number("boot_delay_s", default=defaults.boot_delay_s),
        conversion_s=table.number("conversion_s", default=defaults.conversion_s),
        seed=table.integer("seed", default=defaults.seed),
        language=table.choice("language", LANGUAGES, default=defaults.language),
        event_layout=table.choice("event_layout", EVENT_LAYOUTS, default=defaults.event_layout),
        ps_direct_open_s=_optional_number(table, "ps_direct_open_s"),
        guest_query_s=_optional_number(table, "guest_query_s"),
        inventory_per_vm_s=_optional_number(table, "inventory_per_vm_s"),
        node_timeout_s=_optional_number(table, "node_timeout_s"),
    )
    table.done()
    return knobs


def _optional_number(table: _Table, key: str) -> float | None:
    table.used.add(key)
    return table.number(key, default=0.0) if key in table.data else None


def _host(table: _Table) -> HostSpec:
    host = HostSpec(
        name=table.string("name", required=True, nonempty=True),
        domain=table.string("domain"),
        os_name=table.string("os_name"),
        build=table.integer("build", required=True, low=1, high=_UINT32),
        sku=table.integer("sku", required=True, low=0, high=_UINT32),
        license_status=table.integer("license_status", default=1, low=0, high=6),
        partial_product_key=table.string("partial_product_key"),
        hyperv=table.boolean("hyperv", default=True),
        virtual=table.boolean("virtual", default=False),
        product_key=_product_key(table, "product_key"),
        ps_version=_ps_version(table),
    )
    table.done()
    return host


def _ps_version(table: _Table) -> str:
    value = table.string("ps_version", default="5.1").strip()
    if not re.fullmatch(r"\d{1,3}(\.\d{1,9}){1,3}", value):
        raise table.error_for("ps_version", f'expected a version like "5.1", found {_describe(value)}')
    return value


def _cluster(table: _Table | None, host_name: str) -> ClusterSpec | None:
    if table is None:
        return None
    name = table.string("name", required=True, nonempty=True)
    nodes = []
    for node in table.tables("nodes"):
        spec = NodeSpec(
            name=node.string("name", required=True, nonempty=True),
            build=node.optional_integer("build", low=1, high=_UINT32),
            sku=node.optional_integer("sku", low=0, high=_UINT32),
            license_status=node.optional_integer("license_status", low=0, high=6),
            reachable=node.boolean("reachable", default=True),
            error=node.string("error", default=UNREACHABLE_NODE_ERROR),
            state=node.choice("state", NODE_STATES, default="Up"),
        )
        node.done()
        if spec.name.lower() == host_name.lower():
            raise node.error_for("name", f"the host itself ({host_name!r}) is implied; list only the other nodes")
        nodes.append(spec)
    table.done()
    return ClusterSpec(name=name, nodes=tuple(nodes))


def _credentials(table: _Table | None) -> GuestCredentials | None:
    if table is None:
        return None
    creds = GuestCredentials(
        username=table.string("username", required=True, nonempty=True),
        password=table.string("password", required=True, secret=True),
    )
    table.done()
    return creds


def _guest_items(table: _Table | None) -> tuple[tuple[str, str], ...]:
    if table is None:
        return ()
    items = []
    for key in list(table.data):
        items.append((key, table.string(key)))  # any item name; the data must be text, as KVP data is
    table.done()
    return tuple(items)


def _reason(table: _Table, key: str = "reason") -> int:
    value = table.data.get(key, 0)
    table.used.add(key)
    if type(value) is int and 0 <= value <= 0xFFFFFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"0[xX][0-9a-fA-F]{1,8}", value.strip()):
        return int(value.strip(), 16)
    raise table.error_for(key, f'expected an HRESULT like "0xC004FD02" or an integer, found {_describe(value)}')


def _license(table: _Table | None) -> LicenseSpec | None:
    if table is None:
        return None
    spec = LicenseSpec(
        status=table.integer("status", required=True, low=0, high=6),
        reason=_reason(table),
        channel=table.string("channel", required=True, nonempty=True),
        partial_product_key=table.string("partial_product_key"),
        grace_minutes=table.integer("grace_minutes", low=0),
        avma_host=table.optional_string("avma_host"),
        avma_last_activation=table.time("avma_last_activation"),
    )
    table.done()
    return spec


def _addon(table: _Table) -> AddonSpec:
    spec = AddonSpec(
        name=table.string("name", default="Windows(R), Server-ESU-Year1 add-on for ServerDatacenter"),
        partial_product_key=table.string("partial_product_key", required=True, nonempty=True),
        status=table.integer("status", default=1, low=0, high=6),
        reason=_reason(table),
    )
    table.done()
    return spec


def _default_ps_direct(guest: tuple[tuple[str, str], ...]) -> bool:
    """PowerShell Direct needs a Windows 10 / Server 2016 guest (build 14393) or newer (the catalog's fact)."""
    build = dict(guest).get("OSBuildNumber", "").strip().rstrip("\x00")
    return build.isdigit() and int(build) >= PS_DIRECT_MIN_BUILD


def _vm(table: _Table, seen_names: dict[str, int]) -> VmSpec:
    name = table.string("name", required=True, nonempty=True)
    given_id = table.guid("id")
    occurrence = seen_names.get(name, 0)
    seen_names[name] = occurrence + 1
    guest = _guest_items(table.table("guest"))
    vm = VmSpec(
        name=name,
        id=given_id or derived_vm_id(name, occurrence),
        state=table.choice("state", VM_STATES, default="Running"),
        generation=table.integer("generation", default=2, low=1, high=2),
        kvp_enabled=table.boolean("kvp_enabled", default=True),
        kvp_status=table.choice("kvp_status", KVP_STATUSES, default="OK"),
        ps_direct=table.boolean("ps_direct", default=_default_ps_direct(guest)),
        guest=guest,
        license=_license(table.table("license")),
        spp_error=(_reason(table, "spp_error") or None) if "spp_error" in table.data else None,
        credentials=_credentials(table.table("guest_credentials")),
        addons=tuple(_addon(addon) for addon in table.tables("addons")),
    )
    table.done()
    return vm


def _event(table: _Table, vms: tuple[VmSpec, ...]) -> EventSpec:
    time = table.time("time", required=True)
    vm_name = table.string("vm", required=True)
    notification = table.choice("notification", NOTIFICATIONS)
    vm_id = table.guid("vm_id")
    if vm_id is None:
        matches = [vm.id for vm in vms if vm.name == vm_name]
        vm_id = matches[0] if len(matches) == 1 else None
    event = EventSpec(
        time=time or "",
        vm=vm_name,
        vm_id=vm_id,
        notification=notification,
        message=table.string("message"),
        hresult=_reason(table, "hresult") if "hresult" in table.data else None,
    )
    table.done()
    return event


def _decode(text: str | bytes, source: str) -> str:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = text[err.start]
            raise ScenarioError(f"{source}: not UTF-8 text (byte 0x{bad:02x} at offset {err.start})") from None
    return text.removeprefix("\ufeff")  # Notepad's byte-order mark


def parse_scenario(text: str | bytes, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario text; `source` names the file in error messages."""
    text = _decode(text, source)
    if not text.strip():
        raise ScenarioError(f"{source}: the file is empty (expected format = {FORMAT_VERSION}, [host] and [[vms]])")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: TOML syntax error: {err}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: TOML syntax error: arrays or tables nested too deeply") from None
    top = _Table(data, "top level", source)
    version = top._get("format", True)
    if type(version) is not int or version != FORMAT_VERSION:
        raise top.error_for(
            "format", f"expected {FORMAT_VERSION} (the only scenario format), found {_describe(version)}"
        )
    sim = _sim(top.table("sim"))
    host_table = top.table("host", required=True)
    assert host_table is not None
    host = _host(host_table)
    cluster = _cluster(top.table("cluster"), host.name)
    credentials = _credentials(top.table("guest_credentials"))
    seen_names: dict[str, int] = {}
    vms: list[VmSpec] = []
    ids: dict[str, int] = {}
    for position, table in enumerate(top.tables("vms"), start=1):
        vm = _vm(table, seen_names)
        if vm.id in ids:
            raise table.error_for("id", f"duplicate VM id {vm.id} (also used by VM #{ids[vm.id]})")
        ids[vm.id] = position
        vms.append(vm)
    if vms and not host.hyperv:
        raise host_table.error_for("hyperv", "is false, but the file has [[vms]]: a host without Hyper-V has no VMs")
    events = tuple(_event(table, tuple(vms)) for table in top.tables("events"))
    top.done()
    return Scenario(
        host=host,
        cluster=cluster,
        guest_credentials=credentials,
        vms=tuple(vms),
        events=events,
        sim=sim,
        source=source,
    )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file; every failure (missing file too) is a ScenarioError."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{file}: cannot read the file ({err.strerror or type(err).__name__})") from None
    except ValueError:  # a NUL, or a character the file system cannot encode, in the path
        raise ScenarioError(f"{file}: not a usable file name") from None
    return parse_scenario(raw, str(file))
