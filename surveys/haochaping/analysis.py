"""Per-事项 analysis of one unit (seed 004 item 17: rating data used to improve 办事流程 and
办事指南): its 事项 and windows by 差评率 and volume, their top reasons and a 12-month trend.

The figures are :func:`surveys.haochaping.indicators.indicators_for` grouped by 事项 and by
window (the same counted ratings, the same reasons, masked there); only the trend is counted
here, in one grouped statement per grouping over the same counted ratings
(:func:`~surveys.haochaping.indicators.counted`), by local month.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import units as unit_service
from surveys.accounts.access import Actor, Perm
from surveys.core.exceptions import NotFound
from surveys.core.i18n import N_, Translator
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.core.periods import PERIOD_RE
from surveys.core.workbook import MEDIA_TYPES, TableFormat, TableWriter
from surveys.haochaping import indicators
from surveys.haochaping.models import Rating
from surveys.haochaping.ratings import BAD_LEVELS

Kind = Literal["item", "window"]
MONTHS = 12
SPARKS = "▁▂▃▄▅▆▇█"
KIND_LABELS = {"item": N_("analysis.kind.item"), "window": N_("analysis.kind.window")}
SUMMARY_COLUMNS: tuple[tuple[str, int], ...] = (
    (N_("analysis.col.kind"), 8),
    (N_("analysis.col.code"), 18),
    (N_("analysis.col.name"), 30),
    (N_("analysis.col.ratings"), 10),
    (N_("analysis.col.bad"), 10),
    (N_("analysis.col.bad_rate"), 10),
    (N_("analysis.col.reasons"), 40),
)
TREND_COLUMNS: tuple[tuple[str, int], ...] = (
    (N_("analysis.col.kind"), 8),
    (N_("analysis.col.code"), 18),
    (N_("analysis.col.name"), 30),
    (N_("analysis.col.month"), 10),
    (N_("analysis.col.ratings"), 10),
    (N_("analysis.col.bad"), 10),
    (N_("analysis.col.bad_rate"), 10),
)


@dataclass(frozen=True)
class UnitOption:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class MonthPoint:
    month: str  # 2026-03, local month of the rating
    ratings: int
    bad: int
    bad_rate: float | None


@dataclass(frozen=True)
class AnalysisRow:
    """One 事项 or window of the unit: volume, 差评率, top reasons (masked), trend."""

    kind: Kind
    code: str | None  # masked, as every integrator's text
    name: str | None  # the 事项 name (masked); None for a window
    ratings: int
    bad: int
    bad_rate: float | None
    reasons: tuple[tuple[str, int], ...]
    trend: tuple[MonthPoint, ...]

    @property
    def spark(self) -> str:
        """The trend's 差评率 as a line of block characters (a blank month: a space)."""
        return sparkline([point.bad_rate for point in self.trend])


@dataclass(frozen=True)
class UnitAnalysis:
    unit: UnitOption
    units: list[UnitOption]  # the units the actor may choose
    period: str | None  # None: every period
    months: list[str]
    items: list[AnalysisRow] = field(default_factory=list)
    windows: list[AnalysisRow] = field(default_factory=list)


@dataclass(frozen=True)
class AnalysisFile:
    name: str
    media_type: str
    body: bytes
    rows: int


def sparkline(rates: list[float | None]) -> str:
    """Block characters from ▁ (0) to █ (the highest rate of the line)."""
    top = max((r for r in rates if r is not None), default=0.0)
    marks = []
    for rate in rates:
        if rate is None:
            marks.append(" ")
        elif top <= 0:
            marks.append(SPARKS[0])
        else:
            marks.append(SPARKS[min(len(SPARKS) - 1, int(rate / top * (len(SPARKS) - 1)))])
    return "".join(marks)


def month_span(period: str | None, on: date) -> list[str]:
    """The 12 months ending with the period's last month (never after ``on``'s month), or
    with ``on``'s month when no period is chosen."""
    year, month = on.year, on.month
    if period:
        end_year, half = int(period[:4]), period[4:]
        end = (end_year, 6 if half == "H1" else 12)
        year, month = min(end, (on.year, on.month))
    found = []
    for _ in range(MONTHS):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return found[::-1]


def _month_bounds(months: list[str], tz: ZoneInfo) -> tuple[datetime, datetime]:
    first_year, first_month = map(int, months[0].split("-"))
    last_year, last_month = map(int, months[-1].split("-"))
    after = (last_year + 1, 1) if last_month == 12 else (last_year, last_month + 1)
    return datetime(first_year, first_month, 1, tzinfo=tz), datetime(*after, 1, tzinfo=tz)


def _month_expression(dialect: str, tz: ZoneInfo) -> Any:
    day = indicators.local_date(dialect, col(Rating.rated_at), tz)
    if dialect == "postgresql":
        return sa.func.to_char(day, "YYYY-MM")
    return sa.func.strftime("%Y-%m", day)


async def _trends(
    session: AsyncSession, unit_id: int, kind: Kind, months: list[str], tz: ZoneInfo
) -> dict[str | None, dict[str, tuple[int, int]]]:
    """(ratings, 差评) per masked key and month, over the counted ratings of the unit."""
    dialect = indicators.dialect_of(session)
    key = col(Rating.item_code) if kind == "item" else col(Rating.window_code)
    month = _month_expression(dialect, tz)
    bad = sa.func.sum(sa.case((col(Rating.level).in_(sorted(BAD_LEVELS)), 1), else_=0))
    start, end = _month_bounds(months, tz)
    statement = (
        indicators.counted(
            sa.select(key.label("key"), month.label("month"), sa.func.count(), bad),
            None,
            frozenset({unit_id}),
        )
        .where(
            col(Rating.active).is_(True), col(Rating.rated_at) >= start, col(Rating.rated_at) < end
        )
        .group_by(key, month)
    )
    found: dict[str | None, dict[str, tuple[int, int]]] = defaultdict(dict)
    for raw, at, n, n_bad in (await session.exec(statement)).all():  # type: ignore[call-overload]
        shown = mask_text(raw) if raw else raw
        old_n, old_bad = found[shown].get(at, (0, 0))
        found[shown][at] = (old_n + int(n), old_bad + int(n_bad or 0))
    return found


def _points(counts: dict[str, tuple[int, int]], months: list[str]) -> tuple[MonthPoint, ...]:
    points = []
    for month in months:
        n, bad = counts.get(month, (0, 0))
        points.append(MonthPoint(month, n, bad, round(bad / n, 4) if n else None))
    return tuple(points)


def _order(row: AnalysisRow) -> tuple[float, int, int, str]:
    return (-(row.bad_rate or 0.0), -row.bad, -row.ratings, row.code or "")


async def _rows(
    session: AsyncSession, actor: Actor, unit_id: int, kind: Kind, period: str | None,
    months: list[str], on: date, tz: ZoneInfo,
) -> list[AnalysisRow]:  # fmt: skip
    groups = await indicators.indicators_for(
        session=session, actor=actor, period=period, unit_id=unit_id, group_by=kind,
        today=on, tz=tz,
    )  # fmt: skip
    trends = await _trends(session, unit_id, kind, months, tz)
    rows = []
    for group in groups:
        code = group.item_code if kind == "item" else group.window_code
        rows.append(
            AnalysisRow(
                kind=kind,
                code=code,
                name=group.item_name,
                ratings=group.ratings,
                bad=group.bad,
                bad_rate=group.bad_rate,
                reasons=group.top_reasons,
                trend=_points(trends.get(code, {}), months),
            )  # fmt: skip
        )
    return sorted(rows, key=_order)


async def _choose_unit(
    session: AsyncSession, actor: Actor, unit_code: str | None
) -> tuple[UnitOption, list[UnitOption]]:
    found = await unit_service.list_units(session=session)
    options = sorted(
        (UnitOption(pk(u), u.code, u.name) for u in found if actor.sees(u.id)),
        key=lambda u: u.code,
    )
    if not options:
        raise NotFound(unit="-")
    if not unit_code:
        return options[0], options
    chosen = next((u for u in options if u.code == unit_code), None)
    if chosen is None:  # another unit's, or none: as if it did not exist
        raise NotFound(unit=unit_code[:40])
    return chosen, options


async def unit_analysis(
    *,
    session: AsyncSession,
    actor: Actor,
    unit_code: str | None,
    period: str | None,
    on: date,
    tz: ZoneInfo,
) -> UnitAnalysis:
    """One of the actor's units (default: the first by code) for ``period`` (a half-year such
    as 2026H1; None: every period): 事项 and windows by 差评率, 差评 and volume."""
    actor.require(Perm.view)
    if period is not None and not _valid_period(period):
        raise NotFound(period=period[:16])
    unit, options = await _choose_unit(session, actor, unit_code)
    months = month_span(period, on)
    items = await _rows(session, actor, unit.id, "item", period, months, on, tz)
    windows = await _rows(session, actor, unit.id, "window", period, months, on, tz)
    return UnitAnalysis(unit, options, period, months, items, windows)


def _valid_period(period: str) -> bool:
    return PERIOD_RE.fullmatch(period) is not None


def _reasons_text(reasons: tuple[tuple[str, int], ...]) -> str:
    return "；".join(f"{text}（{n}）" for text, n in reasons)


def write_analysis(report: UnitAnalysis, fmt: TableFormat) -> AnalysisFile:
    """The analysis as one XLSX (sheets 事项与窗口 and 月度趋势) or CSV (both tables, one
    after the other)."""
    t = Translator()
    rows = [*report.items, *report.windows]
    writer = TableWriter(
        fmt,
        sheet=t(N_("analysis.sheet.summary")),
        headers=[t(key) for key, _ in SUMMARY_COLUMNS],
        widths=[width for _, width in SUMMARY_COLUMNS],
    )
    for row in rows:
        writer.append([t(KIND_LABELS[row.kind]), row.code, row.name, row.ratings, row.bad,
                       row.bad_rate, _reasons_text(row.reasons)])  # fmt: skip
    writer.add_sheet(
        t(N_("analysis.sheet.trend")),
        [t(key) for key, _ in TREND_COLUMNS],
        [width for _, width in TREND_COLUMNS],
    )
    for row in rows:
        for point in row.trend:
            writer.append([t(KIND_LABELS[row.kind]), row.code, row.name, point.month,
                           point.ratings, point.bad, point.bad_rate])  # fmt: skip
    period = report.period or "all"
    name = f"analysis_{_ascii(report.unit.code)}_{period}.{fmt}"
    return AnalysisFile(name, MEDIA_TYPES[fmt], writer.finish(), writer.rows)


def _ascii(code: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in code)
