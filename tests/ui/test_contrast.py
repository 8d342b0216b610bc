"""Every character avma-tui draws reads at WCAG AA (4.5:1) on its background, in every theme it offers.

Issue 13 item 1: muted table cells ("not read", "—", "+1", LICENSE_UNKNOWN) were drawn black on dark
grey. The test renders the real screens (the table before and after the guest login, the details,
the filter, a dialog, help, the fix wizard) and measures the contrast
of every non-blank character the compositor puts on screen, in each allowed theme. Box-drawing and
block characters (borders, scrollbars) are not text and are skipped; so is what lies under a dialog.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.color import Color
from textual.geometry import Region
from textual.pilot import Pilot
from textual.theme import BUILTIN_THEMES

from avma_tui.ui.palette import AA, BACKGROUNDS, TEXT_VARIABLES, UNMEASURABLE_THEMES, contrast, readable_variables

ALLOWED = [name for name in BUILTIN_THEMES if name not in UNMEASURABLE_THEMES]


def _is_text(ch: str) -> bool:
    return not ch.isspace() and not 0x2500 <= ord(ch) <= 0x259F


def low_contrast(app: Any, region: Region | None = None) -> list[tuple[str, float, str, str]]:
    """(text, ratio, colour, background) of every run of text on screen under AA, within `region`."""
    found = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            start, x = x, x + segment.cell_length
            if region is not None and not (region.y <= y < region.bottom and region.x <= start < region.right):
                continue
            style = segment.style
            if style is None or not any(_is_text(ch) for ch in segment.text):
                continue
            fg, bg = (style.bgcolor, style.color) if style.reverse else (style.color, style.bgcolor)
            assert fg is not None and bg is not None and fg.triplet and bg.triplet, f"no colour for {segment.text!r}"
            ratio = contrast(Color(*fg.triplet), Color(*bg.triplet))
            if ratio < AA:
                found.append((segment.text.strip()[:30], round(ratio, 2), fg.triplet.hex, bg.triplet.hex))
    return found


async def _every_theme(pilot: Pilot[Any], stop: str, failures: dict[str, list[Any]], region: Any = None) -> None:
    app = pilot.app
    for theme in ALLOWED:
        app.theme = theme
        await pilot.pause()
        bad = low_contrast(app, region() if callable(region) else region)
        if bad:
            failures.setdefault(f"{stop} / {theme}", sorted(set(bad))[:5])
    app.theme = "textual-dark"
    await pilot.pause()


def test_the_ansi_themes_are_not_offered(make_app: Any) -> None:
    app = make_app()
    assert UNMEASURABLE_THEMES.isdisjoint(app.available_themes)
    assert set(ALLOWED) <= set(app.available_themes)


@pytest.mark.parametrize("theme", ALLOWED)
def test_every_text_colour_reads_on_every_background(theme: str) -> None:
    """The palette's promise, theme by theme, before anything is drawn."""
    system = BUILTIN_THEMES[theme]
    variables = readable_variables({**system.to_color_system().generate(), **system.variables})
    base = Color.parse(variables["background"])
    for text_name in TEXT_VARIABLES:
        if text_name.startswith("footer-") and "footer-background" in system.variables:
            continue  # drawn on the theme's own footer fill, not on these backgrounds
        text = Color.parse(variables[text_name])
        for ground_name in BACKGROUNDS:
            ground = Color.parse(variables[ground_name])
            ground = base.blend(ground.with_alpha(1.0), ground.a) if ground.a < 1 else ground
            assert contrast(text, ground) >= AA, (text_name, ground_name)


@pytest.mark.slow
async def test_every_screen_reads_in_every_theme(make_app: Any, settle: Any) -> None:
    app = make_app()
    failures: dict[str, list[Any]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await _every_theme(pilot, "dashboard before the guest login", failures)
        await pilot.press("c")
        await pilot.pause()
        await _every_theme(pilot, "credentials", failures, lambda: app.screen.query_one("#credentials-dialog").region)
        await pilot.press(*"Passw0rd!", "enter")
        await settle(pilot)
        await pilot.press("slash", "s", "q", "l")
        await pilot.pause()
        await _every_theme(pilot, "dashboard after the login, filtered", failures)
        await pilot.press("escape", "escape", "question_mark")
        await pilot.pause()
        await _every_theme(pilot, "help", failures, lambda: app.screen.query_one("#help").region)
        await pilot.press("escape", "f")
        await settle(pilot)
        await _every_theme(pilot, "fix wizard", failures)
    assert failures == {}
