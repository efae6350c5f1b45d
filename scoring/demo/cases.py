"""The demo year's 差评 loop (domain.md §3): every demo 差评 has its case, opened when the
rating came in, its deadlines counted from the rating in working days, worked by its unit's
demo staff (:mod:`scoring.demo.staff`) up to the load time along its story
(:mod:`scoring.demo.case_story`, :mod:`scoring.demo.case_timeline`).

A rating is excluded only by its case reaching 申诉成立. Cases and their timelines are
written in a few set-based statements, the rows :mod:`surveys.cases.service` would write
move by move.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import case_story as story
from scoring.demo import generate as demo_data
from scoring.demo import staff as demo_staff
from scoring.demo.case_timeline import Calendar, Clock, DemoRating, Timeline
from scoring.demo.generate import DEMO_PREFIX, DEMO_SOURCE
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, FollowUpCase
from surveys.core.clock import as_utc
from surveys.haochaping.models import Rating
from surveys.questionnaire.definitions import Level

RERATING_DAYS = 5  # the 复评 window (CASE_RERATING_DAYS) unless told
BAD = [Level.dissatisfied.value, Level.very_dissatisfied.value]
CHUNK = 500


@dataclass(frozen=True)
class DemoCases:
    cases: int  # cases opened
    staff: int  # demo staff accounts created


async def load_cases(
    *, session: AsyncSession, now: datetime, tz: ZoneInfo, policy: workdays.DeadlinePolicy,
    appeals: frozenset[str] = frozenset(), seed: int, rerating_days: int = RERATING_DAYS,
) -> DemoCases:  # fmt: skip
    """The demo staff, and a case for every demo 差评 that has none, as of ``now``.

    ``appeals`` are the source ids of ratings whose 申诉 is to be upheld (when there was
    time for it). Cases get no deadline, and so are not opened, in a year the working-day
    calendar does not cover. The caller commits.
    """
    all_units = (await session.exec(select(Unit).order_by(col(Unit.id)))).all()
    crew = await demo_staff.ensure_crew(session=session, units=all_units, seed=seed, now=now)
    overrides = await workdays.list_overrides(session=session)
    calendar = Calendar({row.day: row.workday for row in overrides}, tz=tz)
    deadlines = cases.Deadlines(calendar, policy)
    seconds = await _second_rounds(session)
    built = []
    for rating in await _ratings_without_case(session, seed):
        rng = random.Random(f"{seed}:case:{rating.source_id}")
        plan = story.plan(
            rng, rating, crew, upheld=rating.source_id in appeals,
            second=seconds.get(rating.source_id), rerating_days=rerating_days,
        )  # fmt: skip
        try:
            due = deadlines(rating.rated_at, rating.kind)
        except workdays.CalendarNotCovered:
            continue
        opened_at = _opened_at(rating, plan)
        if opened_at > now:
            continue
        timeline = Timeline(rating, due, opened_at, Clock(calendar, rng), now)
        story.play(timeline, plan, rng)
        built.append(timeline)
    await _store(session, built)
    return DemoCases(len(built), crew.added)


def _opened_at(rating: DemoRating, plan: story.Plan) -> datetime:
    """When the rating reached minyi; before a 2nd round that came almost at once."""
    if plan.second is None or plan.second - rating.rated_at > 2 * (
        rating.received_at - rating.rated_at
    ):
        return rating.received_at
    return rating.rated_at + (plan.second - rating.rated_at) / 5


def _demo_bad() -> list[Any]:
    return [
        Rating.source == DEMO_SOURCE,
        col(Rating.source_id).startswith(DEMO_PREFIX),
        col(Rating.is_default).is_(False),
    ]


async def _ratings_without_case(session: AsyncSession, seed: int) -> list[DemoRating]:
    """Every demo 差评 of either round without a case, by id (a 1st round replaced by a
    2nd was a 差评 waiting for its case all the same)."""
    rating, unit, case = _table(Rating).c, _table(Unit).c, _table(FollowUpCase).c
    statement = (
        sa.select(
            rating.id,
            rating.unit_id,
            unit.kind,
            rating.source_id,
            rating.rated_at,
            rating.received_at,
            rating.contact_ok,
            unit.code,
        )  # fmt: skip
        .select_from(_table(Rating))
        .join(_table(Unit), unit.id == rating.unit_id)
        .outerjoin(_table(FollowUpCase), case.rating_id == rating.id)
        .where(*_demo_bad(), rating.level.in_(BAD), case.id.is_(None))
        .order_by(rating.id)
    )
    found = await (await session.connection()).execute(statement)
    return [
        DemoRating(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            row[3],
            as_utc(row[4]),
            as_utc(row[5]),
            bool(row[6]),
            demo_data.unit_quality(row[7], seed),
        )  # fmt: skip
        for row in found
    ]


async def _second_rounds(session: AsyncSession) -> dict[str, tuple[datetime, str]]:
    """The demo's 2nd-round ratings (its 复评 after 整改) by the 1st round's source id."""
    statement = select(Rating.source_id, Rating.rated_at, Rating.level).where(
        *_demo_bad(), Rating.round == 2
    )
    return {
        source_id.removesuffix("-2"): (as_utc(rated_at), level)
        for source_id, rated_at, level in (await session.exec(statement)).all()
    }


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


async def _store(session: AsyncSession, built: Sequence[Timeline]) -> None:
    """Insert the cases and their timelines; exclude the ratings whose 申诉 was upheld."""
    if not built:
        return
    connection = await session.connection()
    case_table = _table(FollowUpCase)
    statement = sa.insert(case_table).returning(case_table.c.rating_id, case_table.c.id)
    inserted = await connection.execute(statement, [_case_row(tl) for tl in built])
    case_of = {int(rating_id): int(case_id) for rating_id, case_id in inserted}
    events = [{"case_id": case_of[tl.rating.id], **event} for tl in built for event in tl.events]
    await connection.execute(sa.insert(_table(CaseEvent)), events)
    upheld = [tl.rating.id for tl in built if tl.upheld]
    rating_table = _table(Rating)
    for start in range(0, len(upheld), CHUNK):
        chunk = upheld[start : start + CHUNK]
        await connection.execute(
            sa.update(rating_table).where(rating_table.c.id.in_(chunk)).values(excluded=True)
        )


def _case_row(tl: Timeline) -> dict[str, Any]:
    return {"rating_id": tl.rating.id, "unit_id": tl.rating.unit_id, "state": tl.state.value,
            "contact_due": tl.contact_due, "rectify_due": tl.rectify_due,
            "rerating": tl.rerating, "opened_at": tl.opened_at, "closed_at": tl.closed_at,
            "escalated_at": tl.escalated_at, "assignee_id": tl.assignee,
            "close_reason": tl.close_reason}  # fmt: skip
