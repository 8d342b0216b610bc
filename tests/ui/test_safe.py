"""ui.safe: untrusted text reaches the screen exactly as sent, minus controls, capped, never as markup."""

from __future__ import annotations

import pytest
from textual.content import Content

from avma_tui.ui import safe

HOSTILE = [
    "[red]x[/]'; Remove-VM *",
    "[@click=app.quit]y[/]",
    "[link=https://x]z",
    "[$accent]",
    "[b]bold[/b] [i]",
    "back\\",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_text_is_shown_verbatim(name: str) -> None:
    content = safe.text(name, "bold")
    assert isinstance(content, Content)
    assert content.plain == name
    assert all(not getattr(span.style, "meta", None) for span in content.spans)


def test_clean_drops_escape_and_c0_c1_controls_and_bidi_overrides() -> None:
    assert safe.clean("ctrl\x1b[2J\x07name\x9b1m") == "ctrl[2Jname1m"
    assert safe.clean("\u202eexe.tnirp") == "exe.tnirp"


def test_clean_turns_line_breaks_into_spaces() -> None:
    assert safe.clean("one\ntwo\tthree\r") == "one two three "


def test_clean_caps_with_an_ellipsis() -> None:
    capped = safe.clean("A" * 500)
    assert len(capped) == safe.CELL_LIMIT
    assert capped.endswith(safe.ELLIPSIS)
    assert safe.clean("A" * 10, limit=10) == "A" * 10


def test_assemble_cleans_plain_and_styled_parts() -> None:
    content = safe.assemble("VM ", ("[x]\x1b", "bold"), Content("!"))
    assert content.plain == "VM [x]!"


def test_none_becomes_empty() -> None:
    assert safe.clean(None) == ""


def test_clean_drops_the_invisible_direction_marks_too() -> None:
    """LRM and RLM reorder neighbouring text like the overrides do; the report drops them, so must the screen."""
    assert safe.clean("APP\u200f01\u200e") == "APP01"
