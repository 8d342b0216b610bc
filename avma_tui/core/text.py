"""The one sanitiser for untrusted text: what every output (TUI, report, audit show/export, errors) runs it through.

VM names, KVP values, event text, host names and remote error messages come from machines we do not control,
and the audit log may have been edited by hand. Printed raw, such text could drive the terminal (ESC and the
one-byte C1 CSI U+009B start control sequences), split a line or a CSV row, reorder what an auditor reads
(bidi overrides: a name with U+202E shows reversed), or crash the output (a lone surrogate cannot be encoded).

Three spellings, for three kinds of output:
- `clean`: one line to read (terminal, TUI, error lines): unsafe characters dropped, tabs and line breaks as
  spaces, lone surrogates as U+FFFD, optionally capped with an ellipsis.
- `escape`: text whose reader must see exactly what was there (CSV cells, JSON, exports): every unsafe
  character written as a visible `\\uXXXX` escape (in JSON that decodes back to the very same string).
- `csv_cell`: `escape`, and a leading = + - @ quoted so a spreadsheet never runs the cell as a formula.
"""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
#: Bidirectional embeddings, overrides, isolates and marks (LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM):
#: invisible, but they change the order in which a terminal shows the characters around them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Line and paragraph separators: a terminal or a spreadsheet may break the line there.
_LINE_BREAKS = frozenset("\t\n\r\u2028\u2029\x85")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_REPLACEMENT = "\ufffd"


def unsafe(ch: str) -> bool:
    """True for a character no output may write as it is: C0/C1 controls and DEL, bidi controls, surrogates."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs") or ch in _LINE_BREAKS


def valid(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it can be encoded, hashed and written."""
    if text.isascii():
        return text
    return "".join(_REPLACEMENT if unicodedata.category(ch) == "Cs" else ch for ch in text)


def clean(value: object, limit: int | None = None) -> str:
    """`value` as one line of readable text: controls and bidi controls removed, line breaks as spaces, capped."""
    text = "" if value is None else str(value)
    if not (text.isascii() and text.isprintable()):
        text = "".join(_clean_char(ch) if unsafe(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def _clean_char(ch: str) -> str:
    if ch in _LINE_BREAKS:
        return " "
    return _REPLACEMENT if unicodedata.category(ch) == "Cs" else ""


def escape(value: object) -> str:
    """`value` with every unsafe character as a visible `\\uXXXX` escape (tabs and line breaks included)."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text
    return "".join(f"\\u{ord(ch):04x}" if unsafe(ch) else ch for ch in text)


def csv_cell(value: object) -> str:
    """A spreadsheet cell shown as text: `escape`d, and never a formula (a leading = + - @ gets a quote)."""
    text = escape(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def json_text(document: str) -> str:
    """A JSON document (json.dumps with ensure_ascii=False) with every unsafe character in its strings escaped.

    It still parses to the very same value; only the layout's own line breaks stay (json.dumps escapes
    every control character inside a string itself, but not DEL, C1, bidi controls or surrogates).
    """
    if document.isascii() and "\x7f" not in document:  # json.dumps escaped every other ASCII control
        return document
    return "".join(f"\\u{ord(ch):04x}" if ch != "\n" and unsafe(ch) else ch for ch in document)
