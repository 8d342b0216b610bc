"""A bad scenario file gets one precise line (file, table, key, what was expected) and never a traceback."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from avma_tui.errors import CliError
from avma_tui.paths import demo_scenario
from avma_tui.services.targets import open_simulated
from avma_tui.sim.scenario import ScenarioError, load_scenario

HOST = '[host]\nname = "HV01"\nbuild = 20348\nsku = 8\n'
GOOD = "format = 1\n" + HOST

CASES = [
    # (id, file text, expected error after "<file>: ")
    ("unknown-top-level-key", "format = 1\nhosts = 1\n" + HOST, "[top level] hosts: unknown key"),
    ("typo-in-host", GOOD + "bulid = 1\n", "[host] bulid: unknown key (expected one of: build, domain, hyperv, "
     "license_status, name, os_name, partial_product_key, product_key, ps_version, sku, virtual)"),
    ("wrong-type", 'format = 1\n[host]\nname = "HV01"\nbuild = "20348"\nsku = 8\n',
     "[host] build: expected an integer 1..4294967295, found a string '20348'"),
    ("float-sku", 'format = 1\n[host]\nname = "HV01"\nbuild = 20348\nsku = 8.0\n',
     "[host] sku: expected an integer 0..4294967295, found a number 8.0"),
    ("license-status-out-of-range", GOOD + "license_status = 7\n",
     "[host] license_status: expected an integer 0..6, found an integer 7"),
    ("missing-host-name", 'format = 1\n[host]\nbuild = 20348\nsku = 8\n', "[host] name: required key is missing"),
    ("missing-host-table", "format = 1\n", "[top level] host: required key is missing"),
    ("bad-state", GOOD + '[[vms]]\nname = "A"\nstate = "running"\n',
     "[vms.1] state: expected one of Running | Off | Saved | Paused, found a string 'running'"),
    ("bad-kvp-status", GOOD + '[[vms]]\nname = "A"\n[[vms]]\nname = "B"\nkvp_status = "Degraded"\n',
     "[vms.2] kvp_status: expected one of OK | NoContact | LostCommunication, found a string 'Degraded'"),
    ("duplicate-ids", GOOD + '[[vms]]\nname = "A"\nid = "6f1e4d7a-0000-4000-8000-000000000001"\n'
     '[[vms]]\nname = "B"\nid = "6F1E4D7A-0000-4000-8000-000000000001"\n',
     "[vms.2] id: duplicate VM id 6f1e4d7a-0000-4000-8000-000000000001 (also used by VM #1)"),
    ("duplicate-derived-ids", GOOD + '[[vms]]\nname = "A"\n[[vms]]\nname = "B"\nid = "%s"\n', None),
    ("bad-guid", GOOD + '[[vms]]\nname = "A"\nid = "not-a-guid"\n',
     "[vms.1] id: expected a GUID like 6f1e4d7a-0000-4000-8000-000000000001, found a string 'not-a-guid'"),
    ("bad-time", GOOD + '[[vms]]\nname = "A"\n[vms.license]\nstatus = 1\nchannel = "RETAIL"\n'
     'avma_last_activation = "yesterday"\n',
     "[vms.1.license] avma_last_activation: expected a UTC time like 2026-11-27T08:00:00Z, found a string 'yesterday'"),
    ("naive-time", GOOD + '[[events]]\ntime = 2026-11-27T08:00:00\nvm = "A"\nnotification = "AVMA Success"\n',
     "[events.1] time: expected a UTC time like 2026-11-27T08:00:00Z, "
     "found a TOML date/time 2026-11-27T08:00:00 without a time zone"),
    ("unknown-format", "format = 2\n" + HOST,
     "[top level] format: expected 1 (the only scenario format), found an integer 2"),
    ("missing-format", HOST, "[top level] format: required key is missing"),
    ("toml-syntax", GOOD + "[[vms]]\nname = APP01\n", "TOML syntax error: Invalid value (at line 7, column 8)"),
    ("nested-too-deeply", "format = 1\nx = " + "[" * 50000, "TOML syntax error: arrays or tables nested too deeply"),
    ("build-beyond-dword", 'format = 1\n[host]\nname = "HV01"\nbuild = 99999999999\nsku = 8\n',
     "[host] build: expected an integer 1..4294967295, found an integer 99999999999"),
    ("empty", "", "the file is empty (expected format = 1, [host] and [[vms]])"),
    ("whitespace-only", " \n\t\n", "the file is empty (expected format = 1, [host] and [[vms]])"),
    ("guest-value-not-text", GOOD + '[[vms]]\nname = "A"\n[vms.guest]\nOSBuildNumber = 17763\n',
     "[vms.1.guest] OSBuildNumber: expected a string, found an integer 17763"),
    ("unknown-license-key", GOOD + '[[vms]]\nname = "A"\n[vms.license]\nstatus = 1\nchannel = "RETAIL"\nchanel = 1\n',
     "[vms.1.license] chanel: unknown key"),
    ("bad-reason", GOOD + '[[vms]]\nname = "A"\n[vms.license]\nstatus = 5\nchannel = "RETAIL"\nreason = "FD02"\n',
     "[vms.1.license] reason: expected an HRESULT like \"0xC004FD02\" or an integer, found a string 'FD02'"),
    ("no-hyperv-with-vms", GOOD + 'hyperv = false\n[[vms]]\nname = "A"\n',
     "[host] hyperv: is false, but the file has [[vms]]: a host without Hyper-V has no VMs"),
    ("malformed-product-key", GOOD + 'product_key = "ABC"\n',
     "[host] product_key: expected a product key XXXXX-XXXXX-XXXXX-XXXXX-XXXXX, found 3 characters that are not "
     "five groups of five letters and digits"),
    ("password-not-a-string", GOOD + '[guest_credentials]\nusername = "Administrator"\npassword = 123456789\n',
     "[guest_credentials] password: expected a string, found an integer"),
    ("unknown-notification", GOOD + '[[events]]\ntime = "2026-11-27T08:00:00Z"\nvm = "A"\nnotification = "Oops"\n',
     "[events.1] notification: expected one of AVMA Success | Invalid Host | Invalid Data | Activation Denied"),
    ("vms-not-an-array", GOOD + '[vms]\nname = "A"\n', "[top level] vms: expected an array of tables ([[vms]])"),
    ("node-is-the-host", GOOD + '[cluster]\nname = "CL"\n[[cluster.nodes]]\nname = "hv01"\n',
     "[cluster.nodes.1] name: the host itself ('HV01') is implied; list only the other nodes"),
    ("negative-latency", "format = 1\n[sim]\nlatency_ms = -5\n" + HOST,
     "[sim] latency_ms: expected a number >= 0, found an integer -5"),
    ("quoted-key-with-line-break", GOOD + '[[vms]]\nname = "A"\n[vms.guest]\n"Evil\\nKey" = 1\n',
     "[vms.1.guest] 'Evil\\nKey': expected a string, found an integer 1"),
    ("empty-vm-name", GOOD + '[[vms]]\nname = "  "\n', "[vms.1] name: expected a non-empty string, found an empty one"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_file_gives_one_precise_line(tmp_path: Path, text: str, expected: str | None):
    if expected is None:  # a given id that collides with the id derived from another VM's name
        derived = load_scenario(_write(tmp_path, GOOD + '[[vms]]\nname = "A"\n')).vms[0].id
        text, expected = text % derived, f"[vms.2] id: duplicate VM id {derived} (also used by VM #1)"
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_non_utf8_bytes(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.encode() + b'[[vms]]\nname = "B\xe4ckerei"\n')
    with pytest.raises(ScenarioError, match=r"latin1\.toml: not UTF-8 text \(byte 0xe4 at offset \d+\)$"):
        load_scenario(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ScenarioError, match=r"nowhere\.toml: cannot read the file \(No such file or directory\)"):
        load_scenario(tmp_path / "nowhere.toml")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path):
    path = tmp_path / "notepad.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_scenario(path).host.name == "HV01"


def test_control_characters_in_an_error_are_escaped(tmp_path: Path):
    path = _write(tmp_path, GOOD + '[[vms]]\nname = "A"\nstate = "Run\\u001b[2J\\nning"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)


def test_open_simulated_turns_a_bad_file_into_a_cli_error_with_that_line(tmp_path: Path):
    path = _write(tmp_path, GOOD + "bulid = 1\n")
    with pytest.raises(CliError) as caught:
        open_simulated(path)
    assert str(caught.value).startswith(f"{path}: [host] bulid: unknown key")


def test_mangled_demo_files_only_ever_raise_scenario_error(tmp_path: Path):
    """Random damage to a real file (lines dropped, duplicated, characters changed) never escapes as a traceback."""
    lines = demo_scenario().read_text(encoding="utf-8").splitlines()
    rng = random.Random(7)
    outcomes = set()
    for _ in range(120):
        mangled = list(lines)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(mangled))
            action = rng.choice(("drop", "dup", "char", "cut"))
            if action == "drop":
                del mangled[at]
            elif action == "dup":
                mangled.insert(at, mangled[at])
            elif action == "char" and mangled[at]:
                pos = rng.randrange(len(mangled[at]))
                mangled[at] = mangled[at][:pos] + rng.choice('="[]x1.#\\') + mangled[at][pos + 1 :]
            else:
                mangled[at] = mangled[at][: len(mangled[at]) // 2]
        path = _write(tmp_path, "\n".join(mangled))
        try:
            load_scenario(path)
            outcomes.add("loaded")
        except ScenarioError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))
            outcomes.add("error")
    assert outcomes == {"loaded", "error"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_secrets_in_a_broken_file_are_not_echoed(tmp_path: Path):
    for text in (
        GOOD + 'product_key = "BCDFG-HJKMN-PQRTV-WXY23-4678"\n',
        GOOD + '[guest_credentials]\nusername = "Administrator"\npassword = 987654321\n',
    ):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(_write(tmp_path, text))
        assert "BCDFG" not in str(caught.value) and "987654321" not in str(caught.value)
