"""Output that fits the terminal: at a terminal lines wrap to its width (never inside a word, so a hash, a key
or a path stays whole); into a pipe or a file every line stays whole, for grep and scripts."""

from __future__ import annotations

import shutil
import sys
import textwrap


def terminal_width() -> int | None:
    """The terminal's width when stdout is one (COLUMNS wins, as everywhere), else None."""
    if not sys.stdout.isatty():
        return None
    return max(shutil.get_terminal_size().columns, 40)


def fit(text: str, width: int | None, indent: str = "  ") -> str:
    """One line of `text` wrapped to `width` with a hanging `indent`; unchanged when `width` is None."""
    if width is None:
        return text
    lines = textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) or text
