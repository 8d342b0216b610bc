"""No secret ever reaches disk: a whole fix session over real WinRM with known passwords and a host
product key, then every file the tool wrote is searched for them (docs/audit.md, docs/architecture.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from avma_tui.paths import asset

HOST_PASSWORD = "Host-Pw-7f3a9c"
GUEST_PASSWORD = "Guest-Pw-2b8e41"
HOST_KEY = "QW3RT-Y8UIP-A5SDF-G7HJK-ZX9CV"  # well-formed, the simulated host's own key


def _scenario(tmp_path: Path) -> Path:
    """unactivated-host.toml with this test's guest password and host key."""
    text = asset("scenarios", "unactivated-host.toml").read_text(encoding="utf-8")
    text = text.replace('password = "Passw0rd!"', f'password = "{GUEST_PASSWORD}"')
    text = text.replace('product_key = "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"', f'product_key = "{HOST_KEY}"')
    assert GUEST_PASSWORD in text and HOST_KEY in text
    path = tmp_path / "host.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _every_file(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_a_fix_session_over_winrm_leaves_no_secret_in_any_file(tmp_path: Path, avma_home: Path) -> None:
    scenario = _scenario(tmp_path)
    env = {**os.environ, "AVMA_TUI_HOME": str(avma_home), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "sim", "serve", "--scenario", str(scenario), "--user", "admin"],
        env={**env, "AVMA_SIM_PASSWORD": HOST_PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        match = re.search(r"127\.0\.0\.1:(\d+)/wsman", server.stdout.readline() if server.stdout else "")
        assert match
        client_env = {
            **env,
            "AVMA_PASSWORD": HOST_PASSWORD,
            "AVMA_GUEST_PASSWORD": GUEST_PASSWORD,
            "AVMA_HOST_PRODUCT_KEY": HOST_KEY,
        }
        target = ["127.0.0.1", "--port", match.group(1), "--http", "--auth", "ntlm", "--user", "admin"]
        fix = subprocess.run(
            [sys.executable, "-m", "avma_tui", "fix", *target, "--vm", "APP11", "--guest-user", "Administrator",
             "--yes", "--verify-timeout", "30"],
            env=client_env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert fix.returncode == 0, fix.stdout + fix.stderr
        report = subprocess.run(
            [sys.executable, "-m", "avma_tui", "report", *target, "--guest-user", "Administrator", "--format", "json",
             "--output", str(avma_home / "report.json")],
            env=client_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert report.returncode in (0, 1), report.stderr
    finally:
        server.terminate()
        _, server_err = server.communicate(timeout=30)

    written = _every_file(avma_home, tmp_path / "tmp")
    assert any(p.name == "audit.jsonl" for p in written)
    secrets = [HOST_PASSWORD, GUEST_PASSWORD, HOST_KEY]
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            for encoded in (secret.encode("utf-8"), secret.encode("utf-16-le")):
                assert encoded not in data, f"{secret!r} found in {path}"
    for stream in (fix.stdout, fix.stderr, report.stdout, report.stderr, server_err):
        assert not any(secret in stream for secret in secrets)
    audit = (avma_home / "data" / "audit" / "audit.jsonl").read_text(encoding="utf-8")
    assert HOST_KEY[-5:] in audit  # the key is recorded as its last five characters only
