"""好差评 ratings: the two number scales, row validation, idempotent ingestion and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.haochaping.ratings import (
    IngestResult,
    RatingIn,
    check,
    gbt39046_number,
    ingest,
    interface_number,
    is_bad,
    level_from_gbt39046,
    level_from_interface,
    period_of,
    validate_rows,
)
from surveys.questionnaire.definitions import Level

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
L = Level
GBT39046 = [(1, L.very_satisfied), (2, L.satisfied), (3, L.neutral), (4, L.dissatisfied),
            (5, L.very_dissatisfied)]  # fmt: skip
INTERFACE = [(1, L.very_dissatisfied), (2, L.dissatisfied), (3, L.neutral), (4, L.satisfied),
             (5, L.very_satisfied)]  # fmt: skip


def row(**fields: Any) -> dict[str, object]:
    data: dict[str, object] = {
        "source_id": "R-1",
        "unit": "kundulun",
        "level": "satisfied",
        "channel": 4,
        "rated_at": "2026-03-01T10:00:00+08:00",
    }
    data.update(fields)
    return data


def item(**fields: Any) -> RatingIn:
    return RatingIn.model_validate(row(**fields))


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
    session.add_all([kundulun, Unit(code="qingshan", name="青山区", kind=UnitKind.district)])
    session.add(Unit(code="old", name="撤并单位", kind=UnitKind.department, active=False))
    await session.flush()
    return kundulun


@pytest.fixture
async def units(session: AsyncSession, unit: Unit) -> dict[str, Unit]:
    return {u.code: u for u in (await session.exec(select(Unit))).all()}


@pytest.fixture
async def event(session: AsyncSession, unit: Unit) -> ServiceEvent:
    finished = datetime(2026, 2, 27, 9, tzinfo=UTC)
    service_event = ServiceEvent(
        case_no="BJ-2026-0001", item_code="11150200MB1234567X", item_name="不动产登记",
        unit_id=pk(unit), window_code="W07", channel=4, finished_at=finished,
        link_token="link-0001",
    )  # fmt: skip
    session.add(service_event)
    await session.flush()
    return service_event


async def run(
    session: AsyncSession,
    *items: RatingIn | None,
    now: datetime = NOW,
    grace_days: int = 15,
    source: RatingSource = RatingSource.api,
) -> IngestResult:
    return await ingest(
        session=session, items=items, source=source, tz=TZ, now=now, grace_days=grace_days
    )


async def count(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Rating))).one()


def errors_of(result: IngestResult) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in result.errors]


class TestLevelMaps:
    @pytest.mark.parametrize(("number", "level"), GBT39046)
    def test_gbt39046_runs_from_very_satisfied(self, number: int, level: Level) -> None:
        assert level_from_gbt39046(number) is level
        assert gbt39046_number(level) == number

    @pytest.mark.parametrize(("number", "level"), INTERFACE)
    def test_interface_runs_from_very_dissatisfied(self, number: int, level: Level) -> None:
        assert level_from_interface(number) is level
        assert interface_number(level) == number

    @pytest.mark.parametrize("level", list(Level))
    def test_levels_round_trip_through_both_scales(self, level: Level) -> None:
        assert level_from_gbt39046(gbt39046_number(level)) is level
        assert level_from_interface(interface_number(level)) is level
        assert gbt39046_number(level) + interface_number(level) == 6

    @pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
    def test_numbers_round_trip_through_both_scales(self, number: int) -> None:
        assert gbt39046_number(level_from_gbt39046(number)) == number
        assert interface_number(level_from_interface(number)) == number

    @pytest.mark.parametrize("number", [0, 6, -1])
    def test_numbers_outside_1_to_5_are_refused(self, number: int) -> None:
        with pytest.raises(KeyError):
            level_from_gbt39046(number)
        with pytest.raises(KeyError):
            level_from_interface(number)


class TestIsBad:
    @pytest.mark.parametrize(
        ("level", "bad"),
        [("very_satisfied", False), ("satisfied", False), ("neutral", False),
         ("dissatisfied", True), ("very_dissatisfied", True)],
    )  # fmt: skip
    def test_only_the_two_lowest_levels_are_bad(self, level: str, bad: bool) -> None:
        assert is_bad(level) is bad


class TestPeriodOf:
    @pytest.mark.parametrize(
        ("moment", "period"),
        [
            (datetime(2026, 6, 30, 15, 59, tzinfo=UTC), "2026H1"),  # 06-30 23:59 in Shanghai
            (datetime(2026, 6, 30, 17, 0, tzinfo=UTC), "2026H2"),  # 07-01 01:00 in Shanghai
            (datetime(2025, 12, 31, 16, 0, tzinfo=UTC), "2026H1"),  # 01-01 00:00 in Shanghai
        ],
    )
    def test_by_the_local_date(self, moment: datetime, period: str) -> None:
        assert period_of(moment, TZ) == period


class TestValidateRows:
    def test_good_row(self) -> None:
        parsed, errors = validate_rows([row(reasons=["服务态度"], contact_ok="yes", round="2")])

        assert errors == []
        assert parsed[0] is not None
        assert (parsed[0].level, parsed[0].channel, parsed[0].round) == (L.satisfied, 4, 2)
        assert parsed[0].contact_ok is True
        assert parsed[0].rated_at == datetime(2026, 3, 1, 2, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"source_id": ""}, "source_id", "不能为空。"),
            ({"source_id": "x" * 65}, "source_id", "超过 64 个字符。"),
            ({"unit": ""}, "unit", "不能为空。"),
            ({"level": "good"}, "level", "“good”不是满意度等级，应为 very_satisfied、satisfied、"),
            ({"channel": 0}, "channel", "“0”不是 1 至 7 之间的整数。"),
            ({"channel": 8}, "channel", "“8”不是 1 至 7 之间的整数。"),
            ({"channel": "四"}, "channel", "“四”不是 1 至 7 之间的整数。"),
            ({"rated_at": "2026-03-01T10:00:00"}, "rated_at", "时间缺少时区，请写成"),
            ({"rated_at": "yesterday"}, "rated_at", "“yesterday”不是日期时间"),
            ({"round": 3}, "round", "“3”不是 1 至 2 之间的整数。"),
            ({"reasons": ["a"] * 11}, "reasons", "最多 10 项。"),
            ({"reasons": ["a", " "]}, "reasons.1", "不能为空。"),
            ({"comment": "长" * 2001}, "comment", "超过 2000 个字符。"),
            ({"contact_ok": "maybe"}, "contact_ok", "“maybe”不是“是”或“否”"),
            ({"nickname": "张三"}, "nickname", "不是可提交的字段。"),
        ],
    )
    def test_one_error_per_bad_field(
        self, fields: dict[str, object], field: str, message: str
    ) -> None:
        parsed, errors = validate_rows([row(), row(**fields)])

        assert parsed[0] is not None
        assert parsed[1] is None
        assert [(e.row, e.field) for e in errors] == [(1, field)]
        assert message in errors[0].message

    def test_a_missing_field_is_required(self) -> None:
        data = row()
        del data["level"]

        _, errors = validate_rows([data])

        assert [(e.row, e.field, e.message) for e in errors] == [(0, "level", "未填写（必填）。")]

    def test_every_bad_field_of_a_row_is_reported(self) -> None:
        _, errors = validate_rows([row(unit="", channel=9, level="x")])

        assert sorted(e.field for e in errors) == ["channel", "level", "unit"]


class TestIngest:
    async def test_stores_a_rating(self, session: AsyncSession, unit: Unit) -> None:
        result = await run(session, item(reasons=["服务态度"], comment="很好", round=2))

        [rating] = result.created
        assert rating.id is not None
        assert (rating.source, rating.source_id, rating.unit_id) == ("api", "R-1", unit.id)
        assert (rating.level, rating.channel, rating.round) == ("satisfied", 4, 2)
        assert (rating.reasons, rating.comment, rating.period) == (["服务态度"], "很好", "2026H1")
        assert rating.rated_at == datetime(2026, 3, 1, 2, tzinfo=UTC)
        assert rating.rated_at.tzinfo is UTC
        assert (result.duplicates, result.errors) == ([], [])
        assert await count(session) == 1

    async def test_the_same_source_id_twice_stores_one(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await run(session, item())

        again = await run(session, item(level="very_dissatisfied"))

        assert (again.created, again.duplicates, again.errors) == ([], ["R-1"], [])
        assert await count(session) == 1

    async def test_a_source_id_repeated_in_one_batch_stores_one(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        result = await run(session, item(), item())

        assert (len(result.created), result.duplicates) == (1, ["R-1"])
        assert await count(session) == 1

    async def test_another_units_source_id_is_no_duplicate(
        self, session: AsyncSession, units: dict[str, Unit]
    ) -> None:
        await run(session, item(source_id="R-1", unit="kundulun"))

        result = await run(session, item(source_id="R-1", unit="qingshan"))

        assert (result.duplicates, result.errors) == ([], [])
        assert [(r.source_id, r.unit_id) for r in result.created] == [
            ("R-1", units["qingshan"].id)
        ]
        stored = await session.exec(select(Rating.unit_id).order_by(col(Rating.id)))
        assert list(stored) == [units["kundulun"].id, units["qingshan"].id]

    async def test_one_batch_may_repeat_a_source_id_across_units(
        self, session: AsyncSession, units: dict[str, Unit]
    ) -> None:
        result = await run(session, item(unit="kundulun"), item(unit="qingshan"), item())

        assert [r.unit_id for r in result.created] == [units["kundulun"].id, units["qingshan"].id]
        assert result.duplicates == ["R-1"]
        assert await count(session) == 2

    async def test_the_same_unit_still_gets_a_duplicate_after_another_unit(
        self, session: AsyncSession, units: dict[str, Unit]
    ) -> None:
        await run(session, item(unit="kundulun"))
        await run(session, item(unit="qingshan"))

        again = await run(session, item(unit="qingshan", level="very_dissatisfied"))

        assert (again.created, again.duplicates, again.errors) == ([], ["R-1"], [])
        assert await count(session) == 2

    async def test_source_ids_are_unique_per_source(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await run(session, item(), source=RatingSource.api)
        result = await run(session, item(), source=RatingSource.file)

        assert len(result.created) == 1
        assert await count(session) == 2

    async def test_stores_the_good_rows_and_reports_the_bad(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        parsed, _ = validate_rows([row(source_id="A"), row(source_id="B", channel=9)])
        items = [*parsed, item(source_id="C", unit="nowhere"), item(source_id="D")]

        result = await run(session, *items)

        assert [r.source_id for r in result.created] == ["A", "D"]
        assert errors_of(result) == [(2, "unit")]
        assert await count(session) == 2

    @pytest.mark.parametrize("code", ["nowhere", "old"])
    async def test_an_unknown_or_inactive_unit_is_refused(
        self, session: AsyncSession, unit: Unit, code: str
    ) -> None:
        result = await run(session, item(unit=code))

        assert errors_of(result) == [(0, "unit")]
        assert result.errors[0].message == f"没有编码为“{code}”的在用单位。"
        assert await count(session) == 0

    async def test_an_unknown_case_no_is_refused(self, session: AsyncSession, unit: Unit) -> None:
        result = await run(session, item(case_no="BJ-404"))

        assert errors_of(result) == [(0, "case_no")]
        assert result.errors[0].message == "该单位没有办件编号为“BJ-404”的办件。"
        assert await count(session) == 0

    async def test_a_case_of_another_unit_is_refused_as_an_unknown_one(
        self, session: AsyncSession, event: ServiceEvent
    ) -> None:
        other = await run(session, item(unit="qingshan", case_no=event.case_no))
        missing = await run(session, item(unit="qingshan", case_no="BJ-404"))

        assert errors_of(other) == errors_of(missing) == [(0, "case_no")]
        assert other.errors[0].message == f"该单位没有办件编号为“{event.case_no}”的办件。"
        assert missing.errors[0].message == "该单位没有办件编号为“BJ-404”的办件。"
        assert "kundulun" not in other.errors[0].message
        assert await count(session) == 0

    async def test_each_unit_rates_its_own_case_of_a_shared_case_no(
        self, session: AsyncSession, units: dict[str, Unit], event: ServiceEvent
    ) -> None:
        theirs = ServiceEvent(
            case_no=event.case_no, item_code="Q-1", item_name="户籍办理",
            unit_id=pk(units["qingshan"]), channel=1, finished_at=event.finished_at,
            link_token="link-0002",
        )  # fmt: skip
        session.add(theirs)
        await session.flush()

        result = await run(
            session,
            item(source_id="K-1", case_no=event.case_no),
            item(source_id="Q-1", unit="qingshan", case_no=event.case_no),
        )

        assert [(r.unit_id, r.service_event_id, r.item_name) for r in result.created] == [
            (event.unit_id, event.id, "不动产登记"),
            (theirs.unit_id, theirs.id, "户籍办理"),
        ]

    async def test_a_rating_for_a_closed_half_year_is_refused(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        late = datetime(2026, 2, 1, 4, tzinfo=UTC)

        result = await run(session, item(rated_at="2025-12-20T10:00:00+08:00"), now=late)

        assert errors_of(result) == [(0, "rated_at")]
        assert result.errors[0].message == (
            "评价所属的考评期间 2025H2 已于 2026-01-15 截止接收评价，不能再导入。"
        )
        assert await count(session) == 0

    async def test_the_last_day_of_grace_is_still_open(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        last_day = datetime(2026, 1, 15, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai

        result = await run(session, item(rated_at="2025-12-20T10:00:00+08:00"), now=last_day)

        assert [r.period for r in result.created] == ["2025H2"]

    async def test_a_future_rating_is_refused(self, session: AsyncSession, unit: Unit) -> None:
        result = await run(session, item(rated_at=NOW + timedelta(hours=1)))

        assert errors_of(result) == [(0, "rated_at")]
        assert result.errors[0].message == "评价时间晚于当前时间，请核对日期和时区。"

    async def test_a_few_minutes_of_clock_drift_are_tolerated(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        result = await run(session, item(rated_at=NOW + timedelta(minutes=4)))

        assert len(result.created) == 1

    async def test_the_period_is_the_half_year_of_the_shanghai_date(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        july = datetime(2026, 7, 2, tzinfo=UTC)

        result = await run(session, item(rated_at="2026-06-30T17:00:00Z"), now=july)

        assert [r.period for r in result.created] == ["2026H2"]

    async def test_a_rating_of_a_case_inherits_its_item_and_window(
        self, session: AsyncSession, event: ServiceEvent
    ) -> None:
        result = await run(session, item(case_no=event.case_no))

        [rating] = result.created
        assert rating.service_event_id == event.id
        assert (rating.item_code, rating.item_name) == ("11150200MB1234567X", "不动产登记")
        assert rating.window_code == "W07"

    async def test_values_given_with_the_rating_win_over_the_case(
        self, session: AsyncSession, event: ServiceEvent
    ) -> None:
        result = await run(session, item(case_no=event.case_no, window="W01", item_name="抵押"))

        [rating] = result.created
        assert (rating.item_code, rating.item_name, rating.window_code) == (
            "11150200MB1234567X", "抵押", "W01",
        )  # fmt: skip


class TestCheck:
    async def test_reports_what_ingest_would_without_writing(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        await run(session, item(source_id="old"))
        items = [item(source_id="old"), item(source_id="new"), item(source_id="x", unit="no")]

        result = await check(
            session=session, items=items, source=RatingSource.api, tz=TZ, now=NOW, grace_days=15
        )

        assert (result.created, result.duplicates, errors_of(result)) == (
            [],
            ["old"],
            [(2, "unit")],
        )
        assert await count(session) == 1
        assert not session.new
