"""Guest licenses off the refresh's critical path: read in chunks in the background, and cached.

Reading a guest's license means a PowerShell Direct session into the guest: a `Get-VM -Id`, a
Hyper-V socket connect, a logon (event 4624 in the guest) and a powershell.exe start, about 1-3 s
per guest, and New-PSSession -VMId looks the VMs up one after another (PowerShell/PowerShell:
src/System.Management.Automation/engine/remoting/commands/newrunspacecommand.cs,
CreateRunspacesWhenVMParameterSpecified). So the inventory never waits for licenses (docs/architecture.md,
"Refresh"):

* A license is read again only when the VM's state or KVP data changed, after a change the tool made
  (`forget`), on `r` / re-check (`forget_all`), or when the cached read is older than `max_age`.
* Reads go in chunks of about `chunk_size` guests, one operation each, at most `lanes` chunks in flight
  (each lane is a connection of its own: a WinRM shell, counted against MaxShellsPerUser, 30 by
  default — MS-WSMV §2.2.4.42 https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/7ffb4acd-cf01-4fbe-9e48-7746f5001957).
  Each chunk has its own timeout; the guests of a chunk that timed out are reported as such.
* Credentials are protected: until a credential has been accepted by one guest, guests are tried one
  at a time; one "The credential is invalid." stops every further logon with that credential until
  the operator enters one again (a wrong domain password would otherwise lock the account out).
* PowerShell Direct is tried only where it can work, as core.catalog.ps_direct decides: the VM running,
  a Windows guest of build 14393 or newer (or one whose build KVP does not tell), a host of build 14393
  or newer with PowerShell 5 (unknown: may work, so it is tried).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace

from avma_tui.core.catalog import PsDirectVerdict, ps_direct
from avma_tui.core.model import LICENSE_NOT_READ, GuestErrorKind, Host, Inventory, LicenseRead, LicenseState, Vm
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential, TimedOut, TransportError

#: Guests tried one by one, while a credential is unproven, before chunks go out anyway (each a logon).
MAX_PROBES = 3

READING = LicenseRead(LicenseState.READING)
#: Per VM Id: its fingerprint when the read began, and its generation then (see LicenseBook.forget).
_Prints = dict[str, tuple[tuple[object, ...], int]]


@dataclass(frozen=True)
class LicenseOptions:
    chunk_size: int = 25  # guests per guest_licenses call
    #: Chunks in flight, each on a connection of its own (a WinRM shell). Bounded by the host: WinRM allows
    #: 30 shells per user, the PowerShell plug-in 25 (MS-WSMV §2.2.4.42 and §3.1.4.1.34.3.4); 16 leaves room
    #: for the session's own shell, the cluster nodes' and another admin's. With sessions opened serially
    #: at 1.5 s per guest, 16 lanes read 500 guests in well under a minute (bench/RESULTS.md).
    lanes: int = 16
    chunk_timeout: float = 120.0  # seconds one chunk may take
    max_age: float = 900.0  # seconds a read license stays fresh (15 minutes)


def ps_direct_blocker(host: Host, vm: Vm) -> LicenseRead | None:
    """What to show instead of a read when PowerShell Direct is not tried for this VM (core.catalog.ps_direct
    decides); None when it is tried."""
    decision = ps_direct(host, vm)
    if decision.possible:
        return None
    if decision.verdict is PsDirectVerdict.NO_HOST and vm.running:
        return LicenseRead(
            LicenseState.FAILED,
            error=(
                "PowerShell Direct needs a Windows Server 2016 (build 14393) or newer host with Windows PowerShell 5; "
                f"{decision.reason}."
            ),
            error_kind=GuestErrorKind.PS_DIRECT,
        )
    return LICENSE_NOT_READ  # the diagnosis says why (start it, not Windows, the console path for a guest too old)


def _fingerprint(vm: Vm) -> tuple[object, ...]:
    """What, when it changes, makes a cached license stale: the VM's state and its KVP data."""
    return (vm.state, vm.kvp, vm.guest.items if vm.guest else None)


@dataclass(frozen=True)
class _Entry:
    read: LicenseRead
    fingerprint: tuple[object, ...]
    at: float


class LicenseBook:
    """The license cache of one session and the reads that fill it.

    `open_lane` makes the HyperVHost a chunk runs on (a fresh connection per lane for a real host);
    lanes are made on first use and kept.
    """

    def __init__(
        self,
        open_lane: Callable[[], HyperVHost],
        options: LicenseOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or LicenseOptions()
        self._open_lane = open_lane
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._generation: dict[str, int] = {}  # bumped by forget(): a read begun before is not cached
        self._inflight: dict[str, asyncio.Future[LicenseRead]] = {}
        self._overlaid: dict[str, tuple[Vm, LicenseRead, Vm]] = {}  # per VM Id: the VM, its read, the VM shown
        self._lanes: list[HyperVHost] = []
        self._free: asyncio.Queue[HyperVHost] | None = None
        self._proven: Credential | None = None  # a credential a guest accepted
        self.rejected: Credential | None = None  # a credential a guest rejected: no more logons with it
        self.rejected_by = ""  # the VM that rejected it
        self.rejected_message = ""  # what the guest answered, as Windows wrote it

    # --- what to show ---------------------------------------------------------------------------

    def overlay(self, inventory: Inventory, credential: Credential | None) -> Inventory:
        """The inventory with what is known of each VM's license (read, reading, failed, not read).

        A VM whose license is as in the last overlay keeps the same object, so the diagnosis and the table
        skip it at the cost of an identity check (a license chunk changes 25 VMs of thousands)."""
        made: dict[str, tuple[Vm, LicenseRead, Vm]] = {}
        vms = []
        for vm in inventory.vms:
            read = self._known(inventory.host, vm, credential)
            last = self._overlaid.get(vm.id)
            unchanged = last is not None and last[0] is vm and last[1] == read
            shown = last[2] if last is not None and unchanged else replace(vm, license=read)
            made[vm.id] = (vm, read, shown)
            vms.append(shown)
        self._overlaid = made
        return replace(inventory, vms=tuple(vms))

    def _known(self, host: Host, vm: Vm, credential: Credential | None) -> LicenseRead:
        entry = self._entries.get(vm.id)
        if entry is not None and entry.fingerprint == _fingerprint(vm):
            return entry.read  # while it is read again (it grew old), the last answer stays on screen
        if vm.id in self._inflight:
            return READING
        blocker = ps_direct_blocker(host, vm)
        if blocker is not None or credential is None:
            return blocker or LICENSE_NOT_READ
        if credential == self.rejected:
            return self._not_tried()
        return LICENSE_NOT_READ

    def _not_tried(self) -> LicenseRead:
        return LicenseRead(
            LicenseState.FAILED,
            error=f"Not tried: the guest credential was rejected by {self.rejected_by or 'a guest'}; enter it again.",
            error_kind=GuestErrorKind.CREDENTIAL,
        )

    def due(self, inventory: Inventory, credential: Credential | None) -> list[str]:
        """The VMs whose license must be read now (not fresh, not being read, PowerShell Direct may work)."""
        if credential is None or credential == self.rejected:
            return []
        now = self._clock()
        due = []
        for vm in inventory.vms:
            if vm.id in self._inflight or ps_direct_blocker(inventory.host, vm) is not None:
                continue
            entry = self._entries.get(vm.id)
            fresh = (
                entry is not None and entry.fingerprint == _fingerprint(vm) and now - entry.at < self.options.max_age
            )
            if not fresh:
                due.append(vm.id)
        return due

    @property
    def reading(self) -> int:
        """How many guests are being read now."""
        return len(self._inflight)

    # --- invalidation -----------------------------------------------------------------------------

    def forget(self, vm_ids: Iterable[str]) -> None:
        """Read these VMs' licenses again next time (the tool changed them, or the admin re-checks)."""
        for vm_id in vm_ids:
            self._entries.pop(vm_id, None)
            self._generation[vm_id] = self._generation.get(vm_id, 0) + 1

    def forget_all(self) -> None:
        for vm_id in [*self._entries, *self._inflight]:
            self._generation[vm_id] = self._generation.get(vm_id, 0) + 1
        self._entries.clear()

    def new_credential(self) -> None:
        """The operator entered a credential: reads that failed for want of one are tried again."""
        self.rejected, self.rejected_by, self.rejected_message, self._proven = None, "", "", None
        self._entries = {k: e for k, e in self._entries.items() if e.read.state is LicenseState.READ}

    # --- reading ----------------------------------------------------------------------------------

    def read(
        self, inventory: Inventory, vm_ids: list[str], credential: Credential
    ) -> tuple[AsyncIterator[int], Callable[[], None]]:
        """Start reading these guests' licenses: they show as being read at once.

        Returns the reads, which yield the number of guests just answered after each chunk and must be
        run for the reads to happen, and a release function to call when done with them (in a finally:
        what was not read then no longer shows as being read).
        """
        ids = [vm_id for vm_id in vm_ids if vm_id not in self._inflight]
        loop = asyncio.get_running_loop()
        futures = {vm_id: loop.create_future() for vm_id in ids}
        self._inflight.update(futures)

        def release() -> None:
            for vm_id, future in futures.items():
                if self._inflight.get(vm_id) is future:
                    del self._inflight[vm_id]
                if not future.done():
                    future.cancel()

        return self._reads(inventory, ids, credential, release), release

    async def _reads(
        self,
        inventory: Inventory,
        ids: list[str],
        credential: Credential,
        release: Callable[[], None],
    ) -> AsyncIterator[int]:
        names = {vm.id: vm.name for vm in inventory.vms}
        fingerprints = {vm.id: (_fingerprint(vm), self._generation.get(vm.id, 0)) for vm in inventory.vms}
        pending = list(ids)
        tasks: list[asyncio.Future[int]] = []
        try:
            # While the credential is unproven, one guest at a time: one logon per password entered.
            probes = 0
            while pending and self._proven != credential and credential != self.rejected and probes < MAX_PROBES:
                probes += 1
                yield await self._chunk([pending.pop(0)], credential, names, fingerprints)
            if pending and credential == self.rejected:
                self._settle(pending, self._not_tried(), fingerprints)
                yield len(pending)
                return
            if pending:
                size = self._chunk_size(len(pending))
                chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
                tasks = [asyncio.ensure_future(self._chunk(c, credential, names, fingerprints)) for c in chunks]
                for done in asyncio.as_completed(tasks):
                    yield await done
        finally:
            for task in tasks:  # the reader stopped early (r again, quit): no chunk goes on reading behind its back
                task.cancel()
            release()

    def _chunk_size(self, count: int) -> int:
        """About chunk_size guests per call, spread so every lane gets work in each wave."""
        size, lanes = self.options.chunk_size, self.options.lanes
        if count <= 0:
            return size
        chunks = lanes * math.ceil(count / (lanes * size))
        return max(1, math.ceil(count / chunks))

    async def _lane(self) -> HyperVHost:
        if self._free is None:
            self._free = asyncio.Queue()
        if self._free.empty() and len(self._lanes) < self.options.lanes:
            lane = self._open_lane()
            self._lanes.append(lane)
            return lane
        return await self._free.get()

    async def _chunk(self, ids: list[str], credential: Credential, names: dict[str, str], fingerprints: _Prints) -> int:
        """One guest_licenses call on a free lane; every guest of the chunk gets an answer."""
        if credential == self.rejected:  # rejected while this chunk waited for a lane
            self._settle(ids, self._not_tried(), fingerprints)
            return len(ids)
        lane = await self._lane()
        try:
            if credential == self.rejected:
                reads: dict[str, LicenseRead] = {}
                self._settle(ids, self._not_tried(), fingerprints)
                return len(ids)
            timeout = self.options.chunk_timeout
            try:
                reads = await asyncio.wait_for(lane.guest_licenses(ids, credential), timeout + 1.0)
            except (asyncio.TimeoutError, TimedOut):
                failed = LicenseRead(
                    LicenseState.FAILED,
                    error=f"The read did not finish within {timeout:g} s (the {len(ids)} guests read together).",
                    error_kind=GuestErrorKind.TIMEOUT,
                )
                reads = dict.fromkeys(ids, failed)
            except TransportError as err:  # one failed chunk never costs the inventory or the other chunks
                failed = LicenseRead(LicenseState.FAILED, error=str(err), error_kind=GuestErrorKind.OTHER)
                reads = dict.fromkeys(ids, failed)
        finally:
            if self._free is not None:  # None: the book was closed meanwhile (the app quit), the lane with it
                self._free.put_nowait(lane)
        for vm_id in ids:
            read = reads.get(vm_id) or LicenseRead(
                LicenseState.FAILED, error="The host gave no answer for this guest.", error_kind=GuestErrorKind.OTHER
            )
            if read.state is LicenseState.READ:
                self._proven = credential
            elif read.error_kind is GuestErrorKind.CREDENTIAL and self.rejected != credential:
                self.rejected, self.rejected_by = credential, names.get(vm_id, vm_id)
                self.rejected_message = read.error
            self._settle([vm_id], read, fingerprints)
        return len(ids)

    def _settle(self, ids: Iterable[str], read: LicenseRead, fingerprints: _Prints) -> None:
        """Cache these answers, unless the VM was forgotten since its read began (the answer may predate a change)."""
        now = self._clock()
        for vm_id in ids:
            fingerprint, generation = fingerprints.get(vm_id, ((), 0))
            if generation == self._generation.get(vm_id, 0):
                self._entries[vm_id] = _Entry(read, fingerprint, now)
            future = self._inflight.pop(vm_id, None)
            if future is not None and not future.done():
                future.set_result(read)

    async def wait(self, vm_ids: Iterable[str]) -> None:
        """Wait for reads other callers started for these VMs."""
        futures = [self._inflight[v] for v in vm_ids if v in self._inflight]
        if futures:
            await asyncio.gather(*futures, return_exceptions=True)

    async def close(self, keep: HyperVHost | None = None) -> None:
        """Close every lane but `keep` (the session's own host, which the session closes)."""
        lanes, self._lanes, self._free = self._lanes, [], None
        for lane in lanes:
            if lane is keep:
                continue
            with contextlib.suppress(Exception):  # closing a dead lane must not stop the others
                await lane.close()
