"""12345 回访 ingestion: validation located and all-or-nothing, idempotency, rounds, the
attempts rule of domain.md §6, and a 不满意 opening a 差评 case in the queue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor
from surveys.accounts.models import Unit
from surveys.cases import queries
from surveys.cases.models import FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.haochaping.indicators import rating_indicators
from surveys.haochaping.models import Rating, RatingSource
from surveys.hotline import visits
from surveys.hotline.models import HotlineVisit, VisitOutcome, VisitSource
from surveys.hotline.tally import hotline_tallies
from surveys.hotline.visits import AttemptIn, InvalidVisits, Problem
from tests.hotline.conftest import ADMIN, ANSWERED, NOW, UNREACHABLE, record


def _locate(problem: Problem) -> str:
    return f"[{problem.index}] {problem.field}: {problem.message}"


async def ingest(
    session: AsyncSession, rows: list[dict[str, Any]], settings: Settings, now: datetime = NOW
) -> visits.Ingested:
    return await visits.ingest_visits(
        session=session, rows=rows, source=VisitSource.api, actor=ADMIN, tz=settings.tz,
        now=now, grace_days=settings.rating_grace_days, policy=DeadlinePolicy(),
        locate=_locate, name="test",
    )  # fmt: skip


async def _count(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(HotlineVisit))).one())


class TestValidation:
    async def test_bad_records_are_located_and_nothing_is_stored(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        rows = [
            record(ANSWERED, ticket_no="OK-1"),
            record(ANSWERED, ticket_no="BAD-1", unit="nowhere"),
            record(ANSWERED, ticket_no="BAD-2", satisfaction="很满意"),
            record(UNREACHABLE, ticket_no="BAD-3", satisfaction="不满意"),
            record(
                ANSWERED,
                ticket_no="BAD-4",
                attempts=[{"at": "2026-11-20T10:00:00+08:00", "outcome": "接通"}],
            ),  # fmt: skip
            record(ANSWERED, ticket_no="BAD-5", attempts=[]),
        ]
        with pytest.raises(InvalidVisits) as refused:
            await ingest(session, rows, settings)
        problems = refused.value.problems
        assert problems[0] == "[1] unit: 没有编码为“nowhere”的在用单位。"
        assert problems[1].startswith("[2] satisfaction: “很满意”不是满意度")
        assert problems[2] == (
            "[3] satisfaction: 回访结果为“无法联系”时，是否联系、是否解决、是否满意都应留空。"
        )
        assert problems[3].startswith(
            "[4] attempts.0.at: 回访时间早于办结时间（2026-11-20 16:30）"
        )
        assert problems[4] == "[5] attempts: 不能为空。"
        assert len(problems) == 5
        assert await _count(session) == 0
        assert (await session.exec(select(func.count()).select_from(Rating))).one() == 0

    async def test_answered_needs_the_last_call_answered(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        calls = [{"at": "2026-11-23T09:00:00+08:00", "outcome": "占线"}]
        with pytest.raises(InvalidVisits) as refused:
            await ingest(session, [record(ANSWERED, attempts=calls, outcome="已接通")], settings)
        assert refused.value.problems == [
            "[0] attempts.0.outcome: "
            "回访结果为“已接通”，但最后一次（第 1 次）呼叫的结果不是“接通”。"
        ]

    async def test_local_times_without_offset_are_read_in_the_time_zone(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        row = record(ANSWERED, finished_at="2026-06-30 23:30", attempts=[
            {"at": "2026-07-01 09:00", "outcome": "接通"}])  # fmt: skip
        result = await ingest(session, [row], settings, datetime(2026, 7, 2, tzinfo=UTC))
        visit = result.created[0]
        assert visit.period == "2026H1"  # by the local 办结 date, not UTC's
        assert visit.finished_at == datetime(2026, 6, 30, 15, 30, tzinfo=UTC)

    async def test_a_token_bound_to_units_may_send_only_theirs(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        actor = Actor(name="t", role=ADMIN.role, units=frozenset({pk(units["qingshan"])}))
        with pytest.raises(InvalidVisits) as refused:
            await visits.ingest_visits(
                session=session, rows=[ANSWERED], source=VisitSource.api, actor=actor,
                tz=settings.tz, now=NOW, grace_days=30, policy=DeadlinePolicy(),
                locate=_locate, name="t",
            )  # fmt: skip
        assert refused.value.problems == ["[0] unit: 此令牌只能提交这些单位的回访记录：qingshan。"]


class TestIdempotency:
    async def test_the_same_record_again_is_a_duplicate(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        first = await ingest(session, [ANSWERED, UNREACHABLE], settings)
        again = await ingest(session, [ANSWERED, record(ANSWERED, ticket_no="BT-0003")], settings)
        assert (len(first.created), first.duplicates) == (2, [])
        assert [v.ticket_no for v in again.created] == ["BT-0003"]
        assert again.duplicates == [("BT-0001", 1)]
        assert await _count(session) == 3

    async def test_a_repeat_within_one_batch_is_stored_once(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        result = await ingest(session, [ANSWERED, ANSWERED], settings)
        assert (len(result.created), result.duplicates) == (1, [("BT-0001", 1)])

    async def test_another_units_same_ticket_is_its_own(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        result = await ingest(session, [ANSWERED, record(ANSWERED, unit="qingshan")], settings)
        assert len(result.created) == 2


class TestRounds:
    async def test_round_two_retires_round_one_which_is_kept(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        await ingest(session, [record(ANSWERED, satisfaction="不满意")], settings)
        second = await ingest(session, [record(ANSWERED, round=2)], settings)
        assert second.retired == 1
        rows = (await session.exec(select(HotlineVisit).order_by(col(HotlineVisit.round)))).all()
        assert [(v.round, v.active) for v in rows] == [(1, False), (2, True)]
        tally = (await hotline_tallies(session=session, period="2026H2"))[pk(units["kundulun"])]
        assert (tally.visits, tally.satisfied, tally.dissatisfied) == (1, 1, 0)

    async def test_a_late_lower_round_is_stored_as_history(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        await ingest(session, [record(ANSWERED, round=2)], settings)
        late = await ingest(session, [record(ANSWERED, satisfaction="不满意")], settings)
        assert (late.created[0].active, late.retired, late.opened) == (False, 0, [])
        rating = (await session.exec(select(Rating))).one()
        assert rating.active is False  # stored, but a superseded round opens no case


class TestDissatisfied:
    async def test_a_dissatisfied_visit_opens_a_case_in_the_queue(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        result = await ingest(session, [record(ANSWERED, satisfaction="不满意")], settings)
        visit = result.created[0]
        rating = await session.get_one(Rating, visit.rating_id)
        assert rating.source == RatingSource.hotline
        assert (rating.source_id, rating.round, rating.channel) == ("BT-0001#1", 1, 6)
        assert (rating.level, rating.item_name, rating.item_code) == (
            "dissatisfied", "供暖不热", "RX-01")  # fmt: skip
        assert rating.rated_at.replace(tzinfo=UTC) == datetime(2026, 11, 23, 7, 40, tzinfo=UTC)
        assert len(result.opened) == 1
        page = await queries.case_queue(session, ADMIN, queries.QueueFilters(), date(2026, 12, 1))
        assert [row.id for row in page.rows] == [pk(result.opened[0])]
        assert page.rows[0].unit_code == "kundulun"
        assert page.rows[0].item == "供暖不热"
        assert page.rows[0].contact_due == date(2026, 11, 24)

    async def test_satisfied_visits_open_no_case(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        rows = [ANSWERED, record(ANSWERED, ticket_no="B2", satisfaction="基本满意"), UNREACHABLE]
        result = await ingest(session, rows, settings)
        assert result.opened == []
        assert (await session.exec(select(func.count()).select_from(FollowUpCase))).one() == 0


def _calls(*moments: str) -> list[dict[str, str]]:
    return [{"at": f"{m}+08:00", "outcome": "无人接听"} for m in moments]


class TestShortAttempts:
    @pytest.mark.parametrize(
        ("calls", "short"),
        [
            (_calls("2026-11-23T09:00", "2026-11-23T16:00", "2026-11-24T10:00"), False),
            (_calls("2026-11-23T09:00", "2026-11-23T12:00", "2026-11-23T16:00"), True),
            (_calls("2026-11-23T09:00", "2026-11-24T16:00"), True),
            # Saturday and Sunday are no working days: one working day only.
            (_calls("2026-11-21T09:00", "2026-11-22T09:00", "2026-11-23T09:00"), True),
            (_calls("2026-11-21T09:00", "2026-11-23T09:00", "2026-11-24T09:00"), False),
        ],
    )
    def test_the_rule(self, calls: list[dict[str, str]], short: bool) -> None:
        attempts = [AttemptIn.model_validate(call) for call in calls]
        assert visits.short_attempts(attempts, WorkCalendar()) is short

    async def test_a_short_unreachable_is_stored_and_flagged(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        short = record(UNREACHABLE, ticket_no="S-1", outcome=None,
                       attempts=_calls("2026-11-23T09:00", "2026-11-23T10:00"))  # fmt: skip
        result = await ingest(session, [UNREACHABLE, short, ANSWERED], settings)
        assert [v.ticket_no for v in result.flagged] == ["S-1"]
        assert result.created[1].outcome == VisitOutcome.unreachable  # from the last call
        assert await _count(session) == 3


class TestNotAHaochaping:
    async def test_the_visits_rating_is_left_out_of_the_haochaping_indicators(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings
    ) -> None:
        session.add(
            Rating(source=RatingSource.api, source_id="R-1", unit_id=pk(units["kundulun"]),
                   channel=4, level="satisfied", period="2026H2",
                   rated_at=datetime(2026, 11, 23, 2, tzinfo=UTC))
        )  # fmt: skip
        await ingest(session, [record(ANSWERED, satisfaction="不满意")], settings)
        assert (await session.exec(select(func.count()).select_from(Rating))).one() == 2
        rows = await rating_indicators(session=session, period="2026H2", today=date(2026, 12, 1))
        (row,) = rows
        assert (row.ratings, row.bad, row.cases) == (1, 0, 0)
