"""Scores of a half-year or a year: aggregates from SQL, arithmetic off the event loop.

Also the read behind the console's 考评结果 page (:func:`scoring_page`), whose reports are
kept in a small in-process cache keyed by a cheap stamp of the inputs (:func:`input_stamp`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import compute
from scoring.aggregate import gather_inputs
from scoring.compute import HalfResult, UnitInput, YearResult
from scoring.exceptions import NoUnits
from scoring.method import Method, load_method
from scoring.models import (
    Component,
    MonitoringImport,
    MonitoringScore,
    OutsideImport,
    OutsideScore,
)
from scoring.monitoring import list_imports
from scoring.periods import check_period, halves, recent
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit, UnitKind
from surveys.cases.models import CaseEvent
from surveys.core.clock import local_minutes
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Label, Msg
from surveys.core.periods import half_year
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating
from surveys.hotline.models import HotlineVisit
from surveys.questionnaire.models import Answer, Response, Survey, SurveyVersion

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScoreReport:
    """One computation: what was scored, how, from which inputs, and when."""

    scope: str  # "2026H1" or "2026"
    periods: tuple[str, ...]
    method: Method
    computed_at: datetime
    fingerprint: str
    halves: dict[str, list[HalfResult]]
    year: list[YearResult] | None = None


def quiet(_step: str) -> None:
    return None


async def _inputs(
    session: AsyncSession, periods: tuple[str, ...], method: Method, tz: ZoneInfo,
    progress: Progress,
) -> dict[str, list[UnitInput]]:  # fmt: skip
    inputs = {}
    for period in periods:
        progress(f"{period}: counting ratings and answers")
        inputs[period] = await gather_inputs(session=session, period=period, method=method, tz=tz)
        if not inputs[period]:
            raise NoUnits()
    return inputs


async def score_period(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo,
    computed_at: datetime, progress: Progress = quiet,
) -> ScoreReport:  # fmt: skip
    """Every active unit's 民意 score, components and half-year score, ranked within kind."""
    check_period(period)
    inputs = await _inputs(session, (period,), method, tz, progress)
    progress(f"{period}: computing scores")
    results = await asyncio.to_thread(compute.score_half, inputs[period], method)
    return ScoreReport(
        scope=period, periods=(period,), method=method, computed_at=computed_at,
        fingerprint=compute.fingerprint(inputs, method), halves={period: results},
    )  # fmt: skip


async def score_year(
    *, session: AsyncSession, year: str | int, method: Method, tz: ZoneInfo,
    computed_at: datetime, progress: Progress = quiet,
) -> ScoreReport:  # fmt: skip
    """Both half-years and 年度分 = their mean (missing when a half is), ranked within kind."""
    periods = halves(year)
    inputs = await _inputs(session, periods, method, tz, progress)
    progress(f"{year}: computing scores")
    first = await asyncio.to_thread(compute.score_half, inputs[periods[0]], method)
    second = await asyncio.to_thread(compute.score_half, inputs[periods[1]], method)
    annual = compute.score_year(first, second, periods)
    return ScoreReport(
        scope=str(year), periods=periods, method=method, computed_at=computed_at,
        fingerprint=compute.fingerprint(inputs, method),
        halves={periods[0]: first, periods[1]: second}, year=annual,
    )  # fmt: skip


# What the console and the command line share ---------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How scores are computed for one request or command: method, zone and ``computed_at``."""

    method: Method
    tz: ZoneInfo
    computed_at: datetime

    @property
    def today(self) -> date:
        return self.computed_at.astimezone(self.tz).date()


def setup(settings: Settings, computed_at: datetime | None = None) -> Setup:
    """The method file of the settings, their zone, and now (or ``computed_at``) to the second."""
    moment = computed_at or datetime.now(settings.tz)
    return Setup(
        method=load_method(settings.scoring_method_file),
        tz=settings.tz,
        computed_at=moment.replace(microsecond=0),
    )


async def score_scope(
    *, session: AsyncSession, setup: Setup, period: str | None = None, year: str | None = None,
    progress: Progress = quiet,
) -> ScoreReport:  # fmt: skip
    """A half-year (``period="2026H1"``) or, given ``year="2026"``, both halves and 年度分."""
    if year is not None:
        return await score_year(
            session=session, year=year, method=setup.method, tz=setup.tz,
            computed_at=setup.computed_at, progress=progress,
        )  # fmt: skip
    return await score_period(
        session=session, period=period or "", method=setup.method, tz=setup.tz,
        computed_at=setup.computed_at, progress=progress,
    )  # fmt: skip


async def scores(
    *, session: AsyncSession, actor: Actor, setup: Setup, period: str | None = None,
    year: str | None = None, progress: Progress = quiet,
) -> ScoreReport:  # fmt: skip
    """Every unit's scores, to read (``minyi score``): the ranking is for administrators."""
    actor.require(Perm.manage)
    return await score_scope(
        session=session, setup=setup, period=period, year=year, progress=progress
    )


def default_period(setup: Setup, period: str | None = None) -> str:
    """The half-year asked for, else the current one."""
    return period or half_year(setup.today)[0]


# The console's 考评结果 page -----------------------------------------------------------------

TREND_PERIODS = 4


@dataclass(frozen=True)
class RankedRow:
    """One unit's line on the page: its result and every flag on it said in words."""

    result: HalfResult
    notes: tuple[Label, ...]


@dataclass(frozen=True)
class ImportLine:
    """A monitoring import as the office reads it: the file's name, local time."""

    period: str
    component: str
    file_name: str
    rows: int
    imported_at: str
    current: bool


@dataclass(frozen=True)
class ScoringPage:
    report: ScoreReport
    period: str
    rows: list[HalfResult]
    charts: dict[str, object]
    imports: list[MonitoringImport]
    # What the page shows: each kind's units in rank order, the imports in local time.
    groups: tuple[tuple[str, tuple[RankedRow, ...]], ...] = ()
    import_lines: tuple[ImportLine, ...] = ()
    computed_at: str = ""


KIND_ORDER = {kind.value: index for index, kind in enumerate(UnitKind)}


def rank_key(result: HalfResult | YearResult) -> tuple[int, bool, int, str]:
    """Kind (旗县区, 高新区, 市直部门), then rank (unranked last), then unit code."""
    placing = result.placing
    return (
        KIND_ORDER.get(result.unit.kind, len(KIND_ORDER)),
        placing is None,
        placing.rank if placing else 0,
        result.unit.code,
    )


def notes(result: HalfResult, method: Method) -> tuple[Label, ...]:
    """Every flag of a unit's line in words: a small sample with its n, shrinkage, gaps."""
    found: list[Label] = []
    raw = result.opinion_raw
    if result.small_sample:
        n = raw.n if raw else 0
        found.append(Msg(N_("scoring.note.small_sample"), {"n": n, "min": method.min_sample}))
    if raw and result.opinion and round(raw.score, 2) != round(result.opinion.score, 2):
        found.append(Msg(N_("scoring.note.shrunk"), {"raw": f"{raw.score:.2f}"}))
    found.extend(result.missing)
    return tuple(found)


def ranked_groups(
    rows: list[HalfResult], method: Method
) -> tuple[tuple[str, tuple[RankedRow, ...]], ...]:
    """The units of each ranking group (``method.ranking_groups``, in the file's order) in
    rank order, each with its notes."""
    order = {name: index for index, name in enumerate(method.ranking_groups)}

    def key(result: HalfResult) -> tuple[int, str, bool, int, str]:
        group = result.group or method.group_of(result.unit.kind)
        placing = result.placing
        rank = placing.rank if placing else 0
        return (order.get(group, len(order)), group, placing is None, rank, result.unit.code)

    groups: dict[str, list[RankedRow]] = {}
    for result in sorted(rows, key=key):
        group = result.group or method.group_of(result.unit.kind)
        groups.setdefault(group, []).append(RankedRow(result, notes(result, method)))
    return tuple((group, tuple(lines)) for group, lines in groups.items())


def file_name(stored: str) -> str:
    """The name of an imported file without the folder it came from (either separator)."""
    return PureWindowsPath(stored).name or stored


def import_lines(imports: list[MonitoringImport], tz: ZoneInfo) -> tuple[ImportLine, ...]:
    return tuple(
        ImportLine(
            period=i.period,
            component=str(i.component),
            file_name=file_name(i.file_name),
            rows=i.rows,
            imported_at=local_minutes(i.imported_at, tz),
            current=i.superseded_at is None,
        )
        for i in imports
    )


def _bins(rows: list[HalfResult]) -> tuple[list[str], list[int]]:
    """The 半年分 histogram: below 50, then bins of 5 up to 100 (100 in the last)."""
    totals = [r.total.score for r in rows if r.total]
    lows = range(50, 100, 5)
    counts = [
        sum(1 for t in totals if low <= t < low + 5 or (low == 95 and t == 100)) for low in lows
    ]
    below = sum(1 for t in totals if t < 50)
    return ["<50", *(f"{low}-{low + 5}" for low in lows)], [below, *counts]


def _trend_line(result: HalfResult, trend: dict[str, ScoreReport]) -> dict[str, object]:
    def total(period: str) -> float | None:
        return next(
            (
                round(x.total.score, 2)
                for x in trend[period].halves[period]
                if x.unit.code == result.unit.code and x.total
            ),
            None,
        )

    return {"name": result.unit.name, "data": [total(p) for p in trend]}


def charts(report: ScoreReport, trend: dict[str, ScoreReport]) -> dict[str, object]:
    """What the page's ECharts draw: the histogram, the components per unit, the trend."""
    rows = report.halves[report.scope]
    bins, counts = _bins(rows)
    method = report.method
    ordered = sorted(rows, key=lambda r: -(r.total.score if r.total else -1))
    return {
        "bins": bins,
        "counts": counts,
        "units": [r.unit.name for r in ordered],
        "components": {
            c.value: [
                round(method.components[c] * (r.components.get(c) or 0.0), 2) for r in ordered
            ]
            for c in Component
        },
        "periods": list(trend),
        "trend": [_trend_line(r, trend) for r in ordered[:10]],
    }


# Reports already computed, by a stamp of their inputs ----------------------------------------

CACHE_SIZE = 16  # reports kept: a few half-years and years of one or two databases
# The tables a score is computed from. Rows are added, not changed, with two exceptions that
# add a row as well: a 申诉 upheld excludes its rating with a case event, and a 复评 retires
# the earlier rating with a new one; a response completes with its last answer, and units,
# few, are stamped by their content.
# 12345 回访 and outside results likewise: a later round or import adds a row.
_STAMPED = (Rating, Response, Answer, CaseEvent, MonitoringImport, MonitoringScore, Survey,
            SurveyVersion, HotlineVisit, OutsideImport, OutsideScore)  # fmt: skip


async def input_stamp(session: AsyncSession) -> str:
    """A cheap fingerprint of everything :func:`score_scope` reads: per table its row count
    and largest id (each an index lookup), when the last response completed, and the units.

    Scores are computed again only when it changes; it never says two different inputs are
    the same unless rows were changed in place, which the inputs never are (see above).
    """
    parts: list[sa.ScalarSelect[Any]] = []
    for model in _STAMPED:
        table: sa.Table = model.__table__  # type: ignore[attr-defined,union-attr]
        # Separate sub-queries: each a count or a max that an index answers on its own.
        parts.append(sa.select(func.count()).select_from(table).scalar_subquery())
        parts.append(sa.select(func.max(table.c.id)).scalar_subquery())
    parts.append(sa.select(func.max(col(Response.completed_at))).scalar_subquery())
    connection = await session.connection()
    counts = (await connection.execute(sa.select(*parts))).one()
    units = await session.exec(
        select(col(Unit.id), col(Unit.code), col(Unit.name), col(Unit.kind)).order_by(col(Unit.id))
    )
    active = await session.exec(
        select(col(Unit.id)).where(col(Unit.active).is_(True)).order_by(col(Unit.id))
    )
    bind = session.bind
    engine = bind.engine if isinstance(bind, AsyncConnection) else bind
    payload = {
        # Every database its own reports: tests and tools open several in one process.
        "database": engine.url.render_as_string(hide_password=True) if engine else "",
        "tables": [str(value) for value in counts],
        "units": [[str(v) for v in unit] for unit in units.all()],
        "active": [str(unit_id) for unit_id in active.all()],
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


class ReportCache:
    """The last :data:`CACHE_SIZE` reports, least recently used dropped first; safe to use
    from several threads and event loops (a lock held only to look up or store)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._reports: OrderedDict[str, ScoreReport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ScoreReport | None:
        with self._lock:
            report = self._reports.get(key)
            if report is not None:
                self._reports.move_to_end(key)
            return report

    def put(self, key: str, report: ScoreReport) -> None:
        with self._lock:
            self._reports[key] = report
            self._reports.move_to_end(key)
            while len(self._reports) > self.size:
                self._reports.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._reports.clear()


REPORTS = ReportCache()


def _cache_key(stamp: str, setup: Setup, scope: str) -> str:
    method = json.dumps(setup.method.parameters(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{stamp}|{setup.tz.key}|{scope}|{method}".encode()).hexdigest()


async def cached_scope(
    *, session: AsyncSession, setup: Setup, stamp: str, period: str | None = None,
    year: str | None = None,
) -> ScoreReport:  # fmt: skip
    """:func:`score_scope`, or the report computed before from the same inputs (same
    ``stamp`` of :func:`input_stamp`, method and zone); ``computed_at`` is then that of the
    first computation."""
    key = _cache_key(stamp, setup, f"year:{year}" if year is not None else f"half:{period}")
    found = REPORTS.get(key)
    if found is None:
        found = await score_scope(session=session, setup=setup, period=period, year=year)
        REPORTS.put(key, found)
    return found


async def scoring_page(
    *, session: AsyncSession, actor: Actor, setup: Setup, period: str | None = None
) -> ScoringPage:
    """Every unit's scores of a half-year (default: the current one), the trend of the last
    half-years that can be scored, and the monitoring imports (administrators only).

    Each half-year's report is computed once per state of the inputs (:func:`cached_scope`):
    a view after nothing changed reads one stamp and the imports.
    """
    actor.require(Perm.manage)
    chosen = default_period(setup, period)
    stamp = await input_stamp(session)
    report = await cached_scope(session=session, setup=setup, stamp=stamp, period=chosen)
    trend: dict[str, ScoreReport] = {}
    for earlier in recent(chosen, TREND_PERIODS):
        try:
            trend[earlier] = (
                report
                if earlier == chosen
                else await cached_scope(session=session, setup=setup, stamp=stamp, period=earlier)
            )
        except DomainError:
            continue
    imports = await list_imports(session=session)
    return ScoringPage(
        report=report,
        period=chosen,
        rows=report.halves[chosen],
        charts=charts(report, trend),
        imports=imports,
        groups=ranked_groups(report.halves[chosen], setup.method),
        import_lines=import_lines(imports, setup.tz),
        computed_at=local_minutes(report.computed_at, setup.tz),
    )
