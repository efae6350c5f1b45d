"""Imported components (日常监测, 实地调研, 第三方评估) from CSV or XLSX: all rows or none.

A file is read (:func:`read_sheet`: UTF-8 or GBK CSV, the first sheet of an XLSX), checked
whole (:mod:`scoring.monitoring_table`) and stored as the current import of its half-year
and component, the earlier one kept as history. Half-years outside the usual window are
refused unless confirmed (:func:`check_period_window`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
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
from scoring.monitoring_table import CODE_COLUMN as CODE_COLUMN
from scoring.monitoring_table import NAME_COLUMN as NAME_COLUMN
from scoring.monitoring_table import TOTAL_COLUMN as TOTAL_COLUMN
from scoring.monitoring_table import column_max, header_for, layout_text, validate_table
from scoring.periods import check_period, recent
from scoring.table_problems import found_at, rows_digest
from surveys.accounts.models import Unit
from surveys.core import table_files
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk
from surveys.core.periods import half_year
from surveys.core.table_files import Header

# File-name codes of the components (scoring/demo/data/demo_<code>_<period>.csv).
COMPONENT_CODES = {
    "daily": Component.monitoring,
    "field": Component.field,
    "third": Component.third_party,
}
# One row per unit (about a hundred): a file over 1,000 rows, 50 columns or 5 MB is refused
# before it is read (surveys.core.table_files).
LIMITS = table_files.TableLimits(
    rows=1_000, columns=50, file_bytes=5 * table_files.MB, unpacked_bytes=50 * table_files.MB
)
YEARS_BACK = 2  # periods imported without confirmation: two years back .. the next half-year


class PeriodOutOfRange(DomainError):
    """A half-year outside the usual window (two years back .. the next one): a typo such as
    2030H2 or 1990H1, imported only when the person confirms it."""

    key = N_("import.monitoring.period_out_of_range")
    status_code = 422


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


def period_window(today: date) -> tuple[str, str]:
    """The first and last half-year imported without confirmation, around ``today``."""
    current = half_year(today)[0]
    earliest = recent(current, 2 * YEARS_BACK + 1)[0]
    year, half = int(current[:4]), current[-1]
    latest = f"{year}H2" if half == "1" else f"{year + 1}H1"
    return earliest, latest


def check_period_window(period: str, today: date) -> None:
    """:class:`PeriodOutOfRange` for a half-year outside :func:`period_window`."""
    earliest, latest = period_window(today)
    if not earliest <= check_period(period) <= latest:
        raise PeriodOutOfRange(period=period, earliest=earliest, latest=latest)


# Reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """A file's cells as text, rows as the spreadsheet numbers them, and its sheet's name."""

    rows: list[list[str]]
    name: str | None = None


def read_sheet(file_name: str, content: bytes | Path) -> Sheet:
    """A .csv (UTF-8 with or without BOM, GBK/GB18030) or the first sheet of an .xlsx."""
    suffix = Path(file_name).suffix.lower()
    if suffix == ".csv":
        return Sheet(table_files.read_csv(file_name, content, LIMITS))
    if suffix == ".xlsx":
        table = table_files.iter_xlsx(file_name, content, LIMITS)
        try:
            rows = [[str(cell) for cell in row] for row in table]
        finally:
            table.close()
        return Sheet(rows, table.sheet)
    problem = Translator()(
        N_("import.table.file_type"), file=table_files.file_name(file_name), suffix=suffix or "无"
    )
    raise InvalidFile(file_name, [problem])


def read_table(file_name: str, content: bytes | Path) -> list[list[str]]:
    """The cells of :func:`read_sheet`."""
    return read_sheet(file_name, content).rows


async def read_upload(file_name: str, content: bytes | Path) -> tuple[Sheet, str]:
    """:func:`read_sheet` of an upload given as bytes, or a path (its size checked before it
    is read), and the SHA-256 of its bytes."""
    if isinstance(content, Path):
        table_files.check_file_size(file_name, content, LIMITS)
        content = await asyncio.to_thread(content.read_bytes)
    sheet = await asyncio.to_thread(read_sheet, file_name, content)
    return sheet, hashlib.sha256(content).hexdigest()


# Storing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """A stored import, and where its header was found (to tell the person)."""

    stored: MonitoringImport
    header: Header
    sheet: str | None

    def summary(self, t: Translator) -> str:
        """One sentence for the person who imported: what was stored, which header row."""
        place, rows = found_at(self.header, self.sheet, t)
        layout = layout_text(self.stored.layout, t)
        return t(N_("import.monitoring.done"), period=self.stored.period,
                 component=self.stored.component, count=self.stored.rows, layout=layout,
                 place=place, rows=rows)  # fmt: skip


async def store_table(
    *, session: AsyncSession, rows: Sequence[Sequence[object]], period: str,
    component: Component | str, actor: str, now: datetime, source: str = "rows",
    sha256: str | None = None, sheet: str | None = None,
) -> Imported:  # fmt: skip
    """Store a validated table as the current import of period × component.

    ``rows`` may come from any source (a file, the demo generator); ``component`` is a
    :class:`Component` or its name or file code. The previous current import of the same
    period and component is kept, marked superseded. A table with any problem raises
    :class:`InvalidFile` and stores nothing.
    """
    check_period(period)
    component = parse_component(component)
    units = list((await session.exec(select(Unit).order_by(col(Unit.code)))).all())
    table = [[str(cell).strip() for cell in row] for row in rows]
    checked = validate_table(table, units, source=source, sheet=sheet)
    await _supersede(session, period, component, now)
    stored = MonitoringImport(
        period=period, component=component, layout=checked.layout,
        file_name=source[-255:], sha256=sha256 or rows_digest(table),
        rows=len(checked.scores), imported_at=now, imported_by=actor[:64],
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
    return Imported(stored, checked.header, sheet)


async def import_monitoring(
    *, session: AsyncSession, rows: Sequence[Sequence[object]], period: str,
    component: Component | str, actor: str, now: datetime, source: str = "rows",
    sha256: str | None = None,
) -> MonitoringImport:  # fmt: skip
    """:func:`store_table`, giving the stored import."""
    imported = await store_table(
        session=session, rows=rows, period=period, component=component, actor=actor, now=now,
        source=source, sha256=sha256,
    )  # fmt: skip
    return imported.stored


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
    *, session: AsyncSession, file_name: str, content: bytes | Path, period: str,
    component: Component, actor: str, now: datetime,
) -> Imported:  # fmt: skip
    """Import an uploaded .csv or .xlsx file given as bytes, or a path (its size checked
    before it is read)."""
    sheet, sha256 = await read_upload(file_name, content)
    return await store_table(
        session=session, rows=sheet.rows, period=period, component=component, actor=actor,
        now=now, source=file_name, sha256=sha256, sheet=sheet.name,
    )  # fmt: skip


async def import_monitoring_file(
    *, session: AsyncSession, path: Path, period: str, component: Component, actor: str,
    now: datetime,
) -> MonitoringImport:  # fmt: skip
    """Import a .csv or .xlsx file from disk."""
    imported = await import_monitoring_upload(
        session=session, file_name=str(path), content=path, period=period,
        component=component, actor=actor, now=now,
    )  # fmt: skip
    return imported.stored


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


async def get_import(*, session: AsyncSession, import_id: int) -> MonitoringImport | None:
    """One import by its id."""
    return await session.get(MonitoringImport, import_id)


async def active_units(*, session: AsyncSession) -> list[Unit]:
    """The active units by code, the rows of a template; :class:`NoUnits` if there are none."""
    statement = select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.code))
    units = list((await session.exec(statement)).all())
    if not units:
        raise NoUnits()
    return units


def template_header(layout: ImportLayout) -> list[str]:
    """The template's header: each score column with its maximum, 一网通办（满分 25）."""
    scores = header_for(layout)[2:]
    return [CODE_COLUMN, NAME_COLUMN, *(f"{name}（满分 {column_max(name)}）" for name in scores)]


async def template_rows(*, session: AsyncSession, layout: ImportLayout) -> list[list[str]]:
    """An empty import file: the header and one row per active unit, by code."""
    units = await active_units(session=session)
    header = template_header(layout)
    blanks = [""] * (len(header) - 2)
    return [header, *([unit.code, unit.name, *blanks] for unit in units)]
