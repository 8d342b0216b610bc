"""An unexpected exception exits 2 with one line, never 1 (which means "error findings"), in every
sub-command; the traceback only with --debug (issue 15 item 4). The fault is injected one layer below
each command, so the command's own code runs up to it."""

from __future__ import annotations

import pytest

from avma_tui.cli.main import main


def _boom(*_args, **_kwargs):
    raise ValueError("injected\nfault")


async def _aboom(*_args, **_kwargs):
    _boom()


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("avma_tui.services.session.Session.refresh", ["report", "--demo"]),
        ("avma_tui.services.session.Session.refresh", ["fix", "--demo", "--vm", "PRINT01", "--dry-run"]),
        ("avma_tui.services.audit.AuditLog.scan", ["audit", "verify"]),
        ("avma_tui.services.audit.AuditLog.scan", ["audit", "show"]),
        ("avma_tui.cli.catalog.load_catalog", ["keys"]),
        ("avma_tui.cli.catalog.load_catalog", ["unattend", "--version", "2022", "--edition", "Standard"]),
        ("avma_tui.sim.engine.SimHost.__init__", ["sim", "serve", "--demo"]),
    ],
)
def test_a_crash_is_exit_2_and_one_line(target: str, argv: list[str], monkeypatch, capsys, avma_home) -> None:
    monkeypatch.setenv("AVMA_SIM_PASSWORD", "x")
    monkeypatch.setattr(target, _aboom if target.endswith("refresh") else _boom)
    if argv[0] == "audit":  # verify reads nothing when there is no log yet
        assert main(["report", "--demo"]) in (0, 1)
        capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("avma-tui: internal error: ValueError at ")
    assert "injected fault (--debug shows the traceback)" in captured.err
    assert "Traceback" not in captured.err


def test_debug_shows_the_traceback(monkeypatch, capsys) -> None:
    monkeypatch.setattr("avma_tui.cli.catalog.load_catalog", _boom)
    assert main(["keys", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("(--debug shows the traceback)")


def test_debug_after_a_nested_command(monkeypatch, capsys) -> None:
    assert main(["report", "--demo"]) in (0, 1)  # a log to read
    monkeypatch.setattr("avma_tui.services.audit.AuditLog.scan", _boom)
    assert main(["audit", "show", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
