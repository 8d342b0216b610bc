"""Finding → Remedy: the ordered steps that fix it, each with the exact PowerShell or console commands.

Pure: a plan is computed from one Diagnosis and the catalog, with no I/O. Plans describe one moment:
after any step runs, re-check and plan again (FixService.recheck), because fixing one thing (enabling
KVP, installing a key) changes what the guest reports and therefore what is left to do.

Three kinds of step (docs/findings.md): automatic steps run an operation of docs/operations.md;
assisted steps run one too but need something from the admin first (guest credentials, the host's
product key); manual steps are exact commands to type elsewhere, after which the tool re-checks.

Values from the host or a guest (VM names, KVP data, node names) never reach a script: operations take
them as parameters, and the commands of manual steps name a VM only by its validated Id. Product keys
come only from the catalog. In `params` they are masked to the last five characters unless revealed;
manual commands show the catalog's generic AVMA and KMS client keys literally, because the admin has to
type them (Microsoft publishes them); a host's own product key is never known to a plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from avma_tui.core.catalog import (
    AvmaKey,
    Catalog,
    Edition,
    PsDirectVerdict,
    channel_name,
    load_catalog,
    ps_direct,
)
from avma_tui.core.findings.registry import BLOCKING_HOST_CODES, INFO_ONLY_CODES, KEY_BLOCKERS, REGISTRY, Subject
from avma_tui.core.model import Diagnosis, Finding, GuestErrorKind, LicenseState, VmDiagnosis, VmStatus
from avma_tui.core.operations import GUEST_KVP_COMMANDS, OPERATIONS, PRODUCT_KEY


class StepKind(str, Enum):
    AUTOMATIC = "automatic"
    ASSISTED = "assisted"
    MANUAL = "manual"


@dataclass(frozen=True)
class Step:
    """One thing to do: an operation to run (automatic/assisted) or commands to type (manual).

    An operation step names its operation (`op`, core/operations.py) and its bound `params`; the exact
    PowerShell it runs is rendered outside the domain (hyperv.operations.step_script). `script` holds a
    manual step's commands and is empty for an operation step.
    """

    id: str
    title: str
    why: str
    kind: StepKind
    op: str | None
    params: tuple[tuple[str, str], ...]
    script: str
    changes: str
    verify: str
    needs: tuple[str, ...]
    refusal: str = ""
    warning: str = ""
    secret_params: tuple[tuple[str, str], ...] = ()
    #: What the warning is about, for a batch's one confirmation to count: the kind of key this step
    #: replaces ("MAK key", "retail key", …; "" when none worth keeping) with the old key's last five,
    #: and whether the guest restarts.
    replaces_key: str = ""
    replaced_last5: str = ""
    restarts_guest: bool = False


@dataclass(frozen=True)
class Remedy:
    finding: Finding
    steps: tuple[Step, ...]


#: What a step can need before it runs.
NEEDS_GUEST_CREDENTIALS = "guest_credentials"
NEEDS_HOST_PRODUCT_KEY = "host_product_key"
NEEDS_VM_RUNNING = "vm_running"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_CREDENTIAL_SHOWN = "the guest account you entered (password never shown)"


def mask_key(key: str) -> str:
    """A product key as Windows shows it: the last five characters only."""
    return "XXXXX-XXXXX-XXXXX-XXXXX-" + key[-5:]


def _vm_ref(vm_id: str) -> str:
    """The VM in a typed command: by Id (never by a name a guest or admin could make hostile)."""
    return vm_id if _GUID.fullmatch(vm_id) else "<VM Id>"


def _node_ref(name: str) -> str:
    return name if _HOST_NAME.fullmatch(name) else "<node name>"


@dataclass(frozen=True)
class _Guest:
    """What the steps of one VM's plan need to know, worked out once."""

    diagnosis: Diagnosis
    vmd: VmDiagnosis
    catalog: Catalog
    reveal: bool

    @property
    def vm_id(self) -> str:
        return self.vmd.vm.id

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.vmd.findings)

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.vmd.findings if f.code == code), None)

    @property
    def edition(self) -> Edition | None:
        guest = self.vmd.vm.os
        return self.catalog.edition(guest.edition_id, guest.os_name) if guest else None

    @property
    def avma_key(self) -> AvmaKey | None:
        """The AVMA key this guest should carry (the diagnosis's recommendation, else the catalog's)."""
        if self.vmd.recommended_key_last5:
            key = self.catalog.avma_key_by_last5(self.vmd.recommended_key_last5)
            if key:
                return key
        edition = self.edition
        return self.catalog.avma_key(self.vmd.family, edition.name) if edition and self.vmd.family else None

    @property
    def ps_direct(self) -> bool:
        """False when PowerShell Direct is known not to reach this guest (the console is the way)."""
        if "PS_DIRECT_UNAVAILABLE" in self.codes:
            return False
        read = self.vmd.vm.license
        if read.state is LicenseState.FAILED and read.error_kind is GuestErrorKind.PS_DIRECT:
            return False
        verdict = ps_direct(self.diagnosis.inventory.host, self.vmd.vm, self.vmd.family).verdict
        return verdict not in (PsDirectVerdict.NO_HOST, PsDirectVerdict.NO_VM)  # a stopped VM is started first

    def shown(self, key: str) -> str:
        return key if self.reveal else mask_key(key)

    def host_blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.diagnosis.host_findings if f.code in BLOCKING_HOST_CODES)


# --- steps that run an operation -----------------------------------------------------------------


def _op_step(
    *,
    id: str,
    title: str,
    why: str,
    kind: StepKind,
    op: str,
    params: tuple[tuple[str, str], ...],
    changes: str,
    verify: str,
    needs: tuple[str, ...] = (),
    refusal: str = "",
    warning: str = "",
    secret_params: tuple[tuple[str, str], ...] = (),
    replaces: tuple[str, str] = ("", ""),
    restarts_guest: bool = False,
) -> Step:
    return Step(
        id=id,
        title=title,
        why=why,
        kind=kind,
        op=op,
        params=params,
        script="",
        changes=changes,
        verify=verify,
        needs=needs,
        refusal=refusal,
        warning=warning,
        secret_params=secret_params,
        replaces_key=replaces[0],
        replaced_last5=replaces[1],
        restarts_guest=restarts_guest,
    )


def _manual_step(*, id: str, title: str, why: str, commands: str, changes: str, verify: str) -> Step:
    return Step(
        id=id,
        title=title,
        why=why,
        kind=StepKind.MANUAL,
        op=None,
        params=(),
        script=commands,
        changes=changes,
        verify=verify,
        needs=(),
    )


def _start_vm(g: _Guest) -> Step:
    return _op_step(
        id="start_vm",
        title="Start the VM",
        why="Guest data, PowerShell Direct and activation need the VM running.",
        kind=StepKind.AUTOMATIC,
        op="start_vm",
        params=(("VmId", g.vm_id),),
        changes="Starts the VM (Start-VM), as if powered on from Hyper-V Manager.",
        verify="The VM reads back as Running.",
    )


def _enable_kvp(g: _Guest) -> Step:
    return _op_step(
        id="enable_kvp",
        title="Enable the Data Exchange (Key-Value Pair Exchange) integration service",
        why="AVMA exchanges its activation data with the host over KVP; with it off no guest can activate.",
        kind=StepKind.AUTOMATIC,
        op="enable_kvp",
        params=(("VmId", g.vm_id),),
        changes="Enables the VM's Key-Value Pair Exchange integration service on the host (selected by its Id).",
        verify="The service reads back Enabled, with status OK while the VM runs.",
    )


#: How a console step on a guest PowerShell Direct cannot reach is checked: only there, since the host cannot
#: read that guest's license (a re-check here sees the same unknown license as before).
_CONSOLE_VERIFY = (
    "At the VM's console, slmgr /dlv shows License Status: Licensed, the VIRTUAL_MACHINE_ACTIVATION channel and "
    "{partial}. The host cannot read this guest's license, so a re-check here cannot confirm it."
)

_GUEST_KVP_COMMANDS = GUEST_KVP_COMMANDS


def _start_guest_kvp(g: _Guest) -> Step:
    why = "The host gets no answer from the guest's Hyper-V Data Exchange Service (vmickvpexchange)."
    if not g.ps_direct:
        return _manual_step(
            id="manual_start_guest_kvp",
            title="Start the Data Exchange service in the guest (at the VM's console)",
            why=why + " PowerShell Direct cannot reach this guest, so this is done at its console.",
            commands="# In an elevated PowerShell at the VM's console:\n" + _GUEST_KVP_COMMANDS,
            changes="Sets the guest's vmickvpexchange service to Manual start and starts it.",
            verify="Re-check: the host's KVP status turns OK and the guest's OS data arrives.",
        )
    return _op_step(
        id="start_guest_kvp",
        title="Start the Data Exchange service in the guest (PowerShell Direct)",
        why=why,
        kind=StepKind.ASSISTED,
        op="start_guest_kvp",
        params=(("VmId", g.vm_id), ("Credential", _CREDENTIAL_SHOWN)),
        changes="Sets the guest's vmickvpexchange service to Manual start and starts it.",
        verify="The host's KVP status turns OK and the guest's OS data arrives.",
        needs=(NEEDS_GUEST_CREDENTIALS, NEEDS_VM_RUNNING),
    )


def _key_blocker(g: _Guest) -> str:
    """Why no AVMA key should go onto this guest ("" when nothing stands in the way)."""
    for code in KEY_BLOCKERS:
        finding = g.finding(code)
        if finding:
            return f"{code}: {finding.title}"
    return ""


def _key_refusal(g: _Guest, key: AvmaKey | None) -> str:
    blocker = _key_blocker(g)
    if blocker:
        return blocker
    if key is None:
        return "no AVMA key can be chosen: the guest's version and edition are not known yet (no KVP data)"
    return ""


def _replaced(g: _Guest, key: AvmaKey) -> tuple[str, str]:
    """The key a new AVMA key would replace: ("MAK key", its last five); ("", "") for none, or for this key."""
    read = g.vmd.vm.license
    lic = read.license if read.state is LicenseState.READ else None
    if lic is None or not lic.partial_product_key or lic.partial_product_key.upper() == key.last5.upper():
        return "", ""
    kind = "AVMA" if lic.is_avma else channel_name(lic.channel) or lic.channel or "non-AVMA"
    return f"{kind} key", lic.partial_product_key


def _replacement_warning(g: _Guest, key: AvmaKey) -> str:
    """A warning when the key being replaced is worth keeping (MAK, retail, OEM) or is the same key."""
    read = g.vmd.vm.license
    lic = read.license if read.state is LicenseState.READ else None
    if lic is None or not lic.partial_product_key:
        return ""
    if lic.partial_product_key.upper() == key.last5.upper():
        return f"this AVMA key (…{key.last5}) is installed already; installing it again re-triggers activation"
    label, last5 = _replaced(g, key)
    if label in ("MAK key", "retail key", "OEM key"):  # worth keeping: a key the organisation paid for
        article = "an" if label[0] in "AEIOU" else "a"
        return (
            f"replaces {article} {label} (…{last5}): note which key it was before you continue; "
            "Windows keeps no copy of it"
        )
    if label == "AVMA key":
        return f"replaces another AVMA key (…{last5})"
    return f"replaces a {label} (…{last5})"


def _install_key(g: _Guest) -> Step:
    """Install the right AVMA key; Windows then activates against the host on its own."""
    key = g.avma_key
    refusal = _key_refusal(g, key)
    why = "AVMA only activates a guest that carries the generic AVMA key for its version and edition."
    if key is not None and not g.ps_direct:
        return _manual_step(
            id="manual_install_avma_key",
            title=f"Install the AVMA key …{key.last5} at the VM's console",
            why=why + " PowerShell Direct cannot reach this guest, so the key is typed at its console.",
            commands=f"slmgr /ipk {key.key}\nslmgr /ato",
            changes=f"Replaces the guest's product key with the {key.versions} {key.edition} AVMA key.",
            verify=_CONSOLE_VERIFY.format(partial=f"partial key {key.last5}"),
        )
    params: tuple[tuple[str, str], ...] = (("VmId", g.vm_id),)
    secret: tuple[tuple[str, str], ...] = ()
    if key is not None and not refusal:
        params += (("ProductKey", g.shown(key.key)),)
        secret = (("ProductKey", key.key),)
    params += (("Credential", _CREDENTIAL_SHOWN),)
    label = f"the {key.versions} {key.edition} AVMA key …{key.last5}" if key else "the AVMA key"
    return _op_step(
        id="install_avma_key",
        title=f"Install {label}",
        why=why,
        kind=StepKind.ASSISTED,
        op="install_key",
        params=params,
        changes=f"Installs {label} in the guest (slmgr /ipk); Windows then activates against this host by itself.",
        verify="The guest's partial product key reads back as the key's last five characters.",
        needs=(NEEDS_GUEST_CREDENTIALS, NEEDS_VM_RUNNING),
        refusal=refusal,
        warning="" if refusal or key is None else _replacement_warning(g, key),
        secret_params=secret,
        replaces=("", "") if refusal or key is None else _replaced(g, key),
    )


def _activate(g: _Guest, why: str) -> Step:
    """Trigger activation in the guest; refused while the host itself cannot activate guests."""
    blockers = g.host_blockers()
    refusal = ""
    if blockers:
        refusal = "the host cannot activate guests yet (" + ", ".join(f.code for f in blockers) + "): fix that first"
    else:
        refusal = _key_blocker(g)
    reason = g.vmd.vm.license.license.reason if g.vmd.vm.license.license else 0
    error = g.catalog.error(reason) if reason else None
    warning = f"last attempt failed with {error.hex}: {error.meaning}" if error else ""
    if not g.ps_direct:
        return _manual_step(
            id="manual_activate_guest",
            title="Trigger activation at the VM's console",
            why=why + " PowerShell Direct cannot reach this guest, so this is done at its console.",
            commands="slmgr /ato",
            changes="Asks the guest's licensing service to activate now (AVMA binds it to this host).",
            verify=_CONSOLE_VERIFY.format(
                partial=f"partial key {g.avma_key.last5}" if g.avma_key else "the partial key of its AVMA key"
            ),
        )
    return _op_step(
        id="activate_guest",
        title="Trigger activation in the guest",
        why=why,
        kind=StepKind.ASSISTED,
        op="activate_guest",
        params=(("VmId", g.vm_id), ("Credential", _CREDENTIAL_SHOWN)),
        changes="Asks the guest's licensing service to activate now (slmgr /ato); AVMA binds it to this host.",
        verify="The guest reads Licensed on the AVMA channel with this host as its AVMA host (AVMA may take a minute).",
        needs=(NEEDS_GUEST_CREDENTIALS, NEEDS_VM_RUNNING),
        refusal=refusal,
        warning=warning,
    )


def _set_edition(g: _Guest) -> Step:
    """Convert an Evaluation guest with DISM, using the AVMA key of the matching retail edition."""
    edition = g.edition
    base = edition.name if edition else ""
    target = "ServerDatacenter" if base == "Datacenter" else "ServerStandard"
    key = g.catalog.avma_key(g.vmd.family, "Datacenter" if base == "Datacenter" else "Standard")
    guest = g.vmd.vm.os
    refusal = ""
    if guest and guest.product_type == 2:
        refusal = "this guest is a domain controller: Evaluation domain controllers cannot be converted"
    elif key is None:
        refusal = _key_refusal(g, None)
    warning = "the guest restarts to finish the conversion; plan a maintenance window"
    why = "AVMA keys do not install on an Evaluation edition: convert it to the retail edition first."
    if key is not None and not g.ps_direct:
        return _manual_step(
            id="manual_set_edition",
            title=f"Convert the Evaluation edition to {target} at the VM's console",
            why=why + " PowerShell Direct cannot reach this guest, so DISM runs at its console.",
            commands=(
                "DISM /Online /Get-TargetEditions\n"
                f"DISM /Online /Set-Edition:{target} /ProductKey:{key.key} /AcceptEula\n"
                "# The guest restarts; domain controllers cannot be converted."
            ),
            changes=f"Converts the guest to {target} with the AVMA key …{key.last5}; the guest restarts.",
            verify="Re-check after the restart: the guest's edition is no longer Evaluation.",
        )
    params: tuple[tuple[str, str], ...] = (("VmId", g.vm_id), ("Edition", target))
    secret: tuple[tuple[str, str], ...] = ()
    if key is not None and not refusal:
        params += (("ProductKey", g.shown(key.key)),)
        secret = (("ProductKey", key.key),)
    params += (("Credential", _CREDENTIAL_SHOWN),)
    return _op_step(
        id="set_edition",
        title=f"Convert the Evaluation edition to {target} (DISM) with the AVMA key",
        why=why,
        kind=StepKind.ASSISTED,
        op="set_edition",
        params=params,
        changes=(
            f"Starts DISM /Online /Set-Edition:{target} with the AVMA key in a scheduled task in the guest; "
            "it runs for minutes, on its own, and restarts the guest."
        ),
        verify="After DISM and the restart (up to 30 min): the KVP edition is no Evaluation, the AVMA key installed.",
        needs=(NEEDS_GUEST_CREDENTIALS, NEEDS_VM_RUNNING),
        refusal=refusal,
        warning="" if refusal else warning,
        secret_params=secret,
        restarts_guest=not refusal,
    )


def _enter_credentials(g: _Guest) -> Step:
    refusal = ""
    if not g.ps_direct:
        refusal = "PS_DIRECT_UNAVAILABLE: PowerShell Direct cannot reach this guest; read its license at its console"
    elif not g.vmd.vm.running:
        refusal = "VM_NOT_RUNNING: the guest's license can only be read while the VM runs"
    return _op_step(
        id="enter_guest_credentials",
        title="Read the guest's license with guest credentials (PowerShell Direct)",
        why="Only the guest knows its license state; reading it needs a guest administrator account.",
        kind=StepKind.ASSISTED,
        op="guest_licenses",
        params=(("VmIds", g.vm_id), ("Credential", _CREDENTIAL_SHOWN)),
        changes="Nothing: it only reads the guest's Windows license.",
        verify="The guest's license reads back (status, channel, partial key).",
        needs=(NEEDS_GUEST_CREDENTIALS, NEEDS_VM_RUNNING),
        refusal=refusal,
    )


# --- manual steps ------------------------------------------------------------------------------------


def _kms_commands(g: _Guest) -> str:
    """The KMS-client alternative for a guest AVMA cannot serve, with the catalog's GVLK when one fits."""
    edition = g.edition
    guest = g.vmd.vm.os
    info = g.catalog.build_info(guest.build if guest else None)
    release = info.name if info and ", version " in info.name else ""  # a Semi-Annual Channel release

    def fits(version: str) -> bool:
        """SAC releases have GVLKs of their own ("SAC 20H2/2004/1909/…", "1803"); others go by family."""
        if release:
            return any(token in release for token in version.replace("/", " ").split() if token[:2].isdigit())
        return version == g.vmd.family

    gvlk = next(
        (
            k.key
            for k in g.catalog.kms_keys
            if edition and fits(k.version) and k.edition.lower() == edition.name.lower()
        ),
        "<KMS client key for this version and edition>",
    )
    return (
        "# In the guest, with a KMS host on your network (or use a MAK / retail key instead):\n"
        f"slmgr /ipk {gvlk}\n"
        "slmgr /skms <your KMS host>:1688\n"
        "slmgr /ato"
    )


def _move_vm(g: _Guest) -> Step:
    return _manual_step(
        id="manual_move_vm",
        title="Move the VM to a Datacenter host that can activate it, or activate it another way",
        why="This host's Windows Server version is older than the guest's; AVMA only activates older or equal.",
        commands=(
            "# On this host: live-migrate the VM to a newer, activated Datacenter host\n"
            f"Get-VM -Id {_vm_ref(g.vm_id)} | Move-VM -DestinationHost <newer Datacenter host> -IncludeStorage "
            "-DestinationStoragePath <path on that host>\n"
            "# or upgrade this host to the guest's version or newer, or use KMS:\n" + _kms_commands(g)
        ),
        changes="Moves the VM (or changes how it activates); nothing changes until you run these.",
        verify="Re-check from the new host, or re-check here after switching the guest to KMS/MAK.",
    )


def _manual_guest_os_data() -> Step:
    return _manual_step(
        id="manual_guest_os_data",
        title="Get the guest to report its OS data (integration services)",
        why="The VM runs and KVP is fine, but the guest sends no OS data: its integration services are "
        "missing, stopped or out of date.",
        commands=(
            "# In the guest (console):\n"
            "Get-Service -Name vmickvpexchange, vmicheartbeat | Format-Table Name, Status, StartType\n"
            + _GUEST_KVP_COMMANDS
            + "\n# Linux guests: install hyperv-daemons (hv_kvp_daemon). Old Windows: update integration services."
        ),
        changes="Starts the guest's Data Exchange service; nothing else.",
        verify="Re-check: the guest's OS name and build appear.",
    )


def _manual_reinstall_azure_edition(g: _Guest) -> Step:
    return _manual_step(
        id="manual_azure_edition",
        title="Run Datacenter: Azure Edition on Azure Local, or reinstall as Standard/Datacenter",
        why="Datacenter: Azure Edition runs on premises only on Azure Local; plain Hyper-V cannot activate it.",
        commands=(
            "# Azure Edition cannot be converted in place to Standard or Datacenter.\n"
            "# Move the VM to Azure Local, or rebuild it with Windows Server Standard or Datacenter and then\n"
            "# install the matching AVMA key (avma-tui keys lists them)."
        ),
        changes="Nothing until you move or rebuild the VM.",
        verify="Re-check after the VM was moved or rebuilt.",
    )


def _manual_no_avma_key(g: _Guest) -> Step:
    return _manual_step(
        id="manual_kms_alternative",
        title="Activate this guest with KMS, a MAK or a retail key",
        why="No published AVMA key is known for this version and edition, so AVMA cannot activate it.",
        commands=_kms_commands(g) + "\n# or with a MAK / retail key:\nslmgr /ipk <your MAK or retail key>\nslmgr /ato",
        changes="Changes the guest's product key to a KMS client, MAK or retail key.",
        verify="Re-check: the guest reads Licensed (on a non-AVMA channel).",
    )


def _manual_remove_kvp_data(g: _Guest) -> Step:
    return _manual_step(
        id="manual_remove_kvp_data",
        title="Remove the stale AVMA data from the guest's KVP pool",
        why="Microsoft: KVP data should be removed when the AVMA key is replaced with a retail, OEM or volume key.",
        commands=(
            "# In the guest (console or PowerShell Direct). Microsoft does not name the AVMA items:\n"
            "# look first, then remove only the AVMA-related values you recognise.\n"
            "Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Virtual Machine\\Guest'\n"
            "Remove-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Virtual Machine\\Guest' -Name <value name>"
        ),
        changes="Deletes the guest-side KVP values you name; they stop moving with the VM.",
        verify="Re-check: the guest no longer reports a last AVMA activation on its non-AVMA channel.",
    )


def _manual_events(g: _Guest) -> Step:
    return _manual_step(
        id="manual_check_events",
        title="Read the host's AVMA events and fix what they name",
        why="The host logged an AVMA failure for this VM after its last success.",
        commands=(
            "# On this host:\n"
            "Get-WinEvent -FilterHashtable @{LogName='Application'; Id=12310} -MaxEvents 20 |\n"
            "    Format-List TimeCreated, Message\n"
            "# Invalid Host: host edition/version/activation. Invalid Data: KVP channel (Data Exchange).\n"
            "# Activation Denied: guest newer than host, or wrong edition key. Then, in the guest:\n"
            "slmgr /ato"
        ),
        changes="Nothing by itself; the commands only read the log and retry activation.",
        verify="Re-check: no newer failure event, and the guest reads Licensed.",
    )


# --- host and cluster steps --------------------------------------------------------------------------


def _activate_host(diagnosis: Diagnosis) -> Step:
    return _op_step(
        id="activate_host",
        title="Activate the host with its product key",
        why="An AVMA host must itself be activated; until then every guest fails with 0xC004FD02.",
        kind=StepKind.ASSISTED,
        op="activate_host",
        params=(("ProductKey", "the host's product key you type (shown as its last five characters only)"),),
        changes="Installs the product key you type on the host (slmgr /ipk) and activates the host (slmgr /ato).",
        verify="The host's license status reads back as Licensed (1).",
        needs=(NEEDS_HOST_PRODUCT_KEY,),
    )


_ON_NODE = "# On cluster node {node} (console or RDP):\n"

#: The manual host and node steps: code → (step id, title, commands, what it changes); {node} is the node.
_HOST_MANUAL: dict[str, tuple[str, str, str, str]] = {
    "HOST_NOT_HYPERV": (
        "manual_install_hyperv",
        "Install the Hyper-V role on this host",
        "Install-WindowsFeature -Name Hyper-V -IncludeManagementTools -Restart",
        "Installs the Hyper-V role and restarts the host.",
    ),
    "HOST_VERSION_UNSUPPORTED": (
        "manual_upgrade_host",
        "Upgrade the host to Windows Server 2012 R2 Datacenter or newer",
        "# AVMA exists on Windows Server 2012 R2 and newer Datacenter hosts. Check the version:\n"
        "Get-CimInstance Win32_OperatingSystem | Format-List Caption, BuildNumber\n"
        "# then upgrade in place or migrate the VMs to a newer Datacenter host.",
        "Nothing until you upgrade the host.",
    ),
    "HOST_NOT_DATACENTER": (
        "manual_host_datacenter",
        "Upgrade the host to Datacenter, or activate the guests another way",
        "DISM /Online /Get-TargetEditions\n"
        "DISM /Online /Set-Edition:ServerDatacenter /ProductKey:<your Datacenter product key> /AcceptEula\n"
        "# The host restarts. Without a Datacenter license, activate each guest with KMS, a MAK or retail keys.",
        "Upgrades the host's edition to Datacenter (restart).",
    ),
    "HOST_EVALUATION": (
        "manual_host_convert_evaluation",
        "Convert the host from Evaluation to a licensed Datacenter",
        "DISM /Online /Set-Edition:ServerDatacenter /ProductKey:<your Datacenter product key> /AcceptEula\n"
        "# The host restarts. An Evaluation host stops working when the evaluation expires.",
        "Converts the host to the licensed edition (restart).",
    ),
    "HOST_IS_VIRTUAL": (
        "manual_host_kms_alternative",
        "Activate the guests with KMS instead: this host is itself a VM",
        "# In each guest (in Azure use azkms.core.windows.net:1688 as the KMS host):\n"
        "slmgr /ipk <KMS client key for the guest's version and edition>\n"
        "slmgr /skms <your KMS host>:1688\n"
        "slmgr /ato",
        "Switches the guests to KMS activation.",
    ),
    "CLUSTER_NODE_UNREACHABLE": (
        "manual_node_check",
        "Check node {node}'s edition and activation",
        _ON_NODE + "cscript //nologo $env:SystemRoot\\System32\\slmgr.vbs /dlv\n"
        "Get-CimInstance Win32_OperatingSystem | Format-List Caption, OperatingSystemSKU, BuildNumber",
        "Nothing: it only reads the node's state.",
    ),
    "CLUSTER_NODE_NOT_DATACENTER": (
        "manual_node_datacenter",
        "Upgrade node {node} to Datacenter",
        _ON_NODE + "DISM /Online /Set-Edition:ServerDatacenter /ProductKey:<the node's Datacenter product key> "
        "/AcceptEula\n# Drain the node first (Suspend-ClusterNode -Drain); it restarts.",
        "Upgrades the node's edition to Datacenter (restart).",
    ),
    "CLUSTER_NODE_NOT_ACTIVATED": (
        "manual_node_activate",
        "Activate node {node}",
        _ON_NODE + "slmgr /ipk <the node's product key>\nslmgr /ato",
        "Installs the node's product key and activates it.",
    ),
    "CLUSTER_NODE_TOO_OLD": (
        "manual_node_upgrade",
        "Upgrade node {node}, or keep newer guests off it",
        _ON_NODE + "# Upgrade it to the newest guest's Windows Server version, or on this host limit the\n"
        "# newer guests' preferred owners to nodes that can activate them:\n"
        "Get-ClusterGroup -Name <VM role> | Set-ClusterOwnerNode -Owners <capable node>,<capable node>",
        "Upgrades the node, or restricts where newer guests may run.",
    ),
}


def _host_manual(finding: Finding) -> Step:
    node = _node_ref(finding.subject)
    step_id, title, commands, changes = _HOST_MANUAL[finding.code]
    return _manual_step(
        id=step_id,
        title=title.format(node=node),
        why=finding.detail or finding.title,
        commands=commands.format(node=node),
        changes=changes,
        verify="Re-check: the finding is gone.",
    )


def _host_remedy(diagnosis: Diagnosis, finding: Finding) -> Remedy:
    return Remedy(finding, _HOST_REMEDIES[finding.code](diagnosis, finding))


# --- VM remedies ---------------------------------------------------------------------------------------


def _activation_steps(g: _Guest, why: str) -> tuple[Step, ...]:
    """Activation, preceded by the right key when the guest does not carry it yet."""
    lic = g.vmd.vm.license.license
    key = g.avma_key
    has_key = lic is not None and key is not None and lic.partial_product_key.upper() == key.last5.upper()
    # An AVMA-channel key whose fitness cannot be judged yet (no OS data: KVP is off) stays; the plan is
    # made again once the guest reports its version.
    keep_avma_key = lic is not None and lic.is_avma and key is None
    if "KEY_NOT_AVMA" in g.codes or has_key or keep_avma_key or "GUEST_EVALUATION" in g.codes:
        return (_activate(g, why),)
    return (_install_key(g), _activate(g, why))


def _console_activation(g: _Guest) -> tuple[Step, ...]:
    """For guests PowerShell Direct cannot reach: the exact slmgr commands for the console."""
    key = g.avma_key
    refusal = _key_refusal(g, key)
    if refusal or key is None:
        return ()
    return (
        _manual_step(
            id="manual_install_avma_key",
            title=f"Install the AVMA key …{key.last5} and activate at the VM's console",
            why="PowerShell Direct cannot reach this guest (Windows Server 2012 R2, or no VM session service).",
            commands=f"slmgr /ipk {key.key}\nslmgr /ato",
            changes=f"Replaces the guest's product key with the {key.versions} {key.edition} AVMA key.",
            verify=_CONSOLE_VERIFY.format(partial=f"partial key {key.last5}"),
        ),
    )


# --- one remedy builder per finding code (the registry's codes; checked when this module is imported) ----

_NOT_ACTIVATED_WHY = "The guest is not activated; with the prerequisites in place AVMA activates it."

#: Host and cluster-node codes → their steps.
_HOST_REMEDIES: dict[str, Callable[[Diagnosis, Finding], tuple[Step, ...]]] = {
    "HOST_NOT_ACTIVATED": lambda d, f: (_activate_host(d),),
    **{code: (lambda d, f: (_host_manual(f),)) for code in _HOST_MANUAL},
}

#: VM codes → their steps (an info-only code has none).
_VM_REMEDIES: dict[str, Callable[[_Guest], tuple[Step, ...]]] = {
    **{code: (lambda g: ()) for code in INFO_ONLY_CODES},
    "VM_NOT_RUNNING": lambda g: (_start_vm(g),),
    "KVP_DISABLED": lambda g: (_enable_kvp(g),),
    "KVP_NO_CONTACT": lambda g: (_start_guest_kvp(g),),
    "GUEST_OS_UNKNOWN": lambda g: (_manual_guest_os_data(),),
    "GUEST_NEWER_THAN_HOST": lambda g: (_move_vm(g),),
    "GUEST_AZURE_EDITION": lambda g: (_manual_reinstall_azure_edition(g),),
    "NO_AVMA_KEY": lambda g: (_manual_no_avma_key(g),),
    "GUEST_EVALUATION": lambda g: (_set_edition(g),),
    "LICENSE_UNKNOWN": lambda g: (_enter_credentials(g),),
    "PS_DIRECT_UNAVAILABLE": lambda g: _console_activation(g),
    "KEY_NOT_AVMA": lambda g: (
        _install_key(g),
        _activate(g, "After the key change the guest activates against this host."),
    ),
    "NOT_ACTIVATED": lambda g: _activation_steps(g, _NOT_ACTIVATED_WHY),
    "GRACE_PERIOD": lambda g: _activation_steps(g, _NOT_ACTIVATED_WHY),
    "ACTIVATED_BY_OTHER_HOST": lambda g: (
        _activate(g, "The guest was last activated by another host (moved here); activation re-binds it."),
    ),
    "AVMA_DATA_AFTER_KEY_CHANGE": lambda g: (_manual_remove_kvp_data(g),),
    "AVMA_EVENT_FAILURE": lambda g: (_manual_events(g),),
}


def _check_every_code_has_a_remedy() -> None:
    """A registry code without a builder (or a builder for no code) stops the import, not a fix at run time."""
    for spec in REGISTRY:
        table: dict[str, object] = dict(_VM_REMEDIES if spec.subject is Subject.VM else _HOST_REMEDIES)
        if spec.code not in table:
            raise ImportError(f"finding {spec.code} has no remedy builder in avma_tui.core.remedies")
    unknown = (set(_VM_REMEDIES) | set(_HOST_REMEDIES)) - {spec.code for spec in REGISTRY}
    if unknown:
        raise ImportError(f"remedy builders for codes not in the finding registry: {sorted(unknown)}")


_check_every_code_has_a_remedy()


def _guest(diagnosis: Diagnosis, vm_id: str, catalog: Catalog | None, reveal: bool) -> _Guest:
    vmd = diagnosis.for_vm(vm_id)
    if vmd is None:
        raise KeyError(f"no VM with Id {vm_id}")
    return _Guest(diagnosis, vmd, catalog or load_catalog(), reveal)


def plan_for_vm(
    diagnosis: Diagnosis, vm_id: str, *, catalog: Catalog | None = None, reveal: bool = False
) -> list[Remedy]:
    """Remedies for one VM in fix order: host findings that stop AVMA for it first, then its own."""
    g = _guest(diagnosis, vm_id, catalog, reveal)
    remedies = []
    if g.vmd.status is not VmStatus.NOT_ELIGIBLE:
        remedies = [_host_remedy(diagnosis, f) for f in g.host_blockers()]
    return remedies + [Remedy(f, _VM_REMEDIES[f.code](g)) for f in g.vmd.findings]


def plan_for_host(diagnosis: Diagnosis) -> list[Remedy]:
    """Remedies for the host's and the cluster nodes' findings, in fix order."""
    return [_host_remedy(diagnosis, f) for f in diagnosis.host_findings]


def key_step(diagnosis: Diagnosis, vm_id: str, *, catalog: Catalog | None = None, reveal: bool = False) -> Step:
    """The `k` action: install the right AVMA key (Windows then activates), or a refusal saying why.

    An Evaluation guest gets its key through the DISM edition conversion, the only way an AVMA key
    goes onto an Evaluation edition.
    """
    g = _guest(diagnosis, vm_id, catalog, reveal)
    if "GUEST_EVALUATION" in g.codes and not _key_refusal(g, g.avma_key):
        return _set_edition(g)
    return _install_key(g)


class _Blank(dict[str, str]):
    """Fills a console template: the step's values, `<name>` for a value it does not carry."""

    def __missing__(self, name: str) -> str:
        return "<AVMA key>" if name == PRODUCT_KEY else f"<{name.lower()}>"


def console_commands(step: Step) -> str:
    """What to type at the VM's console instead, when PowerShell Direct cannot run `step` for you."""
    if step.kind is StepKind.MANUAL:
        return step.script
    op = OPERATIONS.get(step.op or "")
    if op is None or not op.console:
        return ""
    values = _Blank(step.params)
    values.pop(PRODUCT_KEY, None)  # the masked key shown in the plan is no key to type
    values.update(step.secret_params)
    return op.console.format_map(values)
