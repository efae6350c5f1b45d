"""The console dashboard: per unit 好差评 counts and rates, open and overdue 差评, the monthly
trend and survey responses, for the units the actor may see."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases.models import CaseState, FollowUpCase
from surveys.core.clock import as_utc
from surveys.haochaping import indicators
from surveys.haochaping.models import Rating
from surveys.haochaping.ratings import is_bad
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


async def overview(*, session: AsyncSession, actor: Actor, today: date, tz: ZoneInfo) -> Overview:
    """The dashboard of the actor's units (every unit for admins and city-wide readers)."""
    actor.require(Perm.view)
    statement = select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.id))
    visible = [u for u in (await session.exec(statement)).all() if actor.sees(u.id)]
    ids = [u.id for u in visible if u.id is not None]
    by_unit = {
        row.unit_id: row
        for row in await indicators.rating_indicators(session=session, today=today, tz=tz)
        if row.unit_id in ids
    }
    open_cases = await session.exec(
        select(FollowUpCase.unit_id, func.count())
        .where(col(FollowUpCase.unit_id).in_(ids), FollowUpCase.state != CaseState.closed.value)
        .group_by(col(FollowUpCase.unit_id))
    )
    bad_open = dict(open_cases.all())
    responses = await session.exec(
        select(Response.unit_id, func.count())
        .where(
            col(Response.unit_id).in_(ids),
            Response.status == ResponseStatus.completed.value,
        )
        .group_by(col(Response.unit_id))
    )
    completed = {unit_id: n for unit_id, n in responses.all() if unit_id is not None}
    rows = []
    for unit in visible:
        assert unit.id is not None
        found = by_unit.get(unit.id)
        rows.append(
            UnitRow(
                unit_id=unit.id,
                code=unit.code,
                name=unit.name,
                kind=str(unit.kind),
                ratings=found.ratings if found else 0,
                good_rate=found.good_rate if found else None,
                bad_rate=found.bad_rate if found else None,
                bad_open=int(bad_open.get(unit.id, 0)),
                overdue=found.overdue_open if found else 0,
                responses=int(completed.get(unit.id, 0)),
            )
        )
    return Overview(units=rows, trend=await _trend(session, ids, today, tz))


async def _trend(
    session: AsyncSession, unit_ids: list[int], today: date, tz: ZoneInfo
) -> list[MonthPoint]:
    """Counted ratings per month (in ``tz``) over the last :data:`TREND_MONTHS` months."""
    months = _months(today, TREND_MONTHS)
    first = date.fromisoformat(months[0] + "-01")
    since = datetime.combine(first, time(), tzinfo=tz) - timedelta(days=1)
    statement = select(Rating.rated_at, Rating.level).where(
        col(Rating.unit_id).in_(unit_ids),
        col(Rating.active).is_(True),
        col(Rating.is_default).is_(False),
        col(Rating.excluded).is_(False),
        col(Rating.rated_at) >= since,
    )
    total: Counter[str] = Counter()
    good: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    good_levels = indicators.GOOD_LEVELS | {Level.neutral}
    for rated_at, level in (await session.exec(statement)).all():
        month = as_utc(rated_at).astimezone(tz).strftime("%Y-%m")
        total[month] += 1
        good[month] += Level(level) in good_levels
        bad[month] += is_bad(level)
    return [
        MonthPoint(
            month=m,
            ratings=total[m],
            bad=bad[m],
            good_rate=round(good[m] / total[m], 4) if total[m] else None,
        )
        for m in months
    ]
