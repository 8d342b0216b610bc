"""Theme colours every text style of avma-tui is drawn in, each readable (WCAG AA, 4.5:1) on its background.

Two things made text unreadable (issue 13 item 1). Textual's `$text-muted` is "auto 60%": a Static
resolves it against its background, but a DataTable cell's Content has none to resolve it against
and came out black on dark grey. And the themes' signal colours ($error, $warning…) are fill colours:
`#B93C5B` text on `#1C1C1C` is 3.1:1. So the app replaces the text variables with concrete colours,
moved towards white (dark themes) or black (light themes) just far enough to reach 4.5:1 on every
background text is drawn on, and the app's styles use `$text-error`, `$text-muted`… for text.

Themes whose colours cannot be computed (the ANSI themes take the terminal's own palette) are not
offered; tests/ui/test_contrast.py renders every screen in every allowed theme and measures each
character's contrast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.color import Color

#: WCAG 2.x AA for normal text; a little margin so rounding in blends never lands under it.
AA = 4.5
_TARGET = 4.6
#: Fills get more margin: a focused button or row is tinted 5% on top of its fill.
_FILL_TARGET = 5.0

#: The backgrounds text is drawn on: the screen, panels, dialogs, and the table's zebra and header rows.
BACKGROUNDS = (
    "background",
    "background-lighten-1",
    "background-darken-1",
    "surface",
    "surface-lighten-1",
    "surface-darken-1",
    "panel",
    "panel-lighten-1",
    "panel-darken-1",
)
#: Text colours made readable on every background above.
TEXT_VARIABLES = (
    "text-muted",
    "text-primary",
    "text-secondary",
    "text-accent",
    "text-success",
    "text-warning",
    "text-error",
    "footer-key-foreground",
    "footer-description-foreground",
    "footer-foreground",
    "input-selection-foreground",
)
#: Themes that take their colours from the terminal: their contrast cannot be known, so they are not offered.
UNMEASURABLE_THEMES = frozenset({"ansi-dark", "ansi-light"})


def luminance(color: Color) -> float:
    """WCAG relative luminance of an opaque colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a: Color, b: Color) -> float:
    """WCAG contrast ratio of two opaque colours, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(color: Color, backgrounds: Iterable[Color], target: float = _TARGET) -> Color:
    """`color`, moved towards white or black (away from the backgrounds) until it reaches `target` on each."""
    grounds = list(backgrounds)
    if all(contrast(color, bg) >= target for bg in grounds):
        return color
    dark_grounds = sum(luminance(bg) for bg in grounds) / len(grounds) < 0.18
    extreme = Color(255, 255, 255) if dark_grounds else Color(0, 0, 0)
    for step in range(1, 21):
        moved = color.blend(extreme, step / 20)
        if all(contrast(moved, bg) >= target for bg in grounds):
            return moved
    return extreme


def _opaque(value: str, under: Color) -> Color | None:
    """A variable's colour made opaque over `under`; None for values that are not a colour ("auto 60%")."""
    try:
        color = Color.parse(value)
    except Exception:  # "auto 87%", "transparent", "initial": not a colour on its own
        return None
    return under.blend(color.with_alpha(1.0), color.a) if color.a < 1 else color


def readable_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """The theme's CSS variables with every text colour readable on every background (see module docstring)."""
    out = dict(variables)
    base = Color.parse(variables["background"])
    foreground = Color.parse(variables["foreground"])
    surface = _opaque(variables["surface"], base) or base
    grounds = [c for name in BACKGROUNDS if (c := _opaque(variables.get(name, ""), base)) is not None]
    # Muted text: two thirds of the way from the background to the foreground, then made readable.
    out["text-muted"] = readable(base.blend(foreground, 0.66), grounds).hex
    for name in TEXT_VARIABLES:
        color = _opaque(variables.get(name, ""), base)
        if color is not None and name != "text-muted":
            out[name] = readable(color, grounds).hex
    # The table's header (panel, tinted 5% towards the foreground while focused) and its cursor row
    # when the table is not focused (a translucent fill over the surface) carry the foreground.
    panel = _opaque(variables["panel"], base) or base
    headers = [panel, panel.blend(foreground, 0.05)]
    blurred = _opaque(variables.get("block-cursor-blurred-background", ""), surface)
    if blurred is not None:
        headers.append(blurred)
        blurred_text = _opaque(variables.get("block-cursor-blurred-foreground", ""), base)
        if blurred_text is not None:
            out["block-cursor-blurred-foreground"] = readable(blurred_text, [blurred]).hex
    out["foreground"] = readable(foreground, [*grounds, *headers]).hex
    out["button-foreground"] = readable(_opaque(variables["button-foreground"], base) or foreground, grounds).hex
    # The footer's own fill, when the theme gives it one.
    footer = _opaque(variables.get("footer-background", ""), base)
    if footer is not None:
        for name in ("footer-key-foreground", "footer-description-foreground", "footer-foreground"):
            color = _opaque(out.get(name, ""), base)
            if color is not None:
                out[name] = readable(color, [footer]).hex
    # Fills with text on them: the cursor row, and the buttons ($primary, $warning… stay, for borders).
    cursor = _opaque(variables["block-cursor-background"], base)
    if cursor is not None:
        out["block-cursor-background"] = readable_fill(cursor, _text(variables["block-cursor-foreground"])).hex
    button_text = _text(variables["button-color-foreground"])
    for variant in ("primary", "warning", "error", "success"):
        out[f"{variant}-fill"] = readable_fill(Color.parse(variables[variant]), button_text).hex
    return out


def _text(value: str) -> Color | float:
    """A text colour variable: a concrete colour, or the alpha of Textual's automatic text ("auto 87%")."""
    if value.startswith("auto"):
        percent = value.removeprefix("auto").strip().rstrip("%")
        return float(percent) / 100 if percent else 1.0
    return Color.parse(value).with_alpha(1.0)


def readable_fill(fill: Color, text: Color | float) -> Color:
    """`fill`, shaded until `text` on it is readable: a colour, or Textual's automatic text at that alpha."""
    shaded = fill
    for step in range(1, 31):
        if isinstance(text, Color):
            if contrast(text, shaded) >= _FILL_TARGET:
                return shaded
            towards_dark = luminance(text) > 0.18
        else:
            shown = shaded.blend(shaded.get_contrast_text(text).with_alpha(1.0), text)
            if contrast(shown, shaded) >= _FILL_TARGET:
                return shaded
            towards_dark = luminance(fill) < 0.4
        shaded = fill.darken(step * 0.02) if towards_dark else fill.lighten(step * 0.02)
    return shaded
