"""CSV and XLSX files for staff downloads: safe to open in Excel, with personal data masked.

* Formula injection (CSV injection): a text cell that begins with ``=``, ``+``, ``-``, ``@``
  (full-width and compatibility forms too, after any leading whitespace), a tab or a
  carriage return is written with a leading apostrophe, so a spreadsheet shows it as text
  instead of running it (OWASP; :mod:`surveys.core.spreadsheet`). Numbers stay numbers.
* CSV is UTF-8 with a byte-order mark and CRLF line ends, which Excel opens without garbling
  Chinese text.
* Free text goes out through :func:`mask_text` (re-exported from :mod:`surveys.masking`):
  staff views and exports never show a phone or ID number in full (domain.md §7).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from surveys.core.masking import mask_text
from surveys.core.spreadsheet import safe_cell, safe_text

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"

Cell = str | int | float | bool | date | datetime | None
Row = Sequence[Cell]

__all__ = [
    "BOM",
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "Cell",
    "Row",
    "csv_bytes",
    "escape_cell",
    "mask_text",
    "xlsx_bytes",
]


def escape_cell(value: Cell) -> Cell:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe."""
    return safe_cell(value)


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def csv_bytes(rows: Iterable[Row]) -> bytes:
    """Rows as UTF-8 CSV with a BOM, every text cell escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_text(escape_cell(cell)) for cell in row])
    return (BOM + buffer.getvalue()).encode("utf-8")


def _xlsx_value(value: Cell) -> Cell:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]

    if isinstance(value, str):
        # openpyxl refuses control characters; they have no place in a cell anyway. Removed
        # first, so what is left is what gets checked for a formula start.
        cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", value)
        return safe_text(cleaned)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
    return value


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[Row]]]) -> bytes:
    """A workbook with one sheet per (title, rows); text is never stored as a formula."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # here: it takes numpy along

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        for row in rows:
            sheet.append([_xlsx_value(cell) for cell in row])
        for line in sheet.iter_rows():
            for cell in line:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # an escaped "'=…" is text, not a formula
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
