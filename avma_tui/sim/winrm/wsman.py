"""The WS-Management layer of the loopback endpoint: SOAP in, SOAP out, shells kept in memory.

Implements what pypsrp's PowerShell remoting uses (Create, Command, Send, Receive, Signal, Delete,
Get) with Windows' fault codes, a Receive long-poll ending in the OperationTimeout fault, and a
MessageID replay cache (pypsrp re-sends the identical Receive after a read timeout and expects the
same answer, or output would be lost).
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable

from avma_tui.sim.winrm.shell import PsrpShell, Recorder, Runner

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
}
for _prefix in ("s", "wsa", "wsman", "x", "rsp", "f"):
    ET.register_namespace(_prefix, NS[_prefix])

_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
CREATE, DELETE, GET = _TRANSFER + "Create", _TRANSFER + "Delete", _TRANSFER + "Get"
COMMAND, SEND, RECEIVE, SIGNAL = _SHELL + "Command", _SHELL + "Send", _SHELL + "Receive", _SHELL + "Signal"
_RESPONSE = {
    CREATE: _TRANSFER + "CreateResponse",
    DELETE: _TRANSFER + "DeleteResponse",
    GET: _TRANSFER + "GetResponse",
    COMMAND: _SHELL + "CommandResponse",
    SEND: _SHELL + "SendResponse",
    RECEIVE: _SHELL + "ReceiveResponse",
    SIGNAL: _SHELL + "SignalResponse",
}
_FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
_ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
_POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"

OPERATION_TIMEOUT = 0x80338029
SHELL_NOT_FOUND = 0x8033805B
GENERIC_FAULT = 0x80338000  # what an injected "500" reports
#: ERROR_WSMAN_QUOTA_MAX_SHELLS (winerror.h, as listed by
#: https://microsoft.github.io/windows-docs-rs/doc/windows/Win32/System/RemoteManagement/constant.ERROR_WSMAN_QUOTA_MAX_SHELLS.html).
#: UNCONFIRMED that Windows puts this code (rather than another QUOTA_* code) in the WSManFault of a
#: Create refused by MaxShellsPerUser; the subcode and the message below are documented (MS-WSMV 3.1.4.5.2.1).
QUOTA_MAX_SHELLS = 0x803381A5
#: winrm/config/winrs/MaxShellsPerUser default: 30 (MS-WSMV 2.2.4.42 WinrsType,
#: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/7ffb4acd-cf01-4fbe-9e48-7746f5001957).
#: The Microsoft.PowerShell plug-in has quotas of its own (the example in MS-WSMV 3.1.4.1.34.3.4 shows
#: MaxShellsPerUser="25"); which one a real host hits first is UNCONFIRMED, so the limit is a setting.
MAX_SHELLS_PER_USER = 30
_REPLAY_SIZE = 256


class WSManFault(Exception):
    def __init__(self, code: int, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason = code, subcode, reason


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _seconds(duration: str | None, default: float) -> float:
    match = re.fullmatch(r"PT([0-9.]+)S", (duration or "").strip())
    return float(match.group(1)) if match else default


def shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault(
        SHELL_NOT_FOUND,
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
        "exists on the server. Provide the correct ShellId or create a new shell and retry the operation.",
    )


class WSManService:
    """Answers decrypted SOAP requests. Thread-safe: every HTTP connection calls `handle` on its own thread."""

    def __init__(
        self,
        runner: Runner,
        machine: str,
        stopping: threading.Event,
        pause: Callable[[], float] = lambda: 0.0,
        record: Recorder = lambda shell_id, op, scopes: None,
    ) -> None:
        self._runner = runner
        self._record = record
        self._machine = machine
        self._stopping = stopping
        self._pause = pause
        self.max_shells_per_user = MAX_SHELLS_PER_USER
        self._shells: dict[str, PsrpShell] = {}
        self._lock = threading.Lock()
        self._replay: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)

    def forget_shells(self) -> None:
        """As after a WinRM service restart: every shell is gone."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.close()

    def handle(
        self, body: bytes, user: str, take_fault: Callable[[str], str | None], slow_seconds: float
    ) -> tuple[int, bytes]:
        """(HTTP status, SOAP response) for one request; `take_fault(action)` pops an injected fault."""
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return 400, b""
        header = envelope.find("s:Header", NS)
        if header is None:
            return 400, b""
        action = header.findtext("wsa:Action", "", NS)
        message_id = header.findtext("wsa:MessageID", "", NS)
        with self._lock:
            if message_id in self._replay:
                return self._replay[message_id]
        fault = take_fault(action)
        if fault == "slow_receive":
            self._stopping.wait(slow_seconds)
            with self._lock:
                if message_id in self._replay:  # the client's retry was answered meanwhile
                    return self._replay[message_id]
        elif fault == "shell_gone":
            self.forget_shells()
        try:
            if fault == "500":
                raise WSManFault(GENERIC_FAULT, "w:InternalError", "The simulated host was told to fail this request.")
            status, answer = (
                200,
                self._envelope(
                    _RESPONSE.get(action, action),
                    message_id,
                    self._dispatch(action, header, envelope.find("s:Body", NS), user),
                ),
            )
        except WSManFault as err:
            status, answer = 500, self._fault(err, message_id)
        with self._lock:
            self._replay[message_id] = (status, answer)
            while len(self._replay) > _REPLAY_SIZE:
                self._replay.popitem(last=False)
        return status, answer

    # --- actions -------------------------------------------------------------------------------

    def _dispatch(self, action: str, header: ET.Element, body: ET.Element | None, user: str) -> list[ET.Element]:
        body = body if body is not None else ET.Element(_q("s", "Body"))
        resource = header.findtext("wsman:ResourceURI", "", NS)
        if action == CREATE:
            return self._create(resource, header, body, user)
        shell_id = header.findtext("wsman:SelectorSet/wsman:Selector[@Name='ShellId']", "", NS)
        with self._lock:
            shell = self._shells.get(shell_id)
        if shell is None or shell.owner != user:
            raise shell_not_found(shell_id)
        if action == COMMAND:
            line = body.find("rsp:CommandLine", NS)
            command_id = (line.get("CommandId") if line is not None else None) or str(uuid.uuid4()).upper()
            shell.create_pipeline(command_id)
            for argument in body.findall("rsp:CommandLine/rsp:Arguments", NS):
                shell.feed(base64.b64decode(argument.text or ""), command_id)
            response = ET.Element(_q("rsp", "CommandResponse"))
            ET.SubElement(response, _q("rsp", "CommandId")).text = command_id
            return [response]
        if action == SEND:
            for stream in body.findall("rsp:Send/rsp:Stream", NS):
                shell.feed(base64.b64decode(stream.text or ""), stream.get("CommandId"), stream.get("Name") == "pr")
            return [ET.Element(_q("rsp", "SendResponse"))]
        if action == RECEIVE:
            max_envelope = int(header.findtext("wsman:MaxEnvelopeSize", "153600", NS) or 153600)
            timeout = _seconds(header.findtext("wsman:OperationTimeout", None, NS), 20.0)
            desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
            return [
                self._receive(shell, desired.get("CommandId") if desired is not None else None, timeout, max_envelope)
            ]
        if action == SIGNAL:
            signal = body.find("rsp:Signal", NS)
            if signal is not None:
                shell.signal(signal.get("CommandId", ""), signal.findtext("rsp:Code", "", NS))
            return [ET.Element(_q("rsp", "SignalResponse"))]
        if action == DELETE:
            with self._lock:
                self._shells.pop(shell_id, None)
            shell.close()
            return []
        if action == GET:
            return [self._shell_element(shell, resource)]
        raise WSManFault(GENERIC_FAULT, "wsa:ActionNotSupported", f"The action {action} is not supported.")

    def _create(self, resource: str, header: ET.Element, body: ET.Element, user: str) -> list[ET.Element]:
        if not resource.startswith(_POWERSHELL_URI):
            raise WSManFault(GENERIC_FAULT, "w:InvalidResourceURI", "Only PowerShell remoting shells are served.")
        request = body.find("rsp:Shell", NS)
        shell_id = (request.get("ShellId") if request is not None else None) or str(uuid.uuid4()).upper()
        with self._lock:
            owned = sum(1 for shell in self._shells.values() if shell.owner == user)
        if owned >= self.max_shells_per_user:
            # wsman:QuotaLimit on Create, with the message MS-WSMV 3.1.4.5.2.1 gives for MaxShellsPerUser:
            # https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/77425799-79f6-4a9a-b164-3873e742d921
            raise WSManFault(
                QUOTA_MAX_SHELLS,
                "w:QuotaLimit",
                "The Windows Remote Shell cannot process the request. The server is already executing the maximum "
                "number of concurrent shells a user can remotely open on the same system. Retry later.",
            )
        shell = PsrpShell(shell_id, self._runner, user, self._pause, self._record)
        creation = body.find("rsp:Shell/{http://schemas.microsoft.com/powershell}creationXml", NS)
        shell.feed(base64.b64decode(creation.text or "") if creation is not None else b"", None)
        with self._lock:
            self._shells[shell_id] = shell
        created = ET.Element(_q("x", "ResourceCreated"))
        ET.SubElement(created, _q("wsa", "Address")).text = "http://127.0.0.1/wsman"
        reference = ET.SubElement(created, _q("wsa", "ReferenceParameters"))
        ET.SubElement(reference, _q("wsman", "ResourceURI")).text = resource
        selectors = ET.SubElement(reference, _q("wsman", "SelectorSet"))
        ET.SubElement(selectors, _q("wsman", "Selector"), Name="ShellId").text = shell_id
        return [created, self._shell_element(shell, resource)]

    def _receive(self, shell: PsrpShell, command_id: str | None, timeout: float, max_envelope: int) -> ET.Element:
        budget = max(4096, (max_envelope - 4096) * 3 // 4)
        with shell.changed:
            shell.changed.wait_for(lambda: shell.has_output(command_id) or self._stopping.is_set(), timeout)
            payloads, done = shell.take(command_id, budget)
        if not payloads and not done:
            raise WSManFault(
                OPERATION_TIMEOUT,
                "w:TimedOut",
                "The WS-Management service cannot complete the operation within the time specified in "
                "OperationTimeout.",
            )
        response = ET.Element(_q("rsp", "ReceiveResponse"))
        for payload in payloads:
            stream = ET.SubElement(response, _q("rsp", "Stream"), Name="stdout")
            if command_id:
                stream.set("CommandId", command_id)
            stream.text = base64.b64encode(payload).decode()
        if command_id:
            state = ET.SubElement(response, _q("rsp", "CommandState"), CommandId=command_id)
            state.set("State", _SHELL + ("CommandState/Done" if done else "CommandState/Running"))
            if done:
                ET.SubElement(state, _q("rsp", "ExitCode")).text = "0"
        return response

    def _shell_element(self, shell: PsrpShell, resource: str) -> ET.Element:
        element = ET.Element(_q("rsp", "Shell"))
        for tag, text in (
            ("ShellId", shell.id),
            ("ResourceUri", resource),
            ("Owner", shell.owner),
            ("ClientIP", "127.0.0.1"),
            ("State", "Connected"),
            ("IdleTimeOut", "PT7200.000S"),
            ("InputStreams", "stdin pr"),
            ("OutputStreams", "stdout"),
        ):
            ET.SubElement(element, _q("rsp", tag)).text = text
        return element

    # --- envelopes -----------------------------------------------------------------------------

    def _envelope(self, action: str, relates_to: str, body: list[ET.Element]) -> bytes:
        envelope = ET.Element(_q("s", "Envelope"))
        header = ET.SubElement(envelope, _q("s", "Header"))
        ET.SubElement(header, _q("wsa", "Action")).text = action
        ET.SubElement(header, _q("wsa", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
        ET.SubElement(header, _q("wsa", "To")).text = _ANONYMOUS
        ET.SubElement(header, _q("wsa", "RelatesTo")).text = relates_to
        body_element = ET.SubElement(envelope, _q("s", "Body"))
        body_element.extend(body)
        return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)

    def _fault(self, err: WSManFault, relates_to: str) -> bytes:
        fault = ET.Element(_q("s", "Fault"))
        code = ET.SubElement(fault, _q("s", "Code"))
        ET.SubElement(code, _q("s", "Value")).text = "s:Receiver"
        ET.SubElement(ET.SubElement(code, _q("s", "Subcode")), _q("s", "Value")).text = err.subcode
        reason = ET.SubElement(ET.SubElement(fault, _q("s", "Reason")), _q("s", "Text"))
        reason.text = err.reason
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
        detail = ET.SubElement(fault, _q("s", "Detail"))
        wsman_fault = ET.SubElement(detail, _q("f", "WSManFault"), Code=str(err.code), Machine=self._machine)
        ET.SubElement(wsman_fault, _q("f", "Message")).text = err.reason
        return self._envelope(_FAULT_ACTION, relates_to, [fault])
