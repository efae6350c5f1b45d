"""Staff downloads written row by row: CSV or XLSX, formula-safe, with their headers.

A :class:`TableWriter` takes the header once and then rows as they are read from the
database, so a ledger of a city's year never sits in memory as objects:

* CSV is UTF-8 with a byte-order mark and CRLF line ends (Excel opens it without garbling
  Chinese text), as every other export (:mod:`surveys.questionnaire.exports`);
* XLSX is openpyxl's write-only workbook: one named sheet, the header row frozen and bold,
  an auto-filter over the table, and column widths given by the caller;
* every text cell goes through :func:`surveys.core.spreadsheet.safe_text` and is stored as
  text (never a formula); numbers and dates stay what they are.

Masking is the caller's: the writer never sees anything but what may be shown (§7).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from surveys.core.spreadsheet import safe_text

TableFormat = Literal["csv", "xlsx"]
FORMATS: tuple[TableFormat, ...] = ("csv", "xlsx")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, str] = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}
BOM = "\ufeff"

Cell = str | int | float | date | datetime | None


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class TableWriter:
    """One table, as CSV or as one named XLSX sheet; :meth:`finish` gives the file."""

    def __init__(
        self, fmt: TableFormat, *, sheet: str, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        self.fmt, self.rows = fmt, 0
        self._sheets: list[Any] = []
        if fmt == "csv":
            self._buffer = io.StringIO()
            self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        else:
            from openpyxl import Workbook  # type: ignore[import-untyped]  # here: heavy

            self._book = Workbook(write_only=True)
        self.add_sheet(sheet, headers, widths)

    def add_sheet(self, title: str, headers: Sequence[str], widths: Sequence[int]) -> None:
        """Start another table: a new sheet in XLSX; in CSV, a blank line and its header."""
        if self.fmt == "csv":
            if self._sheets:
                self._csv.writerow([])
            self._sheets.append(title)
            self._csv.writerow([_csv_text(h) for h in headers])
            return
        from openpyxl.styles import Font  # type: ignore[import-untyped]
        from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

        sheet = self._book.create_sheet(title=title[:31])
        sheet.freeze_panes = "A2"
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(headers), 1))}1"
        self._sheets.append(sheet)
        bold = Font(bold=True)
        self._append([self._cell(h, font=bold) for h in headers])

    @staticmethod
    def _value(value: Cell) -> Cell:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]

        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # Excel has no time zones: the wall time
        if isinstance(value, str):
            # openpyxl refuses control characters; removed before the formula check.
            return safe_text(ILLEGAL_CHARACTERS_RE.sub("", value))
        return value

    def _cell(self, value: Cell, **style: Any) -> Any:
        from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

        value = self._value(value)
        cell = WriteOnlyCell(self._sheets[-1], value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # an escaped "'=…" is text, never a formula
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    def _append(self, cells: list[Any]) -> None:
        self._sheets[-1].append(cells)

    def append(self, row: Sequence[Cell]) -> None:
        """One data row of the current table."""
        self.rows += 1
        if self.fmt == "csv":
            self._csv.writerow([_csv_text(value) for value in row])
        else:
            # Plain values (a cell object each is several times slower): after safe_text no
            # text begins with "=", the only start openpyxl stores as a formula.
            self._append([self._value(value) for value in row])

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """On an error before :meth:`finish` (a filter refused, the database gone), the
        half-written XLSX is closed here, not left to the garbage collector (which would print
        openpyxl's "I/O operation on closed file" traceback to the log)."""
        if kind is not None and self.fmt == "xlsx":
            with contextlib.suppress(Exception):
                self._book.save(io.BytesIO())

    def finish(self) -> bytes:
        """The whole file."""
        if self.fmt == "csv":
            return (BOM + self._buffer.getvalue()).encode("utf-8")
        buffer = io.BytesIO()
        self._book.save(buffer)
        return buffer.getvalue()
