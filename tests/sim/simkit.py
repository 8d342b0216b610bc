"""Helpers for the simulated-host tests: a fake clock, guest tables, catalog keys, a facade over a scenario."""

from __future__ import annotations

from dataclasses import dataclass

from avma_tui.core.catalog import load_catalog
from avma_tui.core.model import GuestErrorKind
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import parse_scenario
from avma_tui.sim.transport import SimTransport

GOOD = Credential("Administrator", "Passw0rd!")

HOST_2022_DC = """
format = 1
[sim]
activation_delay_s = 2.0
boot_delay_s = 3.0
conversion_s = 60.0
[host]
name = "HV01"
domain = "contoso.local"
os_name = "Windows Server 2022 Datacenter"
build = 20348
sku = 8
license_status = 1
[guest_credentials]
username = "Administrator"
password = "Passw0rd!"
"""


def guest(family: str, edition: str, *, sku: int | None = None, os_name: str | None = None) -> str:
    """A [vms.guest] table for a Windows Server guest of this family and edition."""
    build = {"2012 R2": 9600, "2016": 14393, "2019": 17763, "2022": 20348, "2025": 26100}[family]
    sku = sku if sku is not None else {"Standard": 7, "Datacenter": 8}[edition]
    name = os_name or f"Windows Server {family} {edition}"
    return (
        f'[vms.guest]\nOSName = "{name}"\nOSBuildNumber = "{build}"\nOSEditionId = "{sku}"\n'
        'ProductType = "3"\nOSPlatformId = "2"\n'
    )


def avma_key(family: str, edition: str) -> str:
    key = load_catalog().avma_key(family, edition)
    assert key is not None
    return key.key


def kms_key(version: str, edition: str) -> str:
    return next(k.key for k in load_catalog().kms_keys if k.version == version and k.edition == edition)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sim:
    host: HyperVHost
    transport: SimTransport
    engine: SimHost
    clock: FakeClock

    async def vm_id(self, name: str) -> str:
        inventory = await self.host.inventory()
        return next(vm.id for vm in inventory.vms if vm.name == name)

    async def license(self, vm_id: str, credential: Credential = GOOD):
        return (await self.host.guest_licenses([vm_id], credential))[vm_id]


def make_sim(extra: str, clock: FakeClock, header: str = HOST_2022_DC) -> Sim:
    """A Sim over HyperVHost(SimTransport(SimHost(...))) for the host header plus `extra` TOML."""
    engine = SimHost(parse_scenario(header + extra, "test.toml"), clock=clock)
    transport = SimTransport(engine, latency_ms=0)
    return Sim(HyperVHost(transport), transport, engine, clock)


# --- five guests failing for five reasons (issue 11: per-VM attribution, classification by record) ---

MISSING = "00000000-0000-4000-8000-00000000abcd"

#: Five guests that fail for five different reasons, and one that works.
FIVE = (
    '[[vms]]\nname = "OFF01"\nstate = "Off"\n'
    + guest("2022", "Standard")
    + '[[vms]]\nname = "OLD01"\n'
    + guest("2012 R2", "Standard")
    + '[[vms]]\nname = "OWNPW"\n'
    + guest("2022", "Standard")
    + '[vms.guest_credentials]\nusername = "Administrator"\npassword = "Other-Passw0rd!"\n'
    + '[[vms]]\nname = "SPPOFF"\nspp_error = "0x80070422"\n'
    + guest("2022", "Standard")
    + '[[vms]]\nname = "GOOD01"\n'
    + guest("2022", "Standard")
)

EXPECTED = {
    "missing": (GuestErrorKind.NOT_FOUND, "InvalidVMIdNotSingle"),
    "OFF01": (GuestErrorKind.NOT_RUNNING, "InvalidVMState"),
    "OLD01": (GuestErrorKind.PS_DIRECT, "PSSessionOpenFailed"),
    "OWNPW": (GuestErrorKind.CREDENTIAL, "PSSessionOpenFailed"),
    "SPPOFF": (GuestErrorKind.OTHER, "HRESULT 0x80070422"),
}


def german(header: str = HOST_2022_DC) -> str:
    return header.replace("[sim]\n", '[sim]\nlanguage = "de-DE"\n', 1)
