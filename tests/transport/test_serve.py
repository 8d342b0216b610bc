"""`avma-tui sim serve`: a real process serving the demo host, reachable with the line it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from avma_tui.config import ConnectionSettings
from avma_tui.hyperv.psrp import PsrpTransport

PASSWORD = "Serve-Pa55word!"


def _serve(*args: str, password: str | None = PASSWORD) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "AVMA_SIM_PASSWORD"}
    if password is not None:
        env["AVMA_SIM_PASSWORD"] = password
    return subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "sim", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_refuses_to_start_without_a_password() -> None:
    process = _serve("--demo", password=None)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and out == ""
    assert err.count("\n") == 1 and "AVMA_SIM_PASSWORD" in err


def test_refuses_a_bad_scenario_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("format = 1\n[host]\nname = 3\n", encoding="utf-8")
    process = _serve("--scenario", str(bad))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("https", [False, True])
async def test_serves_the_demo_until_interrupted(https: bool) -> None:
    process = _serve("--demo", "--user", "operator", *(["--https"] if https else []))
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"at (https?)://127\.0\.0\.1:(\d+)/wsman \(user operator\)$", line.rstrip("\n"))
        assert match, line
        assert len(line.rstrip("\n")) <= 80
        line = process.stdout.readline()
        assert line.startswith(f"connect with: avma-tui 127.0.0.1 --port {match.group(2)}"), line
        assert ("--ca-cert " in line) == https and ("--http " in line) != https
        ca = re.search(r"--ca-cert (\S+)", line)
        settings = ConnectionSettings(
            host="127.0.0.1",
            port=int(match.group(2)),
            https=https,
            auth="ntlm",
            username="operator",
            ca_cert=ca.group(1) if ca else "",
            timeout=10,
        )
        transport = PsrpTransport(settings, PASSWORD)
        assert (await transport.run("inventory"))["host"]["name"] == "HV01"
        await transport.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert PASSWORD not in err


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"])
def test_every_exit_signal_removes_the_account_file(tmp_path: Path, signame: str) -> None:
    """While serving: one 0600 file with the NT hash only (no LM hash, no password); after the signal: gone."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "AVMA_SIM_PASSWORD": PASSWORD, "TMPDIR": str(temp)}
    process = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "sim", "serve", "--demo", "--https"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and "serving simulated host" in process.stdout.readline()
        (folder,) = temp.iterdir()
        assert folder.stat().st_mode & 0o777 == 0o700
        users = folder / "ntlm-users"
        assert users.stat().st_mode & 0o777 == 0o600
        name, _, lm, nt, *_ = users.read_text(encoding="utf-8").strip().split(":")
        assert name == "admin" and lm == "0" * 32 and len(nt) == 32
        assert PASSWORD not in users.read_text(encoding="utf-8")
        assert not list(folder.glob("*.key"))  # the TLS key is loaded, then removed at once
    finally:
        process.send_signal(getattr(signal, signame))
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert list(temp.iterdir()) == []
