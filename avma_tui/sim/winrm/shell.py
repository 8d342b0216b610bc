"""One PowerShell remoting shell of the loopback WinRM endpoint: psrpcore's server side over a SimHost.

A pipeline may only run one of the packaged operation scripts, byte for byte, in a local scope
(CreatePipeline's UseLocalScope, so no variable of one operation — a credential — outlives it in the
pool); its parameters are bound by name and the operation runs on the simulated engine. Anything
else — a script with data spliced into its text, or one run in the pool's global scope — is refused
with an error, so a client that ever does so fails its tests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psrpcore import CreatePipelineEvent, PSRPPayload, ServerPipeline, ServerRunspacePool, StreamType
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSCredential,
    PSInvocationState,
    PSSecureString,
)

from avma_tui.hyperv.operations import OPERATIONS, script_text
from avma_tui.hyperv.transport import Credential, RemoteError

#: Runs one operation with its parameters and returns its JSON document (raises RemoteError).
Runner = Callable[[str, Mapping[str, Any]], Any]
#: Told of every pipeline a client creates: (shell id, operation or None, its commands' UseLocalScope values).
Recorder = Callable[[str, "str | None", "tuple[bool | None, ...]"], None]


@dataclass(frozen=True)
class RawOutput:
    """What a runner returns to make the pipeline write these texts as they are (fault injection)."""

    texts: tuple[str, ...]


_FINISHED = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)


def _operation_of(text: str) -> str | None:
    return next((op for op in OPERATIONS if script_text(op) == text), None)


def _from_clixml(value: Any) -> Any:
    """A deserialized parameter value as the engine expects it (PSCredential → Credential)."""
    if isinstance(value, PSCredential):
        password = value.Password.decrypt() if isinstance(value.Password, PSSecureString) else str(value.Password)
        return Credential(str(value.UserName), str(password))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_from_clixml(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _from_clixml(v) for k, v in value.items()}
    return str(value)


def _error_record(message: str, error_id: str, category: ErrorCategory) -> ErrorRecord:
    return ErrorRecord(
        Exception=NETException(Message=message),
        CategoryInfo=ErrorCategoryInfo(Category=category),
        FullyQualifiedErrorId=error_id,
    )


class PsrpShell:
    """A Runspace Pool and its pipelines. All psrpcore state is guarded by `changed` (a Condition)."""

    def __init__(
        self,
        shell_id: str,
        runner: Runner,
        owner: str,
        pause: Callable[[], float] = lambda: 0.0,
        record: Recorder = lambda shell_id, op, scopes: None,
    ) -> None:
        self.id = shell_id
        self.owner = owner
        self.changed = threading.Condition()
        self.closed = threading.Event()
        self._runner = runner
        self._pause = pause
        self._record = record
        self._pool = ServerRunspacePool()
        self._outbox: dict[uuid.UUID | None, deque[bytes]] = {}

    # --- input ---------------------------------------------------------------------------------

    def create_pipeline(self, command_id: str) -> None:
        with self.changed:
            ServerPipeline(self._pool, uuid.UUID(command_id))

    def feed(self, data: bytes, command_id: str | None, prompt_response: bool = False) -> None:
        """Data the client sent (creationXml, Command arguments or Send); acts on every complete message."""
        stream = StreamType.prompt_response if prompt_response else StreamType.default
        pipeline_id = uuid.UUID(command_id) if command_id else None
        with self.changed:
            self._pool.receive_data(PSRPPayload(data, stream, pipeline_id))
            while (event := self._pool.next_event()) is not None:
                if isinstance(event, CreatePipelineEvent):
                    self._start(event)
            self._drain()

    def signal(self, command_id: str, code: str) -> None:
        """ctrl_c stops a running pipeline; terminate forgets it."""
        with self.changed:
            pipeline = self._pool.pipeline_table.get(uuid.UUID(command_id))
            if pipeline is None:
                return
            if code.endswith("ctrl_c"):
                if pipeline.state == PSInvocationState.Running:
                    pipeline.stop()
            elif pipeline.state in (*_FINISHED, PSInvocationState.NotStarted):
                pipeline.close()
                self._outbox.pop(pipeline.pipeline_id, None)
            self._drain()

    def close(self) -> None:
        """The shell was deleted (WSMan Delete, or the service restarted): its operations stop waiting."""
        self.closed.set()

    # --- output --------------------------------------------------------------------------------

    def take(self, command_id: str | None, budget: int) -> tuple[list[bytes], bool]:
        """Queued payloads for the pool or one pipeline (within `budget` bytes), and whether it is done.

        Call with `changed` held; an empty list means nothing is ready yet.
        """
        target = uuid.UUID(command_id) if command_id else None
        queue = self._outbox.get(target, deque())
        taken: list[bytes] = []
        size = 0
        while queue and (not taken or size + len(queue[0]) <= budget):
            size += len(queue[0])
            taken.append(queue.popleft())
        done = False
        if target is not None:
            pipeline = self._pool.pipeline_table.get(target)
            done = (pipeline is None or pipeline.state in _FINISHED) and not queue
        return taken, done

    def has_output(self, command_id: str | None) -> bool:
        target = uuid.UUID(command_id) if command_id else None
        if self._outbox.get(target):
            return True
        pipeline = self._pool.pipeline_table.get(target) if target else None
        return target is not None and (pipeline is None or pipeline.state in _FINISHED)

    def _drain(self) -> None:
        while (payload := self._pool.data_to_send(amount=32768)) is not None:
            self._outbox.setdefault(payload.pipeline_id, deque()).append(payload.data)
        self.changed.notify_all()

    # --- running an operation ------------------------------------------------------------------

    def _start(self, event: CreatePipelineEvent) -> None:
        pipeline = self._pool.pipeline_table[event.pipeline_id]
        commands = event.pipeline.commands
        op = _operation_of(commands[0].command_text) if len(commands) == 1 and commands[0].is_script else None
        scopes = tuple(command.use_local_scope for command in commands)
        self._record(self.id, op, scopes)
        # Running, without telling the client: PowerShell's server sends a pipeline's state only when it ends
        # (Completed, Failed, Stopped: PowerShell/PowerShell ServerPowerShellDriver.cs
        # HandlePowerShellInvocationStateChanged); psrpcore's start() would send Running too, and a client
        # waiting for output would then need one Receive more than against Windows.
        pipeline._change_state(PSInvocationState.Running, emit=False)
        if op is not None and scopes != (True,):
            record = _error_record(
                "The simulated host runs operation scripts only in a local scope (UseLocalScope); this pipeline "
                "would have run in the pool's global scope and was refused.",
                "avma-tui.GlobalScopeRefused",
                ErrorCategory.SecurityError,
            )
            pipeline._change_state(PSInvocationState.Failed, record)
            return
        if op is None:
            record = _error_record(
                "The simulated host runs only the packaged avma-tui operation scripts, unchanged; "
                "this pipeline was refused.",
                "avma-tui.ScriptRefused",
                ErrorCategory.SecurityError,
            )
            pipeline._change_state(PSInvocationState.Failed, record)  # psrpcore has no public "fail"
            return
        params = {str(name): _from_clixml(value) for name, value in commands[0].parameters if name}
        threading.Thread(target=self._run, args=(pipeline, op, params), daemon=True, name=f"sim-{op}").start()

    def _run(self, pipeline: ServerPipeline, op: str, params: dict[str, Any]) -> None:
        """Runs on its own thread, like a real pipeline: Receive, Signal and Send stay answerable."""
        outputs: tuple[str, ...] = ()
        record: ErrorRecord | None = None
        if self.closed.wait(self._pause()):
            return  # a hung operation whose shell was deleted: it ends with its shell
        try:
            result = self._runner(op, params)
            outputs = result.texts if isinstance(result, RawOutput) else (json.dumps(result, separators=(",", ":")),)
        except RemoteError as err:
            record = _error_record(err.remote_message, err.error_id or "RemoteError", ErrorCategory.NotSpecified)
        except Exception as err:  # an engine bug must fail the pipeline, not hang the client
            record = _error_record(
                f"The simulated host failed: {type(err).__name__}", "avma-tui.SimFailure", ErrorCategory.NotSpecified
            )
        with self.changed:
            if pipeline.state != PSInvocationState.Running:
                return  # stopped by the client meanwhile
            if record is not None:
                pipeline._change_state(PSInvocationState.Failed, record)
            else:
                for output in outputs:
                    pipeline.write_output(output)
                pipeline.complete()
            self._drain()
