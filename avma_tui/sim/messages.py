"""The simulated host's errors as Windows reports them: error records (docs/operations.md, "Errors") with
Windows' resource strings, FullyQualifiedErrorIds, exception types and HRESULTs, in the host's language.

`en-US` texts are Windows' own, each with its source. `de-DE` texts are the simulator's OWN translations,
UNCONFIRMED wording: they exist to prove that classification (hyperv/host.py) never reads a message, and
must not be quoted as what a German Windows says.

PowerShell sources: PowerShell/PowerShell, `src/System.Management.Automation/resources/RemotingErrorIdStrings.resx`
(RES) and `engine/remoting/commands/newrunspacecommand.cs` (NRC, CreateRunspacesWhenVMParameterSpecified,
HandleRunspaceStateChanged); the Windows PowerShell 5.1 texts say "Windows PowerShell" where PowerShell 7
says "PowerShell" (the 2016 import of the same resx).
"""

from __future__ import annotations

from dataclasses import dataclass

from avma_tui.core.catalog import load_catalog
from avma_tui.core.model import HostError

LANGUAGES = ("en-US", "de-DE")

NEW_PSSESSION = "Microsoft.PowerShell.Commands.NewPSSessionCommand"
INVOKE_COMMAND = "Microsoft.PowerShell.Commands.InvokeCommandCommand"
GET_VM = "Microsoft.HyperV.PowerShell.Commands.GetVM"
INVOKE_CIM_METHOD = "Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand"
GET_CIM_INSTANCE = "Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand"
CIM_EXCEPTION = "Microsoft.Management.Infrastructure.CimException"


@dataclass(frozen=True)
class _Text:
    en: str
    de: str  # the simulator's own translation, UNCONFIRMED wording

    def of(self, language: str) -> str:
        return self.de if language == "de-DE" else self.en


# RES InvalidVMState (errorId InvalidVMState, ArgumentException, InvalidArgument, TargetObject null; NRC).
INVALID_VM_STATE = _Text(
    "The virtual machine {0} is not in running state.",
    "Der virtuelle Computer {0} befindet sich nicht im Status 'Wird ausgeführt'.",
)
# RES InvalidVMIdNotSingle ({0} = the VMId in "D" format; NRC).
INVALID_VM_ID = _Text(
    "The input VMId {0} does not resolve to a single virtual machine.",
    "Die eingegebene VMId {0} wird nicht in einen einzelnen virtuellen Computer aufgelöst.",
)
# RES InvalidCredential, thrown as PSDirectException by RemoteSessionHyperVSocket.cs when the guest answers FAIL.
INVALID_CREDENTIAL = _Text("The credential is invalid.", "Die Anmeldeinformationen sind ungültig.")
# RES FatalErrorCausingClose (Windows PowerShell 5.1 wording), a PSRemotingDataStructureException; New-PSSession
# sets ErrorDetails "[<VMName>] <message>" (NRC HandleRunspaceStateChanged). The causes, per Microsoft's
# PowerShell Direct page (learn.microsoft.com/virtualization/hyper-v-on-windows/user-guide/powershell-direct):
# the guest does not support PowerShell Direct, or PowerShell is not available in it yet.
FATAL_ERROR_CAUSING_CLOSE = _Text(
    "[{0}] An error has occurred which Windows PowerShell cannot handle. A remote session might have ended.",
    "[{0}] Es ist ein Fehler aufgetreten, den Windows PowerShell nicht behandeln kann. "
    "Eine Remotesitzung wurde möglicherweise beendet.",
)
# Get-VM's not-found text, confirmed for -Name ('Hyper-V was unable to find a virtual machine with name "N1".',
# InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM, VirtualizationException: pluralsight/PS-AutoLab-Env#133).
# The -Id variant's wording is UNCONFIRMED (by analogy); classification reads the FQEID only.
VM_NOT_FOUND = _Text(
    'Hyper-V was unable to find a virtual machine with id "{0}".',
    'Hyper-V konnte keinen virtuellen Computer mit der ID "{0}" finden.',
)
# Win32 ERROR_SERVICE_DISABLED (1058 = HRESULT 0x80070422), e.g. the Software Protection service disabled:
# https://learn.microsoft.com/windows/win32/debug/system-error-codes--1000-1299-
SERVICE_DISABLED = _Text(
    "The service cannot be started, either because it is disabled or because it has no enabled devices "
    "associated with it.",
    "Der Dienst kann nicht gestartet werden, da er deaktiviert ist oder ihm keine aktivierten Geräte zugeordnet sind.",
)
# Software Licensing texts in German (the simulator's own, UNCONFIRMED); English comes from the catalog
# (slerror.h texts, docs/avma-reference.md §2.3).
_SL_GERMAN = {
    0xC004F014: "Der Softwarelizenzierungsdienst hat gemeldet, dass der Product Key nicht verfügbar ist.",
    0xC004F050: "Der Softwarelizenzierungsdienst hat gemeldet, dass der Product Key ungültig ist.",
    0xC004F069: "Der Softwarelizenzierungsdienst hat gemeldet, dass die Produkt-SKU nicht gefunden wurde.",
    0xC004F074: "Der Softwarelizenzierungsdienst hat gemeldet, dass das Produkt nicht aktiviert werden konnte. "
    "Es konnte keine Verbindung mit einem Schlüsselverwaltungsdienst (KMS) hergestellt werden.",
    0xC004FD01: "Windows wird nicht auf einer unterstützten Microsoft Hyper-V-Virtualisierungsplattform ausgeführt.",
    0xC004FD02: "Windows ist auf dem Hostcomputer nicht aktiviert. Wenden Sie sich an den Systemadministrator.",
    0xC004FD03: "Der Hostcomputer kann die Windows-Edition auf dem virtuellen Computer nicht aktivieren.",
    0xC004FD04: "Windows ist nicht aktiviert.",
    0x80070422: SERVICE_DISABLED.de,
}


# Event 12310's message: its wording is not published (UNCONFIRMED); the simulator writes Microsoft's description
# of the notification (learn.microsoft.com/windows-server/get-started/automatic-vm-activation, the catalog), and in
# de-DE its own translation. The tool never reads it (hyperv/host.py decode_event reads the event data).
_EVENT_GERMAN = {
    "AVMA Success": "Der virtuelle Computer wurde aktiviert.",
    "Invalid Host": "Der Virtualisierungshost reagiert nicht. Dieses Ereignis kann auftreten, wenn auf dem Server "
    "keine unterstützte Windows-Version ausgeführt wird.",
    "Invalid Data": "Dieses Ereignis ist meist die Folge eines Kommunikationsfehlers zwischen dem Virtualisierungshost "
    "und dem virtuellen Computer.",
    "Activation Denied": "Der Virtualisierungshost konnte das Gastbetriebssystem nicht aktivieren, da die AVMA-ID "
    "nicht übereinstimmt.",
}


def event_message(notification: str, language: str) -> str:
    """The message of a simulated event 12310 for this notification, in the host's language."""
    if language == "de-DE" and notification in _EVENT_GERMAN:
        return _EVENT_GERMAN[notification]
    return load_catalog().notification(notification) or notification


def _fqeid(error_id: str, command: str) -> str:
    """ErrorRecord.FullyQualifiedErrorId = errorId + "," + the command's type name (PowerShell/PowerShell:
    src/System.Management.Automation/engine/ErrorPackage.cs)."""
    return f"{error_id},{command}"


def invalid_vm_state(vm_name: str, command: str, language: str) -> HostError:
    return HostError(
        message=INVALID_VM_STATE.of(language).format(vm_name),
        fqeid=_fqeid("InvalidVMState", command),
        category="InvalidArgument",
        exception="System.ArgumentException",
    )


def invalid_vm_id(vm_id: str, command: str, language: str) -> HostError:
    return HostError(
        message=INVALID_VM_ID.of(language).format(vm_id),
        fqeid=_fqeid("InvalidVMIdNotSingle", command),
        category="InvalidArgument",
        exception="System.ArgumentException",
    )


def credential_invalid(vm_id: str, command: str, language: str) -> HostError:
    """New-PSSession: PSSessionOpenFailed with the unwrapped PSDirectException, TargetObject the RemoteRunspace
    (its ConnectionInfo.VMGuid is the target the scripts report). Invoke-Command -VMId: PSSessionStateBroken
    (engine/remoting/client/Job.cs ProcessJobFailure); whether it unwraps too is UNCONFIRMED — the scripts
    report the PSDirectException from the inner exceptions either way (lib/errors.ps1)."""
    error_id = "PSSessionOpenFailed" if command == NEW_PSSESSION else "PSSessionStateBroken"
    return HostError(
        message=INVALID_CREDENTIAL.of(language),
        fqeid=_fqeid(error_id, command),
        category="OpenError",
        exception="System.Management.Automation.Remoting.PSDirectException",
        target=vm_id,
    )


def ps_direct_unavailable(vm_id: str, vm_name: str, command: str, language: str) -> HostError:
    error_id = "PSSessionOpenFailed" if command == NEW_PSSESSION else "PSSessionStateBroken"
    return HostError(
        message=FATAL_ERROR_CAUSING_CLOSE.of(language).format(vm_name),
        fqeid=_fqeid(error_id, command),
        category="OpenError",
        exception="System.Management.Automation.Remoting.PSRemotingDataStructureException",
        target=vm_id,
    )


def vm_not_found(vm_id: str, language: str) -> HostError:
    return HostError(
        message=VM_NOT_FOUND.of(language).format(vm_id),
        fqeid=_fqeid("InvalidParameter", GET_VM),
        category="InvalidArgument",
        exception="Microsoft.HyperV.PowerShell.VirtualizationException",
        target=vm_id,
    )


def cim_error(code: int, command: str, target: str, language: str) -> HostError:
    """A licensing (or other WMI provider) failure as a CimException: the provider's HRESULT is in
    ErrorData.error_Code (MSFT_WmiError, uint32), which the scripts report as `hresult`; PowerShell also
    puts it into the FQEID as "HRESULT 0x…" (public transcripts, docs/avma-reference.md). The Message is
    ErrorData's Message (PowerShell/MMI CimException.cs); that it is the slerror.h text is UNCONFIRMED."""
    entry = load_catalog().error(code)
    english = entry.text if entry else SERVICE_DISABLED.en if code == 0x80070422 else "The operation failed."
    message = _SL_GERMAN.get(code, "Der Vorgang ist fehlgeschlagen.") if language == "de-DE" else english
    return HostError(
        message=message,
        fqeid=f"HRESULT 0x{code:08x},{command}",
        category="NotSpecified",
        exception=CIM_EXCEPTION,
        hresult=code,
        target=target,
    )


def tool_error(error_id: str, code: int, message: str) -> HostError:
    """An error a script raises itself (lib/errors.ps1 New-ToolError): a COMException carrying `code`."""
    return HostError(
        message=message,
        fqeid=error_id,
        category="NotSpecified",
        exception="System.Runtime.InteropServices.COMException",
        hresult=code,
    )
