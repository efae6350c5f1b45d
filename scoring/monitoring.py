"""Imported components (日常监测, 实地调研, 第三方评估) from CSV or XLSX: all rows or none.

The file has a header row ``单位编码,单位名称`` followed by either the seven area columns
(each 0..the area's points) or ``总分`` (0..100), and one row per active unit. Every
problem is named as ``line N, column C: message`` with N the spreadsheet row (header = 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.exceptions import NoUnits
from scoring.models import (
    IMPORTED_COMPONENTS,
    Component,
    ImportLayout,
    MonitoringImport,
    MonitoringScore,
)
from scoring.periods import check_period
from surveys.accounts.models import Unit
from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.core.models import pk
from surveys.haochaping.imports import _where
from surveys.questionnaire.definitions import AREAS

CODE_COLUMN = "单位编码"
NAME_COLUMN = "单位名称"
TOTAL_COLUMN = "总分"
TOTAL_MAX = 100
# File-name codes of the components (scoring/demo/data/demo_<code>_<period>.csv).
COMPONENT_CODES = {
    "daily": Component.monitoring,
    "field": Component.field,
    "third": Component.third_party,
}
_Problem = tuple[int, str, str]
# One row per unit (about a hundred): a file over 1,000 rows, 50 columns or 5 MB is refused
# before it is read (surveys.core.table_files).
LIMITS = table_files.TableLimits(
    rows=1_000, columns=50, file_bytes=5 * table_files.MB, unpacked_bytes=50 * table_files.MB
)


def check_file_size(path: Path, source: str) -> None:
    """Refuse a file over ``LIMITS.file_bytes`` by its size on disk, before it is read, with
    the sentence the reader would use."""
    table_files.check_file_size(source, path, LIMITS)


def parse_component(text: str | Component) -> Component:
    """An imported component by its Chinese name or file code (``daily``, ``field``, ``third``)."""
    if text in COMPONENT_CODES:
        return COMPONENT_CODES[text]
    for component in IMPORTED_COMPONENTS:
        if text == component.value:
            return component
    names = ", ".join(f"{c.value} ({code})" for code, c in COMPONENT_CODES.items())
    raise ValueError(f"{text!r} is not an imported component: {names}")


def header_for(layout: ImportLayout) -> list[str]:
    scores = list(AREAS) if layout is ImportLayout.area else [TOTAL_COLUMN]
    return [CODE_COLUMN, NAME_COLUMN, *scores]


# Reading ------------------------------------------------------------------------------


def read_table(file_name: str, content: bytes) -> list[list[str]]:
    """The cells of a .csv (UTF-8) or .xlsx file as text, rows as the spreadsheet has them."""
    suffix = Path(file_name).suffix.lower()
    if suffix == ".csv":
        return table_files.read_csv(file_name, content, LIMITS)
    if suffix == ".xlsx":
        rows = table_files.read_xlsx(file_name, content, LIMITS)
        return [[str(cell) for cell in row] for row in rows]
    raise InvalidFile(file_name, [f"{suffix or 'no extension'}: only .csv and .xlsx are read"])


# Validation ---------------------------------------------------------------------------


@dataclass
class Checked:
    """A validated file: its layout and, per unit code, the score per area (None = total)."""

    layout: ImportLayout
    scores: dict[str, dict[str | None, float]] = field(default_factory=dict)


def _layout(header: Sequence[str]) -> tuple[ImportLayout | None, list[str], list[str]]:
    """The layout, the problems of the header that stop reading, and the other ones."""
    named = [name for name in header if name]
    stop: list[str] = []
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        stop.append(f"line 1: column(s) {', '.join(twice)} appear twice")
    known = {CODE_COLUMN, NAME_COLUMN, TOTAL_COLUMN, *AREAS}
    unknown = [name for name in named if name not in known]
    other = [f"line 1, column {name}: unknown column" for name in unknown]
    has_areas = [area for area in AREAS if area in named]
    layout = ImportLayout.area if has_areas else ImportLayout.total
    if has_areas and TOTAL_COLUMN in named:
        stop.append(f"line 1: give either the area columns or {TOTAL_COLUMN}, not both")
    expected = header_for(layout)
    if not has_areas and TOTAL_COLUMN not in named:
        expected = [CODE_COLUMN, NAME_COLUMN]
        stop.append(
            f"line 1: missing column {TOTAL_COLUMN} (or the area columns {','.join(AREAS)})"
        )
    missing = [name for name in expected if name not in named]
    if missing:
        stop.append(f"line 1: missing column(s) {', '.join(missing)}")
    return (None if stop else layout), stop, other


def _number(text: str, column: str) -> tuple[float | None, str]:
    limit = AREAS.get(column, TOTAL_MAX)
    if text == "":
        return None, "missing score"
    try:
        value = float(text)
    except ValueError:
        return None, f"{text!r} is not a number"
    if not math.isfinite(value):
        return None, f"{text!r} is not a number"
    if value < 0:
        return None, f"{text} is below 0"
    if value > limit:
        return None, f"{text} is above the maximum {limit} of {column}"
    return value, ""


def _row_unit(
    number: int, values: Mapping[str, str], units: Mapping[str, Unit], seen: dict[str, int]
) -> tuple[Unit | None, list[_Problem]]:
    code = values.get(CODE_COLUMN, "")
    if not code:
        return None, [(number, CODE_COLUMN, "missing unit code")]
    unit = units.get(code)
    if unit is None:
        return None, [(number, CODE_COLUMN, f"unknown unit {code!r}")]
    problems: list[_Problem] = []
    if not unit.active:
        problems.append((number, CODE_COLUMN, f"unit {code!r} ({unit.name}) is inactive"))
    if code in seen:
        problems.append((number, CODE_COLUMN, f"unit {code!r} is also on line {seen[code]}"))
    seen.setdefault(code, number)
    name = values.get(NAME_COLUMN, "")
    if name and name != unit.name:
        message = f"{name!r} does not match the stored name {unit.name!r} of unit {code!r}"
        problems.append((number, NAME_COLUMN, message))
    return (None if problems else unit), problems


def _check_rows(
    table: Sequence[Sequence[str]], header: Sequence[str], layout: ImportLayout,
    units: Mapping[str, Unit],
) -> tuple[Checked, list[_Problem]]:  # fmt: skip
    checked = Checked(layout)
    problems: list[_Problem] = []
    seen: dict[str, int] = {}
    columns = header_for(layout)[2:]
    for number, cells in enumerate(table[1:], start=2):
        if all(cell == "" for cell in cells):
            continue
        if len(cells) > len(header) and any(cell != "" for cell in cells[len(header) :]):
            problems.append(
                (number, "", f"{len(cells)} cells, but the header names {len(header)}")
            )
        values = {name: cell for name, cell in zip(header, cells, strict=False) if name}
        unit, found = _row_unit(number, values, units, seen)
        problems += found
        scores: dict[str | None, float] = {}
        for column in columns:
            value, message = _number(values.get(column, ""), column)
            if message:
                problems.append((number, column, message))
            elif value is not None:
                scores[None if layout is ImportLayout.total else column] = value
        if unit is not None and len(scores) == len(columns):
            checked.scores[unit.code] = scores
    return checked, problems


def validate_table(
    table: Sequence[Sequence[str]], units: Sequence[Unit], *, source: str
) -> Checked:
    """Check a whole file against the units; :class:`InvalidFile` lists every problem."""
    if not table or all(all(cell == "" for cell in row) for row in table):
        raise InvalidFile(source, ["the file is empty"])
    header = [str(cell).strip() for cell in table[0]]
    layout, stop, other = _layout(header)
    if layout is None:
        raise InvalidFile(source, stop + other)
    by_code = {unit.code: unit for unit in units}
    checked, problems = _check_rows(table, header, layout, by_code)
    found = [_where(*problem) for problem in sorted(problems, key=lambda p: p[0])]
    if not any(row for row in table[1:] if any(cell != "" for cell in row)):
        found.append("the file has no unit rows")
    at = header.index(CODE_COLUMN)
    listed = {row[at] for row in table[1:] if len(row) > at}
    absent = [f"{u.code} {u.name}" for u in units if u.active and u.code not in listed]
    if absent:
        found.append(f"missing rows for active unit(s): {'; '.join(absent)}")
    if other or found:
        raise InvalidFile(source, other + found)
    return checked


# Storing ------------------------------------------------------------------------------


def _rows_digest(rows: Sequence[Sequence[object]]) -> str:
    canonical = json.dumps([[str(c) for c in row] for row in rows], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def import_monitoring(
    *, session: AsyncSession, rows: Sequence[Sequence[object]], period: str,
    component: Component | str, actor: str, now: datetime, source: str = "rows",
    sha256: str | None = None,
) -> MonitoringImport:  # fmt: skip
    """Store a validated table (header first) as the current import of period × component.

    ``rows`` may come from any source (a file, the demo generator); ``component`` is a
    :class:`Component` or its name or file code. The previous current import of the same
    period and component is kept, marked superseded. A table with any problem raises
    :class:`InvalidFile` and stores nothing.
    """
    check_period(period)
    component = parse_component(component)
    units = list((await session.exec(select(Unit).order_by(col(Unit.code)))).all())
    table = [[str(cell).strip() for cell in row] for row in rows]
    checked = validate_table(table, units, source=source)
    await _supersede(session, period, component, now)
    stored = MonitoringImport(
        period=period, component=component, layout=checked.layout, file_name=source[-255:],
        sha256=sha256 or _rows_digest(table), rows=len(checked.scores), imported_at=now,
        imported_by=actor[:64],
    )  # fmt: skip
    session.add(stored)
    await session.flush()
    ids = {unit.code: pk(unit) for unit in units}
    session.add_all(
        MonitoringScore(import_id=pk(stored), unit_id=ids[code], area=area, score=score)
        for code, scores in sorted(checked.scores.items())
        for area, score in scores.items()
    )
    await session.flush()
    return stored


async def _supersede(
    session: AsyncSession, period: str, component: Component, now: datetime
) -> None:
    statement = select(MonitoringImport).where(
        MonitoringImport.period == period,
        MonitoringImport.component == component,
        col(MonitoringImport.superseded_at).is_(None),
    )
    for current in (await session.exec(statement)).all():
        current.superseded_at = now
        session.add(current)


async def import_monitoring_upload(
    *, session: AsyncSession, file_name: str, content: bytes, period: str,
    component: Component, actor: str, now: datetime,
) -> MonitoringImport:  # fmt: skip
    """Import an uploaded .csv or .xlsx file given as bytes (the console's upload)."""
    table = await asyncio.to_thread(read_table, file_name, content)
    return await import_monitoring(
        session=session, rows=table, period=period, component=component, actor=actor,
        now=now, source=file_name, sha256=hashlib.sha256(content).hexdigest(),
    )  # fmt: skip


async def import_monitoring_file(
    *, session: AsyncSession, path: Path, period: str, component: Component, actor: str,
    now: datetime,
) -> MonitoringImport:  # fmt: skip
    """Import a .csv or .xlsx file from disk."""
    content = await asyncio.to_thread(path.read_bytes)
    table = await asyncio.to_thread(read_table, str(path), content)
    return await import_monitoring(
        session=session, rows=table, period=period, component=component, actor=actor,
        now=now, source=str(path), sha256=hashlib.sha256(content).hexdigest(),
    )  # fmt: skip


async def list_imports(
    *, session: AsyncSession, period: str | None = None
) -> list[MonitoringImport]:
    """Every import, current and superseded, newest first."""
    statement = select(MonitoringImport).order_by(
        col(MonitoringImport.period), col(MonitoringImport.component),
        col(MonitoringImport.id).desc(),
    )  # fmt: skip
    if period is not None:
        statement = statement.where(MonitoringImport.period == period)
    return list((await session.exec(statement)).all())


async def template_rows(*, session: AsyncSession, layout: ImportLayout) -> list[list[str]]:
    """An empty import file: the header and one row per active unit, by code."""
    statement = select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.code))
    units = list((await session.exec(statement)).all())
    if not units:
        raise NoUnits()
    header = header_for(layout)
    blanks = [""] * (len(header) - 2)
    return [header, *([unit.code, unit.name, *blanks] for unit in units)]
