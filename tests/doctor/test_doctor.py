"""`avma-tui doctor`: each check one line, ✔ / ✘ / skipped, every ✘ with its fix; exit 0 / 1 / 2.

Run as a user runs it: a subprocess against the loopback WinRM endpoint through the real pypsrp client.
"""

from __future__ import annotations

import socket

import pytest

from avma_tui.services import doctor
from tests.doctor.support import PASSWORD, USER, cli, connection_args, one_line_error, serving


def _lines(stdout: str) -> dict[str, str]:
    """check name → its line."""
    found = {}
    for line in stdout.splitlines():
        mark, _, rest = line.partition(" ")
        assert mark in ("✔", "✘", "–"), line
        found[rest.partition(":")[0]] = line
    return found


def test_a_healthy_host_is_all_green_over_the_wire() -> None:
    with serving("standard-host.toml") as endpoint:
        # A Standard host cannot activate guests: that one line fails, the rest passes.
        done = cli("doctor", *connection_args(endpoint), env={"AVMA_PASSWORD": PASSWORD})
    lines = _lines(done.stdout)
    assert done.returncode == 1, done.stderr
    assert lines["authentication"].startswith("✔") and "ntlm as admin" in lines["authentication"]
    assert lines["TCP " + str(endpoint.port)].startswith("✔")
    assert lines["TLS"].startswith("–") and "HTTP with message encryption" in lines["TLS"]
    assert lines["Hyper-V role"].startswith("✔") and lines["PowerShell Direct"].startswith("✔")
    assert lines["AVMA host"].startswith("✘") and "Datacenter" in lines["AVMA host"]
    assert lines["cluster"].startswith("–")
    assert [line for line in done.stdout.splitlines() if line.startswith("✘")] == [lines["AVMA host"]]


def test_the_demo_with_a_guest_login_passes_every_check() -> None:
    done = cli("doctor", "--demo", "--guest-user", "Administrator", env={"AVMA_GUEST_PASSWORD": "Passw0rd!"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _lines(done.stdout)
    assert lines["guest probe"].startswith("✔") and "PowerShell Direct" in lines["guest probe"]
    assert "all checks passed" in done.stderr


def test_a_wrong_password_fails_authentication_and_stops_there() -> None:
    with serving("standard-host.toml") as endpoint:
        done = cli("doctor", *connection_args(endpoint), env={"AVMA_PASSWORD": "wrong"})
    lines = _lines(done.stdout)
    assert done.returncode == 1
    assert lines["authentication"].startswith("✘") and "rejected" in lines["authentication"]
    assert "wrong" not in done.stdout.replace("wrong password", "")  # the password is never echoed
    assert "Hyper-V role" not in lines


def test_a_closed_port_says_how_to_open_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        done = cli("doctor", "127.0.0.1", "--port", str(port), "--http", "--auth", "ntlm", "--user", USER,
                   env={"AVMA_PASSWORD": PASSWORD})  # fmt: skip
    lines = _lines(done.stdout)
    assert done.returncode == 1
    assert lines[f"TCP {port}"].startswith("✘") and "Enable-PSRemoting" in lines[f"TCP {port}"]


def test_an_unknown_name_is_the_first_and_last_line() -> None:
    done = cli("doctor", "no-such-host.invalid", "--auth", "ntlm", "--user", USER, env={"AVMA_PASSWORD": PASSWORD})
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [_lines(done.stdout)["name"]]
    assert "does not resolve" in done.stdout and "nslookup" in done.stdout


def test_https_to_an_http_listener_says_use_http() -> None:
    with serving("standard-host.toml") as endpoint:
        done = cli("doctor", "127.0.0.1", "--port", str(endpoint.port), "--https", "--auth", "ntlm", "--user", USER,
                   env={"AVMA_PASSWORD": PASSWORD})  # fmt: skip
    lines = _lines(done.stdout)
    assert lines["TLS"].startswith("✘") and "--http" in lines["TLS"]


def test_an_untrusted_certificate_names_ca_cert_and_passes_with_it() -> None:
    with serving("standard-host.toml", https=True) as endpoint:
        base = ["doctor", "localhost", "--port", str(endpoint.port), "--https", "--auth", "ntlm", "--user", USER]
        untrusted = cli(*base, env={"AVMA_PASSWORD": PASSWORD})
        trusted = cli(*base, "--ca-cert", str(endpoint.ca_cert_path), env={"AVMA_PASSWORD": PASSWORD})
    assert _lines(untrusted.stdout)["TLS"].startswith("✘") and "--ca-cert" in _lines(untrusted.stdout)["TLS"]
    assert _lines(trusted.stdout)["TLS"].startswith("✔")
    assert _lines(trusted.stdout)["authentication"].startswith("✔")


def test_bad_arguments_exit_2_with_one_line() -> None:
    assert "name a host" in one_line_error(cli("doctor"))


@pytest.mark.parametrize(
    ("pre", "status", "words"),
    [
        ({"user": "HV01\\ops", "elevated": False, "local_account": True, "builtin_administrator": False},
         doctor.Status.FAIL, "LocalAccountTokenFilterPolicy"),
        ({"user": "CORP\\ops", "elevated": False, "local_account": False, "builtin_administrator": False},
         doctor.Status.FAIL, "Add-LocalGroupMember -Group Administrators"),
        ({"user": "HV01\\ops", "elevated": False, "local_account": True, "builtin_administrator": False,
          "local_account_token_filter_policy": 1}, doctor.Status.FAIL, "Add-LocalGroupMember"),
        ({"user": "CORP\\ops", "elevated": True}, doctor.Status.OK, "runs elevated"),
    ],
    ids=["filtered-local-admin", "not-an-admin", "filter-off-but-not-admin", "elevated"],
)  # fmt: skip
def test_elevation_names_the_setting_or_group_missing(pre: dict, status: doctor.Status, words: str) -> None:
    check = doctor.access(pre)[1]
    assert check.status is status
    assert words in check.line()


def test_too_few_shells_is_a_failure_with_the_command() -> None:
    low = doctor.quotas({"winrm": {"max_shells_per_user": 2, "plugin_max_shells_per_user": 25}})
    assert low[0].status is doctor.Status.FAIL and "MaxShellsPerUser 30" in low[0].fix
    assert doctor.quotas({})[0].status is doctor.Status.SKIP


@pytest.mark.parametrize(
    ("host", "pre", "status", "words"),
    [
        ({"build": 20348, "ps_version": "5.1.20348.1"}, {}, doctor.Status.OK, "possible"),
        ({"build": 20348, "ps_version": ""}, {"ps_version": "5.1"}, doctor.Status.OK, "possible"),  # preflight says
        ({"build": 20348, "ps_version": ""}, {}, doctor.Status.SKIP, "PowerShell version not reported"),
        ({"build": None, "ps_version": "5.1"}, {}, doctor.Status.SKIP, "build not reported"),
        ({"build": 9600, "ps_version": "4.0"}, {}, doctor.Status.FAIL, "build 9600"),
        ({"build": 20348, "ps_version": "4.0"}, {}, doctor.Status.FAIL, "Windows PowerShell 4.0"),
    ],
    ids=["known", "from-preflight", "unknown-version", "unknown-build", "old-host", "old-powershell"],
)
def test_the_powershell_direct_check_is_the_catalogs_decision(host: dict, pre: dict, status, words: str) -> None:
    """core.catalog.ps_direct decides; an unknown build or version is 'cannot tell' (skipped), never a failure:
    the tool tries PowerShell Direct there, and the guest probe shows whether it works."""
    from avma_tui.core.findings import diagnose
    from avma_tui.hyperv.host import parse_inventory

    diagnosis = diagnose(parse_inventory({"host": {"name": "HV01", **host}, "vms": []}))
    check = doctor.ps_direct(pre, diagnosis)
    assert check.status is status
    assert words in check.line()


def test_a_line_never_carries_control_characters_from_the_host() -> None:
    done = cli("doctor", "--scenario", "assets/scenarios/hostile.toml")
    assert done.returncode in (0, 1), done.stderr
    assert not any(ord(ch) < 32 and ch not in "\n" for ch in done.stdout)
