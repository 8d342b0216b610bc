"""One connected host and what we know about it: the shared state of the TUI, `report` and `fix`.

A refresh is two round trips at most, whatever the number of VMs: the inventory, then the guest
licenses of every running VM in one call (only when guest credentials were given).
"""

from __future__ import annotations

from .diagnosis import diagnose
from .hyperv.host import HyperVHost, with_licenses
from .hyperv.transport import Credential
from .model import Diagnosis, Inventory


class Session:
    def __init__(self, host: HyperVHost, *, guest_credential: Credential | None = None, remote_user: str = "") -> None:
        self.host = host
        self.guest_credential = guest_credential
        self.remote_user = remote_user
        self.diagnosis: Diagnosis | None = None

    @property
    def host_name(self) -> str:
        """The host's fqdn once known, else where we connect to."""
        return self.diagnosis.inventory.host.fqdn if self.diagnosis else self.host.description

    async def read(self) -> Inventory:
        """The inventory, with the running guests' licenses when guest credentials are known."""
        inventory = await self.host.inventory()
        if self.guest_credential is not None:
            running = [vm.id for vm in inventory.vms if vm.running]
            if running:
                inventory = with_licenses(inventory, await self.host.guest_licenses(running, self.guest_credential))
        return inventory

    async def refresh(self) -> Diagnosis:
        self.diagnosis = diagnose(await self.read())
        return self.diagnosis

    async def close(self) -> None:
        await self.host.close()
