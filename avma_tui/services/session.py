"""One connected host and what we know about it: the shared state of the TUI, `report` and `fix`.

A refresh is two round trips at most, whatever the number of VMs: the inventory, then the guest
licenses of every running VM in one call (only when guest credentials were given).

With an audit log, the session records its connection (the first read, or its failure) and its
disconnection, so the log answers "who looked at this host, when, as whom" as well as "who changed what".
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from avma_tui.core.catalog import ps_direct_possible
from avma_tui.core.findings import diagnose
from avma_tui.core.model import Diagnosis, Inventory
from avma_tui.core.operations import Outcome
from avma_tui.hyperv.host import HyperVHost, with_licenses
from avma_tui.hyperv.transport import Credential

if TYPE_CHECKING:
    from avma_tui.services.audit import AuditLog


class Session:
    def __init__(
        self,
        host: HyperVHost,
        *,
        guest_credential: Credential | None = None,
        remote_user: str = "",
        audit: AuditLog | None = None,
    ) -> None:
        self.host = host
        self.guest_credential = guest_credential
        self.remote_user = remote_user
        self.audit = audit
        self.diagnosis: Diagnosis | None = None
        self._interaction = ""  # the audit id of this connection; "" until the first read succeeded

    @property
    def host_name(self) -> str:
        """The host's fqdn once known, else where we connect to."""
        return self.diagnosis.inventory.host.fqdn if self.diagnosis else self.host.description

    async def read(self) -> Inventory:
        """The inventory, with the running guests' licenses when guest credentials are known."""
        inventory = await self.host.inventory()
        if self.guest_credential is not None:
            # PowerShell Direct only where it can work (core ps_direct_possible); the rest get their console path.
            running = [vm.id for vm in inventory.vms if ps_direct_possible(inventory.host, vm)]
            if running:
                inventory = with_licenses(inventory, await self.host.guest_licenses(running, self.guest_credential))
        return inventory

    async def refresh(self) -> Diagnosis:
        try:
            inventory = await self.read()
        except Exception as err:
            if not self._interaction:
                await self._record("connect", Outcome.FAILED, {"code": type(err).__name__, "message": str(err)})
            raise
        self.diagnosis = diagnose(inventory)
        if not self._interaction:
            await self._record("connect", Outcome.OK)
        return self.diagnosis

    async def close(self) -> None:
        try:
            await self.host.close()
        finally:
            if self._interaction:
                await self._record("disconnect", Outcome.OK)
                self._interaction = ""

    async def _record(self, action: str, outcome: Outcome, error: dict[str, str] | None = None) -> None:
        """One connection record; the file write (fsync) runs off the event loop."""
        if self.audit is None:
            return
        from avma_tui.services.audit import Target, new_interaction

        if action == "connect" and outcome is Outcome.OK:
            self._interaction = new_interaction()
        await asyncio.to_thread(
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
        )
