"""Domain logins (issue 16): Kerberos against a real MIT KDC, through the real pypsrp client, over HTTP
with message encryption to the loopback WinRM endpoint — no password anywhere when a ticket exists.

Each failure an admin meets in a domain gets one plain line with the fix, and exit status 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.kerberos.kdc import HOST, PASSWORD, REALM, USER, Kdc

pytestmark = pytest.mark.xdist_group("kerberos")

ALICE = f"{USER}@{REALM}"


def _report(endpoint: WinRMEndpoint, env: dict[str, str], *extra: str, host: str = HOST, password: str | None = None,
            prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {k: v for k, v in env.items() if k not in ("AVMA_PASSWORD", "AVMA_GUEST_PASSWORD")}
    if password is not None:
        env["AVMA_PASSWORD"] = password
    command = [*prefix, sys.executable, "-m", "avma_tui", "report", host, "--http", "--port", str(endpoint.port),
               "--timeout", "20", "--format", "json", *extra]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_a_ticket_from_kinit_logs_in_with_no_password_anywhere(
    auth: str, kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str], tmp_path: Path
) -> None:
    kdc.kinit()
    env = {**krb_env, "AVMA_TUI_HOME": str(tmp_path)}
    done = _report(kerberos_endpoint, env, "--auth", auth)
    assert done.returncode in (0, 1), done.stderr
    assert len(json.loads(done.stdout)["vms"]) == 24
    assert kerberos_endpoint.principals and set(kerberos_endpoint.principals) == {ALICE}  # Kerberos, not NTLM
    # The audit log names the account the host saw: the current logon's principal.
    records = [json.loads(line) for line in (tmp_path / "data" / "audit" / "audit.jsonl").read_text().splitlines()]
    assert {record["remote_user"] for record in records} == {ALICE}


def test_kerberos_with_a_password_gets_its_own_ticket(
    kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]
) -> None:
    done = _report(kerberos_endpoint, krb_env, "--auth", "kerberos", "--user", ALICE, password=PASSWORD)
    assert done.returncode in (0, 1), done.stderr
    assert set(kerberos_endpoint.principals) == {ALICE}


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("alice@NOWHERE.TEST", PASSWORD, "no Kerberos KDC answers for NOWHERE.TEST"),
        (f"mallory@{REALM}", PASSWORD, f"does not know mallory@{REALM}"),
        (ALICE, "wrong-password", f"Kerberos rejected the password of {ALICE}"),
    ],
    ids=["wrong-realm", "unknown-principal", "wrong-password"],
)
def test_a_bad_domain_login_is_one_plain_line(
    user: str, password: str, expected: str, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]
) -> None:
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", "kerberos", "--user", user, password=password))
    assert expected in line
    assert password not in line


def test_no_ticket_says_to_run_kinit(kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]) -> None:
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", "kerberos"))
    assert "no Kerberos ticket" in line and "kinit" in line


def test_an_expired_ticket_says_so(kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]) -> None:
    import time

    kdc.kinit(lifetime="2s")
    time.sleep(3)
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", "kerberos"))
    assert "ticket has expired" in line and "kinit" in line


@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime (Debian: faketime) is not installed")
def test_a_clock_ten_minutes_off_is_named(kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]) -> None:
    """The ticket is from kinit; then the client's clock runs 10 minutes ahead (libfaketime), beyond
    Kerberos' 5-minute tolerance, so the KDC refuses the service ticket request."""
    kdc.kinit()
    faketime = ("faketime", "-f", "+10m")
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", "kerberos", prefix=faketime))
    assert "clocks" in line and "5 minutes" in line


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_a_host_reached_by_ip_is_told_kerberos_needs_its_name(
    auth: str, kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]
) -> None:
    kdc.kinit()
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", auth, host="127.0.0.1"))
    assert "Kerberos needs the host's name" in line


def test_another_accounts_ticket_is_refused(
    kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]
) -> None:
    kdc.kinit(principal="bob")
    line = _one_line_error(_report(kerberos_endpoint, krb_env, "--auth", "kerberos"))
    assert "rejected" in line
    assert kerberos_endpoint.principals == []


def test_the_current_principal_is_the_tickets(kdc: Kdc, krb_env: dict[str, str]) -> None:
    from avma_tui.hyperv.kerberos import current_principal

    assert current_principal() is None  # no ticket yet
    kdc.kinit()
    assert current_principal() == ALICE


async def test_the_tui_connects_as_you_and_says_so(
    kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`avma-tui hv01.avma.test --auth kerberos` with a ticket: no password asked, "as you: alice@…" shown."""
    from textual.widgets import Static

    from avma_tui.config import ConnectionSettings
    from avma_tui.ui.app import AvmaApp
    from avma_tui.ui.screens.dashboard import DashboardScreen

    monkeypatch.setenv("AVMA_TUI_HOME", str(tmp_path))
    kdc.kinit()
    kerberos_endpoint.latency_ms = 300  # time to read the status line while the connection is under way
    settings = ConnectionSettings(HOST, port=kerberos_endpoint.port, https=False, auth="kerberos", timeout=20)
    app = AvmaApp(settings=settings, refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # the password field has the focus, and stays empty
        status = app.screen.query_one("#connect-status", Static).render().plain
        assert f"as you: {ALICE}" in status
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert set(kerberos_endpoint.principals) == {ALICE}
    audit = (tmp_path / "data" / "audit" / "audit.jsonl").read_text()
    assert f'"remote_user":"{ALICE}"' in audit


def test_doctor_names_the_mechanism_and_why_not_kerberos(
    kdc: Kdc, kerberos_endpoint: WinRMEndpoint, krb_env: dict[str, str]
) -> None:
    """Issue 16: `doctor` says which mechanism worked, and why Kerberos was not used."""
    kdc.kinit()
    base = [sys.executable, "-m", "avma_tui", "doctor", "--http", "--port", str(kerberos_endpoint.port)]
    env = {k: v for k, v in krb_env.items() if not k.startswith("AVMA_")}
    by_name = subprocess.run([*base, HOST], env=env, capture_output=True, text=True, timeout=90)
    assert f"✔ authentication: kerberos as {ALICE}" in by_name.stdout, by_name.stdout + by_name.stderr
    kdc.kdestroy()
    no_ticket = subprocess.run([*base, HOST], env=env, capture_output=True, text=True, timeout=90)
    line = next(line for line in no_ticket.stdout.splitlines() if "authentication" in line)
    assert line.startswith("✘") and "no Kerberos ticket" in line
