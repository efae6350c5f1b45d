"""The latest round counts on every path (domain.md §2): a new rating of a 办件 by its rater
retires the earlier active one (kept as history) when its round is at least the earlier's; a
1st round arriving after the 2nd is stored as history. Here the rule, ``POST``'s ingestion
and the file import; the counts are read with the scoring and the indicators' own code."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.aggregate import rating_counts
from scoring.method import load_method
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.haochaping import feedback, indicators, ratings
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.haochaping.ratings import RatingIn, is_latest

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
PERIOD = "2026H1"
POLICY = workdays.DeadlinePolicy(contact_days=1, rectify_days=5)
HEADER = "source_id,unit,level,channel,rated_at,case_no,round"


def item(source_id: str, **fields: Any) -> RatingIn:
    data: dict[str, Any] = {
        "source_id": source_id,
        "unit": "kundulun",
        "level": "dissatisfied",
        "channel": 4,
        "rated_at": "2026-03-01T10:00:00+08:00",
        "case_no": "BJ-1",
    }
    data.update(fields)
    return RatingIn.model_validate(data)


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
    session.add(kundulun)
    await session.flush()
    for n in (1, 2):
        session.add(
            ServiceEvent(
                case_no=f"BJ-{n}",
                item_code="11150200MB",
                item_name="不动产登记",
                unit_id=pk(kundulun),
                window_code="W07",
                channel=4,
                finished_at=datetime(2026, 2, 27, 9, tzinfo=UTC),
                link_token=f"link-{n}",
            )  # fmt: skip
        )
    await session.flush()
    return kundulun


async def push(session: AsyncSession, *items: RatingIn) -> ratings.IngestResult:
    """``POST /api/v1/ratings``' domain path: ingestion, then a case per counted 差评."""
    result = await ratings.ingest(
        session=session, items=items, source=RatingSource.api, tz=TZ, now=NOW, grace_days=15
    )
    calendar = await workdays.load_calendar(session=session, tz=TZ)
    for rating in result.created:
        await cases.open_case(session=session, rating=rating, calendar=calendar, policy=POLICY)
    return result


async def rounds(session: AsyncSession) -> list[tuple[str, int, bool, str]]:
    """(source id, round, active, level) of every rating, in the order stored."""
    found = await session.exec(
        select(Rating.source_id, Rating.round, Rating.active, Rating.level).order_by(
            col(Rating.id)
        )
    )
    return [tuple(row) for row in found.all()]  # type: ignore[misc]


async def counted(session: AsyncSession, unit: Unit) -> dict[str, int]:
    """The unit's counted ratings by level, as ``minyi score`` counts them."""
    counts = await rating_counts(session=session, period=PERIOD, method=load_method())
    return {level: n for level, n in counts.get(pk(unit), {}).items() if n}


async def shown(session: AsyncSession) -> tuple[int, int, int, int]:
    """(ratings, 好评, 差评, cases) of the unit as the indicators show them."""
    (row,) = await indicators.rating_indicators(
        session=session, period=PERIOD, today=date(2026, 3, 10)
    )
    return row.ratings, row.good, row.bad, row.cases


class TestTheRule:
    @pytest.mark.parametrize(
        ("new", "earlier", "latest"),
        [
            (2, [1], True),  # a 2nd round after 整改
            (1, [1], True),  # a change within the round
            (2, [2], True),
            (1, [2], False),  # a 1st round arriving late
            (1, [], True),
            (2, [1, 2], True),  # two active before this rule: both replaced
            (1, [1, 2], False),
        ],
    )
    def test_a_round_at_least_each_earlier_one_is_the_latest(
        self, new: int, earlier: list[int], latest: bool
    ) -> None:
        assert is_latest(new, earlier) is latest


class TestPushed:
    async def test_a_second_round_retires_the_first_and_only_it_counts(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await push(session, item("A-1"))
        assert await counted(session, unit) == {"dissatisfied": 1}

        await push(session, item("A-2", level="satisfied", round=2))

        assert await rounds(session) == [
            ("A-1", 1, False, "dissatisfied"),  # kept as history
            ("A-2", 2, True, "satisfied"),
        ]
        assert await counted(session, unit) == {"satisfied": 1}
        # The 1st round's case still counts among cases (its 整改 happened); no 2nd is opened.
        assert await shown(session) == (1, 1, 0, 1)

    async def test_the_same_source_id_again_is_a_duplicate_and_changes_nothing(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await push(session, item("A-1"), item("A-2", level="satisfied", round=2))
        before = await rounds(session)

        again = await push(session, item("A-1"), item("A-2", level="satisfied", round=2))

        assert (again.created, again.duplicates) == ([], ["A-1", "A-2"])
        assert await rounds(session) == before

    async def test_a_late_first_round_is_history_and_does_not_displace_the_second(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await push(session, item("A-2", level="satisfied", round=2))

        late = await push(session, item("A-1", level="very_dissatisfied"))

        assert await rounds(session) == [
            ("A-2", 2, True, "satisfied"),
            ("A-1", 1, False, "very_dissatisfied"),
        ]
        assert late.created[0].active is False
        assert await counted(session, unit) == {"satisfied": 1}
        # A 差评 that never counted opens no case.
        assert await shown(session) == (1, 1, 0, 0)

    async def test_in_one_batch_as_if_sent_one_by_one(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await push(session, item("A-1"), item("A-2", level="satisfied", round=2))

        assert await rounds(session) == [
            ("A-1", 1, False, "dissatisfied"),
            ("A-2", 2, True, "satisfied"),
        ]
        assert await counted(session, unit) == {"satisfied": 1}
        # Sent one by one, the 差评 would have opened its case before its 2nd round came.
        assert await shown(session) == (1, 1, 0, 1)

    async def test_another_banjian_or_a_rating_without_one_is_never_replaced(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await push(session, item("A-1"), item("B-1", case_no="BJ-2"), item("N-1", case_no=None))
        await push(session, item("N-2", case_no=None, level="satisfied", round=2))

        await push(session, item("A-2", level="satisfied", round=2))

        assert [(s, a) for s, _, a, _ in await rounds(session)] == [
            ("A-1", False),
            ("B-1", True),  # BJ-2 is another 办件
            ("N-1", True),  # no 办件 named: nothing to say whose earlier round it is
            ("N-2", True),
            ("A-2", True),
        ]
        assert await counted(session, unit) == {"dissatisfied": 2, "satisfied": 2}

    async def test_another_units_banjian_of_the_same_number_is_not_the_same(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        other = Unit(code="qingshan", name="青山区", kind=UnitKind.district)
        session.add(other)
        await session.flush()
        session.add(
            ServiceEvent(
                case_no="BJ-1",
                item_code="X",
                item_name="户籍",
                unit_id=pk(other),
                channel=4,
                finished_at=datetime(2026, 2, 27, 9, tzinfo=UTC),
                link_token="link-q1",
            )  # fmt: skip
        )
        await push(session, item("A-1"), item("Q-1", unit="qingshan"))

        await push(session, item("Q-2", unit="qingshan", level="satisfied", round=2))

        assert [(s, a) for s, _, a, _ in await rounds(session)] == [
            ("A-1", True),
            ("Q-1", False),
            ("Q-2", True),
        ]

    async def test_an_excluded_first_round_stays_excluded_and_the_second_counts(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        # 申诉成立 judged the 1st rating, not the 办件: the 2nd, after 重办, is counted.
        await push(session, item("A-1"))
        case = (await session.exec(select(FollowUpCase))).one()
        for to in (CaseState.verifying, CaseState.appealing, CaseState.appeal_upheld):
            await cases.transition(
                session=session, case=case, to=to, actor="li", actor_role="supervisor",
                note=None if to is CaseState.verifying else "申诉材料属实",
            )  # fmt: skip
        assert await counted(session, unit) == {}

        await push(session, item("A-2", level="neutral", round=2))

        first, second = (await session.exec(select(Rating).order_by(col(Rating.id)))).all()
        assert (first.active, first.excluded) == (False, True)
        assert (second.active, second.excluded) == (True, False)
        assert await counted(session, unit) == {"neutral": 1}


def write(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def import_file(sessionmaker: SessionMaker, path: Path) -> Any:
    async with unit_of_work(sessionmaker) as session:
        return await feedback.import_ratings_file(
            session=session, path=path, tz=TZ, now=NOW, grace_days=15, policy=POLICY
        )


@pytest.fixture
async def seeded(sessionmaker: SessionMaker) -> SessionMaker:
    async with unit_of_work(sessionmaker) as session:
        kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
        session.add(kundulun)
        await session.flush()
        session.add(
            ServiceEvent(
                case_no="BJ-1",
                item_code="11150200MB",
                item_name="不动产登记",
                unit_id=pk(kundulun),
                channel=4,
                finished_at=datetime(2026, 2, 27, 9, tzinfo=UTC),
                link_token="link-1",
            )  # fmt: skip
        )
    return sessionmaker


class TestImported:
    async def test_a_second_round_in_a_later_file_retires_the_first(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        await import_file(seeded, write(tmp_path, "a.csv", "F-1,kundulun,不满意,4,"
                                        "2026-03-01T10:00:00+08:00,BJ-1,1"))  # fmt: skip
        second = write(tmp_path, "b.csv", "F-2,kundulun,满意,4,2026-03-05T10:00:00+08:00,BJ-1,2")

        await import_file(seeded, second)
        again = await import_file(seeded, second)

        assert list(again.result.duplicates) == ["F-2"]
        async with seeded() as session:
            assert await rounds(session) == [
                ("F-1", 1, False, "dissatisfied"),
                ("F-2", 2, True, "satisfied"),
            ]
            unit = (await session.exec(select(Unit))).one()
            assert await counted(session, unit) == {"satisfied": 1}
            assert await shown(session) == (1, 1, 0, 1)

    async def test_a_late_first_round_in_a_file_is_history(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        await import_file(seeded, write(tmp_path, "a.csv", "F-2,kundulun,满意,4,"
                                        "2026-03-05T10:00:00+08:00,BJ-1,2"))  # fmt: skip

        await import_file(seeded, write(tmp_path, "b.csv", "F-1,kundulun,基本满意,4,"
                                        "2026-03-01T10:00:00+08:00,BJ-1,1"))  # fmt: skip

        async with seeded() as session:
            assert await rounds(session) == [
                ("F-2", 2, True, "satisfied"),
                ("F-1", 1, False, "neutral"),
            ]
            unit = (await session.exec(select(Unit))).one()
            assert await counted(session, unit) == {"satisfied": 1}

    async def test_a_late_first_round_bad_rating_in_a_file_opens_no_case(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        await import_file(seeded, write(tmp_path, "a.csv", "F-2,kundulun,满意,4,"
                                        "2026-03-05T10:00:00+08:00,BJ-1,2"))  # fmt: skip

        await import_file(seeded, write(tmp_path, "b.csv", "F-1,kundulun,非常不满意,4,"
                                        "2026-03-01T10:00:00+08:00,BJ-1,1"))  # fmt: skip

        async with seeded() as session:
            assert await rounds(session) == [
                ("F-2", 2, True, "satisfied"),
                ("F-1", 1, False, "very_dissatisfied"),
            ]
            assert (await session.exec(select(FollowUpCase))).all() == []

    async def test_both_rounds_in_one_file_end_as_sent_one_by_one(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = write(
            tmp_path, "a.csv",
            "F-1,kundulun,满意,4,2026-03-01T10:00:00+08:00,BJ-1,1",
            "F-2,kundulun,不满意,4,2026-03-05T10:00:00+08:00,BJ-1,2",
            "F-3,kundulun,非常满意,4,2026-03-06T10:00:00+08:00,BJ-1,1",  # late: history
        )  # fmt: skip

        received = await import_file(seeded, path)

        assert len(received.opened) == 1  # the 2nd round's 差评
        async with seeded() as session:
            assert [(s, a) for s, _, a, _ in await rounds(session)] == [
                ("F-1", False),
                ("F-2", True),
                ("F-3", False),
            ]
            unit = (await session.exec(select(Unit))).one()
            assert await counted(session, unit) == {"dissatisfied": 1}
