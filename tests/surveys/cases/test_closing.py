"""Every case can end: 已关闭（未复评） after the 复评 window, a supervisor's 结案 with a note,
无法联系 when the citizen erased their contact, and the reason kept on every path to 已关闭.

The 复评 window is counted in the real 2025 calendar (chinesecalendar): after a 反馈 on
2025-09-29 (Monday) the 5 working days are 09-30, then (国庆+中秋 10-01..10-08) 10-09, 10-10,
10-11 (a Saturday 调休 workday) and 10-13; after a 反馈 on 09-30 they end on 10-14.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent, Unit, UnitKind
from surveys.cases import closing, contact, relay
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, CloseReason, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.models import pk
from surveys.flows import case_closing as closing_flows
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Identity, Respondent

S = CaseState
BEIJING = timezone(timedelta(hours=8))
CAL = WorkCalendar()
NOW = datetime(2026, 1, 5, 1, tzinfo=UTC)
DAYS = 5
FEEDBACK = "已补充办事指南中的材料清单。"
_ids = itertools.count(1)


async def make_unit(session: AsyncSession) -> Unit:
    n = next(_ids)
    unit = Unit(code=f"C{n}", name=f"单位{n}", kind=UnitKind.district)
    session.add(unit)
    await session.flush()
    return unit


async def make_case(
    session: AsyncSession,
    state: CaseState = S.pending,
    *,
    unit: Unit | None = None,
    respondent: Respondent | None = None,
) -> FollowUpCase:
    unit = unit or await make_unit(session)
    rating = Rating(
        source=RatingSource.bot if respondent else RatingSource.api,
        source_id=f"close-{next(_ids)}",
        unit_id=pk(unit),
        channel=2,
        level="dissatisfied",
        period="2025H2",
        rated_at=datetime(2025, 9, 20, 2, tzinfo=UTC),
        respondent_id=pk(respondent) if respondent else None,
        contact_ok=respondent is not None,
    )
    session.add(rating)
    await session.flush()
    case = await cases.open_case(
        session=session, rating=rating, calendar=CAL, policy=DeadlinePolicy()
    )
    assert case is not None
    case.state = state
    await session.flush()
    return case


async def fed_back(session: AsyncSession, at: datetime, **kw: object) -> FollowUpCase:
    """A case moved to 已反馈 (with its 反馈) at the moment ``at``."""
    case = await make_case(session, S.rectifying, **kw)  # type: ignore[arg-type]
    event = await cases.transition(
        session=session, case=case, to=S.replied, actor="li", actor_role="staff", note=FEEDBACK
    )
    event.at = at.astimezone(UTC)
    await session.flush()
    return case


async def sweep(session: AsyncSession, today: date) -> list[int]:
    done = await closing.close_unrerated(
        session=session, calendar=CAL, today=today, now=NOW, days=DAYS
    )
    return [pk(case) for case in done]


async def last_event(session: AsyncSession, case: FollowUpCase) -> CaseEvent:
    return (await cases.timeline(session=session, case=case))[-1]


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


class TestWindowStart:
    @pytest.mark.parametrize(
        ("today", "start"),
        [
            ("2025-10-14", "2025-09-30"),  # 09-30, 10-09..10-13 lie before 10-14
            ("2025-10-15", "2025-10-09"),  # a 反馈 in the holiday counts from 10-09: over too
            ("2025-10-09", "2025-09-25"),  # the holiday counts no working day
            ("2025-10-13", "2025-09-29"),  # 10-11, a Saturday 调休, counts; 10-12 does not
        ],
    )
    def test_the_first_day_still_within_the_window(self, today: str, start: str) -> None:
        day = date.fromisoformat(today)

        found = closing.window_start(CAL, day, DAYS)

        assert found == date.fromisoformat(start)
        # The inverse of the deadline: a 反馈 the day before is over, on that day it is not.
        assert CAL.add_working_days(found - timedelta(days=1), DAYS) < day
        assert CAL.add_working_days(found, DAYS) >= day


class TestCloseUnrerated:
    async def test_closes_the_day_after_the_window_and_not_before(
        self, session: AsyncSession
    ) -> None:
        monday = await fed_back(session, local("2025-09-29T16:00"))
        tuesday = await fed_back(session, local("2025-09-30T10:00"))

        assert await sweep(session, date(2025, 10, 13)) == []
        assert await sweep(session, date(2025, 10, 14)) == [pk(monday)]
        assert tuesday.state == S.replied
        assert await sweep(session, date(2025, 10, 15)) == [pk(tuesday)]

        for case, due in ((monday, "2025-10-13"), (tuesday, "2025-10-14")):
            assert (case.state, case.close_reason) == (S.closed, CloseReason.no_rerating)
            assert case.closed_at == NOW
            assert closing.state_label(case) == "已关闭（未复评）"
            event = await last_event(session, case)
            assert (event.actor, event.kind, event.from_state, event.to_state) == (
                "system",
                "transition",
                "已反馈",
                "已关闭",
            )
            assert event.note is not None
            assert due in event.note

    async def test_the_local_date_of_the_feedback_counts_not_the_utc_one(
        self, session: AsyncSession
    ) -> None:
        # Both on 2025-09-29 in UTC; the second is already 09-30 in Beijing.
        late_evening = await fed_back(session, local("2025-09-29T23:30"))
        after_midnight = await fed_back(session, local("2025-09-30T00:30"))
        assert await sweep(session, date(2025, 10, 14)) == [pk(late_evening)]
        assert after_midnight.state == S.replied

    async def test_a_second_run_closes_nothing_and_other_cases_stay(
        self, session: AsyncSession
    ) -> None:
        old = await fed_back(session, local("2025-09-01T10:00"))
        rerated = await fed_back(session, local("2025-09-01T10:00"))
        await cases.record_rerating(session=session, case=rerated, level="满意")
        waiting = await make_case(session, S.rectifying)  # the unit still owes its 反馈

        assert await sweep(session, date(2025, 12, 1)) == [pk(old)]
        assert await sweep(session, date(2025, 12, 1)) == []
        assert (rerated.state, waiting.state) == (S.rerated, S.rectifying)
        closes = await session.exec(
            select(CaseEvent).where(CaseEvent.case_id == pk(old), CaseEvent.to_state == "已关闭")
        )
        assert len(closes.all()) == 1

    async def test_the_citizen_cannot_rerate_a_closed_case(self, session: AsyncSession) -> None:
        case = await fed_back(session, local("2025-09-01T10:00"))
        await sweep(session, date(2025, 12, 1))

        with pytest.raises(cases.RereratingNotAllowed):
            await cases.record_rerating(session=session, case=case, level="满意")


class TestSupervisorClose:
    @pytest.mark.parametrize(
        "state", [S.pending, S.verifying, S.rectifying, S.replied, S.appealing, S.rerated]
    )
    async def test_closes_any_open_case_with_a_note(
        self, session: AsyncSession, state: CaseState
    ) -> None:
        case = await make_case(session, state)
        boss = Actor.scoped(name="zhao", role=StaffRole.supervisor, unit_ids=[])

        done = await closing_flows.close(
            session=session, actor=boss, case_id=pk(case), note="  重复件，已合并办理  "
        )

        assert (case.state, case.close_reason) == (S.closed, CloseReason.supervisor)
        assert closing.state_label(case) == "已关闭（主管结案）"
        assert (done.event.actor, done.event.from_state, done.event.note) == (
            "zhao",
            state.value,
            "重复件，已合并办理",
        )
        audit = (await session.exec(select(AuditEvent))).one()
        assert (audit.action, audit.target) == ("case.close", f"case:{pk(case)}")
        assert audit.detail == {
            "event": pk(done.event),
            "frm": state.value,
            "reason": "supervisor",
        }

    @pytest.mark.parametrize("note", [None, "", "   "])
    async def test_a_note_is_required(self, session: AsyncSession, note: str | None) -> None:
        case = await make_case(session, S.replied)
        admin = Actor.scoped(name="root", role=StaffRole.admin, unit_ids=[])

        with pytest.raises(closing_flows.CloseNoteRequired) as refused:
            await closing_flows.close(session=session, actor=admin, case_id=pk(case), note=note)

        assert refused.value.status_code == 422
        assert (case.state, case.close_reason) == (S.replied, None)
        assert (await session.exec(select(AuditEvent))).first() is None

    @pytest.mark.parametrize("role", [StaffRole.staff, StaffRole.viewer])
    async def test_unit_staff_cannot(self, session: AsyncSession, role: StaffRole) -> None:
        unit = await make_unit(session)
        case = await make_case(session, S.replied, unit=unit)
        worker = Actor.scoped(name="wang", role=role, unit_ids=[pk(unit)])

        with pytest.raises(Forbidden):
            await closing_flows.close(session=session, actor=worker, case_id=pk(case), note="结案")
        with pytest.raises(cases.SupervisorOnly):  # nor through the service itself
            await cases.close(
                session=session,
                case=case,
                reason=CloseReason.supervisor,
                actor="wang",
                actor_role="staff",
                note="结案",
            )

        assert case.state == S.replied

    async def test_a_closed_case_stays_closed(self, session: AsyncSession) -> None:
        case = await make_case(session, S.closed)
        admin = Actor.scoped(name="root", role=StaffRole.admin, unit_ids=[])

        with pytest.raises(cases.InvalidTransition):
            await closing_flows.close(session=session, actor=admin, case_id=pk(case), note="再结")

    async def test_a_moves_to_closed_is_still_refused_from_replied(
        self, session: AsyncSession
    ) -> None:
        case = await make_case(session, S.replied)

        with pytest.raises(cases.InvalidTransition):  # the usual move: only via 复评 or 结案
            await cases.transition(
                session=session, case=case, to=S.closed, actor="a", actor_role="admin", note="x"
            )


class TestReasonOnEveryPath:
    @pytest.mark.parametrize(
        ("frm", "reason", "label"),
        [
            (S.rerated, CloseReason.rerated, "已关闭（已复评）"),
            (S.unfounded, CloseReason.unfounded, "已关闭（不属实）"),
            (S.appeal_upheld, CloseReason.appeal_upheld, "已关闭（申诉成立）"),
        ],
    )
    async def test_a_move_to_closed_keeps_how_it_ended(
        self, session: AsyncSession, frm: CaseState, reason: CloseReason, label: str
    ) -> None:
        case = await make_case(session, frm)

        await cases.transition(
            session=session, case=case, to=S.closed, actor="li", actor_role="staff", note=None
        )

        assert (case.state, case.close_reason) == (S.closed, reason)
        assert closing.state_label(case) == label

    def test_open_states_read_as_themselves(self) -> None:
        assert closing.label_of(S.replied, None) == "已反馈"
        assert closing.label_of(S.closed, None) == "已关闭"  # closed before reasons were kept


class TestFeedbackMessage:
    async def test_replied_needs_its_feedback(self, session: AsyncSession) -> None:
        case = await make_case(session, S.rectifying)

        with pytest.raises(cases.NoteRequired):
            await cases.transition(
                session=session, case=case, to=S.replied, actor="li", actor_role="staff", note=" "
            )

    async def test_the_feedback_goes_once_with_the_rerating_question(
        self, session: AsyncSession
    ) -> None:
        citizen = await reachable_citizen(session, 8101)
        case = await make_case(session, S.rectifying, respondent=citizen)
        await cases.add_reply(session=session, case=case, actor="li", text="已联系窗口")
        await cases.transition(
            session=session, case=case, to=S.replied, actor="li", actor_role="staff", note=FEEDBACK
        )

        outgoing = await relay.outgoing_replies(session=session, channel="telegram")

        assert [(o.text, o.ask_rerating, o.unfounded) for o in outgoing] == [
            ("已联系窗口", False, False),  # the earlier reply does not ask too
            (FEEDBACK, True, False),
        ]
        for item in outgoing:
            await relay.mark_sent(session=session, event_id=item.event_id)
        assert await relay.outgoing_replies(session=session, channel="telegram") == []

    async def test_an_old_feedback_of_a_closed_case_is_not_sent_late(
        self, session: AsyncSession
    ) -> None:
        citizen = await reachable_citizen(session, 8102)
        case = await make_case(session, S.rectifying, respondent=citizen)
        await cases.transition(
            session=session, case=case, to=S.replied, actor="li", actor_role="staff", note=FEEDBACK
        )
        await cases.record_rerating(session=session, case=case, level="满意")

        assert await relay.outgoing_replies(session=session, channel="telegram") == []


async def reachable_citizen(session: AsyncSession, chat_id: int) -> Respondent:
    who = await respondents.get_or_create_respondent(
        session=session, secret=b"k", channel="telegram", external_id=chat_id
    )
    await respondents.remember_contact(
        session=session, respondent=who, channel="telegram", chat_id=chat_id, language_code=None
    )
    return who


class TestErasedCitizen:
    async def test_awaiting_rerating_closes_with_the_unit_stays_open_and_marked(
        self, session: AsyncSession
    ) -> None:
        me = await reachable_citizen(session, 8201)
        awaiting = await fed_back(session, local("2026-01-04T10:00"), respondent=me)
        working = await make_case(session, S.rectifying, respondent=me)
        someone_else = await fed_back(
            session, local("2026-01-04T10:00"), respondent=await reachable_citizen(session, 8202)
        )

        erased = await closing.forget_citizen(session=session, respondent=me, now=NOW)

        assert erased == 1
        assert (
            await session.exec(select(Identity).where(Identity.chat_id == 8201))
        ).first() is None
        assert (awaiting.state, awaiting.close_reason) == (S.closed, CloseReason.unreachable)
        assert closing.state_label(awaiting) == "已关闭（无法联系）"
        assert (working.state, working.close_reason) == (S.rectifying, None)
        assert someone_else.state == S.replied
        kinds = [e.kind for e in await cases.timeline(session=session, case=working)]
        assert kinds[-1] == closing.UNREACHABLE
        assert await contact.channel_of(session=session, case=working) == "unreachable"
        assert await contact.channel_of(session=session, case=someone_else) == "telegram"

        # Erasing again marks nothing twice.
        await closing.forget_citizen(session=session, respondent=me, now=NOW)
        again = [e.kind for e in await cases.timeline(session=session, case=working)]
        assert again.count(closing.UNREACHABLE) == 1

    async def test_a_case_still_with_the_unit_closes_once_it_reaches_replied(
        self, session: AsyncSession
    ) -> None:
        me = await reachable_citizen(session, 8301)
        working = await make_case(session, S.rectifying, respondent=me)
        await closing.forget_citizen(session=session, respondent=me, now=NOW)
        await cases.transition(
            session=session,
            case=working,
            to=S.replied,
            actor="li",
            actor_role="staff",
            note="已整改",
        )

        assert await relay.outgoing_replies(session=session, channel="telegram") == []
        # The same day: no waiting for a 复评 that cannot come.
        assert await sweep(session, NOW.date()) == [pk(working)]
        assert (working.state, working.close_reason) == (S.closed, CloseReason.unreachable)
        event = await last_event(session, working)
        assert (event.actor, event.to_state) == ("system", "已关闭")


async def test_only_the_cases_of_that_citizen_are_read(session: AsyncSession) -> None:
    """The erasure picks the citizen's open cases in SQL: an unrelated closed case is
    never touched, and the statement names the respondent."""
    me = await reachable_citizen(session, 8401)
    mine = await make_case(session, S.closed, respondent=me)

    await closing.forget_citizen(session=session, respondent=me, now=NOW)

    events = await session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == pk(mine)))
    assert [e.kind for e in events.all()] == ["opened"]
