"""SimHost: the simulated Hyper-V host. Runs each operation of the table (core/operations.py) on scenario state.

It returns exactly the JSON document the operation's PowerShell script returns on Windows and fails
with Windows' wording, so a fix tried in the demo teaches what will happen on a real host. Time is
read from an injected clock, never slept on: a boot or an AVMA activation that is "in progress" is
just a due time, settled when the next operation looks at the state. Tests drive a fake clock.
"""

from __future__ import annotations

import hmac
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from avma_tui.core.catalog import Catalog, Edition, load_catalog
from avma_tui.core.model import HostError
from avma_tui.core.operations import CREDENTIAL, OPERATIONS
from avma_tui.hyperv.host import error_document
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.sim import messages
from avma_tui.sim.messages import GET_CIM_INSTANCE, INVOKE_CIM_METHOD, INVOKE_COMMAND, NEW_PSSESSION
from avma_tui.sim.scenario import AddonSpec, LicenseSpec, Scenario, VmSpec, is_well_formed_key
from avma_tui.sim.wql import first_match, windows_license_filter

#: Windows' ApplicationID in SoftwareLicensingProduct (slmgr.vbs: WindowsAppId).
WINDOWS_APP_ID = "55c92734-d682-4d71-983e-d6ec3f16059f"
AVMA = "VIRTUAL_MACHINE_ACTIVATION"
KMS_CLIENT = "VOLUME_KMSCLIENT"
RETAIL = "RETAIL"

#: The alphabet of Windows 8 and later product keys: a well-formed key outside it is not a key.
KEY_ALPHABET = frozenset("BCDFGHJKMNPQRTVWXY2346789-")

LICENSED, OOB_GRACE, NOTIFICATION = 1, 2, 5
#: LicenseStatus values that count down a grace period: OOB, OOT, non-genuine and extended grace (slmgr.vbs's
#: license status texts; catalog GRACE_STATES).
GRACE = (2, 3, 4, 6)
#: LicenseStatusReason in OOB grace after a key install, until activation: SL_I_OOB_GRACE_PERIOD; and when the
#: grace period has run out: SL_E_GRACE_TIME_EXPIRED (slmgr.vbs HR_SL_E_GRACE_TIME_EXPIRED; avma-reference.md §2.3).
GRACE_REASON, GRACE_EXPIRED = 0x4004F00C, 0xC004F009
FD01, FD02, FD03, FD04 = 0xC004FD01, 0xC004FD02, 0xC004FD03, 0xC004FD04
F050, F069, F074 = 0xC004F050, 0xC004F069, 0xC004F074

AVMA_GRACE_MINUTES = 10080  # an AVMA activation is renewed weekly (operations.md's example)
INSTALL_GRACE_MINUTES = 14400  # grace after a key change, until the new key is activated

_KVP_JSON = {"OK": "Ok", "NoContact": "NoContact", "LostCommunication": "LostCommunication"}
_KEY_CHANNEL = {AVMA: "Volume:GVLK", KMS_CLIENT: "Volume:GVLK", "VOLUME_MAK": "Volume:MAK", "OEM_DM": "OEM:DM"}
#: The EditionID Windows puts into the licensing product's Name, by OperatingSystemSKU.
_EDITION_IDS = {
    4: "Enterprise",
    7: "ServerStandard",
    8: "ServerDatacenter",
    48: "Professional",
    50: "ServerSolution",
    79: "ServerStandardEval",
    80: "ServerDatacenterEval",
    407: "ServerTurbine",
}
_SET_EDITION_SKU = {"ServerStandard": 7, "ServerDatacenter": 8}
#: The scheduled task set_edition.ps1 registers in the guest (its name is the script's).
CONVERSION_TASK = "\\avma-tui\\set-edition"


class _Fail(Exception):
    """A failure the operation's script catches and reports as its document's error record."""

    def __init__(self, record: HostError) -> None:
        super().__init__(record.message)
        self.record = record


@dataclass
class _License:
    status: int
    reason: int
    channel: str
    partial_product_key: str
    grace_minutes: int
    avma_host: str | None
    avma_last_activation: str | None
    grace_ends_at: float | None = None  # a grace state's end on the sim's clock; None: no countdown

    @classmethod
    def from_spec(cls, spec: LicenseSpec) -> _License:
        return cls(
            spec.status,
            spec.reason,
            spec.channel,
            spec.partial_product_key,
            spec.grace_minutes,
            spec.avma_host,
            spec.avma_last_activation,
        )


@dataclass
class _Vm:
    """One VM's mutable state; the guest items are what the guest *would* report (its truth)."""

    id: str
    name: str
    state: str
    generation: int
    kvp_enabled: bool
    kvp_status: str
    ps_direct: bool
    guest: dict[str, str]
    license: _License | None
    spp_error: int | None = None
    credentials: Credential | None = None  # the guest's own account ([vms.guest_credentials])
    booted_at: float | None = None  # Starting until then
    addons: tuple[AddonSpec, ...] = ()  # licensing add-ons (an ESU license): rows the scripts must not read
    activation_due: float | None = None  # an AVMA attempt in progress completes then
    conversion: _Conversion | None = None  # DISM /Set-Edition running in its scheduled task in the guest
    restarted_at: float | None = None  # the guest OS restarts (the VM stays Running) and is back then
    conversion_result: int | None = None  # the conversion task's last result once it ran (0: done)

    @classmethod
    def from_spec(cls, spec: VmSpec) -> _Vm:
        license_ = _License.from_spec(spec.license) if spec.license else None
        return cls(
            spec.id,
            spec.name,
            spec.state,
            spec.generation,
            spec.kvp_enabled,
            spec.kvp_status,
            spec.ps_direct,
            dict(spec.guest),
            license_,
            spec.spp_error,
            Credential(spec.credentials.username, spec.credentials.password) if spec.credentials else None,
            addons=spec.addons,
        )

    @property
    def kvp_ok(self) -> bool:
        return self.state == "Running" and self.kvp_enabled and self.kvp_status == "OK" and self.restarted_at is None

    def item_int(self, name: str) -> int | None:
        text = self.guest.get(name, "").strip().rstrip("\x00")
        return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class _Conversion:
    """DISM /Set-Edition under way in the guest, detached from every session: only its due time ends it."""

    due: float
    target: str  # ServerStandard | ServerDatacenter
    key: str
    channel: str | None  # the channel the key installs as; None: DISM fails at the end (the key does not fit)


@dataclass(order=True)
class _Event:
    time: str
    seq: int
    vm_name: str = field(compare=False)
    vm_id: str | None = field(compare=False)
    notification: str = field(compare=False)
    message: str = field(compare=False)  # "": the host's text for the notification, in its language
    hresult: int | None = field(default=None, compare=False)


class SimHost:
    """A simulated Hyper-V host built from a Scenario. `run` is thread-safe (one lock)."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.name = scenario.host.name
        self.guest_credentials = (
            Credential(scenario.guest_credentials.username, scenario.guest_credentials.password)
            if scenario.guest_credentials
            else None
        )
        self._clock = clock
        self._catalog: Catalog = load_catalog()
        self._lock = threading.Lock()
        #: PowerShell Direct logon attempts (event 4624/4625 in a guest) and sessions opened, for tests and benches.
        self.guest_logons = 0
        self.guest_sessions = 0
        self._nodes: dict[str, SimHost] = {}
        self._started = clock()
        self._started_wall = datetime.now(timezone.utc)
        self._host_license_status = scenario.host.license_status
        self._host_partial_key = scenario.host.partial_product_key
        self._vms = [_Vm.from_spec(spec) for spec in scenario.vms]
        self._by_id = {vm.id: vm for vm in self._vms}
        self._events = [
            _Event(e.time, n, e.vm, e.vm_id, e.notification, e.message, e.hresult)
            for n, e in enumerate(scenario.events)
        ]
        for vm in self._vms:  # a grace period counts down from the moment the host starts
            lic = vm.license
            if lic is not None and lic.status in GRACE and lic.grace_minutes > 0:
                lic.grace_ends_at = self._started + lic.grace_minutes * 60

    def run(self, op: str, params: Mapping[str, Any]) -> Any:
        """Run one operation: its document, or {"error": RECORD} where its script reports a failure (docs/operations.md,
        "Errors"). A parameter that does not bind, or an unknown operation, raises RemoteError as PowerShell does."""
        handler = self._handler(op)
        if handler is None:
            raise RemoteError(
                f"The term '{op}' is not recognized as the name of a cmdlet, function, script file, or operable "
                "program.",
                "CommandNotFoundException",
            )
        with self._lock:
            now = self._clock()
            self._settle(now)
            try:
                return handler(params, now)
            except _Fail as failure:  # the script's catch: its document carries the error record
                return {"error": error_document(failure.record)}

    @property
    def language(self) -> str:
        return self.scenario.sim.language

    def _handler(self, op: str) -> Callable[[Mapping[str, Any], float], Any] | None:
        """The method `_<op>` that simulates operation `op` of the table (core/operations.py)."""
        return getattr(self, f"_{op}", None) if op in OPERATIONS else None

    # --- cost and cluster nodes ---------------------------------------------------------------------

    def cost(self, op: str, params: Mapping[str, Any], *, real: bool = False) -> float:
        """Seconds Windows would take for this operation ([sim] cost knobs; `real`: unset knobs at their
        real-world defaults, as the loopback endpoint runs them). The caller waits them, outside the lock."""
        knobs = self.scenario.sim
        open_s = knobs.cost("ps_direct_open_s", real=real)
        query_s = knobs.cost("guest_query_s", real=real)
        with self._lock:
            if op == "inventory":
                return knobs.cost("inventory_per_vm_s", real=real) * len(self._vms)
            if op == "guest_licenses":
                ids = params.get("VmIds") or []
                vms = [self._by_id.get(str(v).strip("{}").lower()) for v in (ids if isinstance(ids, list) else [ids])]
                tried = [vm for vm in vms if vm is not None and vm.state == "Running" and vm.ps_direct]
                opened = [vm for vm in tried if self._credential_ok(vm, params.get("Credential"))]
                # Sessions open one after another (newrunspacecommand.cs); the script's Invoke-Command then
                # queries them 16 at a time (-ThrottleLimit 16 in guest_licenses.ps1).
                return open_s * len(tried) + query_s * -(-len(opened) // 16)
            if op in OPERATIONS and CREDENTIAL in OPERATIONS[op].params:
                return open_s + query_s
        return 0.0

    def node(self, name: str) -> SimHost | None:
        """The simulated host of cluster node `name` (state kept across calls); None for no such node."""
        cluster = self.scenario.cluster
        spec = next((n for n in cluster.nodes if n.name.lower() == name.lower()), None) if cluster else None
        if spec is None:
            return None
        if spec.name not in self._nodes:
            host = self.scenario.host
            node_host = replace(
                host,
                name=spec.name,
                os_name="",
                build=spec.build or host.build,
                sku=spec.sku if spec.sku is not None else host.sku,
                license_status=spec.license_status if spec.license_status is not None else 1,
                partial_product_key="",
                product_key=None,
            )
            node = replace(self.scenario, host=node_host, cluster=None, guest_credentials=None, vms=(), events=())
            self._nodes[spec.name] = SimHost(node, clock=self._clock)
        return self._nodes[spec.name]

    # --- time ---------------------------------------------------------------------------------------

    def _wall(self, moment: float) -> str:
        """The UTC time of a clock reading, for event times and AVMA activation times."""
        wall = self._started_wall + timedelta(seconds=moment - self._started)
        return wall.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _settle(self, now: float) -> None:
        """Finish every boot and AVMA attempt that is due. A VM boots before its own attempt completes;
        VMs never affect each other, so the order between them does not matter."""
        for vm in self._vms:
            if vm.conversion is not None and vm.conversion.due <= now:
                self._finish_conversion(vm)
            if vm.booted_at is not None and vm.booted_at <= now:
                vm.state, vm.booted_at = "Running", None
            if vm.restarted_at is not None and vm.restarted_at <= now:
                vm.restarted_at = None
            if vm.activation_due is not None and vm.activation_due <= now:
                due, vm.activation_due = vm.activation_due, None
                self._complete_activation(vm, due)
            lic = vm.license
            if lic is not None and lic.grace_ends_at is not None and lic.grace_ends_at <= now:
                # The grace period ran out before activation: Notification, "grace time expired" (slmgr.vbs).
                lic.status, lic.reason, lic.grace_minutes, lic.grace_ends_at = NOTIFICATION, GRACE_EXPIRED, 0, None

    # --- documents ----------------------------------------------------------------------------------

    def _host_doc(self) -> dict[str, Any]:
        host = self.scenario.host
        return {
            "name": host.name,
            "domain": host.domain or None,
            "os_name": host.os_name or None,
            "build": host.build,
            "sku": host.sku,
            "license_status": self._host_license_status,
            "partial_product_key": self._host_partial_key or None,
            "hyperv": host.hyperv,
            "virtual": host.virtual,
            "ps_version": host.ps_version,
        }

    def _cluster_doc(self) -> dict[str, Any] | None:
        cluster = self.scenario.cluster
        if cluster is None:
            return None
        # As inventory.ps1: each node's name and cluster state; the client reads the node itself (host_info).
        return {"name": cluster.name, "nodes": [{"name": node.name, "state": node.state} for node in cluster.nodes]}

    def _vm_doc(self, vm: _Vm) -> dict[str, Any]:
        running = vm.state == "Running"
        return {
            "id": vm.id,
            "name": vm.name,
            "state": vm.state,
            "generation": vm.generation,
            "kvp": {
                "enabled": vm.kvp_enabled,
                "status": (
                    ("NoContact" if vm.restarted_at is not None else _KVP_JSON[vm.kvp_status])
                    if running and vm.kvp_enabled
                    else None
                ),
            },
            "intrinsic": dict(vm.guest) if vm.kvp_ok else {},
            "error": None,
        }

    def _products(self, vm: _Vm) -> list[dict[str, Any]]:
        """The guest's SoftwareLicensingProduct rows with Windows' ApplicationID, in the order the guest lists them:
        its add-ons (an ESU license: LicenseIsAddon TRUE, a key and status of their own; slmgr.vbs
        GetIsPrimaryWindowsSKU), a Windows SKU without a key, then the Windows product with the installed key."""
        edition_id = _EDITION_IDS.get(vm.item_int("OSEditionId") or -1)
        rows: list[dict[str, Any]] = [
            {
                "ApplicationID": WINDOWS_APP_ID,
                "LicenseIsAddon": True,
                "Name": addon.name,
                "Description": "Windows(R) Operating System, VOLUME_MAK channel",
                "LicenseStatus": addon.status,
                "LicenseStatusReason": addon.reason,
                "GracePeriodRemaining": 0,
                "PartialProductKey": addon.partial_product_key,
                "ProductKeyChannel": "Volume:MAK",
                "AutomaticVMActivationHostMachineName": None,
                "AutomaticVMActivationLastActivationTime": None,
            }
            for addon in vm.addons
        ]
        rows.append({"ApplicationID": WINDOWS_APP_ID, "LicenseIsAddon": False, "PartialProductKey": None})
        lic = vm.license
        if lic is not None:
            rows.append(
                {
                    "ApplicationID": WINDOWS_APP_ID,
                    "LicenseIsAddon": False,
                    "Name": f"Windows(R), {edition_id} edition" if edition_id else "Windows(R) Operating System",
                    "Description": f"Windows(R) Operating System, {lic.channel} channel",
                    "LicenseStatus": lic.status,
                    "LicenseStatusReason": lic.reason,
                    "GracePeriodRemaining": self._grace_minutes(lic),
                    "PartialProductKey": lic.partial_product_key or "",
                    "ProductKeyChannel": _KEY_CHANNEL.get(lic.channel, "Retail"),
                    "AutomaticVMActivationHostMachineName": lic.avma_host,
                    "AutomaticVMActivationLastActivationTime": lic.avma_last_activation,
                }
            )
        return rows

    def _grace_minutes(self, lic: _License) -> int:
        """GracePeriodRemaining, in minutes (SL_LICENSING_STATUS dwGraceTime, "The grace time in minutes.")."""
        if lic.grace_ends_at is None:
            return lic.grace_minutes
        return max(0, math.ceil((lic.grace_ends_at - self._clock()) / 60))

    def _license_doc(self, vm: _Vm) -> dict[str, Any] | None:
        """lib/guest_license.ps1's LICENSE document from the product the scripts' own filter selects."""
        product = first_match(self._products(vm), windows_license_filter())
        if product is None:
            return None
        return {
            "name": product["Name"],
            "description": product["Description"],
            "license_status": product["LicenseStatus"],
            "license_status_reason": product["LicenseStatusReason"],
            "grace_minutes": product["GracePeriodRemaining"],
            "partial_product_key": product["PartialProductKey"] or None,
            "product_key_channel": product["ProductKeyChannel"],
            "avma_host": product["AutomaticVMActivationHostMachineName"],
            "avma_last_activation": product["AutomaticVMActivationLastActivationTime"],
        }

    def _os_doc(self, vm: _Vm) -> dict[str, Any] | None:
        """The guest's Win32_OperatingSystem as guest_os.ps1 reports it, from the guest's truth (its KVP items are
        what it would report; inside the guest Windows reports the same OS whether KVP passes it on or not)."""
        if not vm.guest.get("OSName") and vm.item_int("OSBuildNumber") is None:
            return None
        name = vm.guest.get("OSName", "").strip()
        return {
            # The Caption names the vendor ("Microsoft Windows 10 Pro" in public transcripts; for a server
            # "Microsoft Windows Server 2022 Datacenter": UNCONFIRMED), KVP's OSName does not. The diagnosis
            # reads either alike.
            "caption": f"Microsoft {name}" if name.startswith("Windows") else name,
            "build_number": vm.guest.get("OSBuildNumber", "").strip(),
            "sku": vm.item_int("OSEditionId"),
            "product_type": vm.item_int("ProductType"),
        }

    def _event_docs(self) -> list[dict[str, Any]]:
        """inventory.ps1's events: each 12310's time, its ToXml() event data and its message. The layout of the data
        is not documented (UNCONFIRMED): `[sim] event_layout` writes unnamed <Data> elements, as the Software
        Protection Platform's events carry them, or named ones (names UNCONFIRMED); the tool reads both."""
        newest = sorted(self._events, reverse=True)[:200]
        named = self.scenario.sim.event_layout == "named"
        docs = []
        for e in newest:
            fields = [("Notification", e.notification), ("VmName", e.vm_name)]
            if e.vm_id:
                fields.append(("VmId", "{" + e.vm_id.upper() + "}"))
            if e.hresult is not None:
                fields.append(("HResult", f"0x{e.hresult:08X}"))
            docs.append(
                {
                    "time": e.time,
                    "data": [{"name": name if named else None, "value": value} for name, value in fields],
                    "message": e.message or messages.event_message(e.notification, self.language),
                }
            )
        return docs

    # --- parameters and checks ----------------------------------------------------------------------

    def _find(self, params: Mapping[str, Any]) -> _Vm:
        vm_id = _param(params, "VmId")
        vm = self._by_id.get(str(vm_id).strip("{}").lower())
        if vm is None:
            raise _Fail(messages.vm_not_found(str(vm_id), self.language))
        return vm

    def _credential_ok(self, vm: _Vm, credential: Any) -> bool:
        """Whether the guest accepts this logon, compared in constant time (the sim must not teach timing leaks).

        Account names are given the ways Windows' logon takes them (LogonUser,
        https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-logonuserw: a domain and a user name, "."
        for the local account database, or a UPN "User@DNSDomainName"); PowerShell Direct hands the PSCredential's
        domain and user name to the guest (PowerShell/PowerShell RemoteSessionHyperVSocket.cs,
        ExchangeCredentialsAndConfiguration). A local account (a bare name in the scenario) matches `user`,
        `.\\user` and `COMPUTER\\user`; a domain account (`DOMAIN\\user` or `user@domain` in the scenario) matches
        `DOMAIN\\user` and `user@domain`, with a NetBIOS name and a DNS name the same domain when the NetBIOS name
        is the DNS name's first label (the default when a domain is created; UNCONFIRMED for every domain). A bare
        name never logs on as a domain account: it names the guest's own account first (UNCONFIRMED)."""
        expected = vm.credentials or self.guest_credentials
        if expected is None or not isinstance(credential, Credential):
            return False
        want_domain, want_user = _account(expected.username)
        given_domain, given_user = _account(credential.username)
        if want_domain is None:  # a local account: no domain, ".", or the guest's own computer name
            domain_ok = given_domain is None or _same_domain(given_domain, self._computer_name(vm))
        else:
            domain_ok = given_domain is not None and _same_domain(given_domain, want_domain)
        user_ok = hmac.compare_digest(given_user.casefold().encode(), want_user.casefold().encode())
        password_ok = hmac.compare_digest(credential.password.encode(), expected.password.encode())
        return user_ok & password_ok & domain_ok

    @staticmethod
    def _computer_name(vm: _Vm) -> str:
        """The guest's computer name: the first label of its FullyQualifiedDomainName KVP item, else the VM's name."""
        fqdn = vm.guest.get("FullyQualifiedDomainName", "").strip().rstrip("\x00")
        return fqdn.split(".", 1)[0] if fqdn else vm.name

    def _ps_direct_error(self, vm: _Vm, credential: Any, command: str) -> HostError | None:
        """Why PowerShell Direct into this guest fails, as Windows' error record; None when it works.

        The order is Windows': New-PSSession / Invoke-Command -VMId check the VM's state before any
        connection (newrunspacecommand.cs), then the guest must answer (a 2012 R2 guest cannot), then
        it checks the credential (RemoteSessionHyperVSocket.cs)."""
        if vm.state != "Running":
            return messages.invalid_vm_state(vm.name, command, self.language)
        if not vm.ps_direct or vm.restarted_at is not None:  # a guest restarting has no PowerShell Direct listener
            return messages.ps_direct_unavailable(vm.id, vm.name, command, self.language)
        self.guest_logons += 1
        if not self._credential_ok(vm, credential):
            return messages.credential_invalid(vm.id, command, self.language)
        self.guest_sessions += 1
        return None

    def _ps_direct(self, params: Mapping[str, Any]) -> _Vm:
        """The VM of an Invoke-Command -VMId operation, reachable over PowerShell Direct."""
        vm_id = _param(params, "VmId")
        vm = self._by_id.get(str(vm_id).strip("{}").lower())
        if vm is None:  # Invoke-Command resolves the Id itself (Get-VM -Id inside it)
            raise _Fail(messages.invalid_vm_id(str(vm_id).strip("{}").lower(), INVOKE_COMMAND, self.language))
        error = self._ps_direct_error(vm, params.get("Credential"), INVOKE_COMMAND)
        if error is not None:
            raise _Fail(error)
        return vm

    def _sl_error(self, code: int, target: str = "SoftwareLicensingService") -> _Fail:
        """A Software Licensing method failure (Invoke-CimMethod): a CimException with the HRESULT."""
        return _Fail(messages.cim_error(code, INVOKE_CIM_METHOD, target, self.language))

    def _spp_check(self, vm: _Vm, command: str = INVOKE_CIM_METHOD) -> None:
        """A guest whose licensing service fails (scenario `spp_error`) fails every licensing call."""
        if vm.spp_error is not None:
            raise _Fail(messages.cim_error(vm.spp_error, command, "", self.language))

    # --- edition and key rules ----------------------------------------------------------------------

    def _guest_edition(self, vm: _Vm) -> Edition:
        return self._catalog.edition(vm.item_int("OSEditionId"), vm.guest.get("OSName", ""))

    def _guest_family(self, vm: _Vm) -> str | None:
        return self._catalog.family_of(vm.item_int("OSBuildNumber"))

    def _kms_fits(self, version: str, build: int | None) -> bool:
        """A KMS client key fits its family, or the SAC releases it names ("1803", "SAC …/1909/…")."""
        if version == self._catalog.family_of(build):
            return True
        info = self._catalog.build_info(build)
        tokens = version.replace("/", " ").split()
        return info is not None and any(token in info.name for token in tokens)

    def _classify_key(self, key: str, edition: Edition, build: int | None) -> str:
        """The channel a key installs as on this edition and build; raises 0xC004F050 / 0xC004F069 as Windows does."""
        if not is_well_formed_key(key) or not set(key) <= KEY_ALPHABET:
            raise self._sl_error(F050)
        avma = self._catalog.avma_key_by_last5(key[-5:])
        kms = self._catalog.kms_key_by_last5(key[-5:])
        if avma is not None and avma.key == key:
            if edition.evaluation or avma.edition != edition.name or avma.family != self._catalog.family_of(build):
                raise self._sl_error(F069)
            return AVMA
        if kms is not None and kms.key == key:
            if edition.evaluation or kms.edition != edition.name or not self._kms_fits(kms.version, build):
                raise self._sl_error(F069)
            return KMS_CLIENT
        if avma is not None or kms is not None:  # a catalog key with a typo
            raise self._sl_error(F050)
        return RETAIL

    def _install(self, vm: _Vm, key: str, channel: str, now: float) -> None:
        """InstallProductKey: the new key is not activated yet, so the license is in its grace state — OOB grace
        with SL_I_OOB_GRACE_PERIOD (0x4004F00C, what Microsoft's ospp.vbs prints for a key awaiting activation;
        docs/avma-reference.md §2.3) while grace time is left, Notification with SL_E_GRACE_TIME_EXPIRED once it
        has run out. A guest still in grace keeps its remaining grace; one with none yet gets the install's grace
        (the length is the simulator's, UNCONFIRMED). The reason is never 0 before activation. Windows then
        activates an AVMA key by itself in the background (the guest asks the host over KVP; the AVMA page,
        learn.microsoft.com/windows-server/get-started/automatic-vm-activation): `activation_due`."""
        prev = vm.license
        if prev is not None and prev.status in (0, NOTIFICATION):
            status, reason, ends = NOTIFICATION, GRACE_EXPIRED, None
        elif prev is not None and prev.status in GRACE and prev.grace_ends_at is not None and prev.grace_ends_at > now:
            status, ends = prev.status, prev.grace_ends_at
            reason = GRACE_REASON if status == OOB_GRACE else prev.reason
        else:
            status, reason, ends = OOB_GRACE, GRACE_REASON, now + INSTALL_GRACE_MINUTES * 60
        vm.license = _License(status, reason, channel, key[-5:], 0, None, None, ends)
        vm.activation_due = now + self.scenario.sim.activation_delay_s if channel == AVMA else None

    def _avma_failure(self, vm: _Vm) -> tuple[int, str | None] | None:
        """Why this host refuses the guest's AVMA request (HRESULT, 12310 notification); None when it grants it."""
        if not vm.kvp_ok:
            return FD04, None  # the request never reaches the host: no event there
        host = self.scenario.host
        host_edition = self._catalog.edition(host.sku, host.os_name)
        if not host.hyperv or host_edition.name not in ("Datacenter", "Datacenter: Azure Edition"):
            return FD01, "Invalid Host"
        # A host that is itself a VM: the one public report (nested in Azure) saw 0xC004FD02
        # (docs/avma-reference.md §2.3).
        if host.virtual or self._host_license_status != LICENSED:
            return FD02, "Invalid Host"
        key = self._catalog.avma_key_by_last5(vm.license.partial_product_key if vm.license else "")
        host_family = self._catalog.family_of(host.build)
        fits = key is not None and key.family == self._guest_family(vm) and "Azure" not in key.edition
        if not fits or not self._catalog.host_can_activate(host_family, self._guest_family(vm)):
            return FD03, "Activation Denied"
        return None

    def _complete_activation(self, vm: _Vm, due: float) -> None:
        """The background AVMA attempt after a key install (or a boot) is due."""
        lic = vm.license
        if lic is None or lic.channel != AVMA:
            return
        self._avma_attempt(vm, due)

    def _avma_attempt(self, vm: _Vm, moment: float) -> tuple[int, str | None] | None:
        """One AVMA activation attempt: Licensed, or the license stays in its grace state (its reason unchanged)
        until the grace period ends, as Windows keeps a product in grace after a failed activation. The host
        logs event 12310 with the outcome and the failure's HRESULT in its data (a request that never reached
        the host — KVP not working — logs nothing there). Returns the failure (HRESULT, notification) or None."""
        lic = vm.license
        assert lic is not None
        failure = self._avma_failure(vm)
        if failure is None:
            lic.status, lic.reason, lic.grace_minutes, lic.grace_ends_at = LICENSED, 0, AVMA_GRACE_MINUTES, None
            lic.avma_host, lic.avma_last_activation = self.name, self._wall(moment)
            notification: str | None = "AVMA Success"
            code: int | None = None
        else:
            code, notification = failure
        if notification is not None:
            self._events.append(_Event(self._wall(moment), len(self._events), vm.name, vm.id, notification, "", code))
        return failure

    # --- operations ---------------------------------------------------------------------------------

    def _inventory(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {
            "host": self._host_doc(),
            "cluster": self._cluster_doc(),
            "vms": [self._vm_doc(vm) for vm in self._vms],
            "events": self._event_docs(),
        }

    def _host_info(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {"host": self._host_doc()}

    def _vm(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return self._vm_doc(self._find(params))

    def _preflight(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        """What preflight.ps1 reports, for a session as the built-in Administrator on a freshly set-up host:
        Windows PowerShell 5.1, elevated, WinRM's defaults (MS-WSMV 2.2.4.42: MaxShellsPerUser 30; 2.2.4.10:
        MaxEnvelopeSizekb 500; the PowerShell plug-in 25, MS-WSMV 3.1.4.1.34.3.4). The idle timeout is the
        protocol's default, 180000 ms (Windows Server 2016+ may ship 7200000: UNCONFIRMED)."""
        host = self.scenario.host
        return {
            "ps_version": "5.1.20348.2652" if host.build >= 14393 else "4.0",
            "ps_edition": "Desktop",
            "os_build": host.build,
            "culture": "en-US",
            "ui_culture": "en-US",
            "user": f"{host.name}\\Administrator",
            "user_sid": "S-1-5-21-1004336348-1177238915-682003330-500",
            "elevated": True,
            "local_account": True,
            "builtin_administrator": True,
            "local_account_token_filter_policy": None,
            "vmms": "Running" if host.hyperv else None,
            "hyperv_module": "2.0.0.0" if host.hyperv else None,
            "winrm": {
                "max_shells_per_user": 30,
                "max_envelope_size_kb": 500,
                "idle_timeout_ms": 180000,
                "plugin_max_shells_per_user": 25,
            },
        }

    def _guest_licenses(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        ids = _param(params, "VmIds")
        if isinstance(ids, str) or not isinstance(ids, (list, tuple)):
            ids = [ids]
        credential = params.get("Credential")
        entries = []
        for vm_id in ids:
            key = str(vm_id).strip("{}").lower()
            vm = self._by_id.get(key)
            error = (
                messages.invalid_vm_id(key, NEW_PSSESSION, self.language)
                if vm is None
                else self._ps_direct_error(vm, credential, NEW_PSSESSION)
            )
            os_doc = self._os_doc(vm) if vm is not None and error is None else None  # inside the guest
            if vm is not None and error is None and vm.spp_error is not None:
                error = messages.cim_error(vm.spp_error, GET_CIM_INSTANCE, "", self.language)
            license_doc = None if vm is None or error else self._license_doc(vm)
            record = error_document(error) if error is not None else None
            entries.append({"vm_id": key, "license": license_doc, "error": record, "os": os_doc})
        return {"licenses": entries}

    def _enable_kvp(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        vm = self._find(params)
        vm.kvp_enabled, vm.kvp_status = True, "OK"  # docs/scenario.md: enabling makes the status OK
        return {"vm": self._vm_doc(vm)}

    def _start_vm(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        vm = self._find(params)
        if vm.state != "Running" and vm.booted_at is None:
            self._boot(vm, now)
        return {"vm": self._vm_doc(vm)}

    def _boot(self, vm: _Vm, now: float) -> None:
        delay = self.scenario.sim.boot_delay_s
        vm.state, vm.booted_at = ("Starting", now + delay) if delay > 0 else ("Running", None)

    def _start_guest_kvp(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        vm = self._ps_direct(params)
        vm.kvp_status = "OK"  # the guest's vmickvpexchange runs again; the host sees it at once
        return {"vm_id": vm.id, "service": "Running"}

    def _install_key(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        key = str(_param(params, "ProductKey")).strip().upper()
        vm = self._ps_direct(params)
        self._spp_check(vm)
        channel = self._classify_key(key, self._guest_edition(vm), vm.item_int("OSBuildNumber"))
        self._install(vm, key, channel, now)
        return {"vm_id": vm.id, "license": self._license_doc(vm)}

    def _activate_guest(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        vm = self._ps_direct(params)
        self._spp_check(vm, GET_CIM_INSTANCE)
        lic = vm.license
        if lic is None:  # activate_guest.ps1's own error: slmgr's HR_SL_E_PKEY_NOT_INSTALLED (slmgr.vbs)
            raise _Fail(messages.tool_error("NoProductKey", 0xC004F014, self._no_key_text()))
        if lic.channel == AVMA:
            # Activate() is synchronous: it returns once the guest is activated or raises the failure's HRESULT
            # (slmgr.vbs /ato: objProduct.Activate() then QuitIfError(), then RefreshLicenseStatus and the
            # status read; SoftwareLicensingProduct's Activate method,
            # learn.microsoft.com/previous-versions/windows/desktop/sppwmi/softwarelicensingproduct). A background
            # attempt still pending is what this call does now.
            vm.activation_due = None
            failure = self._avma_attempt(vm, now)
            if failure is not None:
                raise self._sl_error(failure[0], "SoftwareLicensingProduct")
        elif lic.channel == KMS_CLIENT:
            raise self._sl_error(F074)
        elif lic.status != LICENSED:  # retail, MAK, OEM: activated online by Microsoft
            lic.status, lic.reason, lic.grace_minutes = LICENSED, 0, 0
        return {"vm_id": vm.id, "license": self._license_doc(vm)}

    def _set_edition(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        """set_edition.ps1: check the target edition in the guest, then start DISM in a scheduled task and return.

        The checks are the script's own, before anything starts (Get-WindowsEdition -Online and -Target): a guest
        that is no Evaluation is refused with DISM's exit code 50, a target edition it cannot become with 87.
        Everything else happens in the background, whatever becomes of this session: after `conversion_s` the
        guest restarts with the new edition and key, or, when the key does not fit the new edition (DISM fails
        with 0xC004F069 in its task), nothing changes. A second start while one runs starts nothing
        (the task's MultipleInstances IgnoreNew).
        """
        target = str(_param(params, "Edition"))
        key = str(_param(params, "ProductKey")).strip().upper()
        vm = self._ps_direct(params)
        if vm.conversion is not None:
            return self._conversion_doc(vm)
        edition = self._guest_edition(vm)
        if not edition.evaluation:  # DISM's exit code 50 = ERROR_NOT_SUPPORTED; set_edition.ps1 reports it
            raise _Fail(
                messages.tool_error(
                    "DismFailed", 0x80070032, "Error: 50 The current edition cannot be upgraded to any target editions."
                )
            )
        allowed = ("ServerStandard", "ServerDatacenter") if edition.name == "Standard" else ("ServerDatacenter",)
        if target not in allowed:  # exit code 87 = ERROR_INVALID_PARAMETER
            raise _Fail(
                messages.tool_error(
                    "DismFailed", 0x80070057, f"Error: 87 The edition {target} is not a valid target edition."
                )
            )
        if not is_well_formed_key(key):  # the script's own pattern check, in the guest
            raise self._sl_error(F050)
        new_sku, new_name = _SET_EDITION_SKU[target], _retail_name(vm.guest.get("OSName", ""), target)
        try:  # the key must fit the edition the guest becomes, not the Evaluation it is; DISM finds out in its task
            channel: str | None = self._classify_key(
                key, self._catalog.edition(new_sku, new_name), vm.item_int("OSBuildNumber")
            )
        except _Fail:
            channel = None
        vm.conversion = _Conversion(now + self.scenario.sim.conversion_s, target, key, channel)
        return self._conversion_doc(vm)

    def _conversion_status(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        """conversion_status.ps1: the guest's conversion task, its State and LastTaskResult (null: no task)."""
        vm = self._ps_direct(params)
        task: dict[str, Any] | None = None
        if vm.conversion is not None:  # 0x00041301 SCHED_S_TASK_RUNNING while it runs (winerror.h; UNCONFIRMED here)
            task = {"state": "Running", "last_result": 0x00041301}
        elif vm.conversion_result is not None:
            task = {"state": "Ready", "last_result": vm.conversion_result}
        return {"vm_id": vm.id, "task": task}

    def _conversion_doc(self, vm: _Vm) -> dict[str, Any]:
        return {"vm_id": vm.id, "started": True, "task": CONVERSION_TASK}

    def _finish_conversion(self, vm: _Vm) -> None:
        """DISM is done: the guest restarts into the new edition with the new key (AVMA runs once it is back)."""
        conversion, vm.conversion = vm.conversion, None
        if conversion is None or conversion.channel is None:
            # DISM failed in its task: the guest stays as it was (%WINDIR%\Logs\DISM\dism.log says why); the
            # task's last result is DISM's exit code (that it carries the licensing HRESULT is UNCONFIRMED).
            vm.conversion_result = F069
            return
        vm.conversion_result = 0
        sku = _SET_EDITION_SKU[conversion.target]
        vm.guest.update(OSEditionId=str(sku), OSName=_retail_name(vm.guest.get("OSName", ""), conversion.target))
        self._install(vm, conversion.key, conversion.channel, conversion.due)
        # The guest OS restarts; Hyper-V keeps the VM Running while its KVP and PowerShell Direct are gone
        # (a restart inside the guest is no VM state change: UNCONFIRMED by a Microsoft page, as observed).
        vm.restarted_at = conversion.due + self.scenario.sim.boot_delay_s
        if vm.activation_due is not None:
            vm.activation_due = vm.restarted_at + self.scenario.sim.activation_delay_s

    def _no_key_text(self) -> str:
        entry = self._catalog.error(0xC004F014)
        return messages.cim_error(0xC004F014, "", "", self.language).message if entry else "No product key."

    def _activate_host(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        key = str(_param(params, "ProductKey")).strip().upper()
        expected = self.scenario.host.product_key
        if expected is None or not hmac.compare_digest(key.encode(), expected.encode()):
            raise self._sl_error(F050)
        self._host_license_status, self._host_partial_key = LICENSED, expected[-5:]
        return {"host": self._host_doc()}


def _param(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise RemoteError(
            f"Cannot bind argument to parameter '{name}' because it is null.",
            "ParameterArgumentValidationErrorNullNotAllowed",
        )
    return value


def _account(name: str) -> tuple[str | None, str]:
    """(domain, user) of an account name: `DOMAIN\\user`, `user@domain` (a UPN), `.\\user` or a bare `user`
    (domain None: the local account database)."""
    name = name.strip()
    if "\\" in name:
        domain, user = name.split("\\", 1)
        return (None if domain in ("", ".") else domain), user
    if "@" in name:
        user, domain = name.rsplit("@", 1)
        return domain or None, user
    return None, name


def _same_domain(given: str, expected: str) -> bool:
    """Two names of one domain: equal, or a NetBIOS name that is the other's first DNS label (case-insensitive)."""
    a, b = given.casefold().rstrip("."), expected.casefold().rstrip(".")
    if a == b:
        return True
    netbios, dns = (a, b) if "." not in a else (b, a)
    return "." not in netbios and dns.split(".", 1)[0] == netbios


def _retail_name(os_name: str, target: str) -> str:
    """The OS name after DISM /Set-Edition: "… 2022 Standard Evaluation" → "… 2022 Datacenter"."""
    edition = "Datacenter" if target == "ServerDatacenter" else "Standard"
    name, found = re.subn(r"\b(Standard|Datacenter)( Evaluation)?\b", edition, os_name)
    return name if found else f"{os_name.replace(' Evaluation', '')} {edition}".strip()
