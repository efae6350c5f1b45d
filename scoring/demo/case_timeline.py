"""One demo case's timeline as it unfolds: office-hour moments counted in working days, and
the rows :mod:`surveys.cases.service` writes for each move, up to the load time.

A move is checked by the rules the services apply (:data:`surveys.cases.service.TRANSITIONS`,
:data:`~surveys.cases.service.CLOSE_FROM`, the supervisor's decisions, the required notes, the
citizen's 复评); a broken rule is a bug of the demo and raises. A move planned after the load
time does not happen, nor anything after it. A deadline missed on the way is escalated (督办)
at the next morning round, as :func:`surveys.cases.service.escalate_overdue` records it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scoring.demo import case_notes as notes
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, CloseReason

S = CaseState
OPEN, CLOSE = time(8, 30), time(17, 30)  # office hours, local time
MORNING = time(8)  # when the morning rounds run (督办, the 复评 window), local time
STAFF, SUPERVISOR = "staff", "supervisor"  # roles as surveys.cases.service takes them


@dataclass(frozen=True)
class DemoRating:
    """A demo 差评 waiting for its case."""

    id: int
    unit_id: int
    kind: str
    source_id: str
    rated_at: datetime
    received_at: datetime
    contact_ok: bool
    quality: float  # the unit's demo quality (scoring.demo.generate.unit_quality)


class Calendar(workdays.WorkCalendar):
    """The working-day calendar with each day's answer remembered: chinesecalendar checks
    its whole table on every call, and a year of cases asks about the same days thousands
    of times."""

    def __init__(self, overrides: Mapping[date, bool], *, tz: ZoneInfo) -> None:
        super().__init__(overrides, tz=tz)
        self._known: dict[date, bool] = {}

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = super().is_workday(day)
        return known


class Clock:
    """Office-hour moments counted in working days (UTC, as stored)."""

    def __init__(self, calendar: workdays.WorkCalendar, rng: random.Random) -> None:
        self.calendar, self.rng = calendar, rng

    def local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.calendar.tz).astimezone(UTC)

    def after(self, moment: datetime, days: int) -> datetime | None:
        """A moment ``days`` working days after ``moment`` (0: later that working day if
        there is time, else the next one); None where the calendar has no data yet."""
        local = moment.astimezone(self.calendar.tz)
        try:
            if days == 0 and self.calendar.is_workday(local.date()) and local.time() < time(17):
                start = max(local, self.local(local.date(), OPEN))
                return self._between(start, self.local(local.date(), CLOSE))
            day = self.calendar.add_working_days(local.date(), max(days, 1))
        except workdays.CalendarNotCovered:
            return None
        return self._between(self.local(day, OPEN), self.local(day, CLOSE))

    def by(self, moment: datetime, due: date, late: int) -> datetime | None:
        """A step owed by ``due``: on a working day up to it, or ``late`` working days after."""
        try:
            left = self.calendar.working_days_between(self.calendar.local_date(moment), due)
        except workdays.CalendarNotCovered:
            return None
        left = max(left, 0)
        return self.after(moment, left + late if late else self.rng.randint(0, left))

    def morning_after(self, day: date) -> datetime:
        return self.local(day + timedelta(days=1), MORNING)

    def minutes_after(self, moment: datetime, low: int, high: int) -> datetime:
        return moment + timedelta(minutes=self.rng.randint(low, high))

    def _between(self, start: datetime, end: datetime) -> datetime:
        seconds = max(int((end - start).total_seconds()), 120)
        return (start + timedelta(seconds=self.rng.randrange(60, seconds))).astimezone(UTC)


class Timeline:
    """One case's rows as its story unfolds, up to the load time (``now``)."""

    def __init__(
        self, rating: DemoRating, due: tuple[date, date], opened_at: datetime, clock: Clock,
        now: datetime,
    ) -> None:  # fmt: skip
        self.rating, self.clock, self.now = rating, clock, now
        self.contact_due, self.rectify_due = due
        self.opened_at = self.last = opened_at
        self.state = S.pending
        self.events = [_event(cases.SYSTEM, "opened", opened_at, to=S.pending)]
        self.assignee: int | None = None
        self.escalated_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.close_reason: str | None = None
        self.rerating: str | None = None
        self.upheld = False

    def happens(self, at: datetime | None) -> bool:
        """Whether a step at ``at`` comes by the load time; a deadline missed before it (or
        before the load time, when it does not) is escalated first."""
        if at is None or at > self.now:
            self.escalate(self.now)
            return False
        self.escalate(at)
        return True

    def move(
        self, to: CaseState, actor: str, role: str, at: datetime | None, note: str | None = None,
        kind: str = "transition",
    ) -> bool:  # fmt: skip
        """A move along TRANSITIONS at ``at``; False (and nothing) if it has not happened."""
        if not self.happens(at):
            return False
        assert at is not None
        _check_move(self.state, to, role, note)
        self._record(_event(actor, kind, at, frm=self.state, to=to, note=note))
        self.state = to
        if to is S.closed:
            self.closed_at = at
            self.close_reason = cases.CLOSED_AFTER[self.events[-1]["from_state"]].value
        return True

    def close(
        self, reason: CloseReason, actor: str, role: str, at: datetime | None, note: str
    ) -> bool:
        """A close outside TRANSITIONS (:func:`surveys.cases.service.close`)."""
        if not self.happens(at):
            return False
        assert at is not None
        _check_close(self.state, reason, role, note)
        self._record(_event(actor, "transition", at, frm=self.state, to=S.closed, note=note))
        self.state, self.closed_at, self.close_reason = S.closed, at, reason.value
        return True

    def say(self, actor: str, at: datetime | None, text: str) -> bool:
        """A reply to the citizen (保密联络)."""
        if not self.happens(at):
            return False
        assert at is not None
        self._record(_event(actor, "reply", at, note=text))
        return True

    def assign(self, actor: str, person: tuple[int, str], at: datetime | None) -> bool:
        """The 承办人, as :func:`surveys.cases.assign.assign` (or 认领) records it."""
        if not self.happens(at):
            return False
        assert at is not None
        note = f"承办人：未分配 → {person[1]}"
        self._record(_event(actor, "assigned", at, frm=self.state, note=note))
        self.assignee = person[0]
        return True

    def escalate(self, until: datetime) -> None:
        """督办 at the first morning round after the current deadline passed, before ``until``."""
        due = _current_due(self.state, self.contact_due, self.rectify_due)
        if self.escalated_at is not None or due is None:
            return
        morning = self.clock.morning_after(due)
        if morning <= self.last:
            local = self.last.astimezone(self.clock.calendar.tz)
            day = local.date() if local.time() < MORNING else local.date() + timedelta(days=1)
            morning = self.clock.local(day, MORNING)
        if morning >= until or morning > self.now:
            return
        which = "核实" if self.state in cases.AWAITING_CONTACT else "整改反馈"
        note = notes.escalated_note(which, str(due))
        self._record(_event(cases.SYSTEM, "escalated", morning, frm=self.state, note=note))
        self.escalated_at = morning

    def _record(self, event: dict[str, Any]) -> None:
        if event["at"] < self.last:
            raise ValueError(f"demo case: {event} before {self.last}")
        self.events.append(event)
        self.last = event["at"]


def _current_due(state: CaseState, contact_due: date, rectify_due: date) -> date | None:
    """:func:`surveys.cases.service.current_due` of a case in ``state``."""
    if state in cases.AWAITING_CONTACT:
        return contact_due
    return rectify_due if state in cases.AWAITING_RECTIFY else None


def _check_move(frm: CaseState, to: CaseState, role: str, note: str | None) -> None:
    """The rules of :func:`surveys.cases.service.transition` and of the citizen's 复评."""
    if to not in cases.TRANSITIONS[frm] or (to in cases.CITIZEN_MOVES) != (role == cases.CITIZEN):
        raise ValueError(f"demo case: no move {frm} → {to} by {role}")
    if to in cases.APPEAL_DECISIONS and role not in cases.SUPERVISOR_ROLES:
        raise ValueError(f"demo case: {to} is a supervisor's decision")
    if to in cases.NOTE_REQUIRED and not note:
        raise ValueError(f"demo case: {to} needs a note")


def _check_close(frm: CaseState, reason: CloseReason, role: str, note: str) -> None:
    """The rules of :func:`surveys.cases.service.close`."""
    if frm not in cases.CLOSE_FROM[reason] or not note:
        raise ValueError(f"demo case: no close {reason} from {frm}")
    if reason is CloseReason.supervisor and role not in cases.SUPERVISOR_ROLES:
        raise ValueError("demo case: a supervisor's close by someone else")


def _event(
    actor: str, kind: str, at: datetime, *, frm: CaseState | None = None,
    to: CaseState | None = None, note: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {"actor": actor, "kind": kind, "from_state": frm.value if frm else None,
            "to_state": to.value if to else None, "note": note, "delivered_at": None,
            "at": at.astimezone(UTC)}  # fmt: skip
