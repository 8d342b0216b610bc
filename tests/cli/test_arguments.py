"""The command line as a user meets it, run as a subprocess: mistyped commands, contradictions, bad numbers,
bad files, and the TUI refusing a pipe (issue 13 item 6, issue 15 items 4 and 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avma_tui.cli import main as cli


def avma(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        **kwargs,
    )


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, nothing on stdout (no escape codes either), one line on stderr with every fragment."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["reprot", "--demo"], "report"),
        (["reprot"], "report"),
        (["REPORT", "--demo"], "report"),
        (["fixx", "--demo", "--vm", "X"], "fix"),
        (["unatend"], "unattend"),
        (["audti", "verify"], "audit"),
        (["help"], "--help"),
        (["verify"], "audit verify"),
    ],
)
def test_a_mistyped_command_is_not_a_host_name(argv: list[str], meant: str) -> None:
    one_line_error(avma(*argv), f"unknown command {argv[0]!r} (did you mean {meant}?)")


def test_a_command_after_an_option_is_named_as_such() -> None:
    one_line_error(avma("--demo", "report"), "'report' is a command: put it first")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--demo", "extra"], "--demo and host 'extra' cannot be used together"),
        (["--demo", "--scenario", "x.toml"], "--demo and --scenario cannot be used together"),
        (["report", "--demo", "extra"], "--demo and host 'extra' cannot be used together"),
        (["fix", "--demo", "hv01", "--vm", "X"], "--demo and host 'hv01' cannot be used together"),
        (["report", "--demo", "--user", "admin"], "--user: connection options apply to a real HOST"),
        (["--timeout", "5"], "--timeout: connection options need a HOST"),
        (["report", "hv01", "--http", "--insecure"], "--insecure applies to HTTPS"),
        (["report", "hv01", "--http", "--ca-cert", "ca.pem"], "--ca-cert applies to HTTPS"),
        (["report", "hv01", "--insecure", "--ca-cert", "ca.pem"], "--insecure and --ca-cert cannot be used together"),
        (["fix", "--demo", "--vm", "X", "--dry-run", "--yes"], "--dry-run changes nothing and --yes"),
        (["fix", "--demo", "--vm", "X", "--show-scripts"], "--show-scripts goes with --dry-run"),
    ],
)
def test_contradicting_arguments_are_refused(argv: list[str], fragment: str) -> None:
    one_line_error(avma(*argv), fragment)


@pytest.mark.parametrize(
    "argv",
    [
        ["--demo", "--refresh", "-5"],
        ["--demo", "--refresh", "nan"],
        ["--demo", "--refresh", "inf"],
        ["report", "hv01", "--timeout", "-5"],
        ["report", "hv01", "--timeout", "nan"],
        ["report", "hv01", "--timeout", "inf"],
        ["report", "hv01", "--timeout", "0"],
        ["report", "hv01", "--port", "70000"],
        ["fix", "--demo", "--vm", "PRINT01", "--yes", "--verify-timeout", "nan"],
        ["fix", "--demo", "--vm", "PRINT01", "--yes", "--verify-timeout", "1e308"],
        ["fix", "--demo", "--vm", "PRINT01", "--yes", "--verify-timeout", "-1"],
        ["fix", "--demo", "--vm", "PRINT01", "--yes", "--conversion-wait", "0"],
        ["--demo", "--verify-timeout", "0"],
        ["--demo", "--conversion-wait", "nan"],
        ["--demo", "--conversion-wait", "99999"],
    ],
)
def test_numbers_out_of_range_are_refused_before_anything_runs(argv: list[str], avma_home: Path) -> None:
    one_line_error(avma(*argv), "error: argument --")
    assert not (avma_home / "data" / "audit" / "audit.jsonl").exists()  # nothing connected, nothing changed


def test_an_unknown_option_is_one_line() -> None:
    one_line_error(avma("report", "--demo", "--frmat", "json"), "unrecognized arguments: --frmat")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("command", [["report"], ["fix", "--vm", "X", "--dry-run"], ["sim", "serve"]])
def test_a_scenario_that_is_not_a_regular_file_is_refused_not_read(command: list[str], tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "AVMA_SIM_PASSWORD": "x"}
    for path in (fifo, Path("/dev/zero")):
        proc = avma(*command, "--scenario", str(path), timeout=20, env=env)
        one_line_error(proc, f"{path}: not a regular file")


def test_a_huge_scenario_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as file:
        file.truncate(5 * 1024 * 1024)
    one_line_error(avma("report", "--scenario", str(big)), "larger than 4 MiB")


def test_the_tui_refuses_a_pipe_and_names_report() -> None:
    proc = avma("--demo")
    one_line_error(proc, "the TUI needs a terminal", "avma-tui report")
    assert "\x1b" not in proc.stderr


@pytest.mark.parametrize(
    "host", ["hv01", "HV01", "hv01.corp.example", "10.0.0.5", "::1", "fe80::1%eth0", "web", "sql", "dc", "keyserver"]
)
def test_real_host_names_still_reach_the_tui(host: str, monkeypatch) -> None:
    monkeypatch.setattr(cli, "terminal_attached", lambda: True)
    name, args = cli._parse([host, "--timeout", "5"])
    assert (name, args.host, args.timeout) == ("tui", host, 5.0)


def test_double_dash_makes_a_command_like_word_a_host(monkeypatch) -> None:
    monkeypatch.setattr(cli, "terminal_attached", lambda: True)
    assert cli._parse(["--", "reprot"])[1].host == "reprot"


@pytest.mark.parametrize("target", [["--demo"], ["hv01.example", "--user", "admin"]])
def test_the_tui_takes_the_fix_waits_of_fix(target: list[str], monkeypatch) -> None:
    """`avma-tui --verify-timeout/--conversion-wait` reach the TUI's fixes, as `fix` takes them (a DISM
    conversion of a big guest can outlast the default 30 minutes)."""
    from avma_tui.ui.app import build

    monkeypatch.setattr(cli, "terminal_attached", lambda: True)
    name, args = cli._parse([*target, "--verify-timeout", "300", "--conversion-wait", "7200"])
    timing = build(args).fix_timing
    assert (name, timing.verify_timeout, timing.conversion_wait) == ("tui", 300.0, 7200.0)
    _, args = cli._parse(target)
    default = build(args).fix_timing
    assert (default.verify_timeout, default.conversion_wait) == (120.0, None)


def test_refresh_zero_turns_auto_refresh_off(monkeypatch) -> None:
    monkeypatch.setattr(cli, "terminal_attached", lambda: True)
    assert cli._parse(["--demo", "--refresh", "0"])[1].refresh == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_at_a_terminal_the_tui_starts_and_q_quits(avma_home: Path) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "avma_tui", "--demo", "--refresh", "0"],
        stdin=follower,
        stdout=follower,
        stderr=follower,  # Textual draws on stderr
        env=env,
    )
    seen = b""
    try:
        deadline = time.monotonic() + 40
        while b"HV01" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                seen += os.read(leader, 65536)
        os.write(leader, b"q")
        while proc.poll() is None and time.monotonic() < deadline + 10:
            if select.select([leader], [], [], 0.2)[0]:
                os.read(leader, 65536)
    finally:
        os.close(follower)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(leader)
    assert b"HV01" in seen and b"\x1b[" in seen
    assert proc.returncode == 0


@pytest.mark.parametrize(("host", "url"), [("[::1]", "http://[::1]:5985/wsman"), ("::1", "http://[::1]:5985/wsman")])
def test_an_ipv6_address_in_brackets_is_not_bracketed_twice(host: str, url: str) -> None:
    from avma_tui.services.targets import settings_from_args

    _, args = cli._parse(["report", host, "--http"])
    assert settings_from_args(args).url == url
