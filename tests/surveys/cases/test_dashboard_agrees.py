"""The dashboard's 逾期差评 and the case queue's overdue count are one number, for every role.

On the demo data (units, ratings, recent 差评 cases), with one more overdue case whose rating
was excluded (申诉成立) and one whose rating was replaced by a later round: both are still
work the unit owes, so both pages count them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import queries, workdays
from surveys.cases import service as cases
from surveys.cases.models import FollowUpCase
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.haochaping import dashboard
from surveys.haochaping.models import Rating

TODAY = date(2026, 11, 23)


@pytest.fixture
async def demo_world(session: AsyncSession, settings: Settings) -> list[int]:
    """The demo, and two overdue cases whose ratings no longer count in the scores."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    await demo_scores.load(
        session=session, today=TODAY, now=datetime(2026, 11, 23, 2, tzinfo=UTC),
        tz=settings.tz, policy=workdays.policy_from(settings),
    )  # fmt: skip
    awaiting = [s.value for s in cases.AWAITING_RECTIFY]
    statement = select(FollowUpCase).where(col(FollowUpCase.state).in_(awaiting))
    found = (await session.exec(statement.order_by(col(FollowUpCase.id)))).all()
    assert len(found) > 10
    for case, change in zip(found[:2], ({"excluded": True}, {"active": False}), strict=True):
        case.contact_due = case.rectify_due = date(2026, 11, 2)
        rating = await session.get(Rating, case.rating_id)
        assert rating is not None
        for name, value in change.items():
            setattr(rating, name, value)
    await session.flush()
    return [u.id for u in await units.list_units(session=session) if u.id is not None]


def _actors(unit_ids: list[int]) -> list[Actor]:
    city = [
        Actor(name="admin", role=StaffRole.admin, units=None),
        Actor.scoped(name="zhao", role=StaffRole.supervisor, unit_ids=[]),
        Actor.scoped(name="wang", role=StaffRole.viewer, unit_ids=[]),
        Actor.scoped(name="qian", role=StaffRole.supervisor, unit_ids=unit_ids[:3]),
    ]
    return city + [
        Actor.scoped(name=f"li-{u}", role=StaffRole.staff, unit_ids=[u]) for u in unit_ids
    ]


async def _queue_overdue(session: AsyncSession, actor: Actor, unit_id: int | None) -> int:
    filters = queries.QueueFilters(unit_id=unit_id, overdue=True, limit=1)
    return (await queries.case_queue(session, actor, filters, TODAY)).total


async def test_every_role_reads_the_same_overdue_count(
    session: AsyncSession, settings: Settings, demo_world: list[int]
) -> None:
    checked = 0
    for actor in _actors(demo_world):
        page = await dashboard.overview(session=session, actor=actor, today=TODAY, tz=settings.tz)
        assert page.totals["overdue"] == await _queue_overdue(session, actor, None), actor.name
        for row in page.units:
            assert row.overdue == await _queue_overdue(session, actor, row.unit_id), (
                actor.name,
                row.code,
            )
            checked += row.overdue
    assert checked > 0


async def test_cases_of_ratings_out_of_the_scores_are_counted(
    session: AsyncSession, settings: Settings, demo_world: list[int]
) -> None:
    """The two cases whose ratings left the scores are overdue on both pages."""
    awaiting = [s.value for s in cases.AWAITING_RECTIFY]
    statement = select(FollowUpCase).where(col(FollowUpCase.state).in_(awaiting))
    first = (await session.exec(statement.order_by(col(FollowUpCase.id)))).first()
    assert first is not None
    actor = Actor.scoped(name="li", role=StaffRole.staff, unit_ids=[first.unit_id])
    page = await dashboard.overview(session=session, actor=actor, today=TODAY, tz=settings.tz)
    shown = await queries.case_queue(
        session, actor, queries.QueueFilters(overdue=True, limit=500), TODAY
    )
    assert pk(first) in {row.id for row in shown.rows}
    assert page.totals["overdue"] == shown.total
