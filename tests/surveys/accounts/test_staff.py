"""Staff members, their one-time link codes and the notices their units' cases trigger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import staff
from surveys.accounts.access import StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases.models import CaseState
from surveys.cases.notices import due_notices
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.exceptions import UnknownUnit
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource

BEIJING = timezone(timedelta(hours=8))
NOW = datetime(2025, 9, 30, 8, tzinfo=UTC)
CAL = WorkCalendar()


async def _units(session: AsyncSession) -> tuple[Unit, Unit]:
    a = Unit(code="a", name="甲局", kind=UnitKind.department)
    b = Unit(code="b", name="乙局", kind=UnitKind.department)
    session.add_all([a, b])
    await session.flush()
    return a, b


async def _bad_case(session: AsyncSession, unit: Unit, n: int) -> cases.FollowUpCase:
    rating = Rating(
        source=RatingSource.api,
        source_id=f"s{n}",
        unit_id=pk(unit),
        channel=1,
        level="very_dissatisfied",
        period="2025H2",
        rated_at=datetime(2025, 9, 30, 15, tzinfo=BEIJING),
    )
    session.add(rating)
    await session.flush()
    case = await cases.open_case(
        session=session, rating=rating, calendar=CAL, policy=DeadlinePolicy()
    )
    assert case is not None
    return case


async def _linked(
    session: AsyncSession, name: str, role: StaffRole, units: list[str], chat_id: int
) -> None:
    await staff.add_staff(session=session, username=name, role=role, unit_codes=units)
    code = await staff.issue_link_code(session=session, username=name, now=NOW)
    await staff.link_chat(session=session, code=code, chat_id=chat_id, now=NOW)


class TestAddStaff:
    async def test_unknown_unit_is_refused(self, session: AsyncSession) -> None:
        with pytest.raises(UnknownUnit):
            await staff.add_staff(
                session=session, username="x", role=StaffRole.staff, unit_codes=["zz"]
            )

    async def test_username_is_unique(self, session: AsyncSession) -> None:
        await _units(session)
        await staff.add_staff(
            session=session, username="x", role=StaffRole.staff, unit_codes=["a"]
        )
        with pytest.raises(staff.UsernameTaken):
            await staff.add_staff(
                session=session, username="x", role=StaffRole.staff, unit_codes=["b"]
            )


class TestLinkChat:
    async def test_a_code_links_once_and_expires(self, session: AsyncSession) -> None:
        await _units(session)
        await staff.add_staff(
            session=session, username="li", role=StaffRole.staff, unit_codes=["a"]
        )
        code = await staff.issue_link_code(session=session, username="li", now=NOW)
        user = await staff.link_chat(session=session, code=code.lower(), chat_id=42, now=NOW)
        assert user.telegram_chat_id == 42
        with pytest.raises(staff.InvalidLinkCode):
            await staff.link_chat(session=session, code=code, chat_id=43, now=NOW)
        late = await staff.issue_link_code(session=session, username="li", now=NOW)
        with pytest.raises(staff.InvalidLinkCode):
            await staff.link_chat(
                session=session, code=late, chat_id=43, now=NOW + timedelta(minutes=16)
            )


class TestDueNotices:
    async def test_new_cases_reach_linked_staff_of_that_unit_once(
        self, session: AsyncSession
    ) -> None:
        a, b = await _units(session)
        await _linked(session, "a-staff", StaffRole.staff, ["a"], 101)
        await _linked(session, "b-staff", StaffRole.staff, ["b"], 202)
        await _linked(session, "a-viewer", StaffRole.viewer, ["a"], 303)
        case = await _bad_case(session, a, 1)
        today = date(2025, 9, 30)
        notices = await due_notices(session=session, today=today, now=NOW, calendar=CAL)
        assert [(n.chat_id, n.text.key) for n in notices] == [(101, "staff.notice.new")]
        assert notices[0].text.params["case"] == case.id
        assert notices[0].text.params["contact_due"] == "2025-10-09"
        again = await due_notices(session=session, today=today, now=NOW, calendar=CAL)
        assert again == []

    async def test_overdue_cases_reach_the_supervisor_and_are_escalated(
        self, session: AsyncSession
    ) -> None:
        a, _ = await _units(session)
        await _linked(session, "boss", StaffRole.supervisor, ["a"], 909)
        case = await _bad_case(session, a, 2)
        late = date(2025, 10, 10)  # contact_due 2025-10-09 passed while still 待核实
        notices = await due_notices(session=session, today=late, now=NOW, calendar=CAL)
        assert sorted(n.text.key for n in notices) == ["staff.notice.new", "staff.notice.overdue"]
        assert {n.chat_id for n in notices} == {909}
        assert case.escalated_at is not None

    async def test_the_rectify_deadline_warns_staff_a_working_day_ahead(
        self, session: AsyncSession
    ) -> None:
        a, _ = await _units(session)
        case = await _bad_case(session, a, 3)
        await cases.transition(
            session=session,
            case=case,
            to=CaseState.verifying,
            actor="x",
            actor_role="staff",
            note=None,
        )
        await _linked(session, "a-staff", StaffRole.staff, ["a"], 101)
        await due_notices(session=session, today=date(2025, 10, 9), now=NOW, calendar=CAL)
        # rectify_due 2025-10-14: on the 13th it is one working day away.
        notices = await due_notices(
            session=session, today=date(2025, 10, 13), now=NOW, calendar=CAL
        )
        assert [n.text.key for n in notices] == ["staff.notice.due"]

    async def test_a_round_with_nothing_owed_loads_no_case(self, session: AsyncSession) -> None:
        """Each round asks the database for the cases that still owe a notice: once every
        notice went out (and every overdue case was escalated), a round loads no case at all,
        however many cases the units have, closed or open."""
        a, _ = await _units(session)
        await _linked(session, "boss", StaffRole.supervisor, ["a"], 909)
        opened = [await _bad_case(session, a, 10 + n) for n in range(6)]
        for case in opened[:3]:  # closed ones never owe anything
            for to in (CaseState.verifying, CaseState.unfounded):
                await cases.transition(
                    session=session, case=case, to=to, actor="x",
                    actor_role="supervisor", note="核实不属实",
                )  # fmt: skip
        late = date(2025, 10, 10)
        first = await due_notices(session=session, today=late, now=NOW, calendar=CAL)
        assert len(first) == 6  # new + overdue for each of the three open cases
        session.expunge_all()  # what a later round loads is counted afresh

        loaded: list[object] = []

        def count(_session: object, instance: object) -> None:
            loaded.append(instance)

        sync = session.sync_session
        event.listen(sync, "loaded_as_persistent", count)
        try:
            again = await due_notices(session=session, today=late, now=NOW, calendar=CAL)
        finally:
            event.remove(sync, "loaded_as_persistent", count)
        assert again == []
        assert [o for o in loaded if isinstance(o, cases.FollowUpCase)] == []
