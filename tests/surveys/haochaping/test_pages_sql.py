"""The 好差评 indicators and the dashboard counted in SQL equal the previous implementation's
(tests/surveys/haochaping/reference_pages.py) on the demo data, on hand-made edge cases and
on the generated 200,000-rating database."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.haochaping import dashboard, indicators
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire.definitions import Level
from tests.surveys.haochaping import reference_pages as previous

TODAY = date(2026, 11, 23)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)
GROUPINGS: tuple[indicators.GroupBy, ...] = ("unit", "item", "window")
S = CaseState
_ids = itertools.count(1)


async def _same_indicators(session: AsyncSession, **filters: Any) -> list[indicators.Indicators]:
    new = await indicators.rating_indicators(session=session, **filters)
    old = await previous.rating_indicators(session=session, **filters)
    assert new == old, filters
    return new


async def _same_dashboard(session: AsyncSession, actor: Actor, today: date) -> None:
    args: dict[str, Any] = {"session": session, "actor": actor, "today": today}
    new = await dashboard.overview(**args, tz=indicators.SHANGHAI)
    old = await previous.overview(**args, tz=indicators.SHANGHAI)
    assert new == old
    assert new.totals == old.totals
    assert new.charts() == old.charts()


async def _staff(session: AsyncSession, *unit_ids: int) -> Actor:
    return Actor.scoped(name="li", role=StaffRole.staff, unit_ids=unit_ids)


# --- The demo data, with its cases moved along the loop ----------------------------------


@pytest.fixture
async def demo_data(session: AsyncSession, settings: Settings) -> list[int]:
    """The demo units and a year of demo activity, its 差评 cases in every state with 已反馈
    events around local midnight of the 整改 deadline; the unit ids."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    await demo_scores.load(
        session=session, today=TODAY, now=datetime(2026, 11, 23, 2, tzinfo=UTC),
        tz=settings.tz, policy=workdays.policy_from(settings),
    )  # fmt: skip
    chance = random.Random(14)
    cases = (await session.exec(select(FollowUpCase).order_by(col(FollowUpCase.id)))).all()
    assert cases, "the demo opens cases"
    for case in cases:
        state = chance.choice(list(CaseState))
        case.state = state
        if state in (S.rerated, S.closed):
            case.rerating = chance.choice([None, *Level]) if state is S.rerated else None
        if state in (S.replied, S.rerated, S.closed) and chance.random() < 0.8:
            # 16:00 UTC is local midnight: minutes either side of the deadline's end.
            minutes = chance.choice([-90, -1, 0, 1, 90, -60 * 24 * 3])
            at = datetime.combine(case.rectify_due, datetime.min.time(), tzinfo=UTC)
            at += timedelta(hours=16, minutes=minutes)
            session.add(
                CaseEvent(
                    case_id=pk(case), actor="u", kind="transition", to_state=S.replied, at=at
                )
            )
        session.add(case)
    # Some ratings leave the count: defaults, excluded by an appeal, replaced.
    ratings = (await session.exec(select(Rating).order_by(col(Rating.id)))).all()
    for rating in chance.sample(list(ratings), k=len(ratings) // 20):
        flag = chance.choice(["is_default", "excluded", "active"])
        setattr(rating, flag, flag != "active")
        session.add(rating)
    await session.flush()
    return [pk(u) for u in await units.list_units(session=session)]


class TestDemoData:
    @pytest.mark.parametrize("group_by", GROUPINGS)
    async def test_indicators_equal_the_previous_implementation(
        self, session: AsyncSession, demo_data: list[int], group_by: indicators.GroupBy
    ) -> None:
        some = demo_data[3]
        for period, unit_id, neutral in itertools.product(
            (None, "2026H1", "2026H2", "2024H1"), (None, some), (True, False)
        ):
            rows = await _same_indicators(
                session, period=period, unit_id=unit_id, group_by=group_by, today=TODAY,
                neutral_is_good=neutral,
            )  # fmt: skip
            if period != "2024H1":
                assert rows, (period, unit_id)
        everything = await _same_indicators(session, group_by=group_by, today=TODAY)
        assert sum(r.cases for r in everything) > 0
        assert sum(r.on_time for r in everything) > 0
        assert sum(r.overdue_open for r in everything) > 0
        assert any(r.top_reasons for r in everything)

    @pytest.mark.parametrize("group_by", GROUPINGS)
    async def test_pages_equal_slices_of_the_previous_list(
        self, session: AsyncSession, demo_data: list[int], group_by: indicators.GroupBy
    ) -> None:
        staff = await _staff(session, demo_data[0], demo_data[5])
        for actor, period in itertools.product((ADMIN, staff), (None, "2026H2")):
            everything = [
                row
                for row in await previous.rating_indicators(
                    session=session, period=period, group_by=group_by, today=TODAY
                )
                if actor.units is None or row.unit_id in actor.units
            ]
            listed = await indicators.indicators_for(
                session=session, actor=actor, period=period, unit_id=None, group_by=group_by,
                today=TODAY,
            )  # fmt: skip
            assert listed == everything
            for offset, limit in ((0, 7), (7, 7), (len(everything) - 2, 50), (10_000, 5)):
                page, total = await indicators.indicators_page(
                    session=session, actor=actor, period=period, unit_id=None,
                    group_by=group_by, today=TODAY, offset=offset, limit=limit,
                )  # fmt: skip
                assert page == everything[offset : offset + limit]
                assert total == len(everything)

    async def test_the_dashboard_equals_the_previous_one(
        self, session: AsyncSession, demo_data: list[int]
    ) -> None:
        for today in (TODAY, date(2026, 6, 30), date(2027, 3, 1)):
            await _same_dashboard(session, ADMIN, today)
        await _same_dashboard(session, await _staff(session, demo_data[2]), TODAY)
        shown = await dashboard.overview(
            session=session, actor=ADMIN, today=TODAY, tz=indicators.SHANGHAI
        )
        assert shown.totals["ratings"] > 0
        assert sum(p.ratings for p in shown.trend) > 0


# --- Edge cases ----------------------------------------------------------------------------

RATED = datetime(2026, 3, 1, 2, tzinfo=UTC)
DUE = date(2026, 3, 10)


async def _unit(session: AsyncSession, code: str, *, active: bool = True) -> int:
    unit = Unit(code=code, name=f"单位{code}", kind=UnitKind.district, active=active)
    session.add(unit)
    await session.flush()
    return pk(unit)


async def _rate(
    session: AsyncSession,
    unit_id: int,
    level: Level,
    item: str | None,
    name: str | None,
    window: str | None,
    *reasons: str,
    period: str = "2026H1",
    rated_at: datetime = RATED,
    **flags: bool | int,
) -> Rating:
    rating = Rating.model_validate(
        {
            "source": RatingSource.file, "source_id": f"e{next(_ids)}", "unit_id": unit_id,
            "item_code": item, "item_name": name, "window_code": window, "channel": 5,
            "level": level.value, "reasons": list(reasons), "period": period,
            "rated_at": rated_at, **flags,
        }
    )  # fmt: skip
    session.add(rating)
    await session.flush()
    return rating


async def _case(
    session: AsyncSession,
    rating: Rating,
    state: CaseState,
    *replied: datetime,
    rerating: Level | None = None,
    contact_due: date = date(2026, 3, 3),
) -> None:
    case = FollowUpCase(
        rating_id=pk(rating), unit_id=rating.unit_id, state=state, contact_due=contact_due,
        rectify_due=DUE, rerating=rerating.value if rerating else None,
    )  # fmt: skip
    session.add(case)
    await session.flush()
    session.add(CaseEvent(case_id=pk(case), actor="system", kind="opened", to_state=S.pending))
    for at in replied:
        session.add(
            CaseEvent(case_id=pk(case), actor="u", kind="transition", to_state=S.replied, at=at)
        )
    await session.flush()


def _local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of March 2026 in Shanghai, as UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=indicators.SHANGHAI).astimezone(UTC)


@pytest.fixture
async def edge_cases(session: AsyncSession) -> tuple[int, int]:
    a, b = await _unit(session, "E1"), await _unit(session, "E2")
    closed_unit = await _unit(session, "E3", active=False)
    bad, worst, good = Level.dissatisfied, Level.very_dissatisfied, Level.satisfied
    # One rating names a reason twice; two phone numbers that mask alike, in one rating.
    await _rate(session, a, bad, "I1", "旧名称", "W1", "服务态度", "服务态度", "办事效率")
    await _rate(session, a, worst, "I1", "新名称", "W1", "电话13812345678", "电话13899995678")
    await _rate(session, a, bad, "I1", None, "W2", "电话13812345678", "服务态度")
    # The latest name of I2 is on a rating that no longer counts; its latest counted has none.
    await _rate(session, a, good, "I2", "事项二", None)
    await _rate(session, a, good, "I2", None, None)
    await _rate(session, a, good, "I2", "事项二新", None, is_default=True)
    # Codes Python and a locale order differently, and no code at all.
    for code in ("b", "B", "_x", "a", None):
        await _rate(session, a, Level.neutral, code, f"名{code}", code)
    # 已反馈 the second before and after local midnight ending the deadline day.
    before = await _rate(session, a, bad, "I3", "事项三", "W1", "流程繁琐")
    await _case(session, before, S.replied, _local(10, 23, 59, 59))
    after = await _rate(session, a, bad, "I3", "事项三", "W1", "流程繁琐")
    await _case(session, after, S.rerated, _local(11, 0, 0, 0), rerating=Level.satisfied)
    twice = await _rate(session, a, worst, "I3", "事项三", "W2")
    await _case(session, twice, S.closed, _local(12, 9), _local(9, 9), rerating=Level.neutral)
    # Cases without any 已反馈 event, in states before and after it.
    silent = await _rate(session, b, bad, "I4", "事项四", "W1")
    await _case(session, silent, S.rectifying)
    marked = await _rate(session, b, worst, "I4", "事项四", "W1")
    await _case(session, marked, S.rerated, rerating=Level.dissatisfied)
    waiting = await _rate(session, b, bad, "I4", "事项四", None)
    await _case(session, waiting, S.pending, contact_due=date(2026, 3, 19))
    appeal = await _rate(session, b, bad, "I4", "事项四", None)
    await _case(session, appeal, S.appeal_rejected)
    # An excluded rating's open, overdue case; a default rating's case.
    excluded = await _rate(session, b, worst, "I4", "事项四", "W1", "服务态度", excluded=True)
    await _case(session, excluded, S.rectifying)
    default = await _rate(session, b, bad, "I4", "事项四", "W1", is_default=True)
    await _case(session, default, S.pending)
    # A group with a case but no counted rating left: replaced by a 2nd round elsewhere.
    replaced = await _rate(session, b, bad, "I5", "事项五", "W9", "服务态度", active=False)
    await _case(session, replaced, S.replied, _local(8, 12))
    await _rate(session, b, good, "I6", "事项六", "W1", round=2)
    # Another half-year, and a unit the dashboard does not show.
    await _rate(session, a, bad, "I1", "去年名称", "W1", "服务态度", period="2025H2",
                rated_at=datetime(2025, 10, 31, 16, 30, tzinfo=UTC))  # fmt: skip
    await _rate(session, closed_unit, good, "I1", "事项一", "W1")
    # Ratings at the edges of local months, for the trend.
    await _rate(session, b, good, "I6", "事项六", "W1", rated_at=_local(1, 0, 0, 0))
    await _rate(
        session, b, bad, "I6", "事项六", "W1", rated_at=_local(1, 0) - timedelta(seconds=1)
    )
    return a, b


class TestEdgeCases:
    @pytest.mark.parametrize("group_by", GROUPINGS)
    async def test_indicators_equal_the_previous_implementation(
        self, session: AsyncSession, edge_cases: tuple[int, int], group_by: indicators.GroupBy
    ) -> None:
        a, b = edge_cases
        for period, unit_id, neutral, today in itertools.product(
            (None, "2026H1"), (None, a, b), (True, False), (date(2026, 3, 20), date(2026, 3, 5))
        ):
            await _same_indicators(
                session, period=period, unit_id=unit_id, group_by=group_by, today=today,
                neutral_is_good=neutral,
            )  # fmt: skip

    async def test_the_edges_count_as_written(
        self, session: AsyncSession, edge_cases: tuple[int, int]
    ) -> None:
        a, b = edge_cases
        rows = await _same_indicators(
            session, period="2026H1", group_by="item", today=date(2026, 3, 20)
        )
        by_key = {(r.unit_id, r.item_code): r for r in rows}
        i1 = by_key[a, "I1"]
        assert i1.item_name == "新名称"
        assert dict(i1.top_reasons) == {"服务态度": 2, "电话138****5678": 2, "办事效率": 1}
        assert by_key[a, "I2"].item_name == "事项二"
        i3 = by_key[a, "I3"]
        assert (i3.cases, i3.rectified, i3.on_time) == (3, 3, 2)
        assert by_key[b, "I5"].ratings == 0
        assert by_key[b, "I5"].item_name == "事项五"
        assert by_key[b, "I4"].overdue_open == 3  # not the excluded or default rating's case
        codes = [r.item_code for r in rows if r.unit_id == a]
        assert codes[:5] == [None, "B", "I1", "I2", "I3"]

    async def test_the_dashboard_equals_the_previous_one(
        self, session: AsyncSession, edge_cases: tuple[int, int]
    ) -> None:
        a, b = edge_cases
        for today in (date(2026, 3, 20), date(2026, 3, 1), date(2026, 2, 28)):
            await _same_dashboard(session, ADMIN, today)
        await _same_dashboard(session, await _staff(session, b), date(2026, 3, 20))


# --- The generated 200,000-rating database -----------------------------------------------


class TestBigDatabase:
    async def test_indicators_and_dashboard_equal_the_previous_implementation(
        self, big_session: AsyncSession
    ) -> None:
        today = date(2026, 11, 30)
        for group_by in GROUPINGS:
            rows = await _same_indicators(
                big_session, period="2026H1", group_by=group_by, today=today
            )
            assert sum(r.cases for r in rows) > 0
        await _same_indicators(big_session, group_by="unit", today=today)
        await _same_dashboard(big_session, ADMIN, today)
