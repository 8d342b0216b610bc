"""Scenario TOML for a big simulated host (hundreds or thousands of VMs), for benchmarks and scale tests.

The mix is what a large Hyper-V estate looks like: mostly AVMA-activated guests, and a tail of every
problem the diagnosis knows (KMS and retail keys, KVP off or silent, Evaluation, Linux, client
Windows, too old, newer than the host, VMs that are off). The same (vm_count, seed) always gives the
same text; key endings come from the catalog, never from here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from avma_tui.core.catalog import load_catalog

_BUILDS = {
    "2012 R2": ("6.3.9600", "9600"),
    "2016": ("10.0.14393", "14393"),
    "2019": ("10.0.17763", "17763"),
    "2022": ("10.0.20348", "20348"),
    "2025": ("10.0.26100", "26100"),
}
_SKUS = {"Standard": 7, "Datacenter": 8}
_ROLES = ("APP", "SQL", "WEB", "FS", "RDS", "BUILD", "TEST", "DEV", "SVC", "DB")


@dataclass(frozen=True)
class _Kind:
    """One sort of VM in the mix, with its weight (share of the estate)."""

    weight: int
    lines: Callable[[random.Random, str], list[str]]


def _s(text: str) -> str:
    """A TOML basic string (JSON's string syntax is a subset of TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _windows(family: str, edition: str, name: str, *, evaluation: bool = False) -> list[str]:
    version, build = _BUILDS[family]
    sku = (79 if edition == "Standard" else 80) if evaluation else _SKUS[edition]
    os_name = f"Windows Server {family} {edition}" + (" Evaluation" if evaluation else "")
    return [
        "[vms.guest]",
        f"OSName = {_s(os_name)}",
        f'OSVersion = "{version}"',
        f'OSBuildNumber = "{build}"',
        f'OSEditionId = "{sku}"',
        'ProductType = "3"',
        'OSPlatformId = "2"',
        f"FullyQualifiedDomainName = {_s(name.lower() + '.fabrikam.local')}",
    ]


def _license(status: int, channel: str, last5: str, grace: int = 0, host: str | None = None) -> list[str]:
    lines = ["[vms.license]", f"status = {status}", f'channel = "{channel}"', f'partial_product_key = "{last5}"']
    lines.append(f"grace_minutes = {grace}")
    if host:
        lines += [f'avma_host = "{host}"', 'avma_last_activation = "2026-11-26T08:00:00Z"']
    return lines


def _pick(rng: random.Random) -> tuple[str, str]:
    family = rng.choice(("2016", "2019", "2019", "2022", "2022", "2022"))
    return family, rng.choice(("Standard", "Standard", "Datacenter"))


def _avma_last5(family: str, edition: str) -> str:
    key = load_catalog().avma_key(family, edition)
    assert key is not None, f"the catalog has no AVMA key for {family} {edition}"
    return key.last5


def _kms_last5(family: str, edition: str) -> str:
    return next(k.last5 for k in load_catalog().kms_keys if k.version == family and k.edition == edition)


def _healthy(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    return _windows(family, edition, name) + _license(
        1, "VIRTUAL_MACHINE_ACTIVATION", _avma_last5(family, edition), rng.randint(1000, 10080), "HV-BIG01"
    )


def _kms(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    return _windows(family, edition, name) + _license(2, "VOLUME_KMSCLIENT", _kms_last5(family, edition), 4320)


def _retail(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    last5 = "".join(rng.choice("BCDFGHJKMNPQRTVWXY2346789") for _ in range(5))
    return _windows(family, edition, name) + _license(1, rng.choice(("RETAIL", "VOLUME_MAK")), last5)


def _kvp_off(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    avma = _license(5, "VIRTUAL_MACHINE_ACTIVATION", _avma_last5(family, edition))
    return ["kvp_enabled = false", *_windows(family, edition, name), *avma]


def _no_contact(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    return ['kvp_status = "NoContact"', *_windows(family, edition, name)]


def _off(rng: random.Random, name: str) -> list[str]:
    family, edition = _pick(rng)
    return ['state = "Off"', *_windows(family, edition, name)]


def _old(rng: random.Random, name: str) -> list[str]:
    return ["generation = 1", *_windows("2012 R2", "Standard", name)]


def _newer(rng: random.Random, name: str) -> list[str]:
    return _windows("2025", "Datacenter", name) + _license(
        5, "VIRTUAL_MACHINE_ACTIVATION", _avma_last5("2025", "Datacenter")
    )


def _evaluation(rng: random.Random, name: str) -> list[str]:
    return _windows("2022", rng.choice(("Standard", "Datacenter")), name, evaluation=True) + _license(
        1, "TIMEBASED_EVAL", "QX7RT", 172800
    )


def _linux(rng: random.Random, name: str) -> list[str]:
    kernel = rng.choice(("5.15.0-105-generic", "6.8.0-31-generic", "5.14.0-427.el9.x86_64"))
    distro = rng.choice(("Ubuntu 22.04.4 LTS", "Ubuntu 24.04 LTS", "Red Hat Enterprise Linux 9.4 (Plow)"))
    return [
        "[vms.guest]",
        f"OSName = {_s(distro)}",
        f'OSVersion = "{kernel}"',
        f'OSBuildNumber = "{kernel}"',
        'OSPlatformId = "100"',
        f"FullyQualifiedDomainName = {_s(name.lower())}",
    ]


def _client(rng: random.Random, name: str) -> list[str]:
    return [
        "[vms.guest]",
        'OSName = "Windows 11 Enterprise"',
        'OSVersion = "10.0.22621"',
        'OSBuildNumber = "22621"',
        'OSEditionId = "4"',
        'ProductType = "1"',
        'OSPlatformId = "2"',
    ]


def _silent(rng: random.Random, name: str) -> list[str]:
    return []  # running, KVP fine, but the guest reports nothing


_KINDS = (
    _Kind(62, _healthy),
    _Kind(8, _kms),
    _Kind(5, _retail),
    _Kind(3, _kvp_off),
    _Kind(2, _no_contact),
    _Kind(7, _off),
    _Kind(3, _old),
    _Kind(2, _newer),
    _Kind(2, _evaluation),
    _Kind(4, _linux),
    _Kind(1, _client),
    _Kind(1, _silent),
)


def generate_scenario(vm_count: int, seed: int = 1) -> str:
    """TOML text for the 2022 Datacenter host HV-BIG01 with `vm_count` VMs in a realistic mix; deterministic."""
    if vm_count < 0:
        raise ValueError("vm_count must be >= 0")
    rng = random.Random(seed)
    parts = [
        f"# Generated by avma_tui.sim.generate: {vm_count} VMs, seed {seed}.",
        "format = 1",
        "",
        "[sim]",
        "activation_delay_s = 2.0",
        f"seed = {seed}",
        "",
        "[host]",
        'name = "HV-BIG01"',
        'domain = "fabrikam.local"',
        'os_name = "Windows Server 2022 Datacenter"',
        "build = 20348",
        "sku = 8",
        "license_status = 1",
        'partial_product_key = "7WQ3K"',
        "",
        "[cluster]",
        'name = "CL-BIG"',
        *[f'[[cluster.nodes]]\nname = "HV-BIG0{n}"\nbuild = 20348\nsku = 8\nlicense_status = 1' for n in (2, 3)],
        "",
        "[guest_credentials]",
        'username = "Administrator"',
        'password = "Passw0rd!"',
    ]
    weights = [kind.weight for kind in _KINDS]
    denied: list[str] = []  # guests newer than the host: their AVMA requests were refused
    for index in range(1, vm_count + 1):
        name = f"{rng.choice(_ROLES)}{index:05d}"
        kind = rng.choices(_KINDS, weights)[0]
        parts += ["", "[[vms]]", f'name = "{name}"', *kind.lines(rng, name)]
        if kind.lines is _newer:
            denied.append(name)
    for n, name in enumerate(denied[:150]):
        parts += [
            "",
            "[[events]]",
            f'time = "2026-11-27T{n // 60 % 24:02d}:{n % 60:02d}:00Z"',
            f'vm = "{name}"',
            'notification = "Activation Denied"',
        ]
    return "\n".join(parts) + "\n"
