"""`avma-tui capture`: what a host answers, redacted (and optionally anonymized), replayable, importable.

Captures are taken through the same paths a user takes: the CLI as a subprocess, over the real pypsrp
client and the loopback WinRM endpoint, and replayed with `--scenario CAPTURE`.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from avma_tui.paths import asset
from avma_tui.services import capture
from avma_tui.sim.replay import REPLAY_GUEST_PASSWORD
from tests.doctor.support import GUEST_PASSWORD, PASSWORD, cli, connection_args, one_line_error, serving

FULL_KEY = re.compile(r"[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}")


def _report(*target: str, guest: str | None = None, env: dict[str, str] | None = None) -> dict:
    extra = ["--guest-user", "Administrator"] if guest else []
    done = cli(
        "report",
        *target,
        "--format",
        "json",
        *extra,
        env={**(env or {}), **({"AVMA_GUEST_PASSWORD": guest} if guest else {})},
    )
    assert done.returncode in (0, 1), done.stderr
    document = json.loads(done.stdout)
    document.pop("generated_at")
    return document


def _comparable(report: dict) -> dict:
    """What a replay must reproduce: every VM, finding and status (the host description differs)."""
    return {"host": report["host"], "vms": report["vms"], "summary": report["summary"]}


def test_a_capture_over_the_wire_replays_to_the_same_report(tmp_path: Path) -> None:
    out = tmp_path / "hv01.avmacap"
    with serving() as endpoint:
        args = connection_args(endpoint)
        env = {"AVMA_PASSWORD": PASSWORD, "AVMA_GUEST_PASSWORD": GUEST_PASSWORD}
        done = cli("capture", *args, "--guest-user", "Administrator", "--output", str(out), env=env)
        assert done.returncode == 0, done.stderr
        direct = _report(*args, guest=GUEST_PASSWORD, env={"AVMA_PASSWORD": PASSWORD})
    assert "wrote" in done.stderr and "inventory" in done.stderr
    replayed = _report("--scenario", str(out), guest=REPLAY_GUEST_PASSWORD)
    assert _comparable(replayed) == _comparable(direct)
    raw = gzip.decompress(out.read_bytes()).decode("utf-8")
    assert PASSWORD not in raw and GUEST_PASSWORD not in raw
    assert not FULL_KEY.search(raw)
    taken = capture.read(out)
    assert taken["format"] == capture.FORMAT and taken["kind"] == capture.KIND
    assert {phase["op"] for phase in taken["phases"]} >= {"preflight", "inventory", "guest_licenses"}
    assert taken["probe"] is not None and taken["probe"]["op"] == "guest_licenses"
    assert all(isinstance(phase["seconds"], float) for phase in taken["phases"])


@pytest.mark.parametrize("scenario", ["demo.toml", "hostile.toml", "no-hyperv.toml", "old-host.toml"])
def test_anonymized_names_are_gone_stable_and_keep_their_shape(scenario: str, tmp_path: Path) -> None:
    out = tmp_path / "anon.avmacap"
    path = str(asset("scenarios", scenario))
    done = cli("capture", "--scenario", path, "--anonymize", "--output", str(out))
    assert done.returncode == 0, done.stderr
    original = _report("--scenario", path)
    replayed = _report("--scenario", str(out))
    raw = gzip.decompress(out.read_bytes()).decode("utf-8")
    names = [vm["name"] for vm in original["vms"]] + [original["host"]["name"]]
    for name in names:  # a name of a few letters could stand anywhere by chance; punctuation has no pseudonym
        if sum(ch.isalnum() for ch in name) >= 4:
            assert name.casefold() not in raw.casefold(), name
    # Same VMs, statuses and findings; names of the same shape: length, markup and non-ASCII positions kept.
    assert [vm["status"] for vm in replayed["vms"]] == [vm["status"] for vm in original["vms"]]
    for before, after in zip(original["vms"], replayed["vms"], strict=True):
        assert len(after["name"]) == len(before["name"])
        for a, b in zip(before["name"], after["name"], strict=True):
            assert (a.isalnum(), a.isascii()) == (b.isalnum(), b.isascii()) or not a.isalnum()
            if not a.isalnum():
                assert a == b


def test_the_same_name_maps_to_the_same_pseudonym_within_one_capture() -> None:
    key = b"k" * 32
    assert capture.pseudonym("HV01", key) == capture.pseudonym("HV01", key)
    assert capture.pseudonym("hv01", key) == capture.pseudonym("HV01", key).lower()
    assert capture.pseudonym("HV01", key) != capture.pseudonym("HV01", b"x" * 32)


def test_import_writes_an_editable_scenario_that_reports_the_same(tmp_path: Path) -> None:
    taken, scenario = tmp_path / "demo.avmacap", tmp_path / "demo-imported.toml"
    demo = str(asset("scenarios", "demo.toml"))
    env = {"AVMA_GUEST_PASSWORD": GUEST_PASSWORD}
    assert (
        cli("capture", "--scenario", demo, "--guest-user", "Administrator", "--output", str(taken), env=env).returncode
        == 0
    )
    done = cli("sim", "import", str(taken), "--output", str(scenario))
    assert done.returncode == 0, done.stderr
    assert scenario.read_text(encoding="utf-8").startswith("# Imported by avma-tui")
    assert _comparable(_report("--scenario", str(scenario), guest=REPLAY_GUEST_PASSWORD)) == _comparable(
        _report("--demo", guest=GUEST_PASSWORD)
    )


def test_the_guest_os_read_inside_a_guest_is_captured_replayed_and_imported(tmp_path: Path) -> None:
    """A guest with KVP disabled: its OS read inside it rides in the capture's guest_licenses answer, the replay
    reports it as read inside the guest, and `sim import` makes it the guest's truth."""
    taken, imported = tmp_path / "demo.avmacap", tmp_path / "imported.toml"
    env = {"AVMA_GUEST_PASSWORD": GUEST_PASSWORD}
    demo = str(asset("scenarios", "demo.toml"))
    assert (
        cli("capture", "--scenario", demo, "--guest-user", "Administrator", "--output", str(taken), env=env).returncode
        == 0
    )
    reads = [
        read
        for phase in capture.read(taken)["phases"]
        if phase["op"] == "guest_licenses"
        for read in phase["document"]["licenses"]
    ]
    assert any(isinstance(read.get("os"), dict) and read["os"].get("build_number") for read in reads)
    replayed = _report("--scenario", str(taken), guest=REPLAY_GUEST_PASSWORD)
    inside = [vm for vm in replayed["vms"] if vm["guest"] and vm["guest"]["source"] == "inside-guest"]
    assert inside and all(not vm["kvp"]["enabled"] or vm["kvp"]["status"] != "OK" for vm in inside)
    assert all(vm["recommended_key_last5"] or vm["status"] == "not-eligible" for vm in inside)
    assert cli("sim", "import", str(taken), "--output", str(imported)).returncode == 0
    text = imported.read_text(encoding="utf-8")
    name = inside[0]["name"]
    block = text.split(f'name = "{name}"', 1)[1].split("[[vms]]", 1)[0]
    assert "[vms.guest]" in block and "OSBuildNumber" in block and "Microsoft" not in block


def test_a_capture_made_before_the_guest_os_was_read_still_replays(tmp_path: Path) -> None:
    """Captures made before carry no `os` in their guest_licenses answers: they load, and their guests' OS is
    KVP's or unknown, as then."""
    taken = capture.read(Path(__file__).parents[1] / "fixtures" / "captures" / "demo.avmacap")
    for phase in [*taken["phases"], taken.get("probe") or {}]:
        if phase.get("op") == "guest_licenses" and isinstance(phase.get("document"), dict):
            for read in phase["document"].get("licenses", []):
                read.pop("os", None)
    old = tmp_path / "old.avmacap"
    old.write_bytes(gzip.compress(json.dumps(taken).encode("utf-8")))
    report = _report("--scenario", str(old), guest=REPLAY_GUEST_PASSWORD)
    assert report["vms"] and all(vm["guest"] is None or vm["guest"]["source"] == "kvp" for vm in report["vms"])


def test_a_fix_rehearsed_on_a_capture_changes_the_simulator_not_the_file(tmp_path: Path) -> None:
    taken = tmp_path / "demo.avmacap"
    assert cli("capture", "--demo", "--output", str(taken)).returncode == 0
    before = taken.read_bytes()
    kvp_off = next(vm for vm in _report("--demo")["vms"] if any(f["code"] == "KVP_DISABLED" for f in vm["findings"]))
    env = {"AVMA_TUI_HOME": str(tmp_path / "home")}
    done = cli("fix", "--scenario", str(taken), "--vm", kvp_off["name"], "--yes", "--verify-timeout", "10", env=env)
    assert "Enable" in done.stdout or "KVP" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert taken.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (gzip.compress(json.dumps({"kind": capture.KIND, "format": 99, "phases": []}).encode()), "newer"),
        (gzip.compress(json.dumps({"kind": capture.KIND, "format": 1, "phases": [{"op": "x"}]}).encode())[:40],
         "truncated"),
        (gzip.compress(b'{"kind": "avma-tui capture", "format": 1, "phases": [{"op": "inventory", "document": {'),
         "not JSON"),
        (gzip.compress(json.dumps({"kind": capture.KIND, "format": 1, "phases": [{"op": 5}]}).encode()), "damaged"),
        (gzip.compress(json.dumps({"kind": capture.KIND, "format": 1, "phases": []}).encode()), "no inventory"),
        (gzip.compress(b"\x89PNG\r\n\x1a\n not json"), "not JSON"),
        (gzip.compress(json.dumps([1, 2, 3]).encode()), "not an avma-tui capture"),
    ],
    ids=["newer-format", "truncated", "edited", "bad-phase", "no-inventory", "not-json", "not-a-capture"],
)  # fmt: skip
def test_a_bad_capture_is_one_line_and_exit_2(content: bytes, words: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.avmacap"
    bad.write_bytes(content)
    assert words in one_line_error(cli("report", "--scenario", str(bad)))
    assert words in one_line_error(cli("sim", "import", str(bad), "--output", str(tmp_path / "x.toml")))
    assert not (tmp_path / "x.toml").exists()
