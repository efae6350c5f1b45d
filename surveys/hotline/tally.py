"""The 12345 回访 counts of every unit in a period: what the 民意调查 scoring reads.

One GROUP BY over the active (latest-round) visits of the period (domain.md §6); the rates
are derived from these counts in :mod:`surveys.hotline.indicators`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.hotline.models import HotlineVisit, VisitOutcome, VisitSatisfaction


@dataclass(frozen=True)
class HotlineTally:
    visits: int  # active (latest-round) visits of the unit in the period
    reached: int  # outcome answered
    contacted: int  # 是否联系 = 是, among reached
    answered: int  # gave 是否满意, among reached
    resolved: int  # 是否解决 = 是, among answered
    satisfied: int  # 满意
    basic: int  # 基本满意
    dissatisfied: int  # 不满意
    short_attempts: int


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def tally_columns() -> list[sa.ColumnElement[int]]:
    """The counted columns of :class:`HotlineTally`, in its field order."""
    reached = col(HotlineVisit.outcome) == VisitOutcome.answered.value
    answered = sa.and_(reached, col(HotlineVisit.satisfaction).is_not(None))
    satisfaction = col(HotlineVisit.satisfaction)
    return [
        sa.func.count(col(HotlineVisit.id)),
        _count(reached),
        _count(sa.and_(reached, col(HotlineVisit.contacted).is_(True))),
        _count(answered),
        _count(sa.and_(answered, col(HotlineVisit.resolved).is_(True))),
        _count(sa.and_(reached, satisfaction == VisitSatisfaction.satisfied.value)),
        _count(sa.and_(reached, satisfaction == VisitSatisfaction.basic.value)),
        _count(sa.and_(reached, satisfaction == VisitSatisfaction.dissatisfied.value)),
        _count(col(HotlineVisit.short_attempts).is_(True)),
    ]


async def hotline_tallies(*, session: AsyncSession, period: str) -> dict[int, HotlineTally]:
    """Every unit's 回访 counts in ``period`` (active visits only), by unit id."""
    stmt = (
        sa.select(col(HotlineVisit.unit_id), *tally_columns())
        .where(col(HotlineVisit.period) == period, col(HotlineVisit.active).is_(True))
        .group_by(col(HotlineVisit.unit_id))
    )
    connection = await session.connection()
    rows = (await connection.execute(stmt)).all()
    return {int(row[0]): HotlineTally(*(int(v) for v in row[1:])) for row in rows}
