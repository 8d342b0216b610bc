"""The state the audit log records as `before` and `after` a change, and when a change is re-checked.

One shape per kind of target, so every record of a VM (or of the host) can be compared with any other:
the fix service writes it before and after each step, the re-check adds what the diagnosis says now.
"""

from __future__ import annotations

from typing import Any

from avma_tui.core.model import GuestLicense, Host, Vm


def license_state(lic: GuestLicense | None) -> dict[str, Any]:
    """A guest's license: status, channel, partial key and AVMA host; `license_status` None when no key."""
    if lic is None:
        return {"license_status": None}
    return {
        "license_status": lic.status,
        "channel": lic.channel,
        "partial_product_key": lic.partial_product_key,
        "avma_host": lic.avma_host,
    }


def vm_state(vm: Vm | None, lic: GuestLicense | None = None) -> dict[str, Any]:
    """A VM: power, KVP, guest OS and (when read) its license; `{}` for a VM that is not there."""
    if vm is None:
        return {}
    state: dict[str, Any] = {
        "state": vm.state,
        "kvp_enabled": vm.kvp.enabled,
        "kvp_status": vm.kvp.raw_status or vm.kvp.status.value,
        "guest_os": vm.guest.os_name if vm.guest else None,
    }
    lic = lic or vm.license.license
    if lic is not None:
        state.update(license_state(lic))
    return state


def host_state(host: Host) -> dict[str, Any]:
    """The host's activation."""
    return {"license_status": host.license_status, "partial_product_key": host.partial_product_key}
