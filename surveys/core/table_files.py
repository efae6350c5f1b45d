"""Reading an uploaded table (.csv or .xlsx) within limits, so no file can take the server down.

A spreadsheet declares its size (``<dimension ref="A1:XFD1048576">``) and a reader that trusts
it fills every empty cell of that range: a 2 KB file with one cell far away becomes billions
of cells. A zip member declares how large it unpacks: a 1 MB file can unpack to gigabytes.
So, before anything is parsed: the file's size, the number of its zip members and sheets and
their unpacked size; then the first sheet's declared rows and columns; and while reading (in
openpyxl's streaming mode, row by row) the rows and columns actually found. A file over a limit
is refused whole with :class:`FileTooLarge`, one Chinese sentence naming the file, the sheet
and the size it declares.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.text import UTF8_BOM

MB = 1024 * 1024
Cell = str | datetime
T = TypeVar("T", bound=Cell)


class TableRows(Generic[T]):
    """The rows of a table as they are read (each a list of cells), and how far the reading
    has got: :meth:`fraction` is 0..1, or None when the file does not tell its size."""

    def __init__(
        self,
        rows: Iterator[list[T]],
        fraction: Callable[[], float | None],
        release: Callable[[], None],
        sheet: str | None = None,
    ) -> None:
        self._rows = rows
        self.fraction = fraction
        self._release = release
        self.sheet = sheet  # the worksheet's name (an .xlsx), else None

    def __iter__(self) -> Iterator[list[T]]:
        return self._rows

    def __next__(self) -> list[T]:
        return next(self._rows)

    def close(self) -> None:
        """Stop reading and release the file (also done when the rows run out)."""
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()
        self._release()


@dataclass(frozen=True)
class TableLimits:
    """How large a table one import may be."""

    rows: int  # data rows and the header
    columns: int = 50
    file_bytes: int = 64 * MB
    unpacked_bytes: int = 256 * MB  # an .xlsx's zip members together, unpacked
    sheets: int = 50
    members: int = 2000  # zip members of an .xlsx (sheets, styles, images…)


class FileTooLarge(InvalidFile):
    """A table over one of its :class:`TableLimits`: refused before it is read."""

    key = N_("error.file_too_large")
    status_code = 422


def _mb(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0")


def _refuse(source: str, problem: str) -> FileTooLarge:
    return FileTooLarge(source, [problem])


def file_name(source: str) -> str:
    return Path(source).name or source


def check_file_size(
    source: str, content: bytes | Path, limits: TableLimits, t: Translator | None = None
) -> None:
    """Refuse a file over ``limits.file_bytes`` by its size (on disk, before it is read)."""
    t = t or Translator()
    size = content.stat().st_size if isinstance(content, Path) else len(content)
    if size > limits.file_bytes:
        raise _refuse(
            source,
            t(N_("import.limit.file_bytes"), file=file_name(source), size=_mb(size),
              limit=_mb(limits.file_bytes)),
        )  # fmt: skip


# CSV ----------------------------------------------------------------------------------


def read_csv(source: str, content: bytes | Path, limits: TableLimits) -> list[list[str]]:
    """The records of a CSV file, UTF-8 or GBK (its bytes or its path), cells stripped; refused
    over ``limits``, a file too large before it is read."""
    return list(iter_csv(source, content, limits))


def iter_csv(source: str, content: bytes | Path, limits: TableLimits) -> TableRows[str]:
    """:func:`read_csv` one record at a time, in bounded memory: the file's size and encoding
    are checked now (one pass over its bytes, in chunks), the records are read as iterated."""
    t = Translator()
    check_file_size(source, content, limits, t)
    encoding = text_encoding(source, content)
    raw = _binary(content)
    size = content.stat().st_size if isinstance(content, Path) else len(content)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    return TableRows(
        _csv_records(source, text, limits, t),
        lambda: 1.0 if raw.closed or not size else raw.tell() / size,
        text.close,
    )


def _csv_records(
    source: str, text: io.TextIOWrapper, limits: TableLimits, t: Translator
) -> Iterator[list[str]]:
    name = file_name(source)
    count = 0
    # Records, not physical lines: a quoted cell with a line break keeps the spreadsheet's
    # row number.
    with text:
        reader = csv.reader(text)
        try:
            for record in reader:
                if count >= limits.rows:
                    raise _refuse(
                        source, t(N_("import.limit.csv_rows"), file=name, limit=limits.rows)
                    )
                if len(record) > limits.columns:
                    raise _refuse(
                        source,
                        t(N_("import.limit.csv_columns"), file=name, line=reader.line_num,
                          columns=len(record), limit=limits.columns),
                    )  # fmt: skip
                count += 1
                yield [cell.strip() for cell in record]
        except csv.Error as exc:
            problem = t(N_("import.table.csv_unreadable"), file=name, line=reader.line_num)
            raise InvalidFile(source, [problem]) from exc


def _binary(content: bytes | Path) -> BinaryIO:
    return content.open("rb") if isinstance(content, Path) else io.BytesIO(content)


class _Undecodable(Exception):
    def __init__(self, byte: int) -> None:
        self.byte = byte


def text_encoding(source: str, content: bytes | Path, chunk_bytes: int = MB) -> str:
    """The encoding :func:`surveys.core.text.decode_office_text` picks for these bytes (UTF-8,
    else GB18030), found reading ``chunk_bytes`` at a time; refused with the same
    :class:`InvalidFile` (the same byte or character named) when neither fits or it holds a
    NUL."""
    t = Translator()
    with _binary(content) as raw:
        bom = raw.read(len(UTF8_BOM)) == UTF8_BOM
        raw.seek(len(UTF8_BOM) if bom else 0)
        try:
            nul = _scan(raw, "utf-8", chunk_bytes)
            encoding = "utf-8-sig"
        except _Undecodable as utf8_error:
            if bom:  # said it was UTF-8 and is not: do not guess
                problem = t(N_("error.file_encoding"), byte=utf8_error.byte + 1)
                raise InvalidFile(source, [_in_file(source, problem, t)]) from None
            raw.seek(0)
            try:
                nul = _scan(raw, "gb18030", chunk_bytes)
            except _Undecodable as exc:
                problem = t(N_("error.file_encoding"), byte=exc.byte + 1)
                raise InvalidFile(source, [_in_file(source, problem, t)]) from None
            encoding = "gb18030"
    if nul is not None:
        problem = t(N_("error.file_binary"), char=nul + 1)
        raise InvalidFile(source, [_in_file(source, problem, t)])
    return encoding


def _in_file(source: str, problem: str, t: Translator) -> str:
    return t(N_("import.where.problem"), where=file_name(source), problem=problem)


def _scan(raw: BinaryIO, encoding: str, chunk_bytes: int) -> int | None:
    """Decode the rest of ``raw``; the first NUL's character index, or None. A byte that does
    not decode raises :class:`_Undecodable` with its index from the start of the scan."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fed = chars = 0
    nul: int | None = None
    while True:
        data = raw.read(chunk_bytes)
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            # The decoder's error counts from the bytes it still held from the last chunk.
            raise _Undecodable(fed - pending + exc.start) from None
        if nul is None and (at := text.find("\x00")) >= 0:
            nul = chars + at
        fed += len(data)
        chars += len(text)
        if not data:
            return nul


# XLSX ---------------------------------------------------------------------------------


def read_xlsx(source: str, content: bytes | Path, limits: TableLimits) -> list[list[Cell]]:
    """The first sheet's rows, as the spreadsheet numbers them; refused over ``limits``.

    Cells are text (numbers as written, ``true``/``false``) or naive datetimes; trailing
    empty cells are left out, empty rows are kept as ``[]`` so row i is spreadsheet row
    i + 1.
    """
    return list(iter_xlsx(source, content, limits))


def iter_xlsx(source: str, content: bytes | Path, limits: TableLimits) -> TableRows[Cell]:
    """:func:`read_xlsx` one row at a time, in openpyxl's streaming mode: the file, its zip
    directory and the sheet's declared size are checked now, the rows as iterated."""
    import openpyxl  # type: ignore[import-untyped]  # here: it takes numpy along
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    t = Translator()
    check_file_size(source, content, limits, t)
    try:
        with zipfile.ZipFile(content if isinstance(content, Path) else io.BytesIO(content)) as zf:
            _check_archive(source, zf, limits, t)
        # Checked: now openpyxl may open it. A member that unpacks beyond the size it
        # declares is cut there by zipfile (and fails its CRC).
        workbook = openpyxl.load_workbook(
            content if isinstance(content, Path) else io.BytesIO(content),
            read_only=True, data_only=True,
        )  # fmt: skip
    except (zipfile.BadZipFile, InvalidFileException, ValueError, KeyError, OSError,
            SyntaxError) as exc:  # fmt: skip
        raise _unreadable(source, t) from exc
    try:
        sheet = _first_sheet(source, workbook, limits, t)
        declared = sheet.max_row
        # Then read what is there, not what was declared (a sheet may declare less than it
        # holds): every row, each cut at limits.columns + 1 cells.
        sheet.reset_dimensions()
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, SyntaxError) as exc:
        workbook.close()
        raise _unreadable(source, t) from exc
    except BaseException:
        workbook.close()
        raise
    position = [0]
    rows = _closing(source, workbook, _rows(source, sheet, limits, t, position), t)
    return TableRows(
        rows,
        lambda: min(position[0] / declared, 1.0) if declared else None,
        workbook.close,
        sheet=str(sheet.title),
    )


def _unreadable(source: str, t: Translator) -> InvalidFile:
    # The library's own words (a zip or XML error) mean nothing to the office: what to do.
    return InvalidFile(source, [t(N_("import.table.xlsx_unreadable"), file=file_name(source))])


def _closing(
    source: str, workbook: Any, rows: Iterator[list[Cell]], t: Translator
) -> Iterator[list[Cell]]:
    try:
        yield from rows
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, SyntaxError) as exc:
        raise _unreadable(source, t) from exc
    finally:
        workbook.close()


def _check_archive(
    source: str, archive: zipfile.ZipFile, limits: TableLimits, t: Translator
) -> None:
    """The zip's own directory, before any member is unpacked: counts and unpacked sizes."""
    name = file_name(source)
    infos = archive.infolist()
    if len(infos) > limits.members:
        raise _refuse(
            source,
            t(N_("import.limit.members"), file=name, count=len(infos), limit=limits.members),
        )
    sheets = [i for i in infos if i.filename.lower().startswith("xl/worksheets/sheet")]
    if len(sheets) > limits.sheets:
        raise _refuse(
            source,
            t(N_("import.limit.sheets"), file=name, count=len(sheets), limit=limits.sheets),
        )
    unpacked = sum(info.file_size for info in infos)
    if unpacked > limits.unpacked_bytes:
        raise _refuse(
            source,
            t(N_("import.limit.unpacked"), file=name, size=_mb(unpacked),
              limit=_mb(limits.unpacked_bytes)),
        )  # fmt: skip


def _first_sheet(source: str, workbook: Any, limits: TableLimits, t: Translator) -> Any:
    if len(workbook.sheetnames) > limits.sheets:
        raise _refuse(
            source,
            t(N_("import.limit.sheets"), file=file_name(source),
              count=len(workbook.sheetnames), limit=limits.sheets),
        )  # fmt: skip
    sheet = workbook.worksheets[0]
    _check_declared(source, sheet, limits, t)
    return sheet


def _check_declared(source: str, sheet: Any, limits: TableLimits, t: Translator) -> None:
    from openpyxl.utils.cell import get_column_letter  # type: ignore[import-untyped]

    rows, columns = sheet.max_row, sheet.max_column
    if rows is None or columns is None:
        return  # no <dimension>: the rows are counted while read
    if rows > limits.rows or columns > limits.columns:
        ref = f"A1:{get_column_letter(columns)}{rows}"
        raise _refuse(
            source,
            t(N_("import.limit.sheet_size"), file=file_name(source), sheet=sheet.title,
              ref=ref, rows=rows, columns=columns, max_rows=limits.rows,
              max_columns=limits.columns),
        )  # fmt: skip


def _rows(
    source: str, sheet: Any, limits: TableLimits, t: Translator, position: list[int]
) -> Iterator[list[Cell]]:
    """Row by row, refused at the first filled row past ``limits.rows`` or a cell in column
    ``limits.columns + 1``; cells further right are not read at all (a sheet that declares
    its size, as every spreadsheet program writes it, was refused before). Empty rows cost
    nothing until a filled one follows them. ``position[0]`` is the row number reached."""
    from openpyxl.utils.cell import get_column_letter  # type: ignore[import-untyped]

    empty = 0  # empty rows since the last filled one, given only if one follows
    cells_by_row = sheet.iter_rows(
        min_row=1, min_col=1, max_col=limits.columns + 1, values_only=True
    )
    for number, values in enumerate(cells_by_row, start=1):
        position[0] = number
        cells = [_cell(value) for value in values]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            empty += 1
            continue
        if number > limits.rows or len(cells) > limits.columns:
            raise _refuse(
                source,
                t(N_("import.limit.sheet_cells"), file=file_name(source), sheet=sheet.title,
                  cell=f"{get_column_letter(len(cells))}{number}", max_rows=limits.rows,
                  max_columns=limits.columns),
            )  # fmt: skip
        for _ in range(empty):
            yield []
        empty = 0
        yield cells


def _cell(value: object) -> Cell:
    # Spreadsheets type their cells; the rows are validated as text, like a CSV's.
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# The header row -----------------------------------------------------------------------

HEADER_SCAN = 10  # rows searched for the header: a title, a date or a note may come first
_TRAILING_NOTE = re.compile(r"\([^()]*\)$")


def header_name(cell: object) -> str:
    """A header cell as a column name: spaces and line breaks dropped (the ideographic space
    too), full-width forms folded, and a note in brackets at the end dropped, so that
    ``一网通办\\n（满分 25）`` reads ``一网通办``."""
    text = "".join(unicodedata.normalize("NFKC", str(cell)).split())
    return _TRAILING_NOTE.sub("", text)


@dataclass(frozen=True)
class Header:
    """Where a table's header is: the column names (``""`` where none), the spreadsheet row
    it begins on and the row it ends on (the same row unless it has two levels)."""

    names: list[str]
    first: int
    row: int


def find_header(
    rows: Sequence[Sequence[Cell]],
    known: Collection[str],
    *,
    lower: Collection[str] = (),
    least: int = 2,
    scan: int = HEADER_SCAN,
) -> Header | None:
    """The header among the first ``scan`` rows (row i is spreadsheet row i + 1): the first
    row naming at least ``least`` of the ``known`` columns. When the row below it names any
    of ``lower``, the header has two levels (e.g. 领域得分 merged above the areas): the two
    rows are read as one, a name below winning over the one above it."""
    for index, cells in enumerate(rows[:scan]):
        names = [header_name(cell) for cell in cells]
        if len({name for name in names if name in known}) < least:
            continue
        below = [header_name(cell) for cell in rows[index + 1]] if index + 1 < len(rows) else []
        if not any(name in lower for name in below):
            return Header(names, first=index + 1, row=index + 1)
        width = max(len(names), len(below))
        names += [""] * (width - len(names))
        below += [""] * (width - len(below))
        return Header([b or a for a, b in zip(names, below, strict=True)], index + 1, index + 2)
    return None


def column_letter(index: int) -> str:
    """The spreadsheet letter of column ``index`` (0 → A, 26 → AA)."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
