"""The 差评 follow-up loop on a real SQLite file: opening, transitions, replies, deadlines.

Deadlines come from the real 2025 calendar (chinesecalendar 1.11.0): a 差评 on 2025-09-30 is
followed by the 国庆+中秋 holiday (10-01..10-08), so 1 working day is 10-09 and 5 working days
are 10-09, 10-10, 10-11 (a Saturday 调休 workday), 10-13 and 10-14.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.service import (
    CaseClosed,
    InvalidText,
    InvalidTransition,
    NoteRequired,
    RereratingNotAllowed,
    SupervisorOnly,
    add_citizen_message,
    add_reply,
    due_soon,
    escalate_overdue,
    is_overdue,
    mark_delivered,
    masked_reference,
    open_case,
    overdue_cases,
    pending_replies,
    record_rerating,
    timeline,
    transition,
)
from surveys.cases.workdays import CalendarNotCovered, DeadlinePolicy, WorkCalendar
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource

S = CaseState
CAL = WorkCalendar()
POLICY = DeadlinePolicy()
BEIJING = timezone(timedelta(hours=8))
RATED = datetime(2025, 9, 30, 15, tzinfo=BEIJING)
CONTACT_DUE = date(2025, 10, 9)
RECTIFY_DUE = date(2025, 10, 14)
_ids = itertools.count(1)


def d(text: str) -> date:
    return date.fromisoformat(text)


async def make_unit(session: AsyncSession, kind: UnitKind = UnitKind.district) -> Unit:
    n = next(_ids)
    unit = Unit(code=f"U{n}", name=f"单位{n}", kind=kind)
    session.add(unit)
    await session.flush()
    return unit


async def make_rating(
    session: AsyncSession,
    *,
    level: str = "dissatisfied",
    rated_at: datetime = RATED,
    unit: Unit | None = None,
    is_default: bool = False,
    active: bool = True,
) -> Rating:
    """A rating stored the way ingestion stores it: the time in UTC."""
    unit = unit or await make_unit(session)
    rating = Rating.model_validate(
        {
            "source": RatingSource.api,
            "source_id": f"r{next(_ids)}",
            "unit_id": pk(unit),
            "channel": 2,
            "level": level,
            "period": "2025H2",
            "rated_at": rated_at.astimezone(UTC),
            "is_default": is_default,
            "active": active,
        }
    )
    session.add(rating)
    await session.flush()
    return rating


async def make_case(session: AsyncSession, state: CaseState = S.pending) -> FollowUpCase:
    rating = await make_rating(session)
    case = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)
    assert case is not None
    case.state = state
    await session.flush()
    return case


async def move(
    session: AsyncSession,
    case: FollowUpCase,
    to: CaseState,
    *,
    role: str = "staff",
    note: str | None = "说明",
) -> CaseEvent:
    return await transition(
        session=session, case=case, to=to, actor="zhang", actor_role=role, note=note
    )


async def count(session: AsyncSession, model: type[FollowUpCase] | type[CaseEvent]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


class TestOpenCase:
    @pytest.mark.parametrize("level", ["dissatisfied", "very_dissatisfied"])
    async def test_opens_for_both_bad_levels(self, session: AsyncSession, level: str) -> None:
        rating = await make_rating(session, level=level)

        case = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert case is not None
        assert case.rating_id == pk(rating)
        assert case.unit_id == rating.unit_id
        assert case.state == S.pending

    @pytest.mark.parametrize(
        ("level", "is_default", "active"),
        [
            ("neutral", False, True),  # 基本满意 is not a 差评
            ("satisfied", False, True),
            ("dissatisfied", True, True),  # 系统默认评价
            ("very_dissatisfied", False, False),  # replaced by a later round
        ],
    )
    async def test_opens_nothing_otherwise(
        self, session: AsyncSession, level: str, is_default: bool, active: bool
    ) -> None:
        rating = await make_rating(session, level=level, is_default=is_default, active=active)

        case = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert case is None
        assert await count(session, FollowUpCase) == 0

    async def test_is_idempotent(self, session: AsyncSession) -> None:
        rating = await make_rating(session)
        first = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        again = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert first is not None
        assert again is None
        assert await count(session, FollowUpCase) == 1
        assert await count(session, CaseEvent) == 1

    async def test_deadlines_skip_the_national_day_holiday(self, session: AsyncSession) -> None:
        rating = await make_rating(session)

        case = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert case is not None
        assert (case.contact_due, case.rectify_due) == (CONTACT_DUE, RECTIFY_DUE)

    async def test_deadlines_follow_the_policy_of_the_unit_kind(
        self, session: AsyncSession
    ) -> None:
        unit = await make_unit(session, UnitKind.department)
        rating = await make_rating(session, unit=unit)
        policy = DeadlinePolicy(by_kind={"市直部门": (2, 3)})

        case = await open_case(session=session, rating=rating, calendar=CAL, policy=policy)

        assert case is not None
        assert (case.contact_due, case.rectify_due) == (d("2025-10-10"), d("2025-10-11"))

    async def test_a_rating_read_back_counts_from_its_shanghai_date(
        self, session: AsyncSession
    ) -> None:
        # 03:00 in Shanghai is still 09-29 in UTC: the offset SQLite drops must not shift it.
        rating = await make_rating(session, rated_at=datetime(2025, 9, 30, 3, tzinfo=BEIJING))
        session.expire(rating)
        await session.refresh(rating)

        case = await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert case is not None
        assert case.contact_due == CONTACT_DUE

    async def test_an_uncovered_year_is_refused_and_opens_nothing(
        self, session: AsyncSession
    ) -> None:
        rating = await make_rating(session, rated_at=datetime(2027, 3, 1, 10, tzinfo=BEIJING))

        with pytest.raises(CalendarNotCovered) as caught:
            await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)

        assert caught.value.year == 2027
        assert await count(session, FollowUpCase) == 0
        assert await count(session, CaseEvent) == 0

    async def test_records_the_opening(self, session: AsyncSession) -> None:
        case = await make_case(session)

        [event] = await timeline(session=session, case=case)

        assert (event.actor, event.kind, event.from_state, event.to_state) == (
            "system",
            "opened",
            None,
            "待核实",
        )

    async def test_never_commits(self, sessionmaker: SessionMaker) -> None:
        async with sessionmaker() as session:
            rating = await make_rating(session)
            await session.commit()
            await open_case(session=session, rating=rating, calendar=CAL, policy=POLICY)
            await session.rollback()

        async with sessionmaker() as session:
            assert await count(session, FollowUpCase) == 0


ALLOWED = [
    (S.pending, S.verifying),
    (S.verifying, S.rectifying),
    (S.verifying, S.unfounded),
    (S.verifying, S.appealing),
    (S.rectifying, S.replied),
    (S.rerated, S.closed),
    (S.unfounded, S.closed),
    (S.appealing, S.appeal_upheld),
    (S.appealing, S.appeal_rejected),
    (S.appeal_rejected, S.rectifying),
    (S.appeal_upheld, S.closed),
]


class TestTransition:
    @pytest.mark.parametrize(("frm", "to"), ALLOWED)
    async def test_allowed_move(
        self, session: AsyncSession, frm: CaseState, to: CaseState
    ) -> None:
        case = await make_case(session, frm)

        event = await move(session, case, to, role="supervisor", note="  理由  ")

        assert case.state == to
        assert (event.actor, event.kind, event.note) == ("zhang", "transition", "理由")
        assert (event.from_state, event.to_state) == (frm.value, to.value)
        assert event.at is not None

    @pytest.mark.parametrize(
        ("frm", "to"),
        [
            (S.pending, S.rectifying),
            (S.pending, S.closed),
            (S.rectifying, S.closed),
            (S.replied, S.closed),
            (S.appeal_upheld, S.rectifying),
            (S.closed, S.verifying),
        ],
    )
    async def test_refused_move(
        self, session: AsyncSession, frm: CaseState, to: CaseState
    ) -> None:
        case = await make_case(session, frm)

        with pytest.raises(InvalidTransition) as caught:
            await move(session, case, to, role="admin")

        assert caught.value.status_code == 409
        assert caught.value.params == {"frm": frm.value, "to": to.value}
        assert case.state == frm

    async def test_staff_cannot_set_the_rerating_state(self, session: AsyncSession) -> None:
        case = await make_case(session, S.replied)

        with pytest.raises(InvalidTransition):
            await move(session, case, S.rerated, role="admin")

        assert case.state == S.replied

    @pytest.mark.parametrize("to", [S.unfounded, S.appealing])
    @pytest.mark.parametrize("note", [None, "", "   "])
    async def test_a_reason_is_required(
        self, session: AsyncSession, to: CaseState, note: str | None
    ) -> None:
        case = await make_case(session, S.verifying)

        with pytest.raises(NoteRequired) as caught:
            await move(session, case, to, note=note)

        assert caught.value.status_code == 422
        assert case.state == S.verifying

    async def test_other_moves_need_no_note(self, session: AsyncSession) -> None:
        case = await make_case(session, S.pending)

        event = await move(session, case, S.verifying, note=None)

        assert event.note is None

    @pytest.mark.parametrize("to", [S.appeal_upheld, S.appeal_rejected])
    async def test_only_a_supervisor_decides_an_appeal(
        self, session: AsyncSession, to: CaseState
    ) -> None:
        case = await make_case(session, S.appealing)

        with pytest.raises(SupervisorOnly) as caught:
            await move(session, case, to, role="staff")

        assert caught.value.status_code == 403
        assert case.state == S.appealing

    async def test_an_admin_may_decide_an_appeal(self, session: AsyncSession) -> None:
        case = await make_case(session, S.appealing)

        await move(session, case, S.appeal_rejected, role="admin")

        assert case.state == S.appeal_rejected

    async def test_an_upheld_appeal_excludes_the_rating_but_keeps_it(
        self, session: AsyncSession
    ) -> None:
        case = await make_case(session, S.appealing)

        event = await move(session, case, S.appeal_upheld, role="supervisor", note="证据充分")

        rating = await session.get(Rating, case.rating_id)
        assert rating is not None
        assert rating.excluded
        assert rating.active
        assert event.to_state == "申诉成立"
        assert event.note == "证据充分"

    async def test_a_rejected_appeal_leaves_the_rating_counted(
        self, session: AsyncSession
    ) -> None:
        case = await make_case(session, S.appealing)

        await move(session, case, S.appeal_rejected, role="supervisor")

        rating = await session.get(Rating, case.rating_id)
        assert rating is not None
        assert not rating.excluded

    async def test_closing_sets_closed_at(self, session: AsyncSession) -> None:
        case = await make_case(session, S.unfounded)

        event = await move(session, case, S.closed)

        assert case.closed_at == event.at

    async def test_the_full_happy_path_is_on_the_timeline(self, session: AsyncSession) -> None:
        case = await make_case(session)
        await transition(
            session=session,
            case=case,
            to=S.verifying,
            actor="li",
            actor_role="staff",
            note="已电话联系",
        )
        await move(session, case, S.rectifying, note="窗口增加引导员")
        await move(session, case, S.replied, note="已反馈整改结果")
        await record_rerating(session=session, case=case, level="满意")
        await move(session, case, S.closed, note=None)

        events = await timeline(session=session, case=case)

        assert [(e.actor, e.from_state, e.to_state, e.note) for e in events] == [
            ("system", None, "待核实", None),
            ("li", "待核实", "核实中", "已电话联系"),
            ("zhang", "核实中", "整改中", "窗口增加引导员"),
            ("zhang", "整改中", "已反馈", "已反馈整改结果"),
            ("citizen", "已反馈", "已复评", "满意"),
            ("zhang", "已复评", "已关闭", None),
        ]
        assert all(e.at is not None for e in events)
        assert case.state == S.closed
        assert case.rerating == "satisfied"
        assert case.closed_at is not None

    async def test_the_error_message_names_both_states(self, session: AsyncSession) -> None:
        case = await make_case(session)

        with pytest.raises(InvalidTransition) as caught:
            await move(session, case, S.closed)

        text = Translator()(caught.value.key, **caught.value.params)
        assert "待核实" in text
        assert "已关闭" in text


class TestAddReply:
    async def test_adds_an_undelivered_reply(self, session: AsyncSession) -> None:
        case = await make_case(session, S.verifying)

        event = await add_reply(session=session, case=case, actor="zhang", text=" 您好，已核实 ")

        assert (event.actor, event.kind, event.note) == ("zhang", "reply", "您好，已核实")
        assert event.delivered_at is None

    async def test_accepts_2000_characters(self, session: AsyncSession) -> None:
        case = await make_case(session)

        event = await add_reply(session=session, case=case, actor="zhang", text="字" * 2000)

        assert event.note == "字" * 2000

    @pytest.mark.parametrize("text", ["", "  ", "字" * 2001])
    async def test_refuses_empty_or_too_long_text(self, session: AsyncSession, text: str) -> None:
        case = await make_case(session)

        with pytest.raises(InvalidText) as caught:
            await add_reply(session=session, case=case, actor="zhang", text=text)

        assert caught.value.params == {"max": 2000, "got": len(text.strip())}

    async def test_refused_on_a_closed_case(self, session: AsyncSession) -> None:
        case = await make_case(session, S.closed)

        with pytest.raises(CaseClosed) as caught:
            await add_reply(session=session, case=case, actor="zhang", text="您好")

        assert caught.value.status_code == 409


class TestPendingReplies:
    async def test_lists_undelivered_replies_oldest_first_with_their_case(
        self, session: AsyncSession
    ) -> None:
        one, two = await make_case(session), await make_case(session)
        first = await add_reply(session=session, case=two, actor="zhang", text="一")
        await add_citizen_message(session=session, case=one, text="市民留言")
        second = await add_reply(session=session, case=one, actor="li", text="二")

        pending = await pending_replies(session=session)

        assert pending == [(first, two), (second, one)]

    async def test_a_delivered_reply_is_no_longer_pending(self, session: AsyncSession) -> None:
        case = await make_case(session)
        done = await add_reply(session=session, case=case, actor="zhang", text="一")
        waiting = await add_reply(session=session, case=case, actor="zhang", text="二")

        await mark_delivered(session=session, event=done)

        assert await pending_replies(session=session) == [(waiting, case)]


class TestMarkDelivered:
    async def test_sets_the_delivery_time_once(self, session: AsyncSession) -> None:
        case = await make_case(session)
        event = await add_reply(session=session, case=case, actor="zhang", text="您好")

        await mark_delivered(session=session, event=event)
        first = event.delivered_at
        await mark_delivered(session=session, event=event)

        assert first is not None
        assert event.delivered_at == first


class TestAddCitizenMessage:
    async def test_joins_the_timeline(self, session: AsyncSession) -> None:
        case = await make_case(session, S.rectifying)

        event = await add_citizen_message(session=session, case=case, text="窗口仍然排长队")

        events = await timeline(session=session, case=case)
        assert events[-1] == event
        assert (event.actor, event.kind, event.note) == ("citizen", "citizen", "窗口仍然排长队")

    async def test_is_not_a_pending_reply(self, session: AsyncSession) -> None:
        case = await make_case(session)

        await add_citizen_message(session=session, case=case, text="您好")

        assert await pending_replies(session=session) == []

    async def test_refused_on_a_closed_case(self, session: AsyncSession) -> None:
        case = await make_case(session, S.closed)

        with pytest.raises(CaseClosed):
            await add_citizen_message(session=session, case=case, text="您好")


class TestRecordRerating:
    @pytest.mark.parametrize(
        ("level", "code"),
        [("满意", "satisfied"), ("基本满意", "neutral"), ("不满意", "dissatisfied")],
    )
    async def test_records_the_level_and_moves_to_rerated(
        self, session: AsyncSession, level: str, code: str
    ) -> None:
        case = await make_case(session, S.replied)

        event = await record_rerating(session=session, case=case, level=level)

        assert case.rerating == code
        assert case.state == S.rerated
        assert (event.actor, event.kind, event.to_state) == ("citizen", "rerating", "已复评")

    @pytest.mark.parametrize("state", [S.rectifying, S.rerated, S.closed])
    async def test_refused_outside_replied(self, session: AsyncSession, state: CaseState) -> None:
        case = await make_case(session, state)

        with pytest.raises(RereratingNotAllowed) as caught:
            await record_rerating(session=session, case=case, level="满意")

        assert caught.value.params == {"state": state.value}
        assert case.state == state
        assert case.rerating is None

    async def test_an_unknown_level_is_a_programming_error(self, session: AsyncSession) -> None:
        case = await make_case(session, S.replied)

        with pytest.raises(ValueError, match="非常满意"):
            await record_rerating(session=session, case=case, level="非常满意")


class TestIsOverdue:
    @pytest.mark.parametrize(
        ("state", "today", "overdue"),
        [
            (S.pending, "2025-10-09", False),  # the contact deadline itself
            (S.pending, "2025-10-10", True),
            (S.verifying, "2025-10-10", False),  # contacted: only 整改 is due
            (S.verifying, "2025-10-14", False),
            (S.verifying, "2025-10-15", True),
            (S.rectifying, "2025-10-15", True),
            (S.appealing, "2025-10-15", True),
            (S.appeal_rejected, "2025-10-15", True),
            (S.replied, "2025-10-15", False),
            (S.rerated, "2025-10-15", False),
            (S.unfounded, "2025-10-15", False),
            (S.appeal_upheld, "2025-10-15", False),
            (S.closed, "2025-10-15", False),
        ],
    )
    async def test_around_both_deadlines(
        self, session: AsyncSession, state: CaseState, today: str, overdue: bool
    ) -> None:
        case = await make_case(session, state)

        assert is_overdue(case, d(today)) is overdue


class TestOverdueCases:
    async def test_lists_overdue_cases_only(self, session: AsyncSession) -> None:
        late = await make_case(session, S.pending)
        await make_case(session, S.verifying)
        await make_case(session, S.replied)

        assert await overdue_cases(session=session, today=d("2025-10-10")) == [late]

    async def test_filters_by_unit(self, session: AsyncSession) -> None:
        one, two = await make_case(session), await make_case(session)

        found = await overdue_cases(session=session, today=d("2025-10-10"), unit_id=two.unit_id)

        assert found == [two]
        assert one.unit_id != two.unit_id


class TestEscalateOverdue:
    NOW = datetime(2025, 10, 10, 9, tzinfo=UTC)

    async def test_escalates_once_with_an_event(self, session: AsyncSession) -> None:
        case = await make_case(session)
        await make_case(session, S.verifying)

        first = await escalate_overdue(session=session, today=d("2025-10-10"), now=self.NOW)
        again = await escalate_overdue(session=session, today=d("2025-10-13"), now=self.NOW)

        assert first == [case]
        assert again == []
        assert case.escalated_at == self.NOW
        escalations = [e for e in await timeline(session=session, case=case) if e.kind != "opened"]
        assert [(e.actor, e.kind, e.from_state) for e in escalations] == [
            ("system", "escalated", "待核实")
        ]
        assert escalations[0].note is not None
        assert "2025-10-09" in escalations[0].note

    async def test_nothing_before_a_deadline_passes(self, session: AsyncSession) -> None:
        case = await make_case(session)

        assert await escalate_overdue(session=session, today=CONTACT_DUE, now=self.NOW) == []
        assert case.escalated_at is None


class TestDueSoon:
    @pytest.mark.parametrize(
        ("state", "today", "soon"),
        [
            (S.pending, "2025-09-30", True),  # the next working day is 10-09
            (S.pending, "2025-10-09", True),  # due today
            (S.pending, "2025-10-10", False),  # overdue, not due soon
            (S.verifying, "2025-10-09", False),  # 整改 due 10-14, 3 working days on
            (S.verifying, "2025-10-13", True),
            (S.rectifying, "2025-10-14", True),
            (S.replied, "2025-10-13", False),
        ],
    )
    async def test_a_deadline_within_one_working_day(
        self, session: AsyncSession, state: CaseState, today: str, soon: bool
    ) -> None:
        case = await make_case(session, state)

        found = await due_soon(session=session, calendar=CAL, today=d(today))

        assert found == ([case] if soon else [])


class TestMaskedReference:
    async def test_shows_only_a_hash_of_the_case(self, session: AsyncSession) -> None:
        case = await make_case(session)

        reference = masked_reference(case)

        assert re.fullmatch(r"市民#[A-Z]{6}", reference)
        assert not re.search(r"\d", reference)

    async def test_is_stable_and_differs_between_cases(self, session: AsyncSession) -> None:
        cases = [await make_case(session) for _ in range(20)]
        again = await session.get(FollowUpCase, pk(cases[0]))
        assert again is not None

        references = {masked_reference(case) for case in cases}

        assert masked_reference(again) == masked_reference(cases[0])
        assert len(references) == 20


class TestTimeline:
    async def test_only_the_events_of_the_case_in_order(self, session: AsyncSession) -> None:
        case, other = await make_case(session), await make_case(session)
        await add_reply(session=session, case=other, actor="li", text="别的事项")
        await move(session, case, S.verifying)
        await add_reply(session=session, case=case, actor="zhang", text="您好")

        events = await timeline(session=session, case=case)

        assert [e.kind for e in events] == ["opened", "transition", "reply"]
        assert {e.case_id for e in events} == {pk(case)}
