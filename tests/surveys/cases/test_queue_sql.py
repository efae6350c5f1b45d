"""The case queue filtered, counted and paged in SQL equals the previous implementation's on
the demo data and the generated 200,000-rating database; cursor pages are one long list."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import queries, workdays
from surveys.cases.models import CaseState, FollowUpCase
from surveys.core.exceptions import BadCursor
from surveys.core.models import pk
from surveys.core.settings import Settings
from tests.surveys import reference_results as previous
from tests.surveys.flows.test_cases_flows import make_case, make_unit

S = CaseState
TODAY = date(2026, 11, 23)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)
Q = queries.QueueFilters


@pytest.fixture
async def demo_cases(session: AsyncSession, settings: Settings) -> list[int]:
    """The demo units and activity (with its recent 差评 cases), spread over the states."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    await demo_scores.load(
        session=session, today=TODAY, now=datetime(2026, 11, 23, 2, tzinfo=UTC),
        tz=settings.tz, policy=workdays.policy_from(settings),
    )  # fmt: skip
    found = (await session.exec(select(FollowUpCase).order_by(col(FollowUpCase.id)))).all()
    states = list(S)
    for index, case in enumerate(found):
        case.state = states[index % len(states)]
        session.add(case)
    await session.flush()
    assert len(found) > 10
    return [pk(case) for case in found]


def _plain(rows: list[queries.QueueRow]) -> list[queries.QueueRow]:
    """Rows without what the previous implementation did not show (办件编号, 承办人, working
    days left: tests/surveys/cases/test_case_work.py)."""
    return [replace(row, case_no=None, assignee=None, days_left=None) for row in rows]


def _filters(unit_code: str, opened: date) -> list[queries.QueueFilters]:
    return [
        Q(),
        Q(limit=7),
        Q(offset=5, limit=4),
        Q(state=S.pending),
        Q(overdue=True),
        Q(overdue=False, limit=3),
        Q(unit_code=unit_code),
        Q(unit_code=unit_code, overdue=True, state=S.verifying),
        Q(opened_from=opened, opened_to=opened + timedelta(days=20)),
        Q(opened_from=opened, state=S.rectifying, overdue=False, offset=1, limit=2),
        Q(unit_code="no-such-unit"),
        Q(offset=10**6),
    ]


class TestDemoData:
    async def test_every_filter_equals_the_previous_implementation(
        self, session: AsyncSession, demo_cases: list[int]
    ) -> None:
        first = await session.get(FollowUpCase, demo_cases[0])
        assert first is not None
        unit = next(u for u in await units.list_units(session=session) if u.id == first.unit_id)
        staff = Actor.scoped(name="li", role=StaffRole.staff, unit_ids=[pk(unit)])
        opened = first.opened_at.date() - timedelta(days=3)
        for actor in (ADMIN, staff):
            for on in (TODAY, TODAY + timedelta(days=30)):
                for filters in _filters(unit.code, opened):
                    new = await queries.case_queue(session, actor, filters, on)
                    old = await previous.case_queue(session, actor, filters, on)
                    assert (new.units, _plain(new.rows), new.total, new.unknown_unit) == (
                        old.units, old.rows, old.total, old.unknown_unit,
                    ), filters  # fmt: skip
        assert (await queries.case_queue(session, ADMIN, None, TODAY)) == (
            await previous.case_queue(session, ADMIN, None, TODAY)
        )

    async def test_case_rows_equal_the_previous_implementation(
        self, session: AsyncSession, demo_cases: list[int]
    ) -> None:
        ids = [*reversed(demo_cases[:5]), 10**9]
        assert _plain(await queries.case_rows(session, ADMIN, ids, TODAY)) == (
            await previous.case_rows(session, ADMIN, ids, TODAY)
        )


async def _pages(session: AsyncSession, actor: Actor, filters: Q, on: date) -> list[Any]:
    rows: list[Any] = []
    after = None
    while True:
        page = await queries.case_queue(session, actor, replace(filters, after=after), on)
        assert page.start == len(rows)
        rows.extend(page.rows)
        if page.next is None:
            return rows
        after = page.next


class TestCursor:
    async def test_pages_by_cursor_with_ties_are_the_one_long_list(
        self, session: AsyncSession
    ) -> None:
        own, other = await make_unit(session), await make_unit(session)
        ids = [await make_case(session, unit) for unit in (own, other) * 8]
        # Every case shares its deadline with others, across each page boundary.
        for index, case_id in enumerate(ids):
            case = await session.get(FollowUpCase, case_id)
            assert case is not None
            case.rectify_due = date(2025, 10, 10) + timedelta(days=index % 3)
            case.state = S.verifying if index % 4 else S.pending
            session.add(case)
        await session.flush()
        staff = Actor.scoped(name="li", role=StaffRole.staff, unit_ids=[pk(own)])
        on = date(2025, 10, 11)
        for actor, filters in [
            (ADMIN, Q(limit=3)),
            (ADMIN, Q(limit=5, state=S.verifying)),
            (ADMIN, Q(limit=2, overdue=False)),
            (staff, Q(limit=3)),
            (ADMIN, Q(limit=3, unit_code=other.code)),
        ]:
            everything = await previous.case_queue(session, actor, replace(filters, limit=100), on)
            assert everything.total > filters.limit
            assert _plain(await _pages(session, actor, filters, on)) == everything.rows

    async def test_an_offset_after_a_cursor_counts_from_it(self, session: AsyncSession) -> None:
        unit = await make_unit(session)
        for _ in range(6):
            await make_case(session, unit)
        on = date(2025, 10, 1)
        everything = (await queries.case_queue(session, ADMIN, Q(), on)).rows
        cursor = queries.queue_cursor(everything[1])
        page = await queries.case_queue(session, ADMIN, Q(after=cursor, offset=2, limit=2), on)
        assert (page.rows, page.start, page.total) == (everything[4:6], 4, 6)
        assert page.next is None
        last = await queries.case_queue(
            session, ADMIN, Q(after=queries.queue_cursor(everything[-1])), on
        )
        assert (last.rows, last.next, last.total) == ([], None, 6)

    @pytest.mark.parametrize(
        "after",
        ["", "x", "739525", "2025-10-01_3", "0_3", "739525_0", "1234567_3", f"739525_{2**63}"],
    )
    async def test_a_garbled_cursor_is_refused(self, session: AsyncSession, after: str) -> None:
        with pytest.raises(BadCursor):
            await queries.case_queue(session, ADMIN, Q(after=after), TODAY)

    @pytest.mark.parametrize("after", ["1_1", "999999_999999999999999999", "739525_7"])
    async def test_every_text_of_the_cursor_shape_reads(
        self, session: AsyncSession, after: str
    ) -> None:
        """The REST API checks ``after=`` by QUEUE_CURSOR_PATTERN alone (a standard 422):
        whatever passes it must read as a cursor, at the edges of its range too."""
        assert re.fullmatch(queries.QUEUE_CURSOR_PATTERN, after)
        page = await queries.case_queue(session, ADMIN, Q(after=after), TODAY)
        assert page.rows == [] or page.rows[0].id != 0


class TestBigDatabase:
    async def test_the_queue_equals_the_previous_implementation(
        self, big_session: AsyncSession
    ) -> None:
        on = date(2026, 11, 30)
        for filters in (Q(), Q(overdue=True, limit=20), Q(state=S.rectifying, offset=300),
                        Q(overdue=False, offset=1000)):  # fmt: skip
            new = await queries.case_queue(big_session, ADMIN, filters, on)
            old = await previous.case_queue(big_session, ADMIN, filters, on)
            assert (_plain(new.rows), new.total) == (old.rows, old.total)
            assert new.total > 0
        deep = await previous.case_queue(big_session, ADMIN, Q(offset=2000, limit=30), on)
        cursor = queries.queue_cursor(deep.rows[9])
        page = await queries.case_queue(big_session, ADMIN, Q(after=cursor, limit=20), on)
        assert (_plain(page.rows), page.start) == (deep.rows[10:], 2010)
