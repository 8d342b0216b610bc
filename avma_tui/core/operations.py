"""The operation table: one record per host operation (docs/operations.md), and the Outcome of a step.

Pure data. Everything that runs, simulates, audits, verifies or documents an operation reads its
record here instead of naming the operation in an if-chain:

- the host facade (hyperv/host.py) parses what `change()` returns by `returns`;
- the PowerShell script is `hyperv/scripts/<name>.ps1` (hyperv/operations.py loads it by name);
- the simulated host (sim/engine.py) runs its method `_<name>`, and the loopback endpoint accepts
  exactly the scripts of this table;
- the fix service (services/fixing.py) binds `params`, writes `action` to the audit log, reads the
  state back with `read_back`, judges it with `check` (then `confirm`, when set), waits `wait_s` (or the
  verify timeout) for it, and explains a failure with `console` (what to type at the VM's console instead);
- remedies (core/remedies.py) show `console` as the fallback commands.

Adding an operation: its script, one `Operation` here, one `_<name>` method in the simulated host
(and, for a new kind of check, one function in services/fixing.py). docs/operations.md has a worked
example.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class Outcome(str, Enum):
    """How a step ended. The first four are the audit log's `outcome` values (a contract: docs/audit.md)."""

    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # not run: refused, declined, or something it needs is missing
    MANUAL = "manual"  # the admin runs it
    NOT_VERIFIED = "not verified"  # the change ran; the wait for it to show was stopped (audit: unknown)

    def __str__(self) -> str:  # the value, in f-strings and str() alike, on every Python version
        return self.value


#: The outcomes an audit `result` record may carry (docs/audit.md).
AUDIT_OUTCOMES: tuple[Outcome, ...] = (Outcome.OK, Outcome.FAILED, Outcome.CANCELLED, Outcome.UNKNOWN)


class Subject(str, Enum):
    """What an operation acts on: the host itself, or one VM (by Id)."""

    HOST = "host"
    VM = "vm"


class ReadBack(str, Enum):
    """How the state an operation changed is read again to verify it."""

    HOST = "host"  # `inventory`, its host part
    VM = "vm"  # `vm` with the VM's Id
    LICENSE = "license"  # `guest_licenses` for the VM, with the guest credential


class Check(str, Enum):
    """What "done" means for a change; services/fixing.py has one function per check."""

    HOST_LICENSED = "host_licensed"  # the host's license status is Licensed (1)
    KVP_ENABLED = "kvp_enabled"  # the KVP integration service is enabled (status OK while running)
    VM_RUNNING = "vm_running"  # the VM is Running
    GUEST_KVP = "guest_kvp"  # KVP status OK and the guest's OS data arrived
    KEY_INSTALLED = "key_installed"  # the partial product key is the installed key's last five
    AVMA_ACTIVATED = "avma_activated"  # Licensed on the AVMA channel, bound to this host
    NOT_EVALUATION = "not_evaluation"  # the guest's edition is no longer an Evaluation


#: What a verification waits for, as the wizard and the batch say it ("Verifying, 4 s of up to 2 min: …").
WAITS_FOR: MappingProxyType[Check, str] = MappingProxyType(
    {
        Check.HOST_LICENSED: "the host's license to read Licensed",
        Check.KVP_ENABLED: "the KVP integration service to read Enabled",
        Check.VM_RUNNING: "the VM to read Running",
        Check.GUEST_KVP: "the guest's KVP data to arrive",
        Check.KEY_INSTALLED: "the guest's license to show the new key",
        Check.AVMA_ACTIVATED: "the guest to read Licensed by AVMA (AVMA may take a minute)",
        Check.NOT_EVALUATION: "the new edition in KVP",
    }
)


class Returns(str, Enum):
    """What an operation's JSON document carries, as the host facade parses it."""

    NOTHING = "nothing"
    INVENTORY = "inventory"  # the whole document
    VM = "vm"  # the whole document is a VM
    LICENSES = "licenses"  # {"licenses": [...]}
    VM_MEMBER = "vm_member"  # {"vm": VM}
    LICENSE_MEMBER = "license_member"  # {"license": LICENSE}
    HOST_MEMBER = "host_member"  # {"host": HOST}
    STARTED = "started"  # {"vm_id", "started": true, "task"}: a detached change under way


#: Parameter names with a meaning of their own (PascalCase, as PowerShell binds them).
VM_ID = "VmId"
CREDENTIAL = "Credential"
PRODUCT_KEY = "ProductKey"

#: Starting the guest's Data Exchange service by hand: shared by an operation's fallback and manual steps.
GUEST_KVP_COMMANDS = "Set-Service -Name vmickvpexchange -StartupType Manual\nStart-Service -Name vmickvpexchange"


@dataclass(frozen=True)
class Operation:
    """One host operation. `name` is also its script's file name (hyperv/scripts/<name>.ps1)."""

    name: str
    params: tuple[str, ...]  # bound by name, in this order
    subject: Subject
    returns: Returns
    changes: bool = False  # False: read-only, no audit record, nothing to verify
    action: str = ""  # the audit log's action (default: the name)
    read_back: ReadBack | None = None
    check: Check | None = None
    #: How long the change may take to verify, in seconds; None: the verify timeout (`--verify-timeout`, 120 s).
    wait_s: float | None = None
    #: The operation only starts the change, detached inside the guest, and returns at once: the change goes on
    #: whatever happens to the call or the wait (a stopped wait never stops it), and the wait polls slowly.
    detached: bool = False
    #: A second check, read from the guest's license, once `check` holds (the conversion: edition, then the key).
    confirm: Check | None = None
    #: The effect shows only later (a boot, AVMA's activation, DISM's restart): a read-back right after an
    #: error cannot tell a refusal from a change still under way.
    shows_later: bool = False
    console: str = ""  # what to type at the VM's console instead ({ProductKey}, {Edition}: the step's values)
    installs_key: bool = False  # installs a product key: the `k` flow triggers activation after it
    unverified_hint: str = ""  # the next step when the change ran but did not verify in time

    @property
    def audit_action(self) -> str:
        return self.action or self.name

    @property
    def script(self) -> str:
        return f"{self.name}.ps1"


#: How long an edition conversion may take to show, by default: DISM /Set-Edition and the guest's restarts take
#: minutes ("The server will restart twice", Microsoft's 2016 conversion page; the duration itself is UNCONFIRMED).
CONVERSION_WAIT_S = 1800.0

_AVMA_IS_SLOW = "AVMA can take a few minutes: re-check shortly; if it stays, read the reason above."

_TABLE = (
    Operation("inventory", (), Subject.HOST, Returns.INVENTORY),
    Operation("preflight", (), Subject.HOST, Returns.NOTHING),  # read by doctor and capture as is
    Operation("vm", (VM_ID,), Subject.VM, Returns.VM),
    Operation("host_info", (), Subject.HOST, Returns.HOST_MEMBER),  # run on a cluster node, over its own connection
    Operation("guest_licenses", ("VmIds", CREDENTIAL), Subject.VM, Returns.LICENSES, console="slmgr /dlv"),
    # How the conversion's task in the guest stands: set_edition's wait reads it once a minute (services/fixing.py).
    Operation("conversion_status", (VM_ID, CREDENTIAL), Subject.VM, Returns.NOTHING),
    Operation(
        "enable_kvp",
        (VM_ID,),
        Subject.VM,
        Returns.VM_MEMBER,
        changes=True,
        read_back=ReadBack.VM,
        check=Check.KVP_ENABLED,
    ),
    Operation(
        "start_vm",
        (VM_ID,),
        Subject.VM,
        Returns.VM_MEMBER,
        changes=True,
        read_back=ReadBack.VM,
        check=Check.VM_RUNNING,
        shows_later=True,
    ),
    Operation(
        "start_guest_kvp",
        (VM_ID, CREDENTIAL),
        Subject.VM,
        Returns.NOTHING,
        changes=True,
        read_back=ReadBack.VM,
        check=Check.GUEST_KVP,
        console=GUEST_KVP_COMMANDS,
    ),
    Operation(
        "install_key",
        (VM_ID, PRODUCT_KEY, CREDENTIAL),
        Subject.VM,
        Returns.LICENSE_MEMBER,
        changes=True,
        read_back=ReadBack.LICENSE,
        check=Check.KEY_INSTALLED,
        console="slmgr /ipk {ProductKey}\nslmgr /ato",
        installs_key=True,
        unverified_hint=_AVMA_IS_SLOW,
    ),
    Operation(
        "activate_guest",
        (VM_ID, CREDENTIAL),
        Subject.VM,
        Returns.LICENSE_MEMBER,
        changes=True,
        action="activate",  # docs/audit.md names activation "activate"
        read_back=ReadBack.LICENSE,
        check=Check.AVMA_ACTIVATED,
        # Activate() is synchronous: it returns once Windows is activated or raises the failure's HRESULT
        # (slmgr.vbs /ato reads the status right after it, docs/avma-reference.md §2.3), so a read-back right
        # after an error shows whether it took; an SL_E_IA_* code with no activation is a refusal.
        console="slmgr /ato",
        unverified_hint=_AVMA_IS_SLOW,
    ),
    Operation(
        "set_edition",
        (VM_ID, "Edition", PRODUCT_KEY, CREDENTIAL),
        Subject.VM,
        Returns.STARTED,
        changes=True,
        read_back=ReadBack.VM,
        check=Check.NOT_EVALUATION,
        # DISM /Set-Edition runs for minutes and restarts the guest (more than once): set_edition.ps1 starts it in a
        # scheduled task in the guest and returns; the tool then polls the KVP edition, then the license.
        wait_s=CONVERSION_WAIT_S,
        detached=True,
        confirm=Check.KEY_INSTALLED,
        shows_later=True,
        console="DISM /Online /Set-Edition:{Edition} /ProductKey:{ProductKey} /AcceptEula",
        installs_key=True,
        unverified_hint="The conversion goes on in the guest (restarts included): re-check in a few minutes.",
    ),
    Operation(
        "activate_host",
        (PRODUCT_KEY,),
        Subject.HOST,
        Returns.HOST_MEMBER,
        changes=True,
        read_back=ReadBack.HOST,
        check=Check.HOST_LICENSED,
    ),
)

#: Every operation by name, in the order docs/operations.md lists them.
OPERATIONS: MappingProxyType[str, Operation] = MappingProxyType({op.name: op for op in _TABLE})
#: Operations after which the `k` flow goes on to trigger activation and wait for Licensed.
KEY_OPS = frozenset(op.name for op in _TABLE if op.installs_key)


def operation(name: str) -> Operation:
    """The record of operation `name`; KeyError for an operation that does not exist."""
    return OPERATIONS[name]


def _check_table() -> None:
    """Rules a record must keep; broken at import, never on a host."""
    for op in _TABLE:
        if op.changes != (op.check is not None) or op.changes != (op.read_back is not None):
            raise ValueError(f"operation {op.name}: a change needs a read-back and a check; a read has neither")
        if op.read_back is ReadBack.LICENSE and CREDENTIAL not in op.params:
            raise ValueError(f"operation {op.name}: reading the license back needs the guest credential")
        if op.confirm is not None and CREDENTIAL not in op.params:
            raise ValueError(f"operation {op.name}: confirming by the license needs the guest credential")
        if op.subject is Subject.VM and op.changes and VM_ID not in op.params:
            raise ValueError(f"operation {op.name}: a change on a VM names it by {VM_ID}")


_check_table()
