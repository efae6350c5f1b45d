"""The console dashboard: per unit 好差评 counts and rates, open and overdue 差评, the monthly
trend and survey responses, for the units the actor may see.

All counted in the database: the ratings as counts per unit, level and month, each a range
of ix_rating_unit_level_time (unit, level, flags, rated_at) that SQLite counts without
reading a row, so neither the ratings nor the months are sorted or grouped row by row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases import workdays
from surveys.cases.models import CaseState, FollowUpCase
from surveys.cases.service import overdue_condition
from surveys.haochaping import indicators
from surveys.haochaping.models import Rating, RatingSource
from surveys.haochaping.ratings import BAD_LEVELS
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import Response, ResponseStatus

TREND_MONTHS = 12
# The counts of UnitRow summed over the units for the dashboard's stat cards.
TOTALS = ("ratings", "bad_open", "overdue", "responses")


@dataclass(frozen=True)
class UnitRow:
    unit_id: int
    code: str
    name: str
    kind: str
    ratings: int
    good_rate: float | None
    bad_rate: float | None
    bad_open: int  # 差评 cases not closed yet
    overdue: int
    responses: int  # completed survey responses


@dataclass(frozen=True)
class MonthPoint:
    month: str  # 2026-11
    ratings: int
    bad: int
    good_rate: float | None


@dataclass(frozen=True)
class Overview:
    units: list[UnitRow]
    trend: list[MonthPoint]
    # For administrators: a coming day from which 差评 are refused for want of working days.
    calendar_gap: workdays.CalendarGap | None = None

    @property
    def totals(self) -> dict[str, int]:
        """The sums over the units the stat cards show, by :data:`TOTALS` name."""
        return {name: sum(getattr(u, name) for u in self.units) for name in TOTALS}

    def charts(self) -> dict[str, list[object]]:
        """What the page's ECharts draw: the monthly trend, open and overdue 差评 per unit."""
        busy = [u for u in self.units if u.ratings or u.bad_open]
        return {
            "months": [p.month for p in self.trend],
            "ratings": [p.ratings for p in self.trend],
            "bad": [p.bad for p in self.trend],
            "good_rate": [
                None if p.good_rate is None else round(p.good_rate * 100, 2) for p in self.trend
            ],
            "units": [u.name for u in busy],
            "unit_open": [u.bad_open for u in busy],
            "unit_overdue": [u.overdue for u in busy],
        }


def _months(today: date, count: int) -> list[str]:
    year, month = today.year, today.month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found[::-1]


async def overview(
    *,
    session: AsyncSession,
    actor: Actor,
    today: date,
    tz: ZoneInfo,
    policy: workdays.DeadlinePolicy | None = None,
) -> Overview:
    """The dashboard of the actor's units (every unit for admins and city-wide readers).

    Per unit, over all periods: counted ratings (active, not default, not excluded), 好评率
    (基本满意 counted as 好评) and 差评率, 差评 cases not closed, overdue cases (as the case
    queue counts them: :func:`surveys.cases.service.is_overdue` on ``today``, whatever the
    rating's score became) and completed survey responses;
    and the counted ratings of the last :data:`TREND_MONTHS` months in ``tz``. For those who
    can set the working-day calendar (``manage``), with the deadline ``policy``: whether a
    year it lacks will soon refuse new 差评 (:func:`surveys.cases.workdays.coming_gap`).
    """
    actor.require(Perm.view)
    statement = select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.id))
    visible = [u for u in (await session.exec(statement)).all() if actor.sees(u.id)]
    ids = [u.id for u in visible if u.id is not None]
    months = _months(today, TREND_MONTHS)
    counts = await _rating_counts(session, ids, _bounds(months, tz)) if ids else []
    open_cases = await session.exec(
        select(FollowUpCase.unit_id, func.count())
        .where(col(FollowUpCase.unit_id).in_(ids), FollowUpCase.state != CaseState.closed.value)
        .group_by(col(FollowUpCase.unit_id))
    )
    bad_open = dict(open_cases.all())
    overdue = await _overdue(session, ids, today)
    responses = await session.exec(
        select(Response.unit_id, func.count())
        .where(
            col(Response.unit_id).in_(ids),
            Response.status == ResponseStatus.completed.value,
        )
        .group_by(col(Response.unit_id))
    )
    completed = {unit_id: n for unit_id, n in responses.all() if unit_id is not None}
    good_levels = indicators.GOOD_LEVELS | {Level.neutral}
    ratings: Counter[int] = Counter()
    good: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    per_month = [Counter[str]() for _ in months]
    for unit_id, level, buckets in counts:
        total = sum(buckets)
        ratings[unit_id] += total
        good[unit_id] += total if level in good_levels else 0
        bad[unit_id] += total if level in BAD_LEVELS else 0
        for month, n in zip(per_month, buckets[1:-1], strict=True):
            month["ratings"] += n
            month["good"] += n if level in good_levels else 0
            month["bad"] += n if level in BAD_LEVELS else 0
    rows = []
    for unit in visible:
        assert unit.id is not None
        rows.append(
            UnitRow(
                unit_id=unit.id,
                code=unit.code,
                name=unit.name,
                kind=str(unit.kind),
                ratings=ratings[unit.id],
                good_rate=_rate(good[unit.id], ratings[unit.id]),
                bad_rate=_rate(bad[unit.id], ratings[unit.id]),
                bad_open=int(bad_open.get(unit.id, 0)),
                overdue=overdue.get(unit.id, 0),
                responses=int(completed.get(unit.id, 0)),
            )
        )
    trend = [
        MonthPoint(
            month=m,
            ratings=point["ratings"],
            bad=point["bad"],
            good_rate=_rate(point["good"], point["ratings"]),
        )
        for m, point in zip(months, per_month, strict=True)
    ]
    gap = None
    if policy is not None and actor.can(Perm.manage):
        calendar = await workdays.load_calendar(session=session, tz=tz)
        gap = workdays.coming_gap(calendar, policy, today)
    return Overview(units=rows, trend=trend, calendar_gap=gap)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, indicators.RATE_DIGITS) if whole else None


def _bounds(months: list[str], tz: ZoneInfo) -> list[datetime]:
    """The UTC instants the months begin (in ``tz``), and the instant the last one ends."""
    firsts = [date.fromisoformat(m + "-01") for m in months]
    last = firsts[-1]
    firsts.append(date(last.year + last.month // 12, last.month % 12 + 1, 1))
    # UTC: SQLite compares the stored UTC text with the bound value's own wall clock.
    return [datetime.combine(day, time(), tzinfo=tz).astimezone(UTC) for day in firsts]


async def _rating_counts(
    session: AsyncSession, unit_ids: list[int], bounds: list[datetime]
) -> list[tuple[int, str, list[int]]]:
    """Counted ratings per (unit, level): before the first month, in each month, after.

    Ratings hold one of the five :class:`Level` codes (every way in validates them), so the
    counts per level add up to all of a unit's ratings.
    """
    levels = sa.union_all(
        *(sa.select(sa.literal(level.value).label("level")) for level in Level)
    ).subquery("levels")
    edges: list[datetime | None] = [None, *bounds, None]

    def bucket(low: datetime | None, high: datetime | None) -> Any:
        statement = sa.select(func.count()).where(
            col(Rating.unit_id) == col(Unit.id),
            col(Rating.level) == levels.c.level,
            col(Rating.active).is_(True),
            col(Rating.is_default).is_(False),
            col(Rating.excluded).is_(False),
            col(Rating.source) != RatingSource.hotline.value,  # counted as 12345 回访
        )
        if low is not None:
            statement = statement.where(col(Rating.rated_at) >= low)
        if high is not None:
            statement = statement.where(col(Rating.rated_at) < high)
        return statement.scalar_subquery()

    statement = (
        sa.select(
            col(Unit.id),
            levels.c.level,
            *(bucket(low, high) for low, high in zip(edges, edges[1:], strict=False)),
        )
        .select_from(Unit)
        .join(levels, sa.true())
        .where(col(Unit.id).in_(unit_ids))
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return [(int(row[0]), str(row[1]), [int(n) for n in row[2:]]) for row in rows]


async def _overdue(session: AsyncSession, unit_ids: list[int], today: date) -> dict[int, int]:
    """Overdue cases per unit, any period or round: every case the queue shows as overdue
    (cases.service.overdue_condition), whatever became of its rating's score. A case of an
    excluded (申诉成立) or replaced rating is still work the unit owes until it is done."""
    if not unit_ids:
        return {}
    statement = (
        sa.select(col(FollowUpCase.unit_id), func.count())
        .where(col(FollowUpCase.unit_id).in_(unit_ids), overdue_condition(today))
        .group_by(col(FollowUpCase.unit_id))
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return {int(unit_id): int(n) for unit_id, n in rows}
