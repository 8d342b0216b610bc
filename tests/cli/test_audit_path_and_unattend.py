"""`audit path` and `audit --help` say where the log is (issue 13 item 16); `unattend` warns on stderr
for an unconfirmed key (item 17). Run as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def avma(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_audit_path_is_the_log_the_tool_writes(avma_home: Path) -> None:
    proc = avma("audit", "path")
    path = avma_home / "data" / "audit" / "audit.jsonl"
    assert (proc.returncode, proc.stdout) == (0, f"{path}\n")
    assert "not created yet" in proc.stderr
    assert avma("report", "--demo").returncode in (0, 1)  # a connection writes the log...
    assert path.exists()
    proc = avma("audit", "path")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}\n", "")  # ...exactly there


def test_audit_path_without_avma_tui_home_is_the_platform_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AVMA_TUI_HOME"}
    env.update({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    proc = subprocess.run(
        [sys.executable, "-m", "avma_tui", "audit", "path"], capture_output=True, text=True, env=env, timeout=60
    )
    if sys.platform.startswith("linux"):
        assert proc.stdout == f"{tmp_path / 'xdg' / 'avma-tui' / 'audit' / 'audit.jsonl'}\n"
    assert proc.stdout.rstrip().endswith(os.path.join("avma-tui", "audit", "audit.jsonl"))


def test_audit_help_names_the_path(avma_home: Path) -> None:
    proc = avma("audit", "--help")
    assert proc.returncode == 0
    assert f"  {avma_home / 'data' / 'audit' / 'audit.jsonl'}\n" in proc.stdout
    assert "path" in proc.stdout


def test_unattend_warns_on_stderr_for_an_unconfirmed_key() -> None:
    proc = avma("unattend", "--version", "2025", "--edition", "Datacenter")
    assert proc.returncode == 0 and "<ProductKey>" in proc.stdout
    assert proc.stderr.startswith("avma-tui: warning: ") and "UNCONFIRMED" in proc.stderr
    assert proc.stderr.count("\n") == 1
    confirmed = avma("unattend", "--version", "2022", "--edition", "Datacenter")
    assert confirmed.returncode == 0 and confirmed.stderr == ""
