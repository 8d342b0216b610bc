"""Dialogs draw the dimmed screen below through DimmedScreen: Textual's tint, computed once per style.

The dimmed dashboard behind a dialog was about half of a dialog's paint (issue 15 item 7). The memo must
give exactly what Textual's BackgroundScreen gives, segment for segment, and every dialog must use it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen

import avma_tui.ui.screens
from avma_tui.ui.screens import dialog
from avma_tui.ui.screens.dialog import Dialog, DimmedScreen
from avma_tui.ui.screens.help import HelpScreen
from tests.ui.conftest import AppFactory

SEGMENTS = [
    Segment("plain"),
    Segment("fg", Style(color="#e0e0e0")),
    Segment("bg", Style(bgcolor="#272727")),
    Segment("both, bold", Style(color="red", bgcolor="blue", bold=True)),
    Segment("meta", Style(color="#ffffff", bgcolor="#000000") + Style.from_meta({"row": 3, "column": 1})),
    Segment("link", Style(color="green", link="https://example.invalid/")),
    Segment("\x1b[2J", None, [(1,)]),  # a control segment passes through untouched
    Segment("fg", Style(color="#e0e0e0")),  # seen before: from the memo
]
TINTS = [Color(0, 0, 0, 0.6), Color(18, 18, 18, 0.6), Color(0, 0, 0, 0), Color(10, 20, 30, 1.0)]


def test_dimmed_screen_tints_every_segment_as_textual_does() -> None:
    for color in TINTS:
        for _ in range(2):  # the second pass is served from the memo
            ours = list(DimmedScreen.process_segments(SEGMENTS, color))
            theirs = list(BackgroundScreen.process_segments(SEGMENTS, color))
            assert ours == theirs, color


def test_the_memo_stays_bounded() -> None:
    limit = dialog.TINT_MEMO_LIMIT
    color = Color(1, 2, 3, 0.5)
    for shade in range(limit + 10):
        style = Style(color=f"#{shade % 256:02x}{shade // 256 % 256:02x}00", bgcolor="#101010")
        assert (
            dialog.tinted_style(style, color)
            == next(iter(BackgroundScreen.process_segments([Segment(" ", style)], color))).style
        )
        assert len(dialog._tinted) <= limit


def test_every_modal_screen_is_a_dialog() -> None:
    for module in pkgutil.iter_modules(avma_tui.ui.screens.__path__):
        importlib.import_module(f"avma_tui.ui.screens.{module.name}")
    modal = {cls for cls in _subclasses(ModalScreen) if cls.__module__.startswith("avma_tui.")}
    assert len(modal) >= 6
    assert [cls.__name__ for cls in modal if not issubclass(cls, Dialog)] == []


async def test_a_dialog_draws_the_dashboard_below_through_dimmed_screen(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tinted: list[str] = []
    original = DimmedScreen.process_segments

    def spy(cls: type[DimmedScreen], segments: Iterable[Segment], color: Color) -> Iterator[Segment]:
        for segment in original(segments, color):
            tinted.append(segment.text)
            yield segment

    monkeypatch.setattr(DimmedScreen, "process_segments", classmethod(spy))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert tinted == []
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert any("Refresh" in text for text in tinted), "the dashboard's footer, dimmed below the dialog"


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found
