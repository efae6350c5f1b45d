"""好差评 ratings from a CSV or XLSX file: a whole file is stored, or nothing.

Every problem is one Chinese sentence from the catalogue naming the spreadsheet row and
column (``第 N 行 level 列：…``; file-wide ones name the file), so the office can fix the
file and import it again. The header is found among the first rows (a title may stand above
it, :func:`surveys.core.table_files.find_header`); :attr:`Imported.header_row` says where.
"""

from __future__ import annotations

import asyncio
import re
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from hashlib import blake2b
from itertools import accumulate, chain, islice
from pathlib import Path
from typing import Any, overload
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk, utcnow
from surveys.haochaping import national, ratings
from surveys.haochaping.models import RatingSource
from surveys.questionnaire.definitions import Level

COLUMNS = (
    "source_id", "unit", "level", "channel", "rated_at", "case_no", "item_code", "item_name",
    "window", "reasons", "comment", "contact_ok", "round", "is_default", "level_scale",
)  # fmt: skip
REQUIRED = ("source_id", "unit", "level", "channel", "rated_at")
LEVEL_LABELS = {
    "非常满意": Level.very_satisfied,
    "满意": Level.satisfied,
    "基本满意": Level.neutral,
    "不满意": Level.dissatisfied,
    "非常不满意": Level.very_dissatisfied,
}
SCALES: dict[str, Callable[[int], Level]] = {
    "gbt39046": ratings.level_from_gbt39046,
    "interface": ratings.level_from_interface,
}
LEVEL_NUMBERS = {"1", "2", "3", "4", "5"}
REASON_SEPARATOR = re.compile("[;；]")
FLAGS = ("contact_ok", "is_default")
CHINESE_FLAGS = {"是": "true", "否": "false"}

LEVEL_COLUMNS = ("level", "level_scale")
# Header names looked for: minyi's own columns, or the national exchange layout's fields.
KNOWN_NAMES = frozenset(COLUMNS) | national.known_names()
LEVEL_CODES = frozenset(level.value for level in Level)
SHOWN_CHARS = 40  # a value quoted in a problem is cut there

# A ratings file: up to 200,000 rows of at most 50 columns (the header names 15), 64 MB;
# over that it is refused before it is read, or at the first row past the limit
# (surveys.core.table_files). The command line may raise them for one import.
LIMITS = table_files.TableLimits(rows=200_000, columns=50)
CHUNK = 5_000  # rows read, checked and stored at a time
MAX_PROBLEMS = 1_000  # problems listed; the rest are counted

Cell = table_files.Cell
_Problem = tuple[int, str, str]  # (line, column, message)
Progress = Callable[[int, float | None], None]  # rows read, share of the file read (or None)


@dataclass(frozen=True)
class Layout:
    """Which layout a file is in: minyi's own columns, or the national/provincial exchange
    layout (:mod:`surveys.haochaping.national`), recognised by its header's field names.
    ``columns`` names minyi's fields by the file's (``level`` is ``satisfaction`` there)."""

    national: bool = False
    columns: dict[str, str] = field(default_factory=dict)

    def column(self, loc: str) -> str:
        head = _column(loc)
        return self.columns.get(head, head)


OWN_LAYOUT = Layout()


@dataclass
class _Line:
    """One data row of the file: its spreadsheet row number, values and own problems."""

    number: int
    row: dict[str, object]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    layout: Layout = OWN_LAYOUT


@dataclass(frozen=True)
class CreatedRating:
    """A rating a file import stored (its id stays in the database)."""

    source_id: str
    unit_id: int
    level: str
    period: str
    rated_at: datetime


class TextColumn(Sequence[str]):
    """Many short texts in little memory: each chunk's texts joined, with their end offsets
    (a million source ids take about 10 MB instead of 70 MB of separate strings)."""

    def __init__(self) -> None:
        self._blocks: list[tuple[str, array[int]]] = []
        self._length = 0

    def extend(self, texts: Iterable[str]) -> None:
        parts = list(texts)
        if not parts:
            return
        ends = array("L", accumulate(len(text) for text in parts))
        self._blocks.append(("".join(parts), ends))
        self._length += len(parts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[str]:
        for block, ends in self._blocks:
            start = 0
            for end in ends:
                yield block[start:end]
                start = end

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


class CreatedRatings(Sequence[CreatedRating]):
    """The ratings a file import stored, kept column by column (about 30 bytes a rating)."""

    def __init__(self) -> None:
        self.source_ids = TextColumn()
        self._units = array("q")
        self._levels = array("B")
        self._periods = array("H")
        self._microseconds = array("q")  # rated_at, since 1970 in UTC
        self._codes: dict[str, int] = {}  # level and period texts, each stored once
        self._texts: list[str] = []

    def extend(self, rows: Sequence[dict[str, Any]]) -> None:
        self.source_ids.extend(str(row["source_id"]) for row in rows)
        self._units.extend(int(row["unit_id"]) for row in rows)
        self._levels.extend(self._code(row["level"]) for row in rows)
        self._periods.extend(self._code(row["period"]) for row in rows)
        self._microseconds.extend(_microseconds(row["rated_at"]) for row in rows)

    def _code(self, text: str) -> int:
        code = self._codes.get(text)
        if code is None:
            code = self._codes[text] = len(self._texts)
            self._texts.append(text)
        return code

    def __len__(self) -> int:
        return len(self._units)

    def __iter__(self) -> Iterator[CreatedRating]:
        for n, source_id in enumerate(self.source_ids):
            yield self._row(n, source_id)

    def _row(self, n: int, source_id: str) -> CreatedRating:
        return CreatedRating(
            source_id=source_id,
            unit_id=self._units[n],
            level=self._texts[self._levels[n]],
            period=self._texts[self._periods[n]],
            rated_at=EPOCH + timedelta(microseconds=self._microseconds[n]),
        )

    @overload
    def __getitem__(self, index: int) -> CreatedRating: ...
    @overload
    def __getitem__(self, index: slice) -> list[CreatedRating]: ...
    def __getitem__(self, index: int | slice) -> CreatedRating | list[CreatedRating]:
        return list(self)[index]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass
class Imported:
    """What a file import stored: every rating, the source ids skipped as already imported,
    and (when it opened them) the ids of the 差评 follow-up cases. ``errors`` is always
    empty: a file with a problem raises :class:`InvalidFile` and stores nothing.
    ``header_row`` is the spreadsheet row the header was found on (rows above it, such as a
    title, are not imported)."""

    created: CreatedRatings = field(default_factory=CreatedRatings)
    duplicates: TextColumn = field(default_factory=TextColumn)
    errors: list[ratings.RowError] = field(default_factory=list)
    opened: array[int] = field(default_factory=lambda: array("q"))
    header_row: int = 1


@dataclass
class Received:
    """A file import with the cases it opened (``len(opened)``, as the API batch reports)."""

    result: Imported
    opened: Sequence[int]


def read_ratings_file(
    path: Path, *, tz: ZoneInfo | None = None, name: str | None = None
) -> list[dict[str, object]]:
    """The rows of a ratings file, ready for :func:`surveys.ratings.validate_rows`.

    Levels become codes; reasons become lists. Spreadsheet date cells carry no offset:
    with ``tz`` they are read as local time there, otherwise they stay naive (and fail
    validation, as a time without offset does in the API). Problems name the file ``name``
    (an upload's own name, not its temporary copy's), by default ``path``.
    """
    source = name or str(path)
    read = _read_lines(path, source, tz, LIMITS)
    try:
        lines = list(read)
    finally:
        read.close()
    if not lines:
        raise InvalidFile(source, [_no_rows(source, read.header_row)])
    problems = [_where(line.number, c, m) for line in lines for c, m in line.problems]
    if problems:
        raise InvalidFile(source, problems)
    return [line.row for line in lines]


async def import_ratings(
    *,
    session: AsyncSession,
    path: Path,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    name: str | None = None,
    limits: table_files.TableLimits = LIMITS,
    deadlines: cases.Deadlines | None = None,
    progress: Progress | None = None,
) -> Imported:
    """Import every rating of the file or none; already imported source ids are skipped.

    The file is read, checked and stored :data:`CHUNK` rows at a time (memory stays flat
    whatever its length) inside a savepoint: a problem anywhere, even on the last line,
    rolls every chunk back and raises :class:`InvalidFile` naming every problem (the first
    :data:`MAX_PROBLEMS`). With ``deadlines``, each 差评 opens its follow-up case as it is
    stored. ``progress`` is called after each chunk. Problems name the file ``name`` (an
    upload's own name), by default ``path``.
    """
    source = name or str(path)
    units = await ratings.load_units(session)
    run = _Run(source, units, tz, now, grace_days, deadlines)
    run.new_units = await ratings.units_without(
        session=session, source=RatingSource.file, unit_ids=[pk(u) for u in units.values()]
    )
    lines = await asyncio.to_thread(_read_lines, path, source, tz, limits)
    run.imported.header_row = lines.header_row
    savepoint = await session.begin_nested()
    # The next chunk is read and validated in a worker thread while this one is stored:
    # SQLite and psycopg leave the interpreter lock while the database works.
    reading = asyncio.ensure_future(asyncio.to_thread(_next_chunk, lines, run.seen))
    try:
        while chunk := await reading:
            reading = asyncio.ensure_future(asyncio.to_thread(_next_chunk, lines, run.seen))
            await run.take(session, chunk)
            if progress is not None:
                progress(run.rows, chunk.read)
        run.finish()
    except BaseException:
        await savepoint.rollback()
        raise
    finally:
        await asyncio.wait([reading])  # a thread cannot be cancelled: let it finish first
        if not reading.cancelled():
            reading.exception()  # retrieved: an error past the first one is not reported
        lines.close()
    await savepoint.commit()
    return run.imported


@dataclass
class _Chunk:
    lines: list[_Line]
    items: list[ratings.RatingIn | None]
    found: list[_Problem]
    read: float | None  # the share of the file read up to this chunk's end


def _next_chunk(lines: _Lines, seen: FirstLines) -> _Chunk | None:
    """The next :data:`CHUNK` lines read and validated (in a worker thread)."""
    chunk = list(islice(lines, CHUNK))
    if not chunk:
        return None
    items, found = _validate(chunk, seen)
    return _Chunk(chunk, items, found, lines.fraction())


class _Run:
    """One file's import, chunk by chunk: what was stored, and the problems found so far."""

    def __init__(
        self,
        source: str,
        units: dict[str, Unit],
        tz: ZoneInfo,
        now: datetime,
        grace_days: int,
        deadlines: cases.Deadlines | None,
    ) -> None:
        self.source, self.units, self.tz, self.now = source, units, tz, now
        self.grace_days, self.deadlines = grace_days, deadlines
        self.imported = Imported()
        self.seen = FirstLines()  # (unit, source id) -> first line
        self.rows = 0
        self.problems: list[str] = []
        self.unlisted = 0
        self.new_units: frozenset[int] = frozenset()  # no file rating before this import

    async def take(self, session: AsyncSession, chunk: _Chunk) -> None:
        self.rows += len(chunk.lines)
        planned, accepted = await ratings.plan(
            session=session, items=chunk.items, units=self.units, source=RatingSource.file,
            tz=self.tz, now=self.now, grace_days=self.grace_days, new_units=self.new_units,
        )  # fmt: skip
        found = chunk.found + [
            (chunk.lines[e.row].number, chunk.lines[e.row].layout.column(e.field), e.message)
            for e in planned.errors
        ]
        if found:
            found.sort(key=lambda problem: problem[0])
            room = max(MAX_PROBLEMS - len(self.problems), 0)
            self.problems += [_where(*problem) for problem in found[:room]]
            self.unlisted += len(found[room:])
        if self.problems:
            return  # nothing more is stored: the file will be refused, all of it
        self.imported.duplicates.extend(planned.duplicates)
        await self._store(session, accepted)

    async def _store(self, session: AsyncSession, accepted: list[ratings.Accepted]) -> None:
        stored = await ratings.store(
            session=session, accepted=accepted, source=RatingSource.file, tz=self.tz,
            received_at=utcnow(),
        )  # fmt: skip
        self.imported.created.extend(stored)
        if self.deadlines is None:
            return
        new = [
            cases.StoredRating(
                id=row["id"],
                unit_id=row["unit_id"],
                unit_kind=str(unit.kind),
                level=row["level"],
                rated_at=item.rated_at,
                is_default=item.is_default,
                active=row["active"],  # a late 1st round arrives inactive: no case
            )  # fmt: skip
            for row, (item, unit, _) in zip(stored, accepted, strict=True)
            if ratings.is_bad(row["level"]) and not item.is_default
        ]
        opened = await cases.open_cases(session=session, ratings=new, deadlines=self.deadlines)
        self.imported.opened.extend(opened)

    def finish(self) -> None:
        if not self.rows:
            raise InvalidFile(self.source, [_no_rows(self.source, self.imported.header_row)])
        if not self.problems:
            return
        if self.unlisted:
            more = Translator()(
                N_("import.more_problems"), count=self.unlisted, shown=MAX_PROBLEMS
            )
            self.problems.append(more)
        raise InvalidFile(self.source, self.problems)


def _validate(
    lines: Sequence[_Line], seen: FirstLines
) -> tuple[list[ratings.RatingIn | None], list[_Problem]]:
    items, errors = ratings.validate_rows([line.row for line in lines])
    found = [(line.number, c, m) for line in lines for c, m in line.problems]
    found += _repeated_source_ids(lines, seen)
    for error in errors:
        line = lines[error.row]
        column = line.layout.column(error.field)
        # A value the file spelled wrongly is already reported, in the file's own words.
        own = {c for c, _ in line.problems}
        if column not in own and not (column == "level" and own & set(LEVEL_COLUMNS)):
            found.append((line.number, column, error.message))
    # A row with a problem of its own is refused even when it validates.
    valid = [None if line.problems else item for line, item in zip(lines, items, strict=True)]
    return valid, found


@cache
def _translator() -> Translator:
    return Translator()


def _where(line: int, column: str, message: str) -> str:
    t = _translator()
    if column:
        return t(N_("ratingsimport.where.cell"), row=line, column=column, problem=message)
    return t(N_("ratingsimport.where.row"), row=line, problem=message)


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _no_rows(source: str, header_row: int) -> str:
    t = _translator()
    return t(N_("ratingsimport.no_rows"), file=table_files.file_name(source), row=header_row)


def _column(loc: str) -> str:
    # Pydantic names list items "reasons.3"; the file has one column "reasons".
    head = loc.split(".")[0]
    return "" if head == "(row)" else head


def _repeated_source_ids(lines: Sequence[_Line], first: FirstLines) -> list[_Problem]:
    # Source ids are the unit's own (as in the API batch): the same id for two units is
    # two ratings; the same unit twice in one file is refused. ``first`` holds the file's
    # earlier lines, chunk after chunk.
    found: list[_Problem] = []
    for line in lines:
        source_id, unit = _key_part(line.row.get("source_id")), _key_part(line.row.get("unit"))
        if source_id is None or unit is None:
            continue  # refused by validation, which names the missing value
        earlier = first.first(repr((unit, source_id)), line.number)
        if earlier is not None:
            t = _translator()
            key = N_("national.repeated") if line.layout.national else N_("ratingsimport.repeated")
            message = t(key, source_id=_shown(source_id), line=earlier)
            found.append((line.number, line.layout.column("source_id"), message))
    return found


class FirstLines:
    """The line where each key of a file first appears, in about 40 bytes a key (a dict of
    a million (unit, source id) tuples takes 200 MB): 128-bit BLAKE2b fingerprints in an
    open-addressing table of arrays. Two keys share a fingerprint with probability 2**-128
    per pair, far below any file's chance of a disk error."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._high = array("Q", bytes(8 * capacity))
        self._low = array("Q", bytes(8 * capacity))
        self._lines = array("L", bytes(array("L").itemsize * capacity))  # 0: an empty slot
        self._count = 0

    def first(self, key: str, line: int) -> int | None:
        """The line ``key`` was first seen on; None, and ``line`` remembered, if new."""
        high, low = _FINGERPRINT.unpack(blake2b(key.encode(), digest_size=16).digest())
        mask = len(self._lines) - 1
        slot = low & mask
        while found := self._lines[slot]:
            if self._low[slot] == low and self._high[slot] == high:
                return int(found)
            slot = (slot + 1) & mask
        self._high[slot], self._low[slot], self._lines[slot] = high, low, line
        self._count += 1
        if 2 * self._count > len(self._lines):
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._high, self._low, self._lines, strict=True)
        bigger = FirstLines(2 * len(self._lines))
        mask = len(bigger._lines) - 1
        for high, low, line in old:
            if line:
                slot = low & mask
                while bigger._lines[slot]:
                    slot = (slot + 1) & mask
                bigger._high[slot], bigger._low[slot], bigger._lines[slot] = high, low, line
        self._high, self._low, self._lines = bigger._high, bigger._low, bigger._lines


_FINGERPRINT = struct.Struct("<QQ")


def _key_part(value: object) -> object:
    # Compared as validation will store them: text stripped.
    return value.strip() if isinstance(value, str) else value


# Reading ------------------------------------------------------------------------------


class _Lines:
    """The data lines of a file as they are read (blank lines skipped, numbers kept), and
    the spreadsheet row of its header."""

    def __init__(
        self,
        table: table_files.TableRows[Cell],
        lines: Iterator[_Line],
        header_row: int,
        layout: Layout = OWN_LAYOUT,
    ) -> None:
        self._table, self._lines, self.header_row = table, lines, header_row
        self.fraction, self.close = table.fraction, table.close
        self.layout = layout

    def __iter__(self) -> Iterator[_Line]:
        return self._lines


def _read_lines(
    path: Path, source: str, tz: ZoneInfo | None, limits: table_files.TableLimits
) -> _Lines:
    table = _read_table(path, source, limits)
    try:
        # The rows the header is looked for in: a title or a note may stand above it.
        top = list(islice(table, table_files.HEADER_SCAN))
        header = _header(source, top)
        layout = _layout(header)
        if layout.national:
            header = replace(header, names=[national.canonical(n) for n in header.names])
            _check_national_header(source, header)
        else:
            _check_header(source, header)
    except BaseException:
        table.close()
        raise
    rows = chain(top[header.row :], table)
    lines = _data_lines(rows, header.names, header.row + 1, tz, layout)
    return _Lines(table, lines, header.row, layout)


def _layout(header: table_files.Header) -> Layout:
    if not national.is_national(header.names):
        return OWN_LAYOUT
    names = [national.canonical(name) for name in header.names]
    return Layout(national=True, columns=national.columns(names))


def _header(source: str, top: Sequence[Sequence[Cell]]) -> table_files.Header:
    """The first row naming two of :data:`COLUMNS`; else the first filled row (its problems
    are named); a file with no filled row is refused."""
    header = table_files.find_header(top, KNOWN_NAMES)
    if header is not None:
        return header
    filled = [n for n, cells in enumerate(top) if any(cell != "" for cell in cells)]
    if filled:
        names = [table_files.header_name(cell) for cell in top[filled[0]]]
        return table_files.Header(names, filled[0] + 1, filled[0] + 1)
    t, name = _translator(), table_files.file_name(source)
    if len(top) < table_files.HEADER_SCAN:
        raise InvalidFile(source, [t(N_("ratingsimport.empty"), file=name)])
    problem = t(N_("ratingsimport.no_header"), file=name, rows=table_files.HEADER_SCAN)
    raise InvalidFile(source, [problem])


def _data_lines(
    table: Iterable[Sequence[Cell]],
    header: Sequence[str],
    start: int,
    tz: ZoneInfo | None,
    layout: Layout = OWN_LAYOUT,
) -> Iterator[_Line]:
    key_field = national.source_field(header)
    for number, cells in enumerate(table, start=start):
        if all(cell == "" for cell in cells):
            continue
        if layout.national:
            yield _national_line(number, header, cells, tz, layout, key_field)
        else:
            yield _line(number, header, cells, tz)


def _read_table(
    path: Path, source: str, limits: table_files.TableLimits
) -> table_files.TableRows[Cell]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return table_files.iter_csv(source, path, limits)  # type: ignore[return-value]
    if suffix == ".xlsx":
        return table_files.iter_xlsx(source, path, limits)
    if suffix == ".json":  # the national exchange layout's JSON
        return national.json_table(source, path, limits)  # type: ignore[return-value]
    t = _translator()
    shown = suffix or t(N_("ratingsimport.no_suffix"))
    problem = t(N_("national.file_type"), file=table_files.file_name(source), suffix=shown)
    raise InvalidFile(source, [problem])


def _check_header(source: str, header: table_files.Header) -> None:
    t = _translator()
    named = [name for name in header.names if name]
    problems = []
    unknown = [_shown(name) for name in named if name not in COLUMNS]
    if unknown:
        problems.append(t(N_("ratingsimport.unknown_columns"), columns="、".join(unknown),
                          known="、".join(COLUMNS)))  # fmt: skip
    missing = [name for name in REQUIRED if name not in named]
    if missing:
        problems.append(t(N_("ratingsimport.missing_columns"), columns="、".join(missing)))
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        problems.append(t(N_("ratingsimport.columns_twice"), columns="、".join(twice)))
    if problems:
        raise InvalidFile(source, [_where(header.row, "", problem) for problem in problems])


def _check_national_header(source: str, header: table_files.Header) -> None:
    t = _translator()
    named = [name for name in header.names if name]
    problems = []
    unknown = [_shown(name) for name in named if name not in national.FIELDS]
    if unknown:
        problems.append(t(N_("ratingsimport.unknown_columns"), columns="、".join(unknown),
                          known="、".join(national.FIELDS)))  # fmt: skip
    missing = [name for name in national.REQUIRED if name not in named]
    if "evalId" not in named and "projectNo" not in named:
        missing.append("evalId/projectNo")
    if missing:
        problems.append(t(N_("ratingsimport.missing_columns"), columns="、".join(missing)))
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        problems.append(t(N_("ratingsimport.columns_twice"), columns="、".join(twice)))
    if problems:
        raise InvalidFile(source, [_where(header.row, "", problem) for problem in problems])


# One row ------------------------------------------------------------------------------


def _national_line(
    number: int,
    header: Sequence[str],
    cells: Sequence[Cell],
    tz: ZoneInfo | None,
    layout: Layout,
    key_field: str,
) -> _Line:
    line = _Line(number, {}, layout=layout)
    if len(cells) > len(header) and any(cell != "" for cell in cells[len(header) :]):
        t = _translator()
        problem = t(N_("ratingsimport.extra_cells"), cells=len(cells), columns=len(header))
        line.problems.append(("", problem))
    values = {name: cell for name, cell in zip(header, cells, strict=False) if name and cell != ""}
    for name, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is None and tz is not None:
            values[name] = value.replace(tzinfo=tz)
    line.row, problems = national.rating_row(values, tz, key_field)
    line.problems += problems
    return line


def _line(number: int, header: Sequence[str], cells: Sequence[Cell], tz: ZoneInfo | None) -> _Line:
    line = _Line(number, {})
    if len(cells) > len(header) and any(cell != "" for cell in cells[len(header) :]):
        t = _translator()
        problem = t(N_("ratingsimport.extra_cells"), cells=len(cells), columns=len(header))
        line.problems.append(("", problem))
    values = {name: cell for name, cell in zip(header, cells, strict=False) if name and cell != ""}
    scale = str(values.pop("level_scale", "")).strip().lower()
    for name, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is None and tz is not None:
            value = value.replace(tzinfo=tz)
        line.row[name] = value
    if "level" in values:
        _convert_level(line, str(values["level"]), scale)
    if "reasons" in values:
        parts = REASON_SEPARATOR.split(str(values["reasons"]))
        line.row["reasons"] = [part.strip() for part in parts if part.strip()]
    for flag in FLAGS:
        if flag in values:
            line.row[flag] = CHINESE_FLAGS.get(str(values[flag]), values[flag])
    return line


def _convert_level(line: _Line, level: str, scale: str) -> None:
    t = _translator()
    if scale:
        _convert_number(line, level, scale)
    elif level in LEVEL_LABELS:
        line.row["level"] = LEVEL_LABELS[level].value
    elif level in LEVEL_NUMBERS:
        line.problems.append(("level", t(N_("ratingsimport.level_number"), level=level)))
    elif level.strip() not in LEVEL_CODES:
        problem = t(N_("ratingsimport.unknown_level"), level=_shown(level),
                    labels="、".join(LEVEL_LABELS))  # fmt: skip
        line.problems.append(("level", problem))


def _convert_number(line: _Line, level: str, scale: str) -> None:
    t = _translator()
    if scale not in SCALES:
        problem = t(N_("ratingsimport.unknown_scale"), scale=_shown(scale),
                    scales="、".join(SCALES))  # fmt: skip
        line.problems.append(("level_scale", problem))
        return
    if level not in LEVEL_NUMBERS:
        problem = t(N_("ratingsimport.level_not_in_scale"), level=_shown(level), scale=scale)
        line.problems.append(("level", problem))
        return
    line.row["level"] = SCALES[scale](int(level)).value
