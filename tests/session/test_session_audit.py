"""A session records its connection and disconnection in the audit log (docs/audit.md: every connection)."""

from __future__ import annotations

import pytest

from avma_tui.hyperv.transport import Unreachable
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.session import Session
from avma_tui.services.targets import open_simulated


async def test_a_session_records_connect_once_and_disconnect() -> None:
    log = AuditLog()
    session = Session(open_simulated(asset("scenarios", "demo.toml")), remote_user="CORP\\admin", audit=log)
    await session.refresh()
    await session.refresh()  # a refresh is not a new connection
    await session.close()
    records = log.records()
    assert [(r["action"], r["outcome"]) for r in records] == [("connect", "ok"), ("disconnect", "ok")]
    assert {r["host"] for r in records} == {"HV01.contoso.local"}
    assert {r["remote_user"] for r in records} == {"CORP\\admin"}
    assert records[0]["interaction"] == records[1]["interaction"]
    assert "simulated host HV01" in records[0]["params"]["via"]
    assert log.verify().ok


async def test_a_failed_connection_is_recorded_with_its_reason() -> None:
    log = AuditLog()
    host = open_simulated(asset("scenarios", "demo.toml"))
    host.transport.fail_next(Unreachable("hv01 did not answer on 5986"))
    session = Session(host, audit=log)
    with pytest.raises(Unreachable):
        await session.refresh()
    await session.close()
    [record] = log.records()  # no disconnect for a connection that never was
    assert (record["action"], record["outcome"]) == ("connect", "failed")
    assert record["error"]["message"] == "hv01 did not answer on 5986"


async def test_without_an_audit_log_nothing_is_written(avma_home) -> None:
    session = Session(open_simulated(asset("scenarios", "demo.toml")))
    await session.refresh()
    await session.close()
    assert not (avma_home / "data").exists()
