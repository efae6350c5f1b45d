"""好差评 indicators on a small hand-built data set, with every expected number worked out.

Unit A, 2026H1 (事项 I1 营业执照办理 / I2 社保关系转移; windows W1 / W2). Columns: 事项, window,
level, 差评 reasons, counted?, case:

    r1  I1 W1 非常满意                               counted
    r2  I1 W1 满意                                   counted
    r3  I1 W2 基本满意                               counted
    r4  I2 W2 不满意 服务态度+服务效率               counted  c4 已关闭; 反馈 on time, 复评 满意
    r5  I2 W2 非常不满意 服务效率+办事指南精确度     counted  c5 已复评; 反馈 late, 复评 不满意
    r6  I1 W1 不满意 服务效率                        counted  c6 整改中, no 反馈: overdue
    r7  I1 W1 满意                                   no: 系统默认评价
    r8  I2 W2 非常不满意 服务态度                    no: 申诉成立; c8 申诉成立
    r9  I1 W1 不满意 服务态度                        no: replaced; c9 已复评, on time, 基本满意
    r10 I1 W1 满意 (round 2, replaces r9)            counted

c4 was answered 03-10 23:00 Shanghai (on the due day), c5 03-11 00:30 Shanghai (late), though
both are 03-10 in UTC. Unit A, 2025H2: r11 I1 W1 不满意 服务效率, case c11 已关闭, on time, 满意.

Unit B, 2026H1 (事项 I3 不动产登记):

    r12 I3 W1 非常满意                               counted
    r13 I3 W1 基本满意                               counted
    r14 I3 W1 不满意 服务态度                        counted  c14 不属实 → 已关闭, never 反馈
    r15 I3 W1 非常不满意 办事便捷度+服务态度         counted  c15 待核实, contact due 03-18
    r16 I3 -- 不满意                                 counted  c16 核实中, 整改 due 03-30

All 整改 deadlines are 2026-03-10 (c11: 2025-10-10) unless said otherwise; ``today`` is 2026-03-20.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.models import pk
from surveys.haochaping.indicators import Indicators, rating_indicators
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire.definitions import Level

S = CaseState
L = Level
TODAY = date(2026, 3, 20)
RATED_H1 = datetime(2026, 3, 1, 2, tzinfo=UTC)
RATED_H2 = datetime(2025, 9, 30, 2, tzinfo=UTC)
CONTACT_DUE = date(2026, 3, 3)
RECTIFY_DUE = date(2026, 3, 10)
NAMES = {"I1": "营业执照办理", "I2": "社保关系转移", "I3": "不动产登记"}
_ids = itertools.count(1)


async def make_unit(session: AsyncSession, code: str) -> int:
    unit = Unit(code=code, name=f"单位{code}", kind=UnitKind.district)
    session.add(unit)
    await session.flush()
    return pk(unit)


async def rate(
    session: AsyncSession,
    unit_id: int,
    level: Level,
    item: str,
    window: str | None,
    *reasons: str,
    period: str = "2026H1",
    **flags: bool | int,
) -> Rating:
    rating = Rating.model_validate(
        {
            "source": RatingSource.file,
            "source_id": f"r{next(_ids)}",
            "unit_id": unit_id,
            "item_code": item,
            "item_name": NAMES.get(item),
            "window_code": window,
            "channel": 5,
            "level": level.value,
            "reasons": list(reasons),
            "period": period,
            "rated_at": RATED_H1 if period == "2026H1" else RATED_H2,
            **flags,
        }
    )
    session.add(rating)
    await session.flush()
    return rating


async def follow_up(
    session: AsyncSession,
    rating: Rating,
    state: CaseState,
    *,
    replied_at: datetime | None = None,
    rerating: Level | None = None,
    contact_due: date = CONTACT_DUE,
    rectify_due: date = RECTIFY_DUE,
) -> FollowUpCase:
    case = FollowUpCase(
        rating_id=pk(rating),
        unit_id=rating.unit_id,
        state=state,
        contact_due=contact_due,
        rectify_due=rectify_due,
        rerating=rerating.value if rerating else None,
    )
    session.add(case)
    await session.flush()
    # Other events on the timeline must not be taken for the 已反馈 one.
    session.add(CaseEvent(case_id=pk(case), actor="system", kind="opened", to_state=S.pending))
    if replied_at is not None:
        session.add(
            CaseEvent(
                case_id=pk(case),
                actor="staff",
                kind="transition",
                from_state=S.rectifying,
                to_state=S.replied,
                at=replied_at,
            )
        )
    await session.flush()
    return case


@pytest.fixture
async def units(session: AsyncSession) -> tuple[int, int]:
    a, b = await make_unit(session, "A"), await make_unit(session, "B")
    await rate(session, a, L.very_satisfied, "I1", "W1")
    await rate(session, a, L.satisfied, "I1", "W1")
    await rate(session, a, L.neutral, "I1", "W2")
    r4 = await rate(session, a, L.dissatisfied, "I2", "W2", "服务态度", "服务效率")
    r5 = await rate(session, a, L.very_dissatisfied, "I2", "W2", "服务效率", "办事指南精确度")
    r6 = await rate(session, a, L.dissatisfied, "I1", "W1", "服务效率")
    await rate(session, a, L.satisfied, "I1", "W1", is_default=True, channel=7)
    r8 = await rate(session, a, L.very_dissatisfied, "I2", "W2", "服务态度", excluded=True)
    r9 = await rate(session, a, L.dissatisfied, "I1", "W1", "服务态度", active=False)
    await rate(session, a, L.satisfied, "I1", "W1", round=2)
    # 15:00 UTC is 23:00 in Shanghai, still the due day; 16:30 UTC is already the next day.
    on_time, late = (
        datetime(2026, 3, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 10, 16, 30, tzinfo=UTC),
    )
    await follow_up(session, r4, S.closed, replied_at=on_time, rerating=L.satisfied)
    await follow_up(session, r5, S.rerated, replied_at=late, rerating=L.dissatisfied)
    await follow_up(session, r6, S.rectifying)
    await follow_up(session, r8, S.appeal_upheld)
    replied = datetime(2026, 3, 5, 2, tzinfo=UTC)
    await follow_up(session, r9, S.rerated, replied_at=replied, rerating=L.neutral)

    r11 = await rate(session, a, L.dissatisfied, "I1", "W1", "服务效率", period="2025H2")
    replied = datetime(2025, 10, 9, 2, tzinfo=UTC)
    await follow_up(
        session, r11, S.closed, replied_at=replied, rerating=L.satisfied,
        contact_due=date(2025, 10, 1), rectify_due=date(2025, 10, 10),
    )  # fmt: skip

    await rate(session, b, L.very_satisfied, "I3", "W1")
    await rate(session, b, L.neutral, "I3", "W1")
    r14 = await rate(session, b, L.dissatisfied, "I3", "W1", "服务态度")
    r15 = await rate(session, b, L.very_dissatisfied, "I3", "W1", "办事便捷度", "服务态度")
    r16 = await rate(session, b, L.dissatisfied, "I3", None)
    await follow_up(session, r14, S.closed)
    await follow_up(session, r15, S.pending, contact_due=date(2026, 3, 18))
    await follow_up(session, r16, S.verifying, rectify_due=date(2026, 3, 30))
    return a, b


def unit_a_h1(a: int) -> Indicators:
    # Counted: r1 r2 r3 r4 r5 r6 r10 = 7. 好评 r1 r2 r3 r10 = 4/7; 差评 r4 r5 r6 = 3/7.
    # Cases c4 c5 c6 c9 (c8 left out with its upheld appeal): all past 待核实 = 4/4 回访;
    # 反馈 c4 c5 c9 = 3/4; on time c4 c9 = 2/4; 复评 c4 c5 c9, 满意/基本满意 c4 c9 = 2/3;
    # overdue c6 (整改中 after 03-10). Reasons of r4 r5 r6: 服务效率 3, then a tie at 1
    # broken by code point (办 U+529E before 服 U+670D).
    return Indicators(
        unit_id=a,
        ratings=7, good=4, bad=3, good_rate=0.5714, bad_rate=0.4286,
        cases=4, contacted=4, contact_rate=1.0,
        rectified=3, rectify_rate=0.75, on_time=2, on_time_rate=0.5,
        rerated=3, rerating_satisfied_rate=0.6667, overdue_open=1,
        top_reasons=(("服务效率", 3), ("办事指南精确度", 1), ("服务态度", 1)),
    )  # fmt: skip


def unit_b_h1(b: int) -> Indicators:
    # Counted r12..r16 = 5. 好评 r12 r13 = 2/5; 差评 r14 r15 r16 = 3/5.
    # Cases c14 c15 c16: 回访 c14 c16 = 2/3 (c15 still 待核实); c14 closed as 不属实 without
    # 反馈, so 0 rectified; no 复评 (rate None); overdue c15 (contact due 03-18); c16 not yet.
    return Indicators(
        unit_id=b,
        ratings=5, good=2, bad=3, good_rate=0.4, bad_rate=0.6,
        cases=3, contacted=2, contact_rate=0.6667,
        rectified=0, rectify_rate=0.0, on_time=0, on_time_rate=0.0,
        rerated=0, rerating_satisfied_rate=None, overdue_open=1,
        top_reasons=(("服务态度", 2), ("办事便捷度", 1)),
    )  # fmt: skip


def shape(rows: list[Indicators]) -> list[tuple[object, ...]]:
    """Key, counts and the main rates of each row, for the grouped tables."""
    return [
        (r.unit_id, r.item_code, r.item_name, r.window_code, r.ratings, r.good, r.bad,
         r.cases, r.rectified, r.on_time, r.rerated, r.overdue_open)
        for r in rows
    ]  # fmt: skip


class TestRatingIndicators:
    async def test_by_unit(self, session: AsyncSession, units: tuple[int, int]) -> None:
        a, b = units
        rows = await rating_indicators(session=session, period="2026H1", today=TODAY)
        assert rows == [unit_a_h1(a), unit_b_h1(b)]

    async def test_neutral_not_good(self, session: AsyncSession, units: tuple[int, int]) -> None:
        # Without 基本满意 (r3, r13) 好评 drops to 3/7 and 1/5; 差评 do not change.
        a, b = units
        rows = await rating_indicators(
            session=session, period="2026H1", today=TODAY, neutral_is_good=False
        )
        assert [(r.unit_id, r.good, r.good_rate, r.bad_rate) for r in rows] == [
            (a, 3, 0.4286, 0.4286),
            (b, 1, 0.2, 0.6),
        ]

    async def test_by_item(self, session: AsyncSession, units: tuple[int, int]) -> None:
        # I1: r1 r2 r3 r6 r10, 差评 r6; cases c6 (overdue) and c9 (on time, 复评).
        # I2: r4 r5, both 差评; cases c4 (on time) and c5 (late), both 复评.
        a, _ = units
        rows = await rating_indicators(
            session=session, period="2026H1", unit_id=a, group_by="item", today=TODAY
        )
        assert shape(rows) == [
            (a, "I1", "营业执照办理", None, 5, 4, 1, 2, 1, 1, 1, 1),
            (a, "I2", "社保关系转移", None, 2, 0, 2, 2, 2, 1, 2, 0),
        ]
        assert [(r.rectify_rate, r.rerating_satisfied_rate) for r in rows] == [
            (0.5, 1.0),
            (1.0, 0.5),
        ]

    async def test_by_window(self, session: AsyncSession, units: tuple[int, int]) -> None:
        # Windows are numbered per hall, so the key is (unit, window); no window sorts first.
        a, b = units
        rows = await rating_indicators(
            session=session, period="2026H1", group_by="window", today=TODAY
        )
        assert shape(rows) == [
            (a, None, None, "W1", 4, 3, 1, 2, 1, 1, 1, 1),  # r1 r2 r6 r10; c6 c9
            (a, None, None, "W2", 3, 1, 2, 2, 2, 1, 2, 0),  # r3 r4 r5; c4 c5
            (b, None, None, None, 1, 0, 1, 1, 0, 0, 0, 0),  # r16; c16
            (b, None, None, "W1", 4, 2, 2, 2, 0, 0, 0, 1),  # r12..r15; c14 c15
        ]
        assert rows[1].top_reasons == (("服务效率", 2), ("办事指南精确度", 1), ("服务态度", 1))

    async def test_all_periods(self, session: AsyncSession, units: tuple[int, int]) -> None:
        # Adds r11 (差评) and c11 (on time, 复评 满意) to unit A's 2026H1 numbers.
        a, _ = units
        [row] = await rating_indicators(session=session, unit_id=a, today=TODAY)
        assert (row.ratings, row.good, row.bad, row.bad_rate) == (8, 4, 4, 0.5)
        assert (row.cases, row.rectified, row.on_time, row.rerated) == (5, 4, 3, 4)
        assert (row.rectify_rate, row.on_time_rate, row.rerating_satisfied_rate) == (
            0.8,
            0.6,
            0.75,
        )
        assert row.top_reasons[0] == ("服务效率", 4)

    async def test_other_period(self, session: AsyncSession, units: tuple[int, int]) -> None:
        a, _ = units
        [row] = await rating_indicators(session=session, period="2025H2", today=TODAY)
        assert (row.unit_id, row.ratings, row.bad, row.cases, row.on_time) == (a, 1, 1, 1, 1)
        assert row.overdue_open == 0

    async def test_unit_filter(self, session: AsyncSession, units: tuple[int, int]) -> None:
        _, b = units
        rows = await rating_indicators(session=session, period="2026H1", unit_id=b, today=TODAY)
        assert rows == [unit_b_h1(b)]

    async def test_overdue_depends_on_today(
        self, session: AsyncSession, units: tuple[int, int]
    ) -> None:
        # On the 整改 due day c6 is not late yet, nor c15 before its contact deadline.
        rows = await rating_indicators(session=session, period="2026H1", today=RECTIFY_DUE)
        assert [r.overdue_open for r in rows] == [0, 0]

    @pytest.mark.usefixtures("units")
    async def test_empty(self, session: AsyncSession) -> None:
        assert await rating_indicators(session=session, period="2027H1", today=TODAY) == []

    async def test_only_uncounted_ratings(self, session: AsyncSession) -> None:
        # A default rating and an upheld-appeal rating leave a unit out altogether.
        c = await make_unit(session, "C")
        await rate(session, c, L.satisfied, "I1", "W1", is_default=True, channel=7)
        excluded = await rate(session, c, L.dissatisfied, "I1", "W1", excluded=True)
        await follow_up(session, excluded, S.appeal_upheld)
        assert await rating_indicators(session=session, unit_id=c, today=TODAY) == []

    async def test_top_reasons_ties(self, session: AsyncSession) -> None:
        # 服务效率 ×2; 服务水平, 服务态度, 办事便捷度 ×1 each (a reason repeated within one
        # rating counts once). Ties go by code point, and only three are kept. The 满意 rating's
        # reason is not a 差评 reason.
        d = await make_unit(session, "D")
        await rate(session, d, L.dissatisfied, "I1", "W1", "服务效率", "服务水平", "服务效率")
        await rate(session, d, L.very_dissatisfied, "I1", "W1", "服务效率", "服务态度")
        await rate(session, d, L.dissatisfied, "I1", "W1", "办事便捷度")
        await rate(session, d, L.satisfied, "I1", "W1", "服务效率")
        [row] = await rating_indicators(session=session, unit_id=d, today=TODAY)
        assert row.top_reasons == (("服务效率", 2), ("办事便捷度", 1), ("服务态度", 1))
        assert (row.cases, row.contact_rate, row.rectify_rate, row.on_time_rate) == (
            0,
            None,
            None,
            None,
        )
