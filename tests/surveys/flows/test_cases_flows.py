"""The 差评 case flows on a real SQLite file: each action checks, acts and writes one audit row;
a refusal leaves the case, its timeline and the audit log as they were."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent, Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.exceptions import NotFound
from surveys.core.models import pk
from surveys.flows import cases as case_flows
from surveys.flows.registry import FLOWS, Adapter
from surveys.haochaping.models import Rating, RatingSource

S = CaseState
RATED = datetime(2025, 9, 30, 15, tzinfo=timezone(timedelta(hours=8)))
LATE = date(2025, 11, 3)  # past both deadlines of a 差评 rated on RATED
_ids = itertools.count(1)


async def make_unit(session: AsyncSession) -> Unit:
    n = next(_ids)
    unit = Unit(code=f"F{n}", name=f"单位{n}", kind=UnitKind.district)
    session.add(unit)
    await session.flush()
    return unit


async def make_case(session: AsyncSession, unit: Unit, state: CaseState = S.pending) -> int:
    rating = Rating.model_validate(
        {
            "source": RatingSource.api,
            "source_id": f"flow-{next(_ids)}",
            "unit_id": pk(unit),
            "channel": 2,
            "level": "dissatisfied",
            "comment": "请回电13812345678",
            "period": "2025H2",
            "rated_at": RATED.astimezone(UTC),
        }
    )
    session.add(rating)
    await session.flush()
    case = await cases.open_case(
        session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
    )
    assert case is not None
    case.state = state
    await session.flush()
    return pk(case)


def actor(role: StaffRole, *units: Unit, name: str = "li", token: bool = False) -> Actor:
    return Actor.scoped(
        name=name,
        role=role,
        unit_ids=[pk(u) for u in units],
        token_id=1 if token else None,
        address="10.0.0.9",
    )


async def audit_rows(session: AsyncSession) -> list[AuditEvent]:
    statement = select(AuditEvent).where(col(AuditEvent.action).startswith("case."))
    return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


async def state_of(session: AsyncSession, case_id: int) -> CaseState:
    case = await session.get(FollowUpCase, case_id)
    assert case is not None
    return CaseState(case.state)


async def event_count(session: AsyncSession, case_id: int) -> int:
    statement = select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    return int((await session.exec(statement)).one())


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    return await make_unit(session)


@pytest.fixture
async def other(session: AsyncSession) -> Unit:
    return await make_unit(session)


class TestRegister:
    def test_the_case_flows_are_registered_with_their_permission_and_adapters(self) -> None:
        move, reply, escalate = (
            FLOWS[name] for name in ("case.transition", "case.reply", "case.escalate")
        )

        assert (move.perm, move.adapters) == (None, frozenset(Adapter))
        assert (reply.perm, reply.adapters) == ("work_cases", frozenset(Adapter))
        assert (escalate.perm, escalate.adapters) == ("manage", frozenset({Adapter.cli}))


class TestTransition:
    async def test_a_move_is_made_and_audited(self, session: AsyncSession, unit: Unit) -> None:
        case_id = await make_case(session, unit)

        done = await case_flows.transition(
            session=session,
            actor=actor(StaffRole.staff, unit),
            case_id=case_id,
            to=" 核实中 ",
            note=" 已电话回访 ",
        )

        assert await state_of(session, case_id) == S.verifying
        event = done.event
        assert (event.actor, event.from_state, event.to_state, event.note) == (
            "li",
            S.pending.value,
            S.verifying.value,
            "已电话回访",
        )
        [entry] = await audit_rows(session)
        assert (entry.actor, entry.role, entry.action, entry.target, entry.address) == (
            "li",
            "staff",
            "case.transition",
            f"case:{case_id}",
            "10.0.0.9",
        )
        assert entry.detail == {"event": event.id, "frm": "待核实", "to": "核实中"}

    async def test_a_state_may_be_named_by_its_code(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case_id = await make_case(session, unit)

        await case_flows.transition(
            session=session, actor=actor(StaffRole.staff, unit), case_id=case_id, to="verifying"
        )

        assert await state_of(session, case_id) == S.verifying

    async def test_an_integration_names_the_person_on_the_timeline_not_in_the_audit(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case_id = await make_case(session, unit)

        done = await case_flows.transition(
            session=session,
            actor=actor(StaffRole.staff, unit, name="spj-system", token=True),
            case_id=case_id,
            to=S.verifying.value,
            person="spj-li",
        )

        assert done.event.actor == "spj-li"
        [entry] = await audit_rows(session)
        assert entry.actor == "token:spj-system"
        assert "spj-li" not in str(entry.detail)

    async def test_a_supervisor_decides_an_appeal(self, session: AsyncSession, unit: Unit) -> None:
        case_id = await make_case(session, unit, S.appealing)

        done = await case_flows.transition(
            session=session,
            actor=actor(StaffRole.supervisor, name="zhao"),
            case_id=case_id,
            to=S.appeal_upheld.value,
            note="经核查，差评与办件无关",
        )

        assert await state_of(session, case_id) == S.appeal_upheld
        rating = await session.get(Rating, done.case.rating_id)
        assert rating is not None
        assert rating.excluded
        [entry] = await audit_rows(session)
        assert (entry.actor, entry.role, entry.detail["to"]) == ("zhao", "supervisor", "申诉成立")
        assert "经核查" not in str(entry.detail)

    @pytest.mark.parametrize(
        ("role", "to", "error"),
        [
            (StaffRole.viewer, S.verifying.value, Forbidden),
            (StaffRole.viewer, "done", Forbidden),  # refused before the text is looked at
            (StaffRole.staff, S.closed.value, cases.InvalidTransition),
            (StaffRole.staff, "done", cases.InvalidTransition),
            (StaffRole.staff, S.rerated.value, cases.InvalidTransition),  # the citizen's move
            (StaffRole.supervisor, S.verifying.value, Forbidden),  # the unit's work
        ],
    )
    async def test_a_refused_move_changes_nothing(
        self,
        session: AsyncSession,
        unit: Unit,
        role: StaffRole,
        to: str,
        error: type[Exception],
    ) -> None:
        case_id = await make_case(session, unit)

        with pytest.raises(error):
            await case_flows.transition(
                session=session, actor=actor(role, unit), case_id=case_id, to=to, note="x"
            )

        assert await state_of(session, case_id) == S.pending
        assert await event_count(session, case_id) == 1
        assert await audit_rows(session) == []

    async def test_staff_cannot_decide_an_appeal(self, session: AsyncSession, unit: Unit) -> None:
        case_id = await make_case(session, unit, S.appealing)

        with pytest.raises(Forbidden):
            await case_flows.transition(
                session=session,
                actor=actor(StaffRole.staff, unit),
                case_id=case_id,
                to=S.appeal_upheld.value,
                note="我们认为不属实",
            )

        assert await state_of(session, case_id) == S.appealing
        assert await event_count(session, case_id) == 1
        assert await audit_rows(session) == []

    async def test_another_units_case_is_not_found(
        self, session: AsyncSession, unit: Unit, other: Unit
    ) -> None:
        case_id = await make_case(session, other)

        with pytest.raises(NotFound):
            await case_flows.transition(
                session=session,
                actor=actor(StaffRole.staff, unit),
                case_id=case_id,
                to=S.verifying.value,
            )

        assert await state_of(session, case_id) == S.pending
        assert await audit_rows(session) == []

    @pytest.mark.parametrize(
        ("state", "to", "note", "error"),
        [
            (S.pending, S.verifying.value, "长" * (cases.TEXT_MAX + 1), cases.InvalidText),
            (S.verifying, S.unfounded.value, "  ", cases.NoteRequired),
        ],
    )
    async def test_a_bad_note_is_refused(
        self,
        session: AsyncSession,
        unit: Unit,
        state: CaseState,
        to: str,
        note: str,
        error: type[Exception],
    ) -> None:
        case_id = await make_case(session, unit, state)

        with pytest.raises(error):
            await case_flows.transition(
                session=session,
                actor=actor(StaffRole.staff, unit),
                case_id=case_id,
                to=to,
                note=note,
            )

        assert await state_of(session, case_id) == state
        assert await audit_rows(session) == []


class TestReply:
    async def test_a_reply_is_stored_and_audited_without_its_text(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case_id = await make_case(session, unit)

        done = await case_flows.reply(
            session=session,
            actor=actor(StaffRole.staff, unit),
            case_id=case_id,
            text=" 您好，已安排整改。 ",
        )

        assert (done.event.kind, done.event.actor, done.event.note) == (
            "reply",
            "li",
            "您好，已安排整改。",
        )
        [entry] = await audit_rows(session)
        assert (entry.action, entry.target) == ("case.reply", f"case:{case_id}")
        assert entry.detail == {"event": done.event.id}

    @pytest.mark.parametrize("role", [StaffRole.viewer, StaffRole.supervisor])
    async def test_only_the_units_staff_reply(
        self, session: AsyncSession, unit: Unit, role: StaffRole
    ) -> None:
        case_id = await make_case(session, unit)

        with pytest.raises(Forbidden):
            await case_flows.reply(
                session=session, actor=actor(role, unit), case_id=case_id, text="您好"
            )

        assert await event_count(session, case_id) == 1
        assert await audit_rows(session) == []

    async def test_another_units_case_is_not_found(
        self, session: AsyncSession, unit: Unit, other: Unit
    ) -> None:
        case_id = await make_case(session, other)

        with pytest.raises(NotFound):
            await case_flows.reply(
                session=session, actor=actor(StaffRole.staff, unit), case_id=case_id, text="您好"
            )

        assert await event_count(session, case_id) == 1
        assert await audit_rows(session) == []

    @pytest.mark.parametrize(
        ("state", "text", "error"),
        [(S.pending, "   ", cases.InvalidText), (S.closed, "补充说明", cases.CaseClosed)],
    )
    async def test_a_refused_reply_is_not_audited(
        self,
        session: AsyncSession,
        unit: Unit,
        state: CaseState,
        text: str,
        error: type[Exception],
    ) -> None:
        case_id = await make_case(session, unit, state)

        with pytest.raises(error):
            await case_flows.reply(
                session=session, actor=actor(StaffRole.staff, unit), case_id=case_id, text=text
            )

        assert await event_count(session, case_id) == 1
        assert await audit_rows(session) == []


class TestEscalate:
    async def test_overdue_cases_are_escalated_once_in_one_audit_row(
        self, session: AsyncSession, unit: Unit, other: Unit
    ) -> None:
        late = [await make_case(session, unit), await make_case(session, other)]
        admin = actor(StaffRole.admin, name="ops")
        now = datetime(2025, 11, 3, 1, tzinfo=UTC)

        first = await case_flows.escalate(session=session, actor=admin, today=LATE, now=now)
        again = await case_flows.escalate(session=session, actor=admin, today=LATE, now=now)

        assert sorted(pk(case) for case in first) == sorted(late)
        assert again == []
        entries = await audit_rows(session)
        assert [(e.actor, e.action, e.target) for e in entries] == [
            ("ops", "case.escalate", None),
            ("ops", "case.escalate", None),
        ]
        assert entries[0].detail == {"on": "2025-11-03", "cases": sorted(late)}
        assert entries[1].detail == {"on": "2025-11-03", "cases": []}

    @pytest.mark.parametrize("role", [StaffRole.staff, StaffRole.supervisor, StaffRole.viewer])
    async def test_only_an_administrator_escalates(
        self, session: AsyncSession, unit: Unit, role: StaffRole
    ) -> None:
        case_id = await make_case(session, unit)

        with pytest.raises(Forbidden):
            await case_flows.escalate(
                session=session, actor=actor(role, unit), today=LATE, now=datetime.now(UTC)
            )

        case = await session.get(FollowUpCase, case_id)
        assert case is not None
        assert case.escalated_at is None
        assert await audit_rows(session) == []
