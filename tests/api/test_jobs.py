"""The scheduled jobs (``api.jobs.Jobs``) on a real database, with no bot: a round queues
staff replies and staff notices in the outbox once, marks overdue cases 督办, and runs the
daily purges on its first round only; a second runner waits while the first leads.

The jobs read the clock themselves, so the rows here are dated relative to it; the case
follows a 差评 of 2025-09-30, long past both of its deadlines.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from api.jobs import Jobs
from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit, StaffUser, Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.delivery import outbox
from surveys.delivery.models import OutboxMessage
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Identity, InboundEvent

CITIZEN_CHAT = 4242
STAFF_CHAT = 5151
UNIT_NAME = "市审批服务局"
REPLY = "已联系窗口，材料已补齐"
RATED = datetime(2025, 9, 30, 7, tzinfo=UTC)


async def make_case(sessionmaker: SessionMaker, *, reply: str | None = REPLY) -> int:
    """A 差评 case of a citizen reachable on Telegram who agreed to be contacted, with a
    staff reply not yet delivered, and a linked supervisor of its unit."""
    async with unit_of_work(sessionmaker) as session:
        unit = Unit(code="spj", name=UNIT_NAME, kind=UnitKind.department)
        session.add(unit)
        await session.flush()
        staff = StaffUser(username="li", role=StaffRole.supervisor, telegram_chat_id=STAFF_CHAT)
        session.add(staff)
        await session.flush()
        session.add(StaffUnit(user_id=pk(staff), unit_id=pk(unit)))
        citizen = await respondents.get_or_create_respondent(
            session=session, secret=b"k", channel="telegram", external_id=CITIZEN_CHAT
        )
        await respondents.remember_contact(
            session=session,
            respondent=citizen,
            channel="telegram",
            chat_id=CITIZEN_CHAT,
            language_code="zh-hans",
        )
        rating = Rating(
            source=RatingSource.bot,
            source_id="r1",
            unit_id=pk(unit),
            channel=2,
            respondent_id=pk(citizen),
            level="dissatisfied",
            contact_ok=True,  # 同意联系: only then is the unit's reply relayed
            period="2025H2",
            rated_at=RATED,
        )
        session.add(rating)
        await session.flush()
        case = await cases.open_case(
            session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
        )
        assert case is not None
        if reply is not None:
            await cases.add_reply(session=session, case=case, actor="li", text=reply)
        return pk(case)


async def outbox_rows(sessionmaker: SessionMaker, **where: Any) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list((await session.exec(query)).all())


async def case_events(sessionmaker: SessionMaker, case_id: int) -> list[CaseEvent]:
    async with sessionmaker() as session:
        found = await session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        )
        return list(found.all())


class TestRound:
    async def test_a_staff_reply_is_queued_once_and_marked_delivered(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker)
        jobs = Jobs(settings, sessionmaker)

        first = await jobs.round()
        second = await jobs.round()

        assert (first["relay"], second["relay"]) == (1, 0)
        (message,) = await outbox_rows(sessionmaker, purpose="relay")
        assert (message.chat_id, message.case_id, message.method) == (
            CITIZEN_CHAT,
            case_id,
            "sendMessage",
        )
        assert REPLY in message.payload["text"]
        assert UNIT_NAME in message.payload["text"]
        assert message.payload["reply_markup"]["inline_keyboard"]  # a button to write back
        (reply,) = [e for e in await case_events(sessionmaker, case_id) if e.kind == "reply"]
        assert reply.delivered_at is not None

    async def test_the_queued_reply_waits_for_the_sender(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        """With no bot, nothing is sent: the message stays due in the outbox."""
        await make_case(sessionmaker)
        notified: list[bool] = []

        await Jobs(settings, sessionmaker, notify=lambda: notified.append(True)).round()

        assert notified == [True]  # a sender, were there one, is woken
        async with sessionmaker() as session:
            depth = await outbox.depth(session, now=utcnow())
            claimed = await outbox.claim(
                session, now=utcnow(), limit=10, lease=timedelta(seconds=30)
            )
        assert depth.waiting == 3  # the reply, and the supervisor's two notices
        # The head of each chat: the citizen's reply, the supervisor's first notice.
        assert sorted((c.chat_id, c.purpose) for c in claimed) == [
            (CITIZEN_CHAT, "relay"),
            (STAFF_CHAT, "notice"),
        ]

    async def test_an_overdue_case_is_escalated_and_its_supervisor_told_once(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, reply=None)
        jobs = Jobs(settings, sessionmaker)

        first = await jobs.round()
        second = await jobs.round()

        async with sessionmaker() as session:
            case = await session.get(FollowUpCase, case_id)
        assert case is not None
        assert case.escalated_at is not None
        escalations = [
            e for e in await case_events(sessionmaker, case_id) if e.kind == "escalated"
        ]
        assert len(escalations) == 1
        assert "督办" in (escalations[0].note or "")
        notices = await outbox_rows(sessionmaker, purpose="notice")
        assert {m.chat_id for m in notices} == {STAFF_CHAT}
        assert len(notices) == first["notices"] == 2  # the new 差评, and overdue
        assert second["notices"] == 0
        assert all(str(CITIZEN_CHAT) not in m.payload["text"] for m in notices)

    async def test_daily_jobs_run_on_the_first_round_only(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        now = utcnow()
        stale = now - timedelta(days=settings.identity_retention_days + 1)
        async with unit_of_work(sessionmaker) as session:
            session.add(InboundEvent(key="old", received_at=now - timedelta(days=8)))
            session.add(InboundEvent(key="new", received_at=now - timedelta(hours=1)))
            for external, seen in ((1, stale), (2, now)):
                person = await respondents.get_or_create_respondent(
                    session=session, secret=b"k", channel="telegram", external_id=external
                )
                session.add(
                    Identity(
                        respondent_id=pk(person),
                        channel="telegram",
                        chat_id=external,
                        created_at=seen,
                        last_seen_at=seen,
                    )
                )
            old_sent = await outbox.enqueue(
                session,
                chat_id=7,
                method="sendMessage",
                payload={"text": "x"},
                now=now - timedelta(days=8),
            )
            await outbox.claim(
                session, now=now - timedelta(days=8), limit=1, lease=timedelta(seconds=30)
            )
            await outbox.settle(
                session,
                message_id=old_sent,
                result=outbox.Result.sent,
                now=now - timedelta(days=8),
            )
        jobs = Jobs(settings, sessionmaker)

        first = await jobs.round()
        async with unit_of_work(sessionmaker) as session:
            session.add(InboundEvent(key="old-2", received_at=now - timedelta(days=8)))
        second = await jobs.round()

        assert (first["retention"], first["updates-pruned"], first["outbox-pruned"]) == (1, 1, 1)
        assert not {"retention", "updates-pruned", "outbox-pruned"} & set(second)
        async with sessionmaker() as session:
            keys = set((await session.exec(select(InboundEvent.key))).all())
            chats = set((await session.exec(select(Identity.chat_id))).all())
        assert keys == {"new", "old-2"}  # old-2 waits for tomorrow's round
        assert chats == {2}
        assert await outbox_rows(sessionmaker) == []

    async def test_a_failing_job_does_not_stop_the_others(
        self, settings: Settings, sessionmaker: SessionMaker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await make_case(sessionmaker)
        jobs = Jobs(settings, sessionmaker)

        async def broken(session: object) -> int:
            raise RuntimeError("boom")

        monkeypatch.setattr(jobs, "frequent", lambda: [("broken", broken), *Jobs.frequent(jobs)])
        done = await jobs.round()

        assert "broken" not in done
        assert done["relay"] == 1


class TestLeadership:
    async def test_a_second_runner_waits_while_the_first_leads(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        quick = settings.model_copy(update={"relay_interval_seconds": 0.05})
        leader = Jobs(quick, sessionmaker)
        assert await leader.leadership.hold() is True
        await make_case(sessionmaker)
        follower = Jobs(quick, sessionmaker)
        running = asyncio.create_task(follower.run())
        try:
            await asyncio.sleep(0.5)
            assert await outbox_rows(sessionmaker) == []  # ten intervals, and no round
            assert follower.leadership.held is False

            await leader.leadership.release()

            for _ in range(200):
                if await outbox_rows(sessionmaker, purpose="relay"):
                    break
                await asyncio.sleep(0.05)
            assert len(await outbox_rows(sessionmaker, purpose="relay")) == 1
            assert follower.leadership.held is True
            assert await leader.leadership.hold() is False
        finally:
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        # Stopped, the follower lets go of the lease.
        assert follower.leadership.held is False
        assert await leader.leadership.hold() is True
        await leader.leadership.release()
