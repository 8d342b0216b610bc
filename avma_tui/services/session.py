"""One connected host and what we know about it: the shared state of the TUI, `report` and `fix`.

A refresh reads the inventory in one round trip, whatever the number of VMs, and shows it at once.
Guest licenses are read after it, in the background, in chunks, and cached (services/licenses.py;
docs/architecture.md, "Refresh"): `refresh()` waits for them (report, fix), the TUI does not
(`refresh(licenses=False)`, then `read_licenses()` yields a new diagnosis as chunks answer).

With an audit log, the session records its connection (the first read, or its failure) and its
disconnection, so the log answers "who looked at this host, when, as whom" as well as "who changed what".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING

from avma_tui.core.findings import diagnose
from avma_tui.core.model import Diagnosis, Inventory
from avma_tui.core.operations import Outcome
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.services.licenses import LicenseBook, LicenseOptions
from avma_tui.services.nodes import NodeBook

if TYPE_CHECKING:
    from avma_tui.services.audit import AuditLog


def _lane_opener(host: HyperVHost, options: LicenseOptions) -> Callable[[], HyperVHost]:
    """Lanes for license chunks: new connections (each its own shell, bounded by the chunk timeout) when the
    transport can make them, so a 30-second chunk never holds up the next inventory; else the host itself
    (the in-process simulator runs calls concurrently)."""
    clone = getattr(host.transport, "clone", None)
    if callable(clone):
        return lambda: HyperVHost(clone(timeout=options.chunk_timeout))
    return lambda: host


def _node_opener(host: HyperVHost) -> Callable[[str], HyperVHost] | None:
    """Connections to cluster nodes, same credentials and options, when the transport can make them."""
    for_node = getattr(host.transport, "for_node", None)
    if callable(for_node):
        return lambda name: HyperVHost(for_node(name))
    return None


class Session:
    def __init__(
        self,
        host: HyperVHost,
        *,
        guest_credential: Credential | None = None,
        remote_user: str = "",
        audit: AuditLog | None = None,
        license_options: LicenseOptions | None = None,
        open_lane: Callable[[], HyperVHost] | None = None,
        open_node: Callable[[str], HyperVHost] | None = None,
    ) -> None:
        self.host = host
        self.remote_user = remote_user
        self.audit = audit
        self.diagnosis: Diagnosis | None = None
        self.inventory: Inventory | None = None  # the last inventory read, licenses not attached
        #: The license cache and its reads, on lanes of their own when the transport can clone itself.
        options = license_options or LicenseOptions()
        self.licenses = LicenseBook(open_lane or _lane_opener(host, options), options)
        #: The cluster's other nodes, each read over its own connection (services/nodes.py).
        settings = getattr(host.transport, "settings", None)
        self.nodes = NodeBook(open_node or _node_opener(host), timeout=getattr(settings, "timeout", 30.0))
        self._guest_credential = guest_credential
        self._interaction = ""  # the audit id of this connection; "" until the first read succeeded

    @property
    def host_name(self) -> str:
        """The host's fqdn once known, else where we connect to."""
        inventory = self.diagnosis.inventory if self.diagnosis else self.inventory
        return inventory.host.fqdn if inventory else self.host.description

    @property
    def guest_credential(self) -> Credential | None:
        return self._guest_credential

    @guest_credential.setter
    def guest_credential(self, credential: Credential | None) -> None:
        """The operator entered a credential: guests are tried with it (again, if it was rejected before)."""
        self._guest_credential = credential
        self.licenses.new_credential()

    @property
    def guest_login_rejected(self) -> bool:
        """A guest rejected the current guest credential: no guest logon is tried until a new one is entered."""
        return self._guest_credential is not None and self.licenses.rejected == self._guest_credential

    def reject_guest_credential(self, by: str = "", message: str = "") -> None:
        """A guest answered "The credential is invalid.": no further guest logon with this credential."""
        if self._guest_credential is not None:
            self.licenses.rejected, self.licenses.rejected_by = self._guest_credential, by
            self.licenses.rejected_message = message

    @property
    def guest_login_failure(self) -> str:
        """The last guest login's failure in one line ("" while none was rejected): which account, which guest, why."""
        if not self.guest_login_rejected or self._guest_credential is None:
            return ""
        by = self.licenses.rejected_by or "a guest"
        why = self.licenses.rejected_message or "wrong guest user name or password"
        return f"The guest login {self._guest_credential.username} was rejected by {by}: {why}"

    def forget_license(self, vm_id: str) -> None:
        """The tool changed this guest (or the admin re-checks it): read its license again."""
        self.licenses.forget([vm_id])

    async def read(self, *, licenses: bool | Iterable[str] = True, force: bool = False) -> Inventory:
        """Read the inventory; then, in parallel, the cluster nodes and the licenses that are due (all with
        True, these VMs' with a list). With False the inventory alone: read_licenses() and read_nodes()
        then read the rest in the background. The inventory is returned with what is known of each.

        `force` (r, re-check) forgets every cached license first. A license read that fails never
        costs the inventory: the VM says why its license is unknown.
        """
        try:
            inventory = await self.host.inventory()
        except Exception as err:
            if not self._interaction:
                await self._record("connect", Outcome.FAILED, {"code": type(err).__name__, "message": str(err)})
            raise
        self.inventory = inventory
        if force:
            self.licenses.forget_all()
            self.nodes.forget_all()
        if licenses is False:  # the inventory alone: the caller reads licenses and nodes in the background
            return self._overlay()
        nodes = asyncio.ensure_future(self._drain(self.nodes.read(self.nodes.due(inventory))))
        only = None if licenses is True else set(licenses)
        wanted = [vm.id for vm in inventory.vms if only is None or vm.id in only]
        for _ in range(2):  # a read another caller began before a change is not kept: read once more
            async for _ in self._reads(only):
                pass
            await self.licenses.wait(wanted)
        await nodes  # in parallel with the licenses, each node bounded by the timeout
        return self._overlay()

    @staticmethod
    async def _drain(reads: AsyncIterator[object]) -> None:
        async for _ in reads:
            pass

    def _overlay(self) -> Inventory:
        """The last inventory with what is known now of each license and each cluster node."""
        assert self.inventory is not None
        return self.nodes.overlay(self.licenses.overlay(self.inventory, self._guest_credential))

    async def read_nodes(self) -> AsyncIterator[Diagnosis]:
        """Read the cluster nodes that are due, in parallel; a fresh diagnosis as each answers (the TUI)."""
        if self.inventory is None:
            return
        async for _ in self.nodes.read(self.nodes.due(self.inventory)):
            yield self._diagnose()

    async def refresh(self, *, licenses: bool | Iterable[str] = True, force: bool = False) -> Diagnosis:
        """`read`, then the diagnosis (kept in `self.diagnosis`). The first one's connection record is
        written (and fsynced) on a thread while the diagnosis is made, so the dashboard does not wait for
        the disk twice."""
        inventory = await self.read(licenses=licenses, force=force)
        recording = self._start_record("connect", Outcome.OK) if not self._interaction else None
        self.diagnosis = diagnose(inventory, previous=self.diagnosis)
        if recording is not None:
            await recording
        return self.diagnosis

    async def read_licenses(self, only: set[str] | None = None, *, every: float = 0.0) -> AsyncIterator[Diagnosis]:
        """Read the licenses that are due (of `only` these VMs); a fresh diagnosis when they start, then after
        the chunks that answered since, at most one per `every` seconds, and one after the last (the TUI shows
        each). A diagnosis costs the whole host, so chunks that answer together are shown together: a host
        that answers 80 chunks in a second gets a handful of diagnoses, not 80 (bench/RESULTS.md)."""
        answered, unseen, finished = asyncio.Event(), 0, False

        async def reading() -> None:
            nonlocal unseen, finished
            try:
                async for _ in self._reads(only):
                    unseen += 1
                    answered.set()
            finally:
                finished = True
                answered.set()

        reads = asyncio.ensure_future(reading())
        try:
            while True:
                await answered.wait()
                answered.clear()
                if unseen:
                    unseen = 0
                    yield self._diagnose()
                if finished:
                    break
                if every:
                    await asyncio.sleep(every)
            await reads  # a read that failed raises here
        finally:
            if not reads.done():  # the caller stopped early: the reads stop, and no longer show as being read
                reads.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reads

    async def _reads(self, only: set[str] | None) -> AsyncIterator[None]:
        """Start the due reads (yield: they show as being read), then yield after each chunk."""
        inventory, credential = self.inventory, self._guest_credential
        if inventory is None or credential is None:
            return
        due = [vm_id for vm_id in self.licenses.due(inventory, credential) if only is None or vm_id in only]
        if not due:
            return
        reads, release = self.licenses.read(inventory, due, credential)
        try:
            yield None
            async for _ in reads:
                yield None
        finally:
            release()

    def _diagnose(self) -> Diagnosis:
        """The diagnosis of the last inventory with what is known of each license now; the VMs whose facts did
        not change keep their diagnosis (a license chunk changes a few dozen VMs of hundreds)."""
        assert self.inventory is not None
        self.diagnosis = diagnose(self._overlay(), previous=self.diagnosis)
        return self.diagnosis

    async def close(self) -> None:
        try:
            await self.licenses.close(keep=self.host)
            await self.host.close()
        finally:
            if self._interaction:
                await self._record("disconnect", Outcome.OK)
                self._interaction = ""

    async def _record(self, action: str, outcome: Outcome, error: dict[str, str] | None = None) -> None:
        """One connection record; the file write (fsync) runs off the event loop."""
        recording = self._start_record(action, outcome, error)
        if recording is not None:
            await recording

    def _start_record(
        self, action: str, outcome: Outcome, error: dict[str, str] | None = None
    ) -> asyncio.Future[object] | None:
        """Start writing one connection record on a thread at once; await the result to know it is written."""
        if self.audit is None:
            return None
        from avma_tui.services.audit import Target, new_interaction

        if action == "connect" and outcome is Outcome.OK:
            self._interaction = new_interaction()
        return asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                self.audit.append,
                host=self.host_name,
                remote_user=self.remote_user,
                target=Target("host", self.host_name),
                action=action,
                phase="result",
                interaction=self._interaction or new_interaction(),
                params={"via": self.host.description},
                outcome=outcome,
                error=error,
            ),
        )
