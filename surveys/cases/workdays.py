"""Working days (domain.md §4) and the 差评 deadlines counted in them (§3).

"X个工作日" skips weekends and 法定节假日 and includes 调休 weekend workdays. The days come from
the ``chinesecalendar`` package, which ends at the last year the State Council has announced;
an administrator's :class:`CalendarOverride` rows fill a later year once its notice is out, and
also win inside the package's years. A year that neither covers is refused with
:class:`CalendarNotCovered`: there is no silent Monday–Friday fallback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import UnitKind
from surveys.cases.models import SOURCE_MAX, CalendarOverride
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_
from surveys.core.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


class CalendarNotCovered(DomainError):
    """No working-day data for ``year``: chinesecalendar lacks it and no override declares it."""

    key = N_("error.calendar_not_covered")
    status_code = 409

    def __init__(self, *, year: int) -> None:
        super().__init__(year=year)
        self.year = year


@lru_cache
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _plain_date(day: date) -> date:
    # A datetime is a date subclass: taking its date silently would pick the wrong time zone.
    if isinstance(day, datetime):
        raise TypeError(f"expected a date, got the datetime {day!r}")
    return day


class WorkCalendar:
    """Which days are working days: the overrides first, then chinesecalendar.

    Coverage rule. A year is covered when chinesecalendar has data for it (1.11.0: 2004–2026),
    or when the package has none and at least one override falls in that year. Entering a
    notice's days thus declares the whole year: a day of such a year without an override is a
    working day exactly when it is Monday–Friday, because a State Council notice lists only the
    exceptions to the ordinary week (法定节假日 and 调休 workdays), so the administrator must
    enter every day the notice names. Any other year raises :class:`CalendarNotCovered`.
    """

    def __init__(
        self, overrides: Mapping[date, bool] | None = None, *, tz: ZoneInfo = SHANGHAI
    ) -> None:
        self._overrides = {_plain_date(day): workday for day, workday in (overrides or {}).items()}
        self._override_years = frozenset(day.year for day in self._overrides)
        self.tz = tz

    def covers(self, year: int) -> bool:
        return _package_covers(year) or year in self._override_years

    def is_workday(self, day: date) -> bool:
        override = self._overrides.get(_plain_date(day))
        if override is not None:
            return override
        if _package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        if day.year in self._override_years:
            return day.weekday() < 5
        raise CalendarNotCovered(year=day.year)

    def local_date(self, moment: datetime | date) -> date:
        """The calendar date of a moment in the evaluation's time zone; a date as is."""
        if not isinstance(moment, datetime):
            return moment
        if moment.tzinfo is None:
            raise ValueError(f"{moment!r} needs a time zone, e.g. 2026-11-23T10:00:00+08:00")
        return moment.astimezone(self.tz).date()

    def add_working_days(self, trigger: datetime | date, days: int) -> date:
        """The deadline ``days`` working days after the trigger (民法典 §201).

        Counting starts on the working day after the trigger's date, whatever the hour or
        whether that date was itself a working day: 1 working day after a trigger on a working
        day is the next working day; after a holiday, the first working day after it.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        day = self.local_date(trigger)
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start.

        The inverse of :meth:`add_working_days`: ``working_days_between(t, add_working_days(t,
        n)) == n``, and ``working_days_between(due, done)`` is how many working days late.
        """
        start, end = _plain_date(start), _plain_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        span = (end - start).days
        return sum(self.is_workday(start + timedelta(days=n)) for n in range(1, span + 1))


async def load_calendar(*, session: AsyncSession, tz: ZoneInfo = SHANGHAI) -> WorkCalendar:
    """The working-day calendar with every stored override."""
    rows = await session.exec(select(CalendarOverride))
    return WorkCalendar({row.day: row.workday for row in rows}, tz=tz)


async def set_override(
    *, session: AsyncSession, day: date, workday: bool, source: str
) -> CalendarOverride:
    """Store whether ``day`` is a working day, replacing an earlier override of that day."""
    day = _plain_date(day)
    source = source.strip()
    if not source or len(source) > SOURCE_MAX:
        raise ValueError(f"source must be 1-{SOURCE_MAX} characters, got {len(source)}")
    row = await session.get(CalendarOverride, day)
    if row is None:
        row = CalendarOverride(day=day, workday=workday, source=source)
        session.add(row)
    else:
        row.workday, row.source = workday, source
    await session.flush()
    return row


async def list_overrides(
    *, session: AsyncSession, year: int | None = None
) -> Sequence[CalendarOverride]:
    """The stored overrides by day, optionally of one year only."""
    statement = select(CalendarOverride).order_by(col(CalendarOverride.day))
    if year is not None:
        statement = statement.where(
            col(CalendarOverride.day) >= date(year, 1, 1),
            col(CalendarOverride.day) < date(year + 1, 1, 1),
        )
    return (await session.exec(statement)).all()


class DeadlinePolicy(BaseModel):
    """Working days allowed for first contact/核实 and for 整改 and 反馈, per unit kind.

    ``by_kind`` maps a unit kind (旗县区 / 高新区 / 市直部门) to (contact_days, rectify_days);
    kinds not in it use the defaults. Both deadlines count from the same trigger.
    """

    model_config = ConfigDict(frozen=True)

    contact_days: int = Field(default=1, ge=1)
    rectify_days: int = Field(default=5, ge=1)
    by_kind: dict[str, tuple[int, int]] = Field(default_factory=dict)

    @field_validator("by_kind")
    @classmethod
    def _known_kinds(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        kinds = {kind.value for kind in UnitKind}
        for kind, (contact, rectify) in value.items():
            if kind not in kinds:
                raise ValueError(f"unknown unit kind {kind!r}: use one of {' / '.join(kinds)}")
            if contact < 1 or rectify < 1:
                raise ValueError(f"{kind}: working days must be at least 1")
        return value

    @model_validator(mode="after")
    def _contact_before_rectify(self) -> DeadlinePolicy:
        pairs = {"default": (self.contact_days, self.rectify_days), **self.by_kind}
        for kind, (contact, rectify) in pairs.items():
            if contact > rectify:
                raise ValueError(f"{kind}: contact days {contact} exceed rectify days {rectify}")
        return self

    def days_for(self, kind: UnitKind | str) -> tuple[int, int]:
        """(contact_days, rectify_days) of a unit kind; an unknown kind raises ValueError."""
        default = (self.contact_days, self.rectify_days)
        return self.by_kind.get(UnitKind(kind).value, default)

    def deadlines(
        self, calendar: WorkCalendar, trigger: datetime | date, kind: UnitKind | str
    ) -> tuple[date, date]:
        """(contact deadline, rectify deadline) of a 差评 triggered at ``trigger``."""
        contact, rectify = self.days_for(kind)
        contact_due = calendar.add_working_days(trigger, contact)
        return contact_due, calendar.add_working_days(trigger, rectify)


GAP_WARNING_DAYS = 60  # how far ahead the console warns of a year the calendar lacks


@dataclass(frozen=True)
class CalendarGap:
    """From ``from_day`` on, a new 差评 cannot be registered: its deadlines would fall in
    ``year``, which neither chinesecalendar nor an override covers."""

    from_day: date
    year: int


def coming_gap(
    calendar: WorkCalendar, policy: DeadlinePolicy, today: date, *, within: int = GAP_WARNING_DAYS
) -> CalendarGap | None:
    """The first day from ``today`` to ``within`` days later on which a 差评 of some unit kind
    would be refused for want of working-day data, or None."""
    for offset in range(within + 1):
        day = today + timedelta(days=offset)
        for kind in UnitKind:
            try:
                policy.deadlines(calendar, day, kind)
            except CalendarNotCovered as exc:
                return CalendarGap(from_day=day, year=exc.year)
    return None


def policy_from(settings: Settings) -> DeadlinePolicy:
    """The deadline policy configured by CASE_CONTACT_DAYS and CASE_RECTIFY_DAYS."""
    return DeadlinePolicy(
        contact_days=settings.case_contact_days, rectify_days=settings.case_rectify_days
    )
