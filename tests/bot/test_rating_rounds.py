"""The latest round counts in the bot: a 办件 rated again on its link replaces the earlier
rating (history kept), the 复评 buttons after 整改 store the 2nd round, and a change on the
link after a 2nd round is a change of that round, never a late 1st."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from scoring.aggregate import rating_counts
from scoring.method import load_method
from surveys.accounts import units
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.haochaping import ratings
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.haochaping.ratings import RatingIn, period_of
from tests.bot.recording import Citizen
from tests.bot.test_case_feedback import case_in_rectifying, feed_back

TZ = ZoneInfo("Asia/Shanghai")


async def rounds(sessionmaker: SessionMaker) -> list[tuple[str, int, bool, str]]:
    """(source, round, active, level) of every rating, in the order stored."""
    async with sessionmaker() as session:
        found = await session.exec(
            select(Rating.source, Rating.round, Rating.active, Rating.level).order_by(
                col(Rating.id)
            )
        )
        return [tuple(row) for row in found.all()]  # type: ignore[misc]


async def counted(sessionmaker: SessionMaker, unit_id: int) -> dict[str, int]:
    """The unit's counted ratings by level, as ``minyi score`` counts them."""
    async with sessionmaker() as session:
        period = period_of(utcnow(), TZ)
        counts = await rating_counts(session=session, period=period, method=load_method())
    return {level: n for level, n in counts.get(unit_id, {}).items() if n}


async def banjian(sessionmaker: SessionMaker, token: str) -> int:
    """A finished 办件 of 市审批服务局 with its receipt link; the unit's id."""
    async with unit_of_work(sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code="spj")
        session.add(
            ServiceEvent(
                case_no=f"BJ-{token}",
                item_code="11150200MB",
                item_name="企业开办",
                unit_id=pk(unit),
                channel=2,
                finished_at=utcnow() - timedelta(hours=2),
                link_token=token,
            )  # fmt: skip
        )
    return pk(unit)


class TestRounds:
    async def test_the_rerating_buttons_store_the_second_round(
        self, citizen: Callable[[int], Citizen], sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        me = citizen(6601)
        case_id = await case_in_rectifying(sessionmaker, settings, 6601)
        await feed_back(sessionmaker, case_id, me)

        await me.press("满意", me.messages()[-1])

        assert await rounds(sessionmaker) == [
            ("bot", 1, False, "dissatisfied"),  # the 差评, kept as history
            ("bot", 2, True, "satisfied"),
        ]
        async with sessionmaker() as session:
            case = await session.get_one(FollowUpCase, case_id)
            cases = (await session.exec(select(func.count()).select_from(FollowUpCase))).one()
        assert await counted(sessionmaker, case.unit_id) == {"satisfied": 1}
        assert (case.state, case.rerating, cases) == ("已复评", "satisfied", 1)  # none opened

    async def test_rating_a_banjian_again_on_its_link_replaces_the_first(
        self, citizen: Callable[[int], Citizen], sessionmaker: SessionMaker
    ) -> None:
        unit_id = await banjian(sessionmaker, "rcpt-round-1")
        me = citizen(6602)
        await me.say("/start r_rcpt-round-1")
        await me.press("满意")

        await me.say("/start r_rcpt-round-1")
        await me.press("非常满意")

        assert await rounds(sessionmaker) == [
            ("bot", 1, False, "satisfied"),
            ("bot", 1, True, "very_satisfied"),
        ]
        assert await counted(sessionmaker, unit_id) == {"very_satisfied": 1}

    async def test_a_change_after_a_pushed_second_round_is_of_that_round(
        self, citizen: Callable[[int], Citizen], sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        unit_id = await banjian(sessionmaker, "rcpt-round-2")
        me = citizen(6603)
        await me.say("/start r_rcpt-round-2")
        await me.press("基本满意")
        async with unit_of_work(sessionmaker) as session:
            pushed = RatingIn(
                source_id="P-2", unit="spj", level="satisfied", channel=2, rated_at=utcnow(),
                case_no="BJ-rcpt-round-2", round=2,
            )  # fmt: skip
            await ratings.ingest(
                session=session, items=[pushed], source=RatingSource.api, tz=TZ,
                now=utcnow(), grace_days=15,
            )  # fmt: skip

        await me.say("/start r_rcpt-round-2")
        await me.press("非常满意")

        assert await rounds(sessionmaker) == [
            ("bot", 1, False, "neutral"),
            ("api", 2, False, "satisfied"),
            ("bot", 2, True, "very_satisfied"),
        ]
        assert await counted(sessionmaker, unit_id) == {"very_satisfied": 1}
