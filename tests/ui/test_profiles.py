"""A damaged profiles.json: a warning naming what was skipped, and every valid profile — never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, Input, OptionList, Select

from avma_tui.config import ConnectionSettings, config_dir, read_profiles, save_profile
from avma_tui.ui.app import AvmaApp
from avma_tui.ui.screens.connection import ConnectScreen

GOOD = {"host": "hv01", "port": 5985, "https": False, "auth": "ntlm", "username": "ops", "insecure": False}


def write(content: Any) -> Path:
    path = config_dir() / "profiles.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize(
    ("entry", "warning"),
    [
        ({"https": "no"}, "https must be true or false"),
        ({"insecure": "false"}, "insecure must be true or false"),  # a truthy string must not turn validation off
        ({"auth": ["ntlm"]}, "auth must be one of negotiate, ntlm, kerberos, credssp, basic"),
        ({"username": {"name": "x"}}, "username must be a text"),
        ({"port": "5985"}, "port must be a number from 1 to 65535"),
        ({"port": 70000}, "port must be a number from 1 to 65535"),
        ({"port": True}, "port must be a number from 1 to 65535"),
        ({"timeout": -1}, "timeout must be a positive number of seconds"),
        ({"ca_cert": 3}, "ca_cert must be a text"),
        ({"host": ""}, "host must be a non-empty text"),
        ({"host": ["hv02"]}, "host must be a non-empty text"),
    ],
)
def test_a_profile_with_a_wrong_field_is_skipped_with_a_warning(entry: dict[str, Any], warning: str) -> None:
    path = write([{**GOOD, "host": "hv02", **entry}, GOOD])
    profiles, warnings = read_profiles()
    assert [p.host for p in profiles] == ["hv01"]
    assert warnings == [f"{path}: profile 1 skipped: {warning}"]


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        (b"[" * 100_000, "not valid JSON; no saved profiles were read"),
        (b'{"host": "hv01"}', "not a list of profiles; ignored"),
        (b"\xff\xfe", "not valid JSON; no saved profiles were read"),
        (b'[{"host": "hv01"', "not valid JSON; no saved profiles were read"),
    ],
)
def test_a_damaged_file_is_a_warning(content: bytes, warning: str) -> None:
    path = write(content)
    assert read_profiles() == ([], [f"{path}: {warning}"])


def test_entries_that_are_not_objects_are_skipped_and_unknown_fields_ignored() -> None:
    path = write([GOOD, 3, None, [GOOD], {**GOOD, "host": "hv03", "future_field": [1]}])
    profiles, warnings = read_profiles()
    assert [p.host for p in profiles] == ["hv01", "hv03"]
    assert warnings == [f"{path}: profile {n} is not an object; skipped" for n in (2, 3, 4)]


def test_saving_keeps_the_damaged_file_aside_and_the_valid_profiles() -> None:
    path = write([GOOD, {"host": "hv02", "https": "no"}])
    save_profile(ConnectionSettings("hv09"))
    assert [p.host for p in read_profiles()[0]] == ["hv09", "hv01"] and read_profiles()[1] == []
    assert json.loads(path.with_name("profiles.json.damaged").read_text())[1] == {"host": "hv02", "https": "no"}


async def test_the_tui_starts_with_a_deeply_nested_file_and_says_so(settle) -> None:
    write(b"[" * 100_000)
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ConnectScreen)
        notes = [n for n in app._notifications if n.title == "Saved profiles"]
        assert len(notes) == 1 and "not valid JSON" in notes[0].message and notes[0].severity == "warning"


async def test_choosing_a_valid_profile_beside_damaged_ones_fills_the_form(settle) -> None:
    write([{"host": "bad1", "username": {"a": 1}}, {"host": "bad2", "https": "no"}, GOOD, {"host": "bad3", "auth": []}])
    app = AvmaApp(refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        profiles = screen.query_one("#profiles", OptionList)
        assert profiles.option_count == 1
        profiles.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert screen.query_one("#host", Input).value == "hv01"
        assert screen.query_one("#port", Input).value == "5985"
        assert screen.query_one("#https", Select).value is False
        assert screen.query_one("#auth", Select).value == "ntlm"
        assert screen.query_one("#user", Input).value == "ops"
        assert screen.query_one("#insecure", Checkbox).value is False
        notes = [n for n in app._notifications if n.title == "Saved profiles"]
        assert len(notes) == 1 and notes[0].message.count("skipped") == 3
