"""The base of every dialog: a modal screen over the dimmed screen below, with the dimming made cheap.

A ModalScreen with a translucent background (app.tcss: `$background 60%`) draws the screen below through
Textual's `BackgroundScreen`, which blends the tint into every segment of it, each time the dialog is drawn:
about 15 ms for a 160x50 dashboard on a small VM, once when the dialog opens, again on its first resize,
and on every change below it (the footer is rebuilt when focus moves into the dialog). A screen has a few
hundred distinct styles and thousands of segments, so `DimmedScreen` blends each style once and reuses the
result; the blend itself is Textual's own (tests/ui/test_dialog_tint.py proves the output is the same).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen, ScreenResultType

#: Styles remembered per tint before the memo starts afresh (a screen uses a few hundred).
TINT_MEMO_LIMIT = 8192

_tinted: dict[tuple[Color, Style | None], Style] = {}


def tinted_style(style: Style | None, color: Color) -> Style:
    """What Textual's BackgroundScreen makes of `style` under `color`, computed once per style and tint."""
    key = (color, style)
    tinted = _tinted.get(key)
    if tinted is None:
        if len(_tinted) >= TINT_MEMO_LIMIT:
            _tinted.clear()
        (segment,) = BackgroundScreen.process_segments([Segment(" ", style)], color)
        tinted = _tinted[key] = segment.style or Style()
    return tinted


class DimmedScreen(BackgroundScreen):
    """BackgroundScreen with each style's tint computed once (`tinted_style`)."""

    @classmethod
    def process_segments(cls, segments: Iterable[Segment], color: Color) -> Iterable[Segment]:
        for segment in segments:
            text, style, control = segment
            yield segment if control else Segment(text, tinted_style(style, color), control)


class Dialog(ModalScreen[ScreenResultType]):
    """A modal screen whose dimmed background is drawn through `DimmedScreen`."""

    def render(self) -> RenderableType:
        below = super().render()
        if type(below) is BackgroundScreen:
            return DimmedScreen(below.screen, below.color)
        return below
