"""The citizen's 复评 after 整改 is the 办件's 2nd round (评价次数 2): a rating like the one the
case follows, with the 复评's level, that retires the original (kept as history) so only the
latest round counts in the scores and the indicators; it opens no case."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.aggregate import rating_counts
from scoring.method import load_method
from surveys.accounts.models import Unit, UnitKind
from surveys.cases.models import CaseState, FollowUpCase
from surveys.cases.service import RereratingNotAllowed, open_case, record_rerating
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.models import pk
from surveys.haochaping import indicators
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.questionnaire.models import Respondent

TZ = ZoneInfo("Asia/Shanghai")
RATED = datetime(2026, 3, 2, 2, tzinfo=UTC)
RERATED = datetime(2026, 3, 12, 3, tzinfo=UTC)
PERIOD = "2026H1"


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    unit = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
    session.add(unit)
    await session.flush()
    return unit


async def bad_rating(
    session: AsyncSession, unit: Unit, *, with_event: bool = True, source_id: str = "chat-1"
) -> Rating:
    """A 差评 given in chat on a 办件's link (or, without it, on a window's poster)."""
    citizen = Respondent(pseudonym=f"p-{source_id}")
    session.add(citizen)
    event = None
    if with_event:
        event = ServiceEvent(
            case_no=f"BJ-{source_id}", item_code="11150200MB", item_name="不动产登记",
            unit_id=pk(unit), window_code="W07", channel=2, finished_at=RATED,
            link_token=f"link-{source_id}",
        )  # fmt: skip
        session.add(event)
    await session.flush()
    rating = Rating(
        source=RatingSource.bot, source_id=source_id, unit_id=pk(unit),
        service_event_id=event.id if event else None, item_code="11150200MB",
        item_name="不动产登记", window_code="W07", channel=2 if event else 3,
        respondent_id=pk(citizen), level="very_dissatisfied", reasons=["服务态度"],
        comment="态度差", contact_ok=True, period=PERIOD, rated_at=RATED,
    )  # fmt: skip
    session.add(rating)
    await session.flush()
    return rating


async def replied_case(session: AsyncSession, rating: Rating) -> FollowUpCase:
    case = await open_case(
        session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
    )
    assert case is not None
    case.state = CaseState.replied
    await session.flush()
    return case


async def ratings_of(session: AsyncSession) -> list[Rating]:
    return list((await session.exec(select(Rating).order_by(col(Rating.id)))).all())


async def counted(session: AsyncSession, unit: Unit) -> dict[str, int]:
    counts = await rating_counts(session=session, period=PERIOD, method=load_method())
    return {level: n for level, n in counts.get(pk(unit), {}).items() if n}


class TestRerating:
    @pytest.mark.parametrize(
        ("choice", "level"),
        [("满意", "satisfied"), ("基本满意", "neutral"), ("不满意", "dissatisfied")],
    )
    async def test_is_stored_as_the_second_round_and_retires_the_original(
        self, session: AsyncSession, unit: Unit, choice: str, level: str
    ) -> None:
        original = await bad_rating(session, unit)
        case = await replied_case(session, original)
        assert await counted(session, unit) == {"very_dissatisfied": 1}

        await record_rerating(session=session, case=case, level=choice, now=RERATED, tz=TZ)

        first, second = await ratings_of(session)
        assert (first.id, first.active, first.round) == (original.id, False, 1)  # history
        assert (second.active, second.round, second.level) == (True, 2, level)
        same = ("unit_id", "service_event_id", "item_code", "item_name", "window_code",
                "channel", "respondent_id", "contact_ok")  # fmt: skip
        assert {f: getattr(second, f) for f in same} == {f: getattr(first, f) for f in same}
        assert (second.source, second.source_id) == ("bot", f"rerating-{case.id}")
        assert (second.reasons, second.comment, second.excluded) == ([], None, False)
        assert (second.period, second.rated_at.replace(tzinfo=UTC)) == (PERIOD, RERATED)
        assert await counted(session, unit) == {level: 1}
        # The case moves to 已复评 as before and keeps the 复评; no case is opened, even for
        # a 不满意 复评: the loop of this 差评 is the one case.
        assert (case.state, case.rerating) == (CaseState.rerated, level)
        assert (await session.exec(select(func.count()).select_from(FollowUpCase))).one() == 1

    async def test_the_indicators_count_the_latest_round_and_the_one_case(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case = await replied_case(session, await bad_rating(session, unit))

        await record_rerating(session=session, case=case, level="满意", now=RERATED, tz=TZ)

        (row,) = await indicators.rating_indicators(
            session=session, period=PERIOD, today=date(2026, 3, 12)
        )
        assert (row.ratings, row.good, row.bad) == (1, 1, 0)
        assert (row.cases, row.rerated, row.rerating_satisfied_rate) == (1, 1, 1.0)

    async def test_a_window_rating_without_a_banjian_is_retired_too(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        original = await bad_rating(session, unit, with_event=False)
        case = await replied_case(session, original)

        await record_rerating(session=session, case=case, level="基本满意", now=RERATED, tz=TZ)

        assert [(r.round, r.active, r.level) for r in await ratings_of(session)] == [
            (1, False, "very_dissatisfied"),
            (2, True, "neutral"),
        ]

    async def test_another_citizens_rating_is_left_alone(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        other = await bad_rating(session, unit, source_id="chat-2")
        case = await replied_case(session, await bad_rating(session, unit))

        await record_rerating(session=session, case=case, level="满意", now=RERATED, tz=TZ)

        await session.refresh(other)
        assert other.active is True
        assert await counted(session, unit) == {"very_dissatisfied": 1, "satisfied": 1}

    async def test_a_second_rerating_is_refused_and_stores_no_third_round(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        case = await replied_case(session, await bad_rating(session, unit))
        await record_rerating(session=session, case=case, level="满意", now=RERATED, tz=TZ)

        with pytest.raises(RereratingNotAllowed):
            await record_rerating(session=session, case=case, level="不满意", now=RERATED, tz=TZ)

        assert [(r.round, r.active) for r in await ratings_of(session)] == [(1, False), (2, True)]
