"""Cells no spreadsheet runs as a formula (CSV/formula injection, OWASP).

Every CSV and XLSX writer passes its text cells through :func:`safe_text` (or any cell
through :func:`safe_cell`). A text cell is written with a leading apostrophe when, after any
leading whitespace, it begins with a character Excel, LibreOffice or WPS read as the start of
a formula, or when it begins with a tab or a carriage return (OWASP's list):

* ``= + - @`` and their full-width and small compatibility forms ``＝ ＋ － ＠ ﹦ ﹢ ﹣``
  (and the minus sign ``−``): spreadsheets in a Chinese locale normalise these;
* whitespace before them does not help: ASCII space, tab, CR, LF, the ideographic space
  U+3000, NBSP U+00A0, every other Unicode space, control and invisible format characters
  (zero-width space, BOM, …) are skipped.

Numbers (``int``, ``float``), dates, booleans and ``None`` stay what they are; text that
needs no apostrophe is returned unchanged, so exports of the same data keep the same bytes.
"""

from __future__ import annotations

import unicodedata
from typing import TypeVar

FORMULA_CHARS = frozenset("=+-@")
# Not folded to ASCII by NFKC, but read as a minus by some spreadsheets.
EXTRA_FORMULA_CHARS = frozenset("\u2212")  # − MINUS SIGN
CONTROL_STARTS = ("\t", "\r")
# Control and format characters (zero-width space, BOM, …): a reader may drop them.
SKIPPED_CATEGORIES = frozenset({"Cc", "Cf"})
QUOTE = "'"

T = TypeVar("T")


def _first_visible(text: str) -> str | None:
    for char in text:
        if char.isspace() or unicodedata.category(char) in SKIPPED_CATEGORIES:
            continue
        return char
    return None


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (see the module docstring)."""
    if text.startswith(CONTROL_STARTS):
        return True
    first = _first_visible(text)
    if first is None:
        return False
    return (
        first in FORMULA_CHARS
        or first in EXTRA_FORMULA_CHARS
        or unicodedata.normalize("NFKC", first) in FORMULA_CHARS
    )


def safe_text(text: str) -> str:
    """``text``, with a leading apostrophe if a spreadsheet could run it as a formula."""
    return QUOTE + text if starts_formula(text) else text


def safe_cell(value: T) -> T | str:
    """A cell value for a CSV or XLSX writer: text made safe, anything else unchanged."""
    if isinstance(value, str):
        return safe_text(value)
    return value


__all__ = ["FORMULA_CHARS", "QUOTE", "safe_cell", "safe_text", "starts_formula"]
