"""The case queue and case detail queries: masked, scoped to the actor, moves per role."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit
from surveys.cases import queries
from surveys.cases import service as cases
from surveys.cases.models import CaseState, FollowUpCase
from surveys.core.exceptions import NotFound
from surveys.core.models import pk
from tests.surveys.flows.test_cases_flows import make_case, make_unit

S = CaseState
SHANGHAI = ZoneInfo("Asia/Shanghai")
ON = date(2025, 10, 1)  # before both deadlines


def actor(role: StaffRole, *units: Unit) -> Actor:
    return Actor.scoped(name="li", role=role, unit_ids=[pk(u) for u in units])


async def test_the_queue_shows_own_cases_masked_and_the_units_to_choose(
    session: AsyncSession,
) -> None:
    own, other = await make_unit(session), await make_unit(session)
    mine = await make_case(session, own)
    await make_case(session, other)

    page = await queries.case_queue(
        session, actor(StaffRole.staff, own), queries.QueueFilters(), ON
    )

    assert [u.code for u in page.units] == [own.code]
    assert page.total == 1
    (row,) = page.rows
    case = await session.get(FollowUpCase, mine)
    assert case is not None
    assert (row.id, row.unit_code, row.unit_name, row.overdue) == (mine, own.code, own.name, False)
    assert row.reference == cases.masked_reference(case)


async def test_another_units_code_is_unknown_and_lists_nothing(session: AsyncSession) -> None:
    own, other = await make_unit(session), await make_unit(session)
    await make_case(session, other)

    page = await queries.case_queue(
        session, actor(StaffRole.staff, own), queries.QueueFilters(unit_code=other.code), ON
    )

    assert (page.unknown_unit, page.rows, page.total) == (True, [], 0)


async def test_without_filters_only_the_choices(session: AsyncSession) -> None:
    own = await make_unit(session)
    await make_case(session, own)

    page = await queries.case_queue(session, actor(StaffRole.staff, own), None, ON)

    assert ([u.id for u in page.units], page.rows) == ([pk(own)], [])


async def test_the_detail_masks_free_text_and_offers_the_actors_moves(
    session: AsyncSession,
) -> None:
    unit = await make_unit(session)
    case_id = await make_case(session, unit, S.verifying)
    case = await session.get(FollowUpCase, case_id)
    assert case is not None
    await cases.add_citizen_message(session=session, case=case, text="身份证110105199001011234")

    staff = await queries.case_detail(session, actor(StaffRole.staff, unit), case_id, SHANGHAI)
    viewer = await queries.case_detail(session, actor(StaffRole.viewer, unit), case_id, SHANGHAI)

    assert staff.comment == "请回电138****5678"
    assert [e.note for e in staff.events if e.by == "citizen"] == ["身份证110105********1234"]
    assert [e.by for e in staff.events] == ["system", "citizen"]
    assert staff.work_moves == [S.rectifying, S.unfounded, S.appealing]
    assert (staff.appeal_moves, staff.can_reply) == ([], True)
    assert (viewer.work_moves, viewer.appeal_moves, viewer.can_reply) == ([], [], False)
    assert viewer.next_states == staff.work_moves


async def test_a_supervisor_is_offered_the_appeal_decisions(session: AsyncSession) -> None:
    unit = await make_unit(session)
    case_id = await make_case(session, unit, S.appealing)

    detail = await queries.case_detail(session, actor(StaffRole.supervisor), case_id, SHANGHAI)

    assert (detail.work_moves, detail.appeal_moves) == ([], [S.appeal_upheld, S.appeal_rejected])


async def test_another_units_case_is_not_found(session: AsyncSession) -> None:
    own, other = await make_unit(session), await make_unit(session)
    case_id = await make_case(session, other)

    with pytest.raises(NotFound):
        await queries.case_detail(session, actor(StaffRole.staff, own), case_id, SHANGHAI)
