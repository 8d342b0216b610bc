"""Issue 13: the CLI fits an 80-column terminal. Prose wraps at 80 (never inside a word); what must be copied
whole (an Id on its own line, a masked key) is never split. Commands and scripts printed for the console are
code and stay whole: the fixes below need none."""

from __future__ import annotations

import pytest

from avma_tui.cli.main import main

HELP = [
    [],
    ["report"],
    ["fix"],
    ["audit"],
    ["audit", "path"],
    ["audit", "verify"],
    ["audit", "show"],
    ["audit", "export"],
    ["keys"],
    ["unattend"],
    ["sim", "serve"],
    ["sim", "import"],
    ["doctor"],
    ["capture"],
]


def _too_wide(text: str) -> list[str]:
    """Lines over 80 columns, but for a lone word (a path on its own line cannot be wrapped)."""
    return [line for line in text.splitlines() if len(line) > 80 and " " in line.strip()]


@pytest.fixture(autouse=True)
def eighty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", "Passw0rd!")


@pytest.mark.parametrize("words", HELP, ids=lambda words: " ".join(words) or "avma-tui")
def test_every_help_fits_80_columns(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    assert _too_wide(capsys.readouterr().out) == []


@pytest.mark.parametrize("vm", ["PRINT01", "SQL02", "TEST-EVAL01"])
@pytest.mark.parametrize("mode", [["--dry-run"], ["--dry-run", "--guest-user", "Administrator"], ["--yes"]])
def test_fix_fits_80_columns(vm: str, mode: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fix", "--demo", "--vm", vm, "--verify-timeout", "5", *mode]
    if "--yes" in mode:
        args += ["--guest-user", "Administrator"]
    assert main(args) in (0, 1)
    out = capsys.readouterr().out
    assert _too_wide(out) == []
    header, id_line = out.splitlines()[:2]
    assert header.startswith(f"{vm} on HV01.contoso.local: ") and id_line.startswith("Id ") and len(id_line) == 39
    if vm == "SQL02" and "--yes" in mode:
        assert "WARNING: replaces a MAK key (…R3KMQ)" in out  # the masked key is never split from its words


def _at_a_terminal(*args: str, columns: int = 80) -> str:
    """Run avma-tui with stdout on a pseudo-terminal `columns` wide; what it printed there."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", *args], stdout=child_fd, stderr=subprocess.DEVNULL, env=env
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(main_fd)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_doctor_wraps_at_a_terminal_and_keeps_one_line_a_check_into_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    from avma_tui.paths import asset

    scenario = str(asset("scenarios", "standard-host.toml"))
    shown = _at_a_terminal("doctor", "--scenario", scenario)
    assert _too_wide(shown) == [line for line in shown.splitlines() if line.startswith("  fix: ")]
    assert "  fix: Upgrade the host to Datacenter (DISM /Set-Edition:ServerDatacenter), or activate" in shown
    assert main(["doctor", "--scenario", scenario]) == 1
    piped = capsys.readouterr().out.splitlines()
    assert all(line[:1] in "✔✘–" for line in piped)  # one line per check, the fix on it
    assert any(line.startswith("✘ AVMA host:") and "— Upgrade the host to Datacenter" in line for line in piped)


def test_audit_verify_and_show_wrap_at_a_terminal_never_inside_a_hash() -> None:
    from avma_tui.services.audit import AuditLog, Target

    log = AuditLog(operator="alice")
    intent = log.intent(
        host="hv01.contoso.example", remote_user="CONTOSO\\admin", target=Target("vm", "SQL-PRODUCTION-01", "id-1"),
        action="install_key", interaction="i1", params={"ProductKey": "XXXXX-XXXXX-XXXXX-XXXXX-DV9BG"},
    )  # fmt: skip
    log.result(intent, outcome="ok")
    head = log.verify().head
    verify = _at_a_terminal("audit", "verify")
    assert verify.splitlines() == ["intact: 2 records, head", f"  {head}"]
    show = _at_a_terminal("audit", "show")
    assert _too_wide(show) == [] and "DV9BG" in show and "SQL-PRODUCTION-01" in show
    assert len(show.splitlines()) > 2  # two records, wrapped
