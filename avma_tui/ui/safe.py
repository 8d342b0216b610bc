"""The one place where untrusted text becomes something the screen shows.

VM names, KVP values, event text and remote error messages come from machines we do not control:
a guest can write anything into KVP. Textual parses markup in plain strings almost everywhere
(DataTable cells, notify, border titles, palette hits), so a VM named `[@click=app.quit]x` would
become a live action and `[link=…]` would raise. Everything shown from outside therefore goes
through these functions, which clean it with the project's one sanitiser (`avma_tui.core.text`: control
characters, C1 included, and bidi controls removed, lone surrogates replaced), cap the length and return
`Content`, which Textual never parses again.
"""

from __future__ import annotations

from textual.content import Content

from avma_tui.core import text as sanitiser

#: Longest untrusted text shown in one cell, line or title.
CELL_LIMIT = 256
ELLIPSIS = sanitiser.ELLIPSIS


def clean(value: object, limit: int = CELL_LIMIT) -> str:
    """`value` as one line of printable text (`avma_tui.core.text.clean`), capped at `limit` characters."""
    return sanitiser.clean(value, limit)


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
