"""The one place where untrusted text becomes something the screen shows.

VM names, KVP values, event text and remote error messages come from machines we do not control:
a guest can write anything into KVP. Textual parses markup in plain strings almost everywhere
(DataTable cells, notify, border titles, palette hits), so a VM named `[@click=app.quit]x` would
become a live action and `[link=…]` would raise. Everything shown from outside therefore goes
through these functions, which strip control characters (ESC included), cap the length and return
`Content`, which Textual never parses again.
"""

from __future__ import annotations

import unicodedata

from textual.content import Content

#: Longest untrusted text shown in one cell, line or title.
CELL_LIMIT = 256
ELLIPSIS = "…"
_WHITESPACE_CONTROLS = {"\t": " ", "\n": " ", "\r": " "}
#: Bidirectional overrides, isolates and marks: they can make a name display as something it is not.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean(value: object, limit: int = CELL_LIMIT) -> str:
    """`value` as one line of printable text: controls and bidi overrides removed, tabs/newlines as spaces, capped."""
    text = "" if value is None else str(value)
    text = "".join(
        _WHITESPACE_CONTROLS.get(ch, "") if unicodedata.category(ch) == "Cc" else ch
        for ch in text
        if ch not in _BIDI_CONTROLS
    )
    if len(text) > limit:
        return text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def text(value: object, style: str = "", limit: int = CELL_LIMIT) -> Content:
    """Untrusted text shown exactly as it is (after `clean`), optionally in one style."""
    return Content.styled(clean(value, limit), style)


def assemble(*parts: str | Content | tuple[object, str], limit: int = CELL_LIMIT) -> Content:
    """Content.assemble, cleaning every str part and every (text, style) pair's text."""
    safe_parts: list[str | Content | tuple[str, str]] = []
    for part in parts:
        if isinstance(part, Content):
            safe_parts.append(part)
        elif isinstance(part, tuple):
            safe_parts.append((clean(part[0], limit), part[1]))
        else:
            safe_parts.append(clean(part, limit))
    return Content.assemble(*safe_parts)
