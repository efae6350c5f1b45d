"""The scheduled jobs close 已反馈 cases left without 复评 (no bot needed): a 反馈 of a month
ago closes as 已关闭（未复评） on the first round, one of today stays open, and a second round
closes nothing more."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from api.jobs import Jobs
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from tests.api.test_jobs import make_case


async def replied(sessionmaker: SessionMaker, case_id: int, days_ago: int) -> None:
    async with unit_of_work(sessionmaker) as session:
        case = await session.get_one(FollowUpCase, case_id)
        case.state = CaseState.rectifying
        event = await cases.transition(
            session=session,
            case=case,
            to=CaseState.replied,
            actor="li",
            actor_role="staff",
            note="已整改",
        )
        event.at = utcnow() - timedelta(days=days_ago)


async def test_a_round_closes_what_is_past_its_rerating_window(
    settings: Settings, sessionmaker: SessionMaker
) -> None:
    old = await make_case(sessionmaker, reply=None)
    await replied(sessionmaker, old, days_ago=30)
    jobs = Jobs(settings, sessionmaker)

    first = await jobs.round()
    second = await jobs.round()

    assert (first["closing"], second["closing"]) == (1, 0)
    async with sessionmaker() as session:
        case = await session.get_one(FollowUpCase, old)
        closes = await session.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == old, col(CaseEvent.to_state) == CaseState.closed.value
            )
        )
        (event,) = closes.all()
    assert (case.state, case.close_reason) == (CaseState.closed, "no_rerating")
    assert event.actor == "system"


async def test_a_fresh_feedback_waits(settings: Settings, sessionmaker: SessionMaker) -> None:
    fresh = await make_case(sessionmaker, reply=None)
    await replied(sessionmaker, fresh, days_ago=0)

    done = await Jobs(settings, sessionmaker).round()

    assert done["closing"] == 0
    async with sessionmaker() as session:
        assert (await session.get_one(FollowUpCase, fresh)).state == CaseState.replied
