"""Scrubbing the host password from error messages: every whole occurrence, never pieces of other words."""

from __future__ import annotations

import pytest

from avma_tui.hyperv.psrp import SCRUB_MIN_LENGTH, scrub


@pytest.mark.parametrize(
    ("text", "password", "scrubbed"),
    [
        ("login Secret1 refused; Secret1 again", "Secret1", "login *** refused; *** again"),
        ("url http://admin:Secret1@hv01/wsman", "Secret1", "url http://admin:***@hv01/wsman"),
        ("hv-x01.corp.example refused", "x", "hv-x01.corp.example refused"),  # too short: the host name stays
        ("hostname hosts host", "host", "hostname hosts ***"),  # inside a word: left alone
        ("a!Pass! b", "!Pass!", "a*** b"),  # ends that are not letters need no boundary
        ("Kennwort Pässwört1 falsch", "Pässwört1", "Kennwort *** falsch"),
        ("nothing here", "", "nothing here"),
    ],
)
def test_scrub(text: str, password: str, scrubbed: str) -> None:
    assert scrub(text, password) == scrubbed


def test_the_minimum_length_is_small_enough_for_real_passwords() -> None:
    assert SCRUB_MIN_LENGTH <= 4
    assert scrub("pw abcd", "abcd") == "pw ***"
