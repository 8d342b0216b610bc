"""WS-Management behaviour of the loopback endpoint that pypsrp relies on, seen through pypsrp itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from avma_tui.hyperv.operations import script_text
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER, make_engine


def _pool(endpoint: WinRMEndpoint) -> RunspacePool:
    wsman = WSMan(
        endpoint.host,
        port=endpoint.port,
        ssl=False,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        operation_timeout=5,
        read_timeout=8,
    )
    return RunspacePool(wsman)


def test_an_idle_receive_ends_in_the_operation_timeout_fault(endpoint: WinRMEndpoint) -> None:
    with _pool(endpoint) as pool:
        with pytest.raises(WSManFaultError) as caught:
            pool._receive(timeout=1)  # nothing to say on the pool: the long-poll gives up after 1 s
        assert caught.value.code == 0x80338029


def test_shell_state_is_queried_with_get(endpoint: WinRMEndpoint) -> None:
    pool = _pool(endpoint)
    pool.open()
    assert pool.is_alive()
    endpoint.fail_next("shell_gone")
    assert not pool.is_alive()  # WSMan Get on a shell the host no longer knows


def test_pipelines_run_one_after_another_on_one_shell(endpoint: WinRMEndpoint) -> None:
    with _pool(endpoint) as pool:
        first = (
            PowerShell(pool)
            .add_script(script_text("vm"), use_local_scope=True)
            .add_parameter("VmId", "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c01")
        )
        assert "DC01" in first.invoke()[0]
        first.close()
        second = PowerShell(pool).add_script(script_text("inventory"), use_local_scope=True)
        assert "HV01" in second.invoke()[0]


def test_an_unknown_path_is_not_found(endpoint: WinRMEndpoint) -> None:
    assert requests.post(f"http://{endpoint.host}:{endpoint.port}/other", data=b"x", timeout=5).status_code == 404
    assert requests.post(endpoint.url, data=b"<x/>", timeout=5).status_code == 401  # nothing without authentication


def test_a_port_in_use_leaves_nothing_behind(
    endpoint: WinRMEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    second = WinRMEndpoint(endpoint.engine, username=USER, password=PASSWORD, port=endpoint.port)
    with pytest.raises(OSError):
        second.start()
    assert list(tmp_path.iterdir()) == []


def test_the_password_never_reaches_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with WinRMEndpoint(make_engine(), username=USER, password=PASSWORD, https=True) as endpoint:
        written = [path for path in tmp_path.rglob("*") if path.is_file()]
        assert written and all(PASSWORD.encode() not in path.read_bytes() for path in written)
        assert all(path.stat().st_mode & 0o077 == 0 for path in written if path != endpoint.ca_cert_path)
    assert list(tmp_path.iterdir()) == []
