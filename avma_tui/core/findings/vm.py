"""One VM's findings: power and KVP, what the guest is, its key, its activation, the host's AVMA events.

Guest data is untrusted: it is quoted into details and evidence as data (repr, capped), never interpreted
beyond the parsing the model already did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from avma_tui.core.catalog import (
    GRACE_STATES,
    Catalog,
    PsDirectVerdict,
    channel_name,
    license_status_words,
    ps_direct,
    ps_direct_too_old,
)
from avma_tui.core.findings.common import grace_left, quote, span
from avma_tui.core.findings.guest import NOT_ELIGIBLE, GuestKind, classify
from avma_tui.core.findings.host import HostFacts
from avma_tui.core.findings.registry import RANK, make_finding
from avma_tui.core.model import (
    AvmaEvent,
    Finding,
    GuestErrorKind,
    GuestLicense,
    Inventory,
    KvpStatus,
    LicenseState,
    Vm,
    VmDiagnosis,
    VmStatus,
)

_FD03 = 0xC004FD03  # SL_E_IA_ID_MISMATCH: the host cannot activate this guest's edition


#: Channel names with what a sentence adds to them.
_CHANNEL_WORDS = {"KMS client": "KMS client (GVLK)", "Evaluation": "Evaluation (time-based)"}


def _channel_words(channel: str) -> str:
    name = channel_name(channel)
    return _CHANNEL_WORDS.get(name, name) or channel or "an unknown"


def _parse_time(text: str) -> datetime:
    """An event time for ordering; an unreadable time sorts first (oldest) rather than failing."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class EventIndex:
    """The 12310 events grouped by VM once, so each VM looks at its own events only (not VMs × events)."""

    def __init__(self, events: Sequence[AvmaEvent]) -> None:
        self._by_id: dict[str, list[AvmaEvent]] = {}
        self._by_name: dict[str, list[AvmaEvent]] = {}
        for event in events:
            if event.vm_id:
                self._by_id.setdefault(event.vm_id.casefold(), []).append(event)
            else:
                self._by_name.setdefault(event.vm_name.casefold(), []).append(event)

    def of(self, vm: Vm) -> list[AvmaEvent]:
        return self._by_id.get(vm.id.casefold(), []) + self._by_name.get(vm.name.casefold(), [])


def _is_failure(event: AvmaEvent, catalog: Catalog) -> bool:
    """A failed activation: a failure notification, or an error HRESULT (severity bit set) in the event's data."""
    return catalog.is_failure(event.notification) or (event.hresult is not None and event.hresult & 0x80000000 != 0)


def _event_failure(own: Sequence[AvmaEvent], catalog: Catalog) -> tuple[AvmaEvent, AvmaEvent | None] | None:
    """The newest failure among one VM's events that is newer than its last success, with that success."""
    successes = [e for e in own if e.notification.strip().casefold() == "avma success"]
    last_success = max(successes, key=lambda e: _parse_time(e.time), default=None)
    since = _parse_time(last_success.time) if last_success else None
    failures = [e for e in own if _is_failure(e, catalog) and (since is None or _parse_time(e.time) > since)]
    newest = max(failures, key=lambda e: _parse_time(e.time), default=None)
    return (newest, last_success) if newest else None


_EVENT_REMEDY = {
    "invalid host": "Check the host: Datacenter, a supported Windows Server version, activated.",
    "invalid data": "Check Data Exchange on the host and vmickvpexchange in the guest; restart the VM.",
    "activation denied": "Check the guest's version against the host's and that it carries the right AVMA key.",
}


#: What starting means for each state that is not Running (Start-VM restores a saved VM; a paused one resumes).
_START_REMEDY = {
    "Saved": "Start the VM (it resumes from its saved state), then refresh.",
    "Paused": "Resume the VM, then refresh.",
}

_ERROR_WORDS = {
    GuestErrorKind.CREDENTIAL: "the guest rejected the credentials",
    GuestErrorKind.PS_DIRECT: "PowerShell Direct could not reach the guest",
    GuestErrorKind.NOT_RUNNING: "the VM is not running",
    GuestErrorKind.TIMEOUT: "the read timed out",
    GuestErrorKind.NOT_FOUND: "Hyper-V did not find the VM for this account (is it a Hyper-V administrator?)",
    GuestErrorKind.ACCESS: "access was denied (the guest account must be a local administrator)",
    GuestErrorKind.OTHER: "the guest reported an error",
}


class VmCheck:
    """Builds one VM's findings; a class only to share the subject and facts between the small steps."""

    def __init__(self, vm: Vm, inventory: Inventory, host: HostFacts, catalog: Catalog, events: EventIndex) -> None:
        self.vm = vm
        self.inventory = inventory
        self.events = events
        self.host = host
        self.catalog = catalog
        self.subject = (vm.name, vm.id, "vm")
        license_ = vm.license.license
        self.guest = classify(vm.os, catalog, license_.name if license_ else "")
        self.found: list[Finding] = []

    def add(self, code: str, title: str, detail: str, evidence: Iterable[str], remedy: str) -> None:
        self.found.append(make_finding(code, self.subject, title, detail, evidence, remedy))

    def run(self) -> VmDiagnosis:
        vm, guest = self.vm, self.guest
        if not vm.running:
            self.add(
                "VM_NOT_RUNNING",
                f"VM is {vm.state}",
                "Guest data (KVP) and PowerShell Direct exist only while the VM runs, so its activation "
                "cannot be checked now.",
                (f"Get-VM State = {quote(vm.state)}",),
                _START_REMEDY.get(vm.state, "Start the VM, then refresh."),
            )
            if not vm.kvp.enabled:  # a host setting, readable while the VM is off: no reason to hide it
                self._kvp_disabled()
            status = VmStatus.UNKNOWN
        else:
            kvp_ok = self._kvp()
            self._guest_os(kvp_ok)
            if guest.kind in NOT_ELIGIBLE:
                status = VmStatus.NOT_ELIGIBLE
            else:
                self._newer_than_host()
                self._evaluation()
                status = self._license()
                self._events()
        findings = tuple(sorted(self.found, key=lambda f: RANK[f.code]))
        last5 = guest.key.last5 if guest.key else None
        return VmDiagnosis(vm, status, findings, guest.family, guest.edition.label, last5)

    def _kvp(self) -> bool:
        """KVP findings; True when KVP works well enough to trust the absence of guest data."""
        kvp = self.vm.kvp
        if not kvp.enabled:
            self._kvp_disabled()
            return False
        lost = kvp.status in (KvpStatus.NO_CONTACT, KvpStatus.LOST_COMMUNICATION)
        if lost or self.vm.guest is None:
            evidence = [f"Key-Value Pair Exchange status = {quote(kvp.raw_status or kvp.status.value)}"]
            if self.vm.guest is None:
                evidence.append("no intrinsic KVP items from the guest")
            state = f"reports {quote(kvp.raw_status)}" if lost else "receives no data from the guest"
            self.add(
                "KVP_NO_CONTACT",
                "No KVP contact with the guest",
                f"The host's Key-Value Pair Exchange service {state}: the guest's Hyper-V Data Exchange Service "
                "(vmickvpexchange) is stopped, disabled or missing, so AVMA data cannot pass.",
                evidence,
                "Start vmickvpexchange in the guest (PowerShell Direct, needs guest credentials) or update its "
                "integration services.",
            )
            return False
        return True

    def _kvp_disabled(self) -> None:
        self.add(
            "KVP_DISABLED",
            "Data Exchange (KVP) is disabled",
            "AVMA passes through the Key-Value Pair Exchange integration service; while it is disabled the "
            "host cannot activate this guest and sees none of its data.",
            ("Key-Value Pair Exchange Enabled = False",),
            "Enable the Key-Value Pair Exchange integration service (Enable-VMIntegrationService).",
        )

    def _guest_os(self, kvp_ok: bool) -> None:
        guest = self.guest
        if guest.kind in (GuestKind.UNREPORTED, GuestKind.UNKNOWN):
            if kvp_ok or guest.kind is GuestKind.UNKNOWN:
                self.add(
                    "GUEST_OS_UNKNOWN",
                    "Guest OS not reported",
                    f"The guest's version or edition is not usable ({guest.why}), so the right "
                    "AVMA key cannot be chosen.",
                    guest.evidence or ("no OS items among the intrinsic KVP items",),
                    "Check the guest at its console (winver) and its integration services, then refresh.",
                )
        elif guest.kind in (GuestKind.NOT_WINDOWS, GuestKind.CLIENT):
            what = "a Windows client" if guest.kind is GuestKind.CLIENT else "not Windows"
            self.add(
                "GUEST_NOT_WINDOWS_SERVER",
                "Guest is not Windows Server",
                f"AVMA activates only Windows Server guests; this guest is {what}"
                + (f" ({quote(guest.version)})" if guest.version else "")
                + " and needs its own license or another activation method.",
                guest.evidence,
                "Nothing to do for AVMA.",
            )
        elif guest.kind is GuestKind.TOO_OLD:
            self.add(
                "GUEST_TOO_OLD",
                "Guest is older than Windows Server 2012 R2",
                f"AVMA works for guests from Windows Server 2012 R2 on; this guest is {guest.version} ({guest.why}).",
                guest.evidence,
                "Nothing to do for AVMA; activate it with its own key.",
            )
        elif guest.kind is GuestKind.AZURE:
            self.add(
                "GUEST_AZURE_EDITION",
                "Azure Edition guest on plain Hyper-V",
                "Windows Server Datacenter: Azure Edition runs only on Azure and Azure Local; a plain Hyper-V "
                "host cannot activate it.",
                guest.evidence,
                "Reinstall the guest as Standard or Datacenter, or run it on Azure Local.",
            )
        elif guest.kind is GuestKind.NO_KEY:
            label = f"{guest.version} {guest.edition.label}".strip()
            self.add(
                "NO_AVMA_KEY",
                "No AVMA key for this version and edition",
                f"AVMA cannot activate this guest ({label}): {guest.why}.",
                guest.evidence,
                "Activate the guest with a MAK, retail or KMS key, or reinstall a version that has an AVMA key.",
            )

    def _newer_than_host(self) -> None:
        family, host = self.guest.family, self.host
        if family is None or host.family is None or self.catalog.host_can_activate(host.family, family):
            return
        fd03 = self.catalog.error(0xC004FD03)
        self.add(
            "GUEST_NEWER_THAN_HOST",
            "Guest is newer than the host",
            f"A Windows Server {host.family} host activates {span(host.guests)} guests; this guest is "
            f"{self.guest.version}, so activation fails" + (f" ({fd03.hex}, Activation Denied)." if fd03 else "."),
            (*self.guest.evidence, f"host BuildNumber = {self.inventory.host.build}"),
            f"Move the VM to a Windows Server {family} or newer Datacenter host, upgrade the host, or "
            "activate it with KMS or MAK.",
        )

    def _license(self) -> VmStatus:
        read = self.vm.license
        if read.state is LicenseState.READING:
            self.add(
                "LICENSE_UNKNOWN",
                "License being read",
                "The guest's activation is being read inside the guest over PowerShell Direct, in the background.",
                ("guest license: reading",),
                "Wait for the read to finish.",
            )
            return VmStatus.UNKNOWN
        if read.state is LicenseState.NOT_READ:
            if self._too_old_for_ps_direct():
                why = (
                    "The guest's activation is read inside the guest over PowerShell Direct, which cannot reach "
                    "this guest; guest credentials would not help."
                )
                remedy = "Read it at the VM's console (slmgr /dlv)."
            else:
                why = (
                    "No guest credentials yet: the guest's activation is read inside the guest over PowerShell Direct."
                )
                remedy = "Enter guest credentials to read the license."
            self.add("LICENSE_UNKNOWN", "License not read", why, ("guest license: not read",), remedy)
            self._ps_direct("")
            return VmStatus.UNKNOWN
        if read.state is LicenseState.FAILED:
            kind = read.error_kind or GuestErrorKind.OTHER
            remedy = {
                GuestErrorKind.CREDENTIAL: "Enter valid guest administrator credentials.",
                GuestErrorKind.NOT_RUNNING: "Start the VM, then refresh.",
            }.get(kind, "Check the guest, then refresh.")
            self.add(
                "LICENSE_UNKNOWN",
                "License could not be read",
                f"Reading the license in the guest failed ({_ERROR_WORDS[kind]}): {quote(read.error)}.",
                (f"guest license query error = {quote(read.error)}",),
                remedy,
            )
            self._ps_direct(read.error if kind is GuestErrorKind.PS_DIRECT else "")
            return VmStatus.UNKNOWN
        license_ = read.license
        self._key(license_)
        self._stale_avma_data(license_)
        if license_ is None:
            self.add(
                "NOT_ACTIVATED",
                "Not activated",
                "Windows in the guest has no product key, so it is not activated.",
                ("guest SoftwareLicensingProduct with a key: none",),
                "Install the AVMA key, then trigger activation in the guest (slmgr /ato).",
            )
            return VmStatus.NOT_ACTIVATED
        self._other_host(license_)
        self._activation(license_)
        if license_.status != 1:
            return VmStatus.NOT_ACTIVATED
        return VmStatus.ACTIVATED_AVMA if license_.is_avma else VmStatus.ACTIVATED_OTHER

    def _too_old_for_ps_direct(self) -> bool:
        """PowerShell Direct needs a Windows Server 2016 (or Windows 10) guest."""
        return ps_direct_too_old(self.vm.os.build if self.vm.os else None, self.guest.family)

    def _ps_direct(self, error: str) -> None:
        """PowerShell Direct cannot help: the guest is too old for it, or a session could not be opened."""
        build = self.vm.os.build if self.vm.os else None
        old = self._too_old_for_ps_direct()
        host = self.inventory.host
        host_old = ps_direct(host).verdict is PsDirectVerdict.NO_HOST
        if not old and not error and not host_old:
            return
        if host_old and not old:
            detail = (
                "PowerShell Direct needs a Windows Server 2016 (build 14393) or newer host with PowerShell 5; this "
                f"host is build {host.build}, PowerShell {host.ps_version or 'unknown'}, so the tool cannot read "
                "the guest's license or install keys from here."
            )
            evidence: tuple[str, ...] = (
                f"host BuildNumber = {host.build}",
                f"host PSVersion = {host.ps_version or '-'}",
            )
        elif old:
            detail = (
                "PowerShell Direct needs Windows Server 2016 or newer in the guest; this guest is "
                f"{self.guest.version or f'build {build}'}, so the tool cannot read its license or install keys."
            )
            evidence = self.guest.evidence or (f"KVP OSBuildNumber = {build}",)
        else:
            detail = (
                "PowerShell Direct could not open a session in the guest (still booting, or the Hyper-V VM "
                f"Session Service is off): {quote(error)}."
            )
            evidence = (f"guest license query error = {quote(error)}",)
        self.add(
            "PS_DIRECT_UNAVAILABLE",
            "PowerShell Direct cannot reach the guest",
            detail,
            evidence,
            "Run the slmgr commands the fix shows at the VM's console.",
        )

    def _evaluation(self) -> None:
        guest = self.guest
        if not guest.edition.evaluation:
            return
        target = f"Server{guest.edition.name}".replace(" ", "")
        key = f" and the AVMA key …{guest.key.last5}" if guest.key else " and the matching AVMA key"
        dc = self.vm.os is not None and self.vm.os.product_type == 2
        self.add(
            "GUEST_EVALUATION",
            "Guest is an Evaluation edition",
            "AVMA keys do not install on Evaluation editions (the error is likely 0xC004F069, not confirmed); "
            "the edition must be converted first. "
            "Standard Evaluation converts to Standard or Datacenter, Datacenter Evaluation only to Datacenter."
            + (" This guest is a domain controller, which DISM cannot convert." if dc else ""),
            (*guest.evidence, f"edition = {guest.edition.label}"),
            f"Convert with DISM /Set-Edition:{target}{key}, then reboot."
            if not dc
            else "Move the domain controller role off this VM, then convert it with DISM /Set-Edition.",
        )

    def _key(self, license_: GuestLicense | None) -> None:
        if license_ is not None and license_.is_avma:
            return
        if any(f.code == "GUEST_EVALUATION" for f in self.found):
            return  # converting the edition installs the AVMA key
        want = self.guest.key
        install = (
            f"Install the AVMA key …{want.last5} ({want.versions} {want.edition})"
            if want
            else ("Install the AVMA key for the guest's version and edition")
        )
        if license_ is None:
            self.add(
                "KEY_NOT_AVMA",
                "No product key installed",
                "The guest has no product key, so AVMA has nothing to activate.",
                ("guest SoftwareLicensingProduct with a key: none",),
                f"{install}.",
            )
            return
        channel = license_.channel
        words = _channel_words(channel)
        partial = license_.partial_product_key
        detail = f"The installed key (…{partial or '?'}) is on the {words} channel, not AVMA."
        kms = self.catalog.kms_key_by_last5(partial) if partial else None
        avma = self.catalog.avma_key_by_last5(partial) if partial else None
        if kms is not None:
            detail += f" It is the KMS client key for Windows Server {kms.version} {kms.edition}, not an AVMA key."
        elif avma is not None:
            detail += f" It matches the AVMA key for {avma.versions} {avma.edition}, yet Windows does not use it so."
        replaces = words in ("MAK", "retail", "OEM")
        self.add(
            "KEY_NOT_AVMA",
            f"Key is {words}, not AVMA",
            detail + " On an AVMA host the guest should carry the AVMA key for its version and edition.",
            (f"Description = {quote(license_.description)}", f"PartialProductKey = {quote(partial)}"),
            f"{install}" + (f"; confirm before replacing the {words} key." if replaces else "."),
        )

    def _stale_avma_data(self, license_: GuestLicense | None) -> None:
        if license_ is None or license_.is_avma or not license_.avma_last_activation:
            return
        words = _channel_words(license_.channel)
        self.add(
            "AVMA_DATA_AFTER_KEY_CHANGE",
            "AVMA data left after a key change",
            f"The guest is on the {words} channel but still carries AVMA activation data (last AVMA "
            f"activation {quote(license_.avma_last_activation)}). Microsoft: KVP data should be removed "
            "when the AVMA key is replaced with another product key.",
            (f"AutomaticVMActivationLastActivationTime = {quote(license_.avma_last_activation)}",),
            "Inside the guest, remove the AVMA-related KVP values under HKLM\\SOFTWARE\\Microsoft\\Virtual "
            "Machine\\Guest (Microsoft does not name them: look before deleting).",
        )

    def _other_host(self, license_: GuestLicense) -> None:
        host = self.inventory.host
        avma_host = license_.avma_host.strip()
        if not license_.is_avma or not avma_host:
            return
        if avma_host.casefold() in (host.name.casefold(), host.fqdn.casefold()):
            return
        self.add(
            "ACTIVATED_BY_OTHER_HOST",
            "Activated by another host",
            f"The guest's last AVMA activation came from {quote(avma_host)}, not this host ({host.name}), "
            "typically after a live migration. It must reach this host to renew its activation.",
            (f"AutomaticVMActivationHostMachineName = {quote(avma_host)}",),
            "Trigger activation in the guest (slmgr /ato) to bind it to this host.",
        )

    def _activation(self, license_: GuestLicense) -> None:
        status = license_.status
        if status == 1:
            return
        state = license_status_words(status)
        evidence = [f"LicenseStatus = {status}"]
        reason = ""
        if license_.reason:
            code = license_.reason & 0xFFFFFFFF
            error = self.catalog.error(code)
            reason = (
                f" Reason {error.hex}: “{error.text}” {error.meaning}"
                if error
                else f" Reason 0x{code:08X} (not in the catalog)."
            )
            evidence.append(f"LicenseStatusReason = 0x{code:08X}")
            if code == _FD03 and self.host.inferred:
                reason += (
                    f" Which guests a Windows Server {self.host.family} host activates is inferred, not published "
                    "by Microsoft: this guest's version may be outside it."
                )
        reason += self._wrong_avma_key(license_, evidence)
        if status in GRACE_STATES and license_.grace_minutes > 0:
            left = grace_left(license_.grace_minutes)
            evidence.append(f"GracePeriodRemaining = {license_.grace_minutes} minutes")
            self.add(
                "GRACE_PERIOD",
                f"Grace period: {left} left",
                f"Windows in the guest is {state}; it stops working as activated when the grace period ends in "
                f"{left}.{reason}",
                evidence,
                "Fix the findings above, then trigger activation in the guest (slmgr /ato).",
            )
            return
        self.add(
            "NOT_ACTIVATED",
            "Not activated",
            f"Windows in the guest is {state}"
            + (" with no grace time left." if status in GRACE_STATES else ".")
            + reason,
            evidence,
            "Fix the findings above, then trigger activation in the guest (slmgr /ato).",
        )

    def _wrong_avma_key(self, license_: GuestLicense, evidence: list[str]) -> str:
        """An AVMA-channel key that is not this guest's (reference §6 V10), e.g. left over from an in-place upgrade."""
        want, partial = self.guest.key, license_.partial_product_key.strip().upper()
        if not license_.is_avma or want is None or not partial or partial == want.last5:
            return ""
        evidence.append(f"PartialProductKey = {quote(license_.partial_product_key)}")
        other = self.catalog.avma_key_by_last5(partial)
        what = f"the AVMA key for {other.versions} {other.edition}" if other else "not an AVMA key in the catalog"
        return (
            f" The installed key …{partial} is {what}; this guest ({self.guest.version} "
            f"{self.guest.edition.label}) needs …{want.last5}."
        )

    def _events(self) -> None:
        hit = _event_failure(self.events.of(self.vm), self.catalog)
        if hit is None:
            return
        event, success = hit
        meaning = self.catalog.notification(event.notification) or ""
        since = f"its last success at {success.time}" if success else "no success on record"
        # The HRESULT in the event's data is why the activation failed (the guest itself stays in its grace
        # state with reason 0x4004F00C until the grace period ends, so its license does not say why).
        error = self.catalog.error(event.hresult)
        what = event.notification or (error.hex if error else f"0x{event.hresult or 0:08X}")
        detail = f"The host logged {quote(what)} for this VM at {event.time} ({since})" + (
            f": {meaning}" if meaning else "."
        )
        evidence = f"host Application log event 12310 at {event.time}: {quote(what)}"
        if error:
            detail += f" {error.hex} {error.symbol}: “{error.text}” {error.meaning}"
        elif event.hresult is not None:
            detail += f" HRESULT 0x{event.hresult:08X}."
        if event.hresult is not None and event.notification:
            evidence += f", 0x{event.hresult:08X}"
        default = error.meaning if error else "Read the event on the host."
        self.add(
            "AVMA_EVENT_FAILURE",
            f"AVMA event: {what}",
            detail,
            (evidence,),
            _EVENT_REMEDY.get(event.notification.strip().casefold(), default),
        )
