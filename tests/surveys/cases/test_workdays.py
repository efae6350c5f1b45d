"""Working days and 差评 deadlines on the real 2025/2026 calendars; uncovered years refused.

Every date below was checked against chinesecalendar 1.11.0 (the package is the truth, domain.md
§4). Deadlines count from the working day after the trigger (民法典 §201).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import UnitKind
from surveys.cases.models import CalendarOverride
from surveys.cases.workdays import (
    CalendarGap,
    CalendarNotCovered,
    DeadlinePolicy,
    WorkCalendar,
    coming_gap,
    list_overrides,
    load_calendar,
    set_override,
)
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator

CAL = WorkCalendar()
BEIJING = timezone(timedelta(hours=8))
NOTICE_2027 = "国务院办公厅关于2027年部分节假日安排的通知（测试用假设内容）"
# A hypothetical 2027 notice, for the tests only: 元旦 2027-01-01 (Fri) off; 春节 Mon 02-08 to
# Fri 02-12 off with Sunday 02-14 a 调休 workday. Weekend days inside the holiday are not listed.
OVERRIDES_2027 = {
    date(2027, 1, 1): False,
    **{date(2027, 2, d): False for d in range(8, 13)},
    date(2027, 2, 14): True,
}


def d(text: str) -> date:
    return date.fromisoformat(text)


def not_covered(call: object) -> CalendarNotCovered:
    assert callable(call)
    with pytest.raises(CalendarNotCovered) as caught:
        call()
    return caught.value


class TestIsWorkday:
    @pytest.mark.parametrize(
        "day",
        [
            "2025-01-26",  # Sunday, 调休 workday before 2025 春节
            "2025-02-08",  # Saturday, 调休 workday after 2025 春节
            "2025-09-28",  # Sunday, 调休 workday before 2025 国庆+中秋
            "2025-10-11",  # Saturday, 调休 workday after 2025 国庆+中秋
            "2026-01-04",  # Sunday, 调休 for 2026 元旦
            "2026-02-14",  # Saturday, 调休 before 2026 春节
            "2026-02-28",  # Saturday, 调休 after 2026 春节
            "2026-05-09",  # Saturday, 调休 for 2026 劳动节
            "2026-09-20",  # Sunday, 调休 for 2026 中秋
            "2026-10-10",  # Saturday, 调休 for 2026 国庆
        ],
    )
    def test_tiaoxiu_weekend_days_are_workdays(self, day: str) -> None:
        assert d(day).weekday() >= 5
        assert CAL.is_workday(d(day))

    @pytest.mark.parametrize(
        "day",
        [
            "2025-01-28",  # Tuesday, 2025 春节 (01-28..02-04)
            "2025-02-04",  # Tuesday, last day of 2025 春节
            "2025-10-01",  # Wednesday, 2025 国庆
            "2025-10-08",  # Wednesday, last day of 2025 国庆+中秋 (10-01..10-08)
            "2026-01-02",  # Friday, 2026 元旦 (01-01..01-03)
            "2026-02-16",  # Monday, 2026 春节 (02-15..02-23)
            "2026-02-23",  # Monday, last day of 2026 春节
            "2026-05-05",  # Tuesday, 2026 劳动节 (05-01..05-05)
            "2026-09-25",  # Friday, 2026 中秋 (09-25..09-27)
            "2026-10-07",  # Wednesday, last day of 2026 国庆 (10-01..10-07)
        ],
    )
    def test_statutory_holidays_on_weekdays_are_not(self, day: str) -> None:
        assert d(day).weekday() < 5
        assert not CAL.is_workday(d(day))

    def test_ordinary_weekend_is_not_and_ordinary_weekday_is(self) -> None:
        assert not CAL.is_workday(d("2026-03-07"))  # Saturday, no 调休
        assert CAL.is_workday(d("2026-03-09"))  # Monday, no holiday

    def test_2027_is_refused_naming_the_year(self) -> None:
        error = not_covered(lambda: CAL.is_workday(d("2027-01-04")))

        assert error.year == 2027
        assert error.key == "error.calendar_not_covered"
        assert error.params == {"year": 2027}
        assert error.status_code == 409

    def test_before_the_package_is_refused_too(self) -> None:
        assert not_covered(lambda: CAL.is_workday(d("2003-12-31"))).year == 2003

    def test_refusal_message_names_the_year_and_asks_for_overrides(self) -> None:
        error = not_covered(lambda: CAL.is_workday(d("2027-03-01")))

        text = Translator()(error.key, **error.params)

        assert "2027年" in text
        assert "国务院办公厅" in text
        assert "管理员" in text

    def test_override_wins_inside_a_covered_year(self) -> None:
        calendar = WorkCalendar({d("2026-10-11"): True, d("2026-03-09"): False})

        assert calendar.is_workday(d("2026-10-11"))  # Sunday made a workday by the admin
        assert not calendar.is_workday(d("2026-03-09"))  # Monday made a day off
        assert not calendar.is_workday(d("2026-10-07"))  # no override: the package decides

    def test_overrides_declare_their_year_covered(self) -> None:
        # The rule: once any 2027 override exists, 2027 is covered; days the notice does not
        # list follow the ordinary week, because a notice lists only the exceptions to it.
        calendar = WorkCalendar(OVERRIDES_2027)

        assert not calendar.is_workday(d("2027-01-01"))  # Friday, 元旦 override
        assert calendar.is_workday(d("2027-02-14"))  # Sunday, 调休 override
        assert calendar.is_workday(d("2027-03-03"))  # Wednesday, not listed: workday
        assert not calendar.is_workday(d("2027-03-06"))  # Saturday, not listed: day off

    def test_overrides_of_one_year_do_not_cover_the_next(self) -> None:
        calendar = WorkCalendar(OVERRIDES_2027)

        assert not_covered(lambda: calendar.is_workday(d("2028-01-04"))).year == 2028

    def test_datetime_is_refused(self) -> None:
        with pytest.raises(TypeError):
            CAL.is_workday(datetime(2026, 3, 9, 10, tzinfo=BEIJING))


class TestCovers:
    def test_package_years(self) -> None:
        assert CAL.covers(2004)
        assert CAL.covers(2026)
        assert not CAL.covers(2003)
        assert not CAL.covers(2027)

    def test_override_years(self) -> None:
        calendar = WorkCalendar(OVERRIDES_2027)

        assert calendar.covers(2027)
        assert not calendar.covers(2028)


class TestAddWorkingDays:
    @pytest.mark.parametrize(
        ("trigger", "days", "due"),
        [
            # 差评 on Tue 2025-09-30: 10-01..10-08 off, so day 1 is Thu 10-09.
            ("2025-09-30", 1, "2025-10-09"),
            # 10-09, 10-10, Sat 10-11 (调休), Mon 10-13, Tue 10-14.
            ("2025-09-30", 5, "2025-10-14"),
            # On a holiday (Fri 2025-10-03): the first working day after it is day 1.
            ("2025-10-03", 1, "2025-10-09"),
            ("2025-10-03", 5, "2025-10-14"),
            # On the 调休 Saturday 2025-10-11: Sunday off, day 1 is Mon 10-13.
            ("2025-10-11", 1, "2025-10-13"),
            # 10-13, 10-14, 10-15, 10-16, 10-17.
            ("2025-10-11", 5, "2025-10-17"),
            # Mon 2025-01-27, the eve of 春节 (01-28..02-04): day 1 is Wed 02-05.
            ("2025-01-27", 1, "2025-02-05"),
            # 02-05, 02-06, 02-07, Sat 02-08 (调休), Mon 02-10.
            ("2025-01-27", 5, "2025-02-10"),
            # Fri 2025-01-24: day 1 is the 调休 Sunday 01-26.
            ("2025-01-24", 1, "2025-01-26"),
            # 01-26, Mon 01-27, then 春节, 02-05, 02-06, 02-07.
            ("2025-01-24", 5, "2025-02-07"),
            # Wed 2025-12-31 across the year: 01-01..01-03 off, day 1 the 调休 Sunday 2026-01-04.
            ("2025-12-31", 1, "2026-01-04"),
            # 01-04, 01-05, 01-06, 01-07, 01-08.
            ("2025-12-31", 5, "2026-01-08"),
            # Fri 2026-02-13: day 1 is the 调休 Saturday 02-14.
            ("2026-02-13", 1, "2026-02-14"),
            # 02-14, then 春节 02-15..02-23, 02-24, 02-25, 02-26, 02-27.
            ("2026-02-13", 5, "2026-02-27"),
            # On the 调休 Saturday 2026-02-14: day 1 is Tue 02-24, day 5 the 调休 Saturday 02-28.
            ("2026-02-14", 1, "2026-02-24"),
            ("2026-02-14", 5, "2026-02-28"),
            # Thu 2026-04-30: 劳动节 05-01..05-05; then 05-06, 05-07, 05-08,
            # Sat 05-09 (调休), Mon 05-11.
            ("2026-04-30", 1, "2026-05-06"),
            ("2026-04-30", 5, "2026-05-11"),
            # Sat 2026-09-19 (day off): day 1 is the 调休 Sunday 09-20.
            ("2026-09-19", 1, "2026-09-20"),
            # Wed 2026-09-30: 国庆 10-01..10-07; 10-08, 10-09, Sat 10-10 (调休), Mon 10-12, 10-13.
            ("2026-09-30", 1, "2026-10-08"),
            ("2026-09-30", 5, "2026-10-13"),
        ],
    )
    def test_real_calendar(self, trigger: str, days: int, due: str) -> None:
        assert CAL.add_working_days(d(trigger), days) == d(due)

    def test_friday_evening_counts_from_the_next_working_day(self) -> None:
        # Fri 2025-09-26 20:30 in 包头: the next working day is the 调休 Sunday 09-28.
        trigger = datetime(2025, 9, 26, 20, 30, tzinfo=BEIJING)

        assert CAL.add_working_days(trigger, 1) == d("2025-09-28")
        # 09-28, 09-29, 09-30, then 国庆+中秋, 10-09, 10-10.
        assert CAL.add_working_days(trigger, 5) == d("2025-10-10")

    def test_moment_is_read_in_the_evaluation_time_zone(self) -> None:
        # 2025-09-30 17:00 UTC is 10-01 01:00 in 包头, a holiday: day 1 is still 10-09,
        # and day 5 is 10-14 as for the 09-30 trigger, not 10-13 as a UTC date would give.
        trigger = datetime(2025, 9, 30, 17, tzinfo=UTC)

        assert CAL.local_date(trigger) == d("2025-10-01")
        assert CAL.add_working_days(trigger, 5) == d("2025-10-14")

    def test_naive_moment_is_refused(self) -> None:
        with pytest.raises(ValueError, match="time zone"):
            CAL.add_working_days(datetime(2025, 9, 30, 10), 1)  # noqa: DTZ001

    def test_zero_days_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            CAL.add_working_days(d("2026-03-09"), 0)

    def test_deadline_in_2027_is_refused(self) -> None:
        # Thu 2026-12-31: the next day is already 2027, which the package does not cover.
        error = not_covered(lambda: CAL.add_working_days(d("2026-12-31"), 1))

        assert error.year == 2027

    def test_2027_deadline_uses_the_entered_overrides(self) -> None:
        calendar = WorkCalendar(OVERRIDES_2027)

        # Thu 2026-12-31: 2027-01-01 off (override), 01-02/01-03 weekend, day 1 Mon 01-04.
        assert calendar.add_working_days(d("2026-12-31"), 1) == d("2027-01-04")
        assert calendar.add_working_days(d("2026-12-31"), 5) == d("2027-01-08")
        # Fri 2027-02-05: weekend 02-06/02-07, 02-08..02-12 off (overrides), Sat 02-13 off;
        # day 1 is the 调休 Sunday 02-14 (override), then Mon 02-15 .. Thu 02-18.
        assert calendar.add_working_days(d("2027-02-05"), 1) == d("2027-02-14")
        assert calendar.add_working_days(d("2027-02-05"), 5) == d("2027-02-18")

    def test_extra_workday_override_shortens_a_2026_deadline(self) -> None:
        # Sat 2026-10-10 (调休): normally day 1 is Mon 10-12; a local extra workday on Sun 10-11
        # (an override) becomes day 1.
        assert CAL.add_working_days(d("2026-10-10"), 1) == d("2026-10-12")
        calendar = WorkCalendar({d("2026-10-11"): True})

        assert calendar.add_working_days(d("2026-10-10"), 1) == d("2026-10-11")


class TestWorkingDaysBetween:
    def test_counts_working_days_after_start_up_to_end(self) -> None:
        # (09-30, 10-14]: 10-09, 10-10, 10-11 (调休), 10-13, 10-14.
        assert CAL.working_days_between(d("2025-09-30"), d("2025-10-14")) == 5

    def test_reversed_range_is_negative(self) -> None:
        assert CAL.working_days_between(d("2025-10-14"), d("2025-09-30")) == -5

    def test_same_day_is_zero(self) -> None:
        assert CAL.working_days_between(d("2026-03-09"), d("2026-03-09")) == 0

    def test_a_holiday_span_has_none(self) -> None:
        # 2026 春节 02-15..02-23: a case due 02-14 and handled 02-23 is not a working day late.
        assert CAL.working_days_between(d("2026-02-14"), d("2026-02-23")) == 0

    def test_overdue_by_working_days(self) -> None:
        # Due Fri 2026-02-13, done Tue 02-24: 02-14 (调休) and 02-24 are the 2 working days late.
        assert CAL.working_days_between(d("2026-02-13"), d("2026-02-24")) == 2

    def test_uncovered_year_is_refused(self) -> None:
        error = not_covered(lambda: CAL.working_days_between(d("2026-12-30"), d("2027-01-05")))

        assert error.year == 2027

    @given(
        start=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 11, 30)),
        days=st.integers(min_value=1, max_value=15),
    )
    def test_inverse_of_add_working_days(self, start: date, days: int) -> None:
        assert CAL.working_days_between(start, CAL.add_working_days(start, days)) == days


class TestDeadlinePolicy:
    def test_defaults_are_1_and_5_working_days(self) -> None:
        policy = DeadlinePolicy()

        # 差评 on 2025-09-30: contact by Thu 10-09, 整改 and 反馈 by Tue 10-14.
        assert policy.deadlines(CAL, d("2025-09-30"), UnitKind.district) == (
            d("2025-10-09"),
            d("2025-10-14"),
        )

    def test_per_kind_values(self) -> None:
        policy = DeadlinePolicy(by_kind={"市直部门": (2, 15)})
        trigger = datetime(2026, 9, 30, 9, tzinfo=BEIJING)

        # 市直部门, from Wed 2026-09-30 (国庆 10-01..10-07): 10-08, 10-09 (2), Sat 10-10 (调休),
        # 10-12..10-16 (8), 10-19..10-23 (13), 10-26, 10-27 (15).
        assert policy.deadlines(CAL, trigger, "市直部门") == (d("2026-10-09"), d("2026-10-27"))
        # Other kinds keep the defaults: 10-08 and 10-13.
        assert policy.deadlines(CAL, trigger, UnitKind.hightech) == (
            d("2026-10-08"),
            d("2026-10-13"),
        )

    def test_days_for_accepts_the_enum_and_its_string(self) -> None:
        policy = DeadlinePolicy(by_kind={"旗县区": (1, 3)})

        assert policy.days_for(UnitKind.district) == (1, 3)
        assert policy.days_for("旗县区") == (1, 3)
        assert policy.days_for("高新区") == (1, 5)

    def test_unknown_kind_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="unknown unit kind"):
            DeadlinePolicy(by_kind={"街道": (1, 5)})
        with pytest.raises(ValueError, match="街道"):
            DeadlinePolicy().days_for("街道")

    @pytest.mark.parametrize(
        "fields",
        [
            {"contact_days": 0},
            {"rectify_days": 0},
            {"contact_days": 6, "rectify_days": 5},
            {"by_kind": {"高新区": (0, 5)}},
            {"by_kind": {"高新区": (3, 2)}},
        ],
    )
    def test_bad_values_are_refused(self, fields: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            DeadlinePolicy.model_validate(fields)

    def test_is_frozen(self) -> None:
        with pytest.raises(ValidationError):
            DeadlinePolicy().contact_days = 2  # type: ignore[misc]

    def test_2027_trigger_is_refused_without_overrides(self) -> None:
        error = not_covered(lambda: DeadlinePolicy().deadlines(CAL, d("2027-01-04"), "旗县区"))

        assert error.year == 2027


class TestSetOverride:
    async def test_inserts_then_updates_the_same_day(self, session: AsyncSession) -> None:
        first = await set_override(
            session=session, day=d("2027-02-14"), workday=False, source="草稿"
        )
        second = await set_override(
            session=session, day=d("2027-02-14"), workday=True, source=f"  {NOTICE_2027} "
        )

        assert second is first
        rows = await list_overrides(session=session)
        assert [(r.day, r.workday, r.source) for r in rows] == [
            (d("2027-02-14"), True, NOTICE_2027)
        ]
        assert rows[0].created_at is not None

    async def test_never_commits(self, sessionmaker: SessionMaker) -> None:
        async with sessionmaker() as session:
            await set_override(session=session, day=d("2027-01-01"), workday=False, source="x")
            await session.rollback()

        async with sessionmaker() as session:
            assert list(await list_overrides(session=session)) == []

    @pytest.mark.parametrize("source", ["", "   ", "x" * 201])
    async def test_source_is_required_and_bounded(
        self, session: AsyncSession, source: str
    ) -> None:
        with pytest.raises(ValueError, match="source"):
            await set_override(session=session, day=d("2027-01-01"), workday=False, source=source)


class TestListOverrides:
    async def test_filters_by_year_and_sorts_by_day(self, session: AsyncSession) -> None:
        for day in ("2027-02-14", "2026-10-11", "2027-01-01", "2028-01-01"):
            await set_override(session=session, day=d(day), workday=True, source=NOTICE_2027)

        all_days = [r.day for r in await list_overrides(session=session)]
        days_2027 = [r.day for r in await list_overrides(session=session, year=2027)]

        assert all_days == [d("2026-10-11"), d("2027-01-01"), d("2027-02-14"), d("2028-01-01")]
        assert days_2027 == [d("2027-01-01"), d("2027-02-14")]
        assert await list_overrides(session=session, year=2030) == []


class TestLoadCalendar:
    async def test_without_overrides_2027_is_refused(self, session: AsyncSession) -> None:
        calendar = await load_calendar(session=session)

        assert not_covered(lambda: calendar.add_working_days(d("2026-12-31"), 1)).year == 2027

    async def test_stored_overrides_cover_2027(self, session: AsyncSession) -> None:
        for day, workday in OVERRIDES_2027.items():
            await set_override(session=session, day=day, workday=workday, source=NOTICE_2027)

        calendar = await load_calendar(session=session)

        assert calendar.covers(2027)
        # Same as the pure test: Fri 2027-02-05 → day 1 the 调休 Sunday 02-14, day 5 Thu 02-18.
        assert DeadlinePolicy().deadlines(calendar, d("2027-02-05"), "高新区") == (
            d("2027-02-14"),
            d("2027-02-18"),
        )

    async def test_rows_are_calendar_override_table(self, session: AsyncSession) -> None:
        row = await set_override(session=session, day=d("2026-10-11"), workday=True, source="x")

        assert isinstance(row, CalendarOverride)
        assert CalendarOverride.__tablename__ == "calendar_override"
        assert (await load_calendar(session=session)).is_workday(d("2026-10-11"))


class TestComingGap:
    """The day from which a new 差评 would be refused: its deadlines fall in a year the
    calendar lacks (the console warns administrators ahead of it)."""

    def test_five_working_days_reach_2027_from_christmas_2026(self) -> None:
        # 2026-12-24 (Thu) + 5 working days = 12-31; from 12-25 (Fri) they reach 2027.
        assert coming_gap(CAL, DeadlinePolicy(), d("2026-11-30")) == CalendarGap(
            d("2026-12-25"), 2027
        )

    @pytest.mark.parametrize("rectify", [5, 10, 15])
    def test_the_day_before_is_the_last_that_gets_its_deadlines(self, rectify: int) -> None:
        policy = DeadlinePolicy(rectify_days=rectify)
        gap = coming_gap(CAL, policy, d("2026-11-01"))
        assert gap is not None
        assert gap.year == 2027
        for kind in UnitKind:
            policy.deadlines(CAL, gap.from_day - timedelta(days=1), kind)  # not refused
        assert not_covered(lambda: policy.deadlines(CAL, gap.from_day, UnitKind.district))

    def test_a_longer_deadline_for_one_kind_brings_the_day_forward(self) -> None:
        longer = DeadlinePolicy(by_kind={UnitKind.department.value: (1, 15)})
        plain = coming_gap(CAL, DeadlinePolicy(), d("2026-11-01"))
        early = coming_gap(CAL, longer, d("2026-11-01"))
        assert plain is not None
        assert early is not None
        assert early.from_day < plain.from_day

    def test_no_gap_once_the_year_is_entered_or_far_ahead(self) -> None:
        entered = WorkCalendar(OVERRIDES_2027)
        assert coming_gap(entered, DeadlinePolicy(), d("2026-11-30")) is None
        assert coming_gap(CAL, DeadlinePolicy(), d("2026-06-01")) is None  # 60 days ahead
