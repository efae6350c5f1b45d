"""Outside 民意 results (a poll by a 民意调查机构, a 蒙速办 satisfaction figure): per unit and
half-year a score 0..100 with the people behind it (n), a source name and a method note.

A file (.csv in UTF-8 with or without BOM or GBK, or the first sheet of an .xlsx, read as the
monitoring imports are: :func:`scoring.monitoring.read_sheet`) has the columns 单位编码 (or
单位名称), 得分 (0..100) and 样本量 (people, a whole number ≥ 1); 序号, 备注 and 说明 are
left aside, a title may stand above the header. A source need not cover every unit: a unit's
row with both 得分 and 样本量 empty is left out, and so is the template's example row
(单位编码 示例). Every problem is one Chinese sentence from the catalogue naming the file, the
sheet, the row and the column; a file with any problem stores nothing.

One import per half-year and source name is current; importing the same pair again marks the
current one superseded (kept as history). Different source names stand side by side.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PureWindowsPath
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.models import OutsideImport, OutsideScore
from scoring.monitoring import active_units, read_upload
from scoring.periods import check_period
from scoring.table_problems import (
    Place,
    Problem,
    Rows,
    found_at,
    read_columns,
    rows_digest,
    stored_name,
)
from surveys.accounts.models import Unit
from surveys.core import table_files
from surveys.core.clock import local_minutes
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk
from surveys.core.table_files import Header

CODE_COLUMN = "单位编码"
NAME_COLUMN = "单位名称"
SCORE_COLUMN = "得分"
N_COLUMN = "样本量"
SCORE_MAX = 100
# Other names polls and offices give these columns.
ALIASES = {
    "单位代码": CODE_COLUMN,
    "分数": SCORE_COLUMN,
    "满意度": SCORE_COLUMN,
    "满意度得分": SCORE_COLUMN,
    "综合得分": SCORE_COLUMN,
    "样本数": N_COLUMN,
    "有效样本": N_COLUMN,
    "有效样本量": N_COLUMN,
    "调查人数": N_COLUMN,
    "人数": N_COLUMN,
    "n": N_COLUMN,
    "N": N_COLUMN,
}
KNOWN = frozenset({CODE_COLUMN, NAME_COLUMN, SCORE_COLUMN, N_COLUMN})
EXAMPLE = "示例"  # the template's example row: 单位编码 示例 (or a 单位名称 beginning 示例)
SOURCE_MAX = 100  # characters of a source name (the column's width)
NOTE_MAX = 2000  # characters of a method note

# The results the scoring reads -------------------------------------------------------------


@dataclass(frozen=True)
class OutsideResult:
    """One unit's result from one current outside source."""

    source: str
    score: float
    n: int
    method_note: str
    imported_at: datetime


async def outside_results(*, session: AsyncSession, period: str) -> dict[int, list[OutsideResult]]:
    """Per unit id, the results of the current imports of ``period``, by source name."""
    statement = (
        select(OutsideScore, OutsideImport)
        .join(OutsideImport, col(OutsideImport.id) == col(OutsideScore.import_id))
        .where(OutsideImport.period == period, col(OutsideImport.superseded_at).is_(None))
        .order_by(col(OutsideScore.unit_id), col(OutsideImport.source_name), col(OutsideImport.id))
    )
    found: dict[int, list[OutsideResult]] = {}
    for score, stored in (await session.exec(statement)).all():
        found.setdefault(score.unit_id, []).append(
            OutsideResult(
                source=stored.source_name,
                score=score.score,
                n=score.n,
                method_note=stored.method_note,
                imported_at=stored.imported_at,
            )  # fmt: skip
        )
    return found


# What the person gives beside the file ------------------------------------------------------


class InvalidSourceName(DomainError):
    """The 来源 is empty or longer than :data:`SOURCE_MAX` characters."""

    key = N_("outside.invalid_source")
    status_code = 422


class InvalidMethodNote(DomainError):
    """The 方法说明 is empty or longer than :data:`NOTE_MAX` characters."""

    key = N_("outside.invalid_note")
    status_code = 422


def clean_source_name(text: str) -> str:
    """The source name on one line (runs of spaces and line breaks as one space), or
    :class:`InvalidSourceName`."""
    cleaned = " ".join(unicodedata.normalize("NFC", text).split())
    if not 1 <= len(cleaned) <= SOURCE_MAX:
        raise InvalidSourceName(length=len(cleaned), max=SOURCE_MAX)
    return cleaned


def clean_method_note(text: str) -> str:
    """The method note without spaces around it (its lines kept), or :class:`InvalidMethodNote`."""
    cleaned = "\n".join(line.rstrip() for line in text.strip().splitlines())
    if not 1 <= len(cleaned) <= NOTE_MAX:
        raise InvalidMethodNote(length=len(cleaned), max=NOTE_MAX)
    return cleaned


# Checking a table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A validated file: its header and, per unit code, the score and n."""

    header: Header
    results: dict[str, tuple[float, int]]


def _header_problems(header: Header, t: Translator) -> tuple[list[Problem], list[Problem]]:
    """The header's problems that stop reading, and the other ones."""
    row = header.row
    seen, stop, other = read_columns(header, KNOWN, N_("outside.unknown_column"), t)
    missing = [name for name in (SCORE_COLUMN, N_COLUMN) if name not in seen]
    if CODE_COLUMN not in seen and NAME_COLUMN not in seen:
        missing.insert(0, f"{CODE_COLUMN}（或{NAME_COLUMN}）")
    if missing:
        stop.append((row, -1, t(N_("import.monitoring.missing_columns"),
                                columns="、".join(missing))))  # fmt: skip
    return stop, other


def _text(cell: str) -> str:
    return unicodedata.normalize("NFKC", cell).strip()


def _score(text: str, t: Translator) -> tuple[float | None, str]:
    cleaned = _text(text)
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return None, t(N_("outside.score_not_a_number"), text=text, max=SCORE_MAX)
    if not 0 <= value <= SCORE_MAX:
        return None, t(N_("outside.score_out_of_range"), text=cleaned, max=SCORE_MAX)
    return value, ""


def _people(text: str, t: Translator) -> tuple[int | None, str]:
    cleaned = _text(text).replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        return None, t(N_("outside.n_not_whole"), text=text)
    if value < 1:
        return None, t(N_("outside.n_below_one"), text=cleaned)
    return int(value), ""


@dataclass
class _Rows(Rows):
    """Checks the data rows of one file against the units."""

    by_code: dict[str, Unit]
    by_name: dict[str, list[Unit]]

    def example(self, cells: Sequence[str]) -> bool:
        code, name = self.cell(cells, CODE_COLUMN), self.cell(cells, NAME_COLUMN)
        return code == EXAMPLE or (not code and name.startswith(EXAMPLE))

    def unit(self, row: int, cells: Sequence[str]) -> Unit | None:
        t = self.t
        code, name = self.cell(cells, CODE_COLUMN), stored_name(self.cell(cells, NAME_COLUMN))
        code_at, name_at = self.index(CODE_COLUMN), self.index(NAME_COLUMN)
        if code:
            unit = self.by_code.get(code)
            if unit is None:
                self.problems.append((row, code_at, t(N_("import.monitoring.unknown_unit"),
                                                      code=code)))  # fmt: skip
                return None
            if name and name != unit.name:
                self.problems.append((row, name_at, t(N_("import.monitoring.name_mismatch"),
                                      name=name, code=code, stored=unit.name)))  # fmt: skip
                return None
        elif name:
            found = self.by_name.get(name, [])
            if len(found) != 1:
                key = N_("outside.unknown_name") if not found else N_("outside.name_twice")
                self.problems.append((row, name_at, t(key, name=name)))
                return None
            unit = found[0]
        else:
            self.problems.append((row, code_at if code_at >= 0 else name_at,
                                  t(N_("outside.missing_unit"))))  # fmt: skip
            return None
        return self._once(row, unit, code_at if code else name_at)

    def _once(self, row: int, unit: Unit, at: int) -> Unit | None:
        t, found = self.t, False
        if not unit.active:
            self.problems.append((row, at, t(N_("import.monitoring.inactive_unit"),
                                             code=unit.code, name=unit.name)))  # fmt: skip
            found = True
        if unit.code in self.seen:
            line = self.seen[unit.code]
            problem = t(N_("outside.unit_twice"), code=unit.code, name=unit.name, line=line)
            self.problems.append((row, at, problem))
            found = True
        self.seen.setdefault(unit.code, row)
        return None if found else unit

    def result(self, row: int, cells: Sequence[str]) -> tuple[float, int] | None:
        score_text, n_text = self.cell(cells, SCORE_COLUMN), self.cell(cells, N_COLUMN)
        score_at, n_at = self.index(SCORE_COLUMN), self.index(N_COLUMN)
        score: float | None = None
        n: int | None = None
        if score_text:
            score, message = _score(score_text, self.t)
            if message:
                self.problems.append((row, score_at, message))
        else:
            self.problems.append((row, score_at, self.t(N_("outside.missing_score"),
                                                        max=SCORE_MAX)))  # fmt: skip
        if n_text:
            n, message = _people(n_text, self.t)
            if message:
                self.problems.append((row, n_at, message))
        else:
            self.problems.append((row, n_at, self.t(N_("outside.missing_n"))))
        return (score, n) if score is not None and n is not None else None


def _by_name(units: Sequence[Unit]) -> dict[str, list[Unit]]:
    found: dict[str, list[Unit]] = {}
    for unit in units:
        found.setdefault(unit.name, []).append(unit)
    return found


def _results(table: Sequence[Sequence[str]], rows: _Rows) -> dict[str, tuple[float, int]]:
    """Score and n per unit code of every data row below the header (problems in ``rows``)."""
    header = rows.header
    results: dict[str, tuple[float, int]] = {}
    for number, raw in enumerate(table[header.row :], start=header.row + 1):
        cells = [str(cell).strip() for cell in raw]
        if not any(cells) or rows.example(cells):
            continue
        rows.extra(number, cells)
        unit = rows.unit(number, cells)
        if not rows.cell(cells, SCORE_COLUMN) and not rows.cell(cells, N_COLUMN):
            continue  # a unit this source did not cover (a template row left empty)
        result = rows.result(number, cells)
        if unit is not None and result is not None:
            results[unit.code] = result
    return results


def validate_table(
    table: Sequence[Sequence[str]], units: Sequence[Unit], *, source: str,
    sheet: str | None = None,
) -> Checked:  # fmt: skip
    """Check a whole file against the units; :class:`InvalidFile` lists every problem."""
    t = Translator()
    place = Place(source, sheet)
    if not any(any(str(cell).strip() for cell in row) for row in table):
        raise place.refuse(t, [(0, -1, t(N_("import.monitoring.empty")))])
    top = table[: table_files.HEADER_SCAN + 1]
    header = table_files.find_header(
        [[ALIASES.get(name, name) for name in map(table_files.header_name, row)] for row in top],
        KNOWN,
    )
    if header is None:
        problem = t(N_("outside.no_header"), rows=table_files.HEADER_SCAN)
        raise place.refuse(t, [(0, -1, problem)])
    place = Place(source, sheet, header.names)
    stop, other = _header_problems(header, t)
    if stop:
        raise place.refuse(t, stop + other)
    rows = _Rows(header, t, {unit.code: unit for unit in units}, _by_name(units))
    results = _results(table, rows)
    found = other + rows.problems
    if not found and not results:
        found.append((0, -1, t(N_("outside.no_results"))))
    if found:
        raise place.refuse(t, found)
    return Checked(header, results)


# Storing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """A stored import, and where its header was found (to tell the person)."""

    stored: OutsideImport
    header: Header
    sheet: str | None

    def summary(self, t: Translator) -> str:
        """One sentence for the person who imported: what was stored, which header row."""
        place, rows = found_at(self.header, self.sheet, t)
        return t(N_("outside.done"), period=self.stored.period, source=self.stored.source_name,
                 count=self.stored.rows, place=place, rows=rows)  # fmt: skip


async def store_table(
    *, session: AsyncSession, rows: Sequence[Sequence[object]], period: str, source_name: str,
    method_note: str, actor: str, now: datetime, file_name: str = "rows",
    sha256: str | None = None, sheet: str | None = None,
) -> Imported:  # fmt: skip
    """Store a validated table as the current import of period × source name.

    The previous current import of the same period and source name is kept, marked
    superseded. A table with any problem raises :class:`InvalidFile` and stores nothing; so do
    a bad source name or method note (:class:`InvalidSourceName`, :class:`InvalidMethodNote`).
    """
    check_period(period)
    source_name = clean_source_name(source_name)
    method_note = clean_method_note(method_note)
    units = list((await session.exec(select(Unit).order_by(col(Unit.code)))).all())
    table = [[str(cell).strip() for cell in row] for row in rows]
    checked = validate_table(table, units, source=file_name, sheet=sheet)
    await _supersede(session, period, source_name, now)
    stored = OutsideImport(
        period=period, source_name=source_name, method_note=method_note,
        file_name=file_name[-255:], sha256=sha256 or rows_digest(table),
        rows=len(checked.results), imported_at=now, imported_by=actor[:64],
    )  # fmt: skip
    session.add(stored)
    await session.flush()
    ids = {unit.code: pk(unit) for unit in units}
    session.add_all(
        OutsideScore(import_id=pk(stored), unit_id=ids[code], score=score, n=n)
        for code, (score, n) in sorted(checked.results.items())
    )
    await session.flush()
    return Imported(stored, checked.header, sheet)


async def _supersede(session: AsyncSession, period: str, source_name: str, now: datetime) -> None:
    statement = select(OutsideImport).where(
        OutsideImport.period == period,
        OutsideImport.source_name == source_name,
        col(OutsideImport.superseded_at).is_(None),
    )
    for current in (await session.exec(statement)).all():
        current.superseded_at = now
        session.add(current)


async def import_outside_upload(
    *, session: AsyncSession, file_name: str, content: bytes | Path, period: str,
    source_name: str, method_note: str, actor: str, now: datetime,
) -> Imported:  # fmt: skip
    """Import an uploaded .csv or .xlsx file given as bytes, or a path (its size checked
    before it is read). The source name and note are checked before the file is read."""
    check_period(period)
    clean_source_name(source_name)
    clean_method_note(method_note)
    sheet, sha256 = await read_upload(file_name, content)
    return await store_table(
        session=session, rows=sheet.rows, period=period, source_name=source_name,
        method_note=method_note, actor=actor, now=now, file_name=file_name, sha256=sha256,
        sheet=sheet.name,
    )  # fmt: skip


# History ------------------------------------------------------------------------------------


async def list_imports(*, session: AsyncSession, period: str | None = None) -> list[OutsideImport]:
    """Every outside import, current and superseded: by period and source, newest first."""
    statement = select(OutsideImport).order_by(
        col(OutsideImport.period), col(OutsideImport.source_name), col(OutsideImport.id).desc()
    )
    if period is not None:
        statement = statement.where(OutsideImport.period == period)
    return list((await session.exec(statement)).all())


async def get_import(*, session: AsyncSession, import_id: int) -> OutsideImport | None:
    """One outside import by its id."""
    return await session.get(OutsideImport, import_id)


@dataclass(frozen=True)
class ImportLine:
    """An outside import as the office reads it: source, note, file name, local time."""

    id: int
    period: str
    source: str
    method_note: str
    file_name: str
    rows: int
    imported_at: str
    current: bool


async def import_lines(
    *, session: AsyncSession, tz: ZoneInfo, period: str | None = None
) -> tuple[ImportLine, ...]:
    """:func:`list_imports` as lines to show."""
    return tuple(
        ImportLine(
            id=pk(i),
            period=i.period,
            source=i.source_name,
            method_note=i.method_note,
            file_name=PureWindowsPath(i.file_name).name or i.file_name,
            rows=i.rows,
            imported_at=local_minutes(i.imported_at, tz),
            current=i.superseded_at is None,
        )  # fmt: skip
        for i in await list_imports(session=session, period=period)
    )


# The template -------------------------------------------------------------------------------


def template_header() -> list[str]:
    """The template's header, each column with what it takes."""
    return [CODE_COLUMN, NAME_COLUMN, f"{SCORE_COLUMN}（0–{SCORE_MAX}）", f"{N_COLUMN}（人）"]


EXAMPLE_ROW = [EXAMPLE, "示例（导入时跳过此行）", "86.5", "400"]


async def template_rows(*, session: AsyncSession) -> list[list[str]]:
    """An empty import file: the header, the example row and one row per active unit."""
    units = await active_units(session=session)
    return [template_header(), EXAMPLE_ROW, *([unit.code, unit.name, "", ""] for unit in units)]
