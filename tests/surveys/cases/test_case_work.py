"""承办人, 督办 of chosen cases, saved views, the queue search and working days left, on a
real SQLite file: who may assign or take a case, what a refusal leaves, one audit row each."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent, StaffUnit, StaffUser, Unit, UnitKind
from surveys.cases import assign as assigning
from surveys.cases import queries, views
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.exceptions import NotFound
from surveys.core.models import pk
from surveys.flows import cases as case_flows
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent

S = CaseState
RATED = datetime(2025, 9, 30, 15, tzinfo=timezone(timedelta(hours=8)))
_ids = itertools.count(1)


async def make_unit(session: AsyncSession) -> Unit:
    n = next(_ids)
    unit = Unit(code=f"W{n}", name=f"单位{n}", kind=UnitKind.district)
    session.add(unit)
    await session.flush()
    return unit


async def make_person(
    session: AsyncSession, name: str, role: StaffRole, *units: Unit, active: bool = True
) -> Actor:
    user = StaffUser(username=name, role=role, active=active)
    session.add(user)
    await session.flush()
    for unit in units:
        session.add(StaffUnit(user_id=pk(user), unit_id=pk(unit)))
    await session.flush()
    return Actor.scoped(name=name, role=role, unit_ids=[pk(u) for u in units], user_id=pk(user))


async def make_case(session: AsyncSession, unit: Unit, **rating: object) -> FollowUpCase:
    values = {
        "source": RatingSource.api,
        "source_id": f"BJ2025{next(_ids):06d}",
        "unit_id": pk(unit),
        "channel": 2,
        "level": "dissatisfied",
        "period": "2025H2",
        "rated_at": RATED.astimezone(UTC),
        **rating,
    }
    found = Rating.model_validate(values)
    session.add(found)
    await session.flush()
    case = await cases.open_case(
        session=session, rating=found, calendar=WorkCalendar(), policy=DeadlinePolicy()
    )
    assert case is not None
    return case


async def audits(session: AsyncSession, action: str) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.action == action)
    return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


async def kinds(session: AsyncSession, case: FollowUpCase) -> list[str]:
    statement = select(CaseEvent.kind).where(CaseEvent.case_id == pk(case))
    return list((await session.exec(statement.order_by(col(CaseEvent.id)))).all())


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    return await make_unit(session)


@pytest.fixture
async def other(session: AsyncSession) -> Unit:
    return await make_unit(session)


ADMIN = Actor(name="boss", role=StaffRole.admin, units=None)


class TestAssign:
    async def test_a_supervisor_assigns_and_the_timeline_and_audit_say_so(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        boss = await make_person(session, "zhao", StaffRole.supervisor, unit)
        case = await make_case(session, unit)

        await case_flows.assign(session=session, actor=boss, case_id=pk(case), assignee="li")

        assert case.assignee_id == li.user_id
        assert (await kinds(session, case))[-1] == "assigned"
        (row,) = await audits(session, "case.assign")
        assert row.target == f"case:{pk(case)}"
        assert row.detail["assignee"] == "li"

    async def test_reassigning_needs_a_reason_and_keeps_it_on_the_timeline(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await make_person(session, "li", StaffRole.staff, unit)
        wang = await make_person(session, "wang", StaffRole.staff, unit)
        case = await make_case(session, unit)
        await case_flows.assign(session=session, actor=ADMIN, case_id=pk(case), assignee="li")

        with pytest.raises(assigning.ReasonRequired):
            await case_flows.assign(
                session=session, actor=ADMIN, case_id=pk(case), assignee="wang", reason="  "
            )
        await case_flows.assign(
            session=session, actor=ADMIN, case_id=pk(case), assignee="wang", reason="li 休假"
        )

        assert case.assignee_id == wang.user_id
        notes = await session.exec(select(CaseEvent.note).where(CaseEvent.kind == "assigned"))
        assert list(notes.all())[-1] == "承办人：li → wang；理由：li 休假"
        assert len(await audits(session, "case.assign")) == 2

    @pytest.mark.parametrize("who", ["other-unit", "disabled", "viewer", "nobody"])
    async def test_only_active_working_staff_of_the_unit_may_be_assignee(
        self, session: AsyncSession, unit: Unit, other: Unit, who: str
    ) -> None:
        await make_person(session, "other-unit", StaffRole.staff, other)
        await make_person(session, "disabled", StaffRole.staff, unit, active=False)
        await make_person(session, "viewer", StaffRole.viewer, unit)
        case = await make_case(session, unit)

        with pytest.raises(assigning.NotEligible):
            await case_flows.assign(session=session, actor=ADMIN, case_id=pk(case), assignee=who)
        assert case.assignee_id is None

    async def test_unit_staff_may_not_assign_and_another_units_supervisor_finds_nothing(
        self, session: AsyncSession, unit: Unit, other: Unit
    ) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        elsewhere = await make_person(session, "qian", StaffRole.supervisor, other)
        case = await make_case(session, unit)

        with pytest.raises(Forbidden):
            await case_flows.assign(session=session, actor=li, case_id=pk(case), assignee="li")
        with pytest.raises(NotFound):
            await case_flows.assign(
                session=session, actor=elsewhere, case_id=pk(case), assignee="li"
            )
        assert await audits(session, "case.assign") == []


class TestClaim:
    async def test_staff_take_an_unassigned_case_once(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        wang = await make_person(session, "wang", StaffRole.staff, unit)
        case = await make_case(session, unit)

        await case_flows.claim(session=session, actor=li, case_id=pk(case))
        with pytest.raises(assigning.AlreadyAssigned):
            await case_flows.claim(session=session, actor=wang, case_id=pk(case))

        assert case.assignee_id == li.user_id
        assert len(await audits(session, "case.claim")) == 1

    async def test_a_closed_case_is_not_taken(self, session: AsyncSession, unit: Unit) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        case = await make_case(session, unit)
        case.state = S.closed

        with pytest.raises(assigning.NotOpen):
            await case_flows.claim(session=session, actor=li, case_id=pk(case))


class TestBulk:
    async def test_each_case_is_checked_and_one_audit_row_lists_them(
        self, session: AsyncSession, unit: Unit, other: Unit
    ) -> None:
        await make_person(session, "li", StaffRole.staff, unit)
        boss = await make_person(session, "zhao", StaffRole.supervisor, unit)
        mine = await make_case(session, unit)
        closed = await make_case(session, unit)
        closed.state = S.closed
        foreign = await make_case(session, other)

        result = await case_flows.bulk_assign(
            session=session,
            actor=boss,
            case_ids=[pk(mine), pk(closed), pk(foreign), 10**9],
            assignee="li",
        )

        assert result.done == [pk(mine)]
        refused = {i: type(e).__name__ for i, e in result.refused}
        assert refused == {pk(closed): "NotOpen", pk(foreign): "NotFound", 10**9: "NotFound"}
        assert closed.assignee_id is None
        assert foreign.assignee_id is None
        (row,) = await audits(session, "case.bulk_assign")
        assert row.detail["cases"] == [pk(mine)]
        assert sorted(row.detail["refused"]) == sorted([pk(closed), pk(foreign), 10**9])

    async def test_escalation_marks_open_cases_once(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        boss = await make_person(session, "zhao", StaffRole.supervisor, unit)
        case = await make_case(session, unit)
        answered = await make_case(session, unit)
        answered.state = S.replied

        first = await case_flows.bulk_escalate(
            session=session, actor=boss, case_ids=[pk(case), pk(answered)], note="请今日回复"
        )
        again = await case_flows.bulk_escalate(session=session, actor=boss, case_ids=[pk(case)])

        assert first.done == [pk(case)]
        assert [i for i, _ in first.refused] == [pk(answered)]
        assert case.escalated_at is not None
        assert answered.escalated_at is None
        assert again.done == []
        assert isinstance(again.refused[0][1], assigning.NothingToEscalate)
        assert (await kinds(session, case)).count("escalated") == 1
        assert len(await audits(session, "case.bulk_escalate")) == 2

    async def test_unit_staff_may_not_escalate(self, session: AsyncSession, unit: Unit) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        case = await make_case(session, unit)

        with pytest.raises(Forbidden):
            await case_flows.bulk_escalate(session=session, actor=li, case_ids=[pk(case)])


class TestSearch:
    async def _found(self, session: AsyncSession, text: str) -> set[int]:
        page = await queries.case_queue(
            session, ADMIN, queries.QueueFilters(q=text, limit=50), date(2025, 10, 1)
        )
        return {row.id for row in page.rows}

    async def test_by_service_number_case_number_item_and_text(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        event = ServiceEvent(
            case_no="BJ2026112300001", item_code="11150200MB", item_name="建设工程规划许可",
            unit_id=pk(unit), channel=4, finished_at=RATED, link_token="tok-search-1",
        )  # fmt: skip
        session.add(event)
        await session.flush()
        pushed = await make_case(session, unit, service_event_id=pk(event), source_id="x-1")
        imported = await make_case(session, unit, source_id="HN-778899", item_name="企业开办登记")
        talked = await make_case(
            session, unit, reasons=["等候时间长"], comment="窗口人员态度差，电话13812345678"
        )

        assert await self._found(session, "bj2026112300001") == {pushed.id}
        assert await self._found(session, "HN-778899") == {imported.id}
        assert await self._found(session, f"#{talked.id}") >= {talked.id}
        assert await self._found(session, "企业开办") == {imported.id}
        assert await self._found(session, "等候时间") == {talked.id}
        assert await self._found(session, "态度差") == {talked.id}
        assert await self._found(session, "不存在的内容") == set()

    async def test_a_masked_number_in_the_text_cannot_be_searched_for(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await make_case(session, unit, comment="请回电13812345678", source_id="S-1")

        assert await self._found(session, "13812345678") == set()
        assert await self._found(session, "5678") == set()


class TestDaysLeft:
    async def test_working_days_to_the_deadline_negative_when_overdue(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case = await make_case(session, unit)
        case.state = S.rectifying
        case.rectify_due = date(2025, 11, 18)  # a Tuesday
        calendar = WorkCalendar()

        assert queries.days_left(case, calendar, date(2025, 11, 14)) == 2  # Fri: Mon, Tue
        assert queries.days_left(case, calendar, date(2025, 11, 18)) == 0
        assert queries.days_left(case, calendar, date(2025, 11, 21)) == -3
        # 2025-10-11, a Saturday, was a working day (调休): counted.
        case.rectify_due = date(2025, 10, 14)
        assert queries.days_left(case, calendar, date(2025, 10, 10)) == 3
        case.state = S.replied
        assert queries.days_left(case, calendar, date(2025, 11, 21)) is None


class TestMyCasesAndWorkload:
    async def test_my_cases_and_the_workload_per_person(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)
        await make_person(session, "wang", StaffRole.staff, unit)
        first, second, free = [await make_case(session, unit) for _ in range(3)]
        for case, name in ((first, "li"), (second, "wang")):
            await case_flows.assign(session=session, actor=ADMIN, case_id=pk(case), assignee=name)
        on = date(2025, 12, 1)  # every case overdue

        mine = await queries.case_queue(session, li, queries.QueueFilters(assignee="me"), on)
        free_ones = await queries.case_queue(
            session, li, queries.QueueFilters(assignee="none"), on
        )
        load = await queries.workload(session, ADMIN, on)

        assert [row.id for row in mine.rows] == [first.id]
        assert mine.rows[0].assignee == "li"
        assert [row.id for row in free_ones.rows] == [free.id]
        assert [(w.assignee, w.open, w.overdue) for w in load] == [
            ("li", 1, 1),
            ("wang", 1, 1),
            (None, 1, 1),
        ]


class TestViews:
    async def test_saved_with_its_filters_only_and_deleted(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        li = await make_person(session, "li", StaffRole.staff, unit)

        view = await case_flows.view_save(
            session=session,
            actor=li,
            name=" 我的 逾期 ",
            query="?overdue=yes&after=9_9&q=企业",
        )
        with pytest.raises(views.ViewNameTaken):
            await case_flows.view_save(session=session, actor=li, name="我的 逾期", query="q=a")
        with pytest.raises(views.InvalidView):
            await case_flows.view_save(session=session, actor=li, name="空", query="offset=5")

        assert (view.name, view.query) == ("我的 逾期", "q=%E4%BC%81%E4%B8%9A&overdue=yes")
        await case_flows.view_delete(session=session, actor=li, name="我的 逾期")
        assert await views.list_views(session=session, actor=li) == []
        assert [len(await audits(session, a)) for a in ("case.view_save", "case.view_delete")] == [
            1,
            1,
        ]

    async def test_a_token_has_no_views(self, session: AsyncSession) -> None:
        token = Actor(name="erp", role=StaffRole.staff, units=None, token_id=1)

        with pytest.raises(views.PersonalOnly):
            await case_flows.view_save(session=session, actor=token, name="x", query="q=1")
