"""`avma-tui fix`: headless runs, dry runs, refusing to change anything unasked, VM resolution, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from avma_tui.cli.fix import _Fixer
from avma_tui.cli.main import main
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.transport import ConnectionLost, Credential
from avma_tui.paths import asset
from avma_tui.services.audit import AuditLog
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.transport import SimTransport

PASSWORD = "Passw0rd!"
HOSTILE = str(asset("scenarios", "hostile.toml"))


def avma(*args: str, home: Path, password: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "AVMA_TUI_HOME": str(home)}
    if password:
        env["AVMA_GUEST_PASSWORD"] = PASSWORD
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", "fix", *args], capture_output=True, text=True, env=env, timeout=60, **kwargs
    )


def audit_records(home: Path) -> list[dict]:
    path = home / "data" / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def change_records(home: Path) -> list[dict]:
    """The records of changes: everything but the session's connect/disconnect pair."""
    return [r for r in audit_records(home) if r["action"] not in ("connect", "disconnect")]


def test_headless_fix_of_a_demo_vm(avma_home: Path) -> None:
    proc = avma("--demo", "--vm", "PRINT01", "--guest-user", "Administrator", "--yes", home=avma_home,
                stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Enable the Data Exchange" in proc.stdout and "Trigger activation" in proc.stdout
    assert "PRINT01: activated-avma; remaining findings: none" in proc.stdout
    actions = [r["action"] for r in audit_records(avma_home)]
    assert (actions[0], actions[-1]) == ("connect", "disconnect")
    records = change_records(avma_home)
    assert [(r["action"], r["phase"], r["outcome"]) for r in records] == [
        ("enable_kvp", "intent", None), ("enable_kvp", "result", "ok"),
        ("activate", "intent", None), ("activate", "result", "ok"),
    ]  # fmt: skip
    assert len({r["interaction"] for r in records}) == 1
    assert PASSWORD not in (avma_home / "data" / "audit" / "audit.jsonl").read_text(encoding="utf-8")
    assert PASSWORD not in proc.stdout + proc.stderr


def test_a_conversion_longer_than_its_wait_is_not_verified_and_goes_on(avma_home: Path) -> None:
    """The demo's DISM runs 20 s; `--conversion-wait 2` ends the wait first: NOT VERIFIED, exit 1, nothing stopped."""
    proc = avma("--demo", "--vm", "TEST-EVAL01", "--guest-user", "Administrator", "--yes", "--conversion-wait", "2",
                home=avma_home, stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "started in the guest" in proc.stdout and "of up to 2 s" in proc.stdout  # progress with elapsed time
    assert "NOT VERIFIED: The change ran but did not verify within 2 s" in proc.stdout
    assert "goes on in the guest" in proc.stdout
    records = [(r["action"], r["phase"], r["outcome"]) for r in change_records(avma_home)]
    assert records == [("set_edition", "intent", None), ("set_edition", "started", None),
                       ("set_edition", "result", "unknown")]  # fmt: skip


def test_dry_run_prints_the_plan_and_changes_nothing(avma_home: Path) -> None:
    proc = avma("--demo", "--vm", "PRINT01", "--guest-user", "Administrator", "--dry-run", home=avma_home,
                stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "dry run" in proc.stdout and "KVP_DISABLED" in proc.stdout and "NOT_ACTIVATED" in proc.stdout
    assert "runs enable_kvp.ps1 with parameters:\n       VmId = 3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b\n" in proc.stdout
    assert "changes:" in proc.stdout and "verified by:" in proc.stdout
    assert "param(" not in proc.stdout and "--show-scripts prints the exact PowerShell" in proc.stdout
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())  # the header too: the Id has its own line
    assert change_records(avma_home) == []
    full = avma("--demo", "--vm", "PRINT01", "--guest-user", "Administrator", "--dry-run", "--show-scripts",
                home=avma_home, stdin=subprocess.DEVNULL)  # fmt: skip
    assert full.returncode == 0, full.stderr
    assert "parameters:\n         VmId = 3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b" in full.stdout
    assert all(line in full.stdout for line in script_text("enable_kvp").splitlines() if line.strip())
    assert change_records(avma_home) == []


def test_dry_run_without_a_guest_login_says_what_would_follow(avma_home: Path) -> None:
    proc = avma("--demo", "--vm", "sql01", "--dry-run", home=avma_home, password=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "(assisted, needs a guest login: --guest-user)" in text
    assert "Without a guest login the guest's license is not read." in text
    assert "install the Windows Server 2019 Standard AVMA key (…4GF74) if the guest carries another key" in text
    assert "trigger activation in the guest" in text


def test_dry_run_shows_keys_masked(capsys, monkeypatch) -> None:
    assert main(["fix", "--demo", "--vm", "SQL01", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ProductKey = " not in out  # without credentials only LICENSE_UNKNOWN is planned
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", PASSWORD)
    assert main(["fix", "--demo", "--vm", "SQL01", "--guest-user", "Administrator", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ProductKey = XXXXX-XXXXX-XXXXX-XXXXX-4GF74" in out and "TNK62-RXVTB-4P47B-2D623-4GF74" not in out


def test_without_a_terminal_and_without_yes_it_refuses(avma_home: Path) -> None:
    proc = avma("--demo", "--vm", "PRINT01", home=avma_home, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--yes" in proc.stderr and proc.stdout == ""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_at_a_terminal_it_asks_and_a_no_changes_nothing(avma_home: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "AVMA_TUI_HOME": str(avma_home)}
    command = [sys.executable, "-m", "avma_tui", "fix", "--demo", "--vm", "PRINT01"]
    try:
        with subprocess.Popen(command, stdin=follower, stdout=subprocess.PIPE, text=True, env=env) as proc:
            os.write(leader, b"n\n" * 5)
            out, _ = proc.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert "Run this step? [y/N]" in out and "declined: nothing changed" in out
    assert proc.returncode == 1 and change_records(avma_home) == []


def test_exit_1_when_a_fixable_finding_stays(capsys) -> None:
    # No guest credentials: the license cannot be read, so the fix cannot finish.
    assert main(["fix", "--demo", "--vm", "SQL01", "--yes"]) == 1
    out = capsys.readouterr().out
    assert "SKIPPED: Not run: this step needs guest credentials." in out and "still open" in out


def test_manual_only_vm_prints_the_console_commands(capsys, monkeypatch) -> None:
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", PASSWORD)
    status = main(["fix", "--demo", "--vm", "FS-OLD01", "--guest-user", "Administrator", "--yes"])
    out = capsys.readouterr().out
    assert status == 0  # nothing the tool itself could fix
    assert "slmgr /ipk DBGBW-NPF86-BJVTX-K3WKJ-MTB6V\n         slmgr /ato" in out


PRINT01_HEADER = "PRINT01 on HV01.contoso.local: unknown\nId 3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b\n"


def test_vm_by_id_and_unknown_vm(capsys) -> None:
    assert main(["fix", "--demo", "--vm", "{3C0A8F2E-5B1D-4C6A-9E47-0D2B7F1A6C0B}", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(PRINT01_HEADER)
    assert main(["fix", "--demo", "--vm", "NOPE", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no VM with the name or Id 'NOPE'" in err and err.count("\n") == 1


def test_vm_names_match_case_insensitively(capsys) -> None:
    assert main(["fix", "--demo", "--vm", "print01", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(PRINT01_HEADER)


def test_an_ambiguous_case_insensitive_name_lists_the_candidates(tmp_path: Path, capsys) -> None:
    text = asset("scenarios", "demo.toml").read_text(encoding="utf-8")
    twin = tmp_path / "twin.toml"  # a second VM named "print01" beside PRINT01
    twin.write_text(text.replace('name = "SQL01"', 'name = "print01"', 1), encoding="utf-8")
    assert main(["fix", "--scenario", str(twin), "--vm", "Print01", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 VMs match 'Print01'" in err
    assert (
        "PRINT01 (3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b)" in err
        and "print01 (3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c09)" in err
    )
    assert main(["fix", "--scenario", str(twin), "--vm", "print01", "--dry-run"]) == 0  # the exact name wins


def test_duplicate_names_list_the_ids(capsys) -> None:
    assert main(["fix", "--scenario", HOSTILE, "--vm", "[red]x[/]'; Remove-VM *", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "2 VMs match" in err
    assert "0badc0de-0000-4000-8000-000000000001" in err and err.count("\n") == 1


def test_hostile_vm_plan_prints_no_control_characters(capsys) -> None:
    for vm in ("0badc0de-0000-4000-8000-000000000001", "0badc0de-0000-4000-8000-000000000002"):
        assert main(["fix", "--scenario", HOSTILE, "--vm", vm, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[@click=app.quit]y[/]" in out
    assert not any(ord(ch) < 32 and ch != "\n" for ch in out)


def test_unactivated_host_is_activated_with_the_key_from_the_environment(capsys, monkeypatch, avma_home) -> None:
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("AVMA_HOST_PRODUCT_KEY", "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")
    path = str(asset("scenarios", "unactivated-host.toml"))
    assert main(["fix", "--scenario", path, "--vm", "APP11", "--guest-user", "Administrator", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Activate the host with its product key" in out and "APP11: activated-avma" in out
    targets = [(r["action"], r["target"]["kind"]) for r in change_records(avma_home) if r["phase"] == "result"]
    assert targets == [("activate_host", "host"), ("activate", "vm")]


def test_unactivated_host_without_a_key_exits_1(capsys, monkeypatch) -> None:
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", PASSWORD)
    path = str(asset("scenarios", "unactivated-host.toml"))
    assert main(["fix", "--scenario", path, "--vm", "APP11", "--guest-user", "Administrator", "--yes"]) == 1
    assert "needs the host's product key" in capsys.readouterr().out


def test_unreachable_host_exits_2(capsys, monkeypatch) -> None:
    monkeypatch.setenv("AVMA_PASSWORD", "Host-Passw0rd!")
    args = ["127.0.0.1", "--port", "9", "--http", "--auth", "ntlm", "--user", "admin", "--timeout", "5"]
    assert main(["fix", *args, "--vm", "APP01", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach" in err and "Traceback" not in err


def test_yes_still_prints_what_a_step_warns_about(capsys, monkeypatch) -> None:
    """--yes skips the question, not the warning: replacing a MAK key is said, with the key it replaces."""
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", PASSWORD)
    main(["fix", "--demo", "--vm", "SQL02", "--guest-user", "Administrator", "--yes"])
    assert "WARNING: replaces a MAK key (…R3KMQ)" in capsys.readouterr().out


async def test_an_unknown_step_the_recheck_finds_done_counts_as_done(tmp_path: Path) -> None:
    """Issue 15 item 10: after an `unknown` step that the re-check shows done, `fix` says so and exits 0."""
    loaded = load_scenario(asset("scenarios", "demo.toml"))
    scenario = replace(loaded, sim=replace(loaded.sim, activation_delay_s=0.05, boot_delay_s=0.0))
    transport = SimTransport(SimHost(scenario), latency_ms=0)
    audit = AuditLog(tmp_path / "audit.jsonl")
    session = Session(HyperVHost(transport), guest_credential=Credential("Administrator", PASSWORD), audit=audit)
    diagnosis = await session.refresh()
    (vm,) = [vm for vm in diagnosis.inventory.vms if vm.name == "PRINT01"]
    lines: list[str] = []
    fixer = _Fixer(session, argparse.Namespace(verify_timeout=10.0, yes=True), lines.append)
    # KVP gets enabled, then the link drops, and the read-back right after fails too: unknown.
    transport.fail_after_change(ConnectionLost("the connection dropped"), and_next=1)
    status = await fixer.run(vm)
    out = "\n".join(lines)
    assert "UNKNOWN:" in out and "RE-CHECKED Enable the Data Exchange" in out
    assert "(re-check offered)" not in out and "Not everything" not in out
    assert status == 0, out
    kvp = [r for r in audit.records() if r["target"].get("id") == vm.id and r["phase"] == "result"]
    assert [(r["action"], r["outcome"]) for r in kvp][:2] == [("enable_kvp", "unknown"), ("recheck", "ok")]
