"""The demo year's 差评 loop (domain.md §3): every demo 差评 has its case, opened when the
rating came in, its deadlines counted from the rating in working days, worked by its unit's
demo staff (:mod:`scoring.demo.staff`) up to the load time.

Each case follows a story drawn from the seed and its rating: 核实, 整改 and 反馈, then

- the citizen's 复评 (the demo's 2nd-round rating, or a 复评 of the case) and the unit closes
  it (close reason ``rerated``); or nobody re-rates within the 复评 window and the system
  closes it (``no_rerating``); or a supervisor closes it with a note (``supervisor``);
- or 不属实 and closed (``unfounded``);
- or a 申诉 the evaluation office's supervisor upholds (申诉成立: the rating is excluded, as
  :func:`surveys.cases.service.transition` does) and closes (``appeal_upheld``), or rejects
  (申诉驳回, back to 整改).

Most steps come in time, some late: the morning after a missed deadline the case is
escalated (督办), recorded as :func:`surveys.cases.service.escalate_overdue` records it. A
step that would come after the load time has not happened: recent cases are open, some of
them overdue. Every move is one of :data:`surveys.cases.service.TRANSITIONS` with the role
and note it requires, except the two closes allowed from any open state (a supervisor's,
and the system's once the 复评 window has passed).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import case_notes as notes
from scoring.demo import generate as demo_data
from scoring.demo import staff as demo_staff
from scoring.demo.generate import DEMO_PREFIX, DEMO_SOURCE
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, CaseState, CloseReason, FollowUpCase
from surveys.core.clock import as_utc
from surveys.haochaping.models import Rating
from surveys.questionnaire.definitions import Level

S = CaseState
OPEN, CLOSE = time(8, 30), time(17, 30)  # office hours, local time
MORNING = time(8)  # when the morning rounds run (督办, the 复评 window), local time
RERATING_DAYS = 5  # the 复评 window, working days after 已反馈
# Shares of cases that miss a deadline: base + spread × (1 - the unit's demo quality).
LATE_CONTACT, LATE_REPLY = (0.02, 0.1), (0.03, 0.15)
# Stalled cases: contact 1–3 and 反馈 5–15 working days late (the 督办 list of any office).
STALLED = (0.02, 0.12)
UNASSIGNED = 0.1  # worked without a 承办人 on record
PENDING_ASSIGNED = 0.5  # 待核实 cases already given a 承办人
STORIES = {"loop": 0.91, "unfounded": 0.05, "appeal_rejected": 0.04}
AFTER_REPLY = {"rerated": 0.85, "supervisor": 0.04, "no_rerating": 0.11}  # contact agreed
AFTER_REPLY_NO_CONTACT = {"supervisor": 0.1, "no_rerating": 0.9}
RERATINGS = {"满意": 0.55, "基本满意": 0.3, "不满意": 0.15}
LABELS = {level.value: label for label, level in cases.RERATING_LEVELS.items()}
STAFF, SUPERVISOR = "staff", "supervisor"  # roles as surveys.cases.service.transition takes them
BAD = [Level.dissatisfied.value, Level.very_dissatisfied.value]
CHUNK = 500


@dataclass(frozen=True)
class DemoCases:
    cases: int  # cases opened
    staff: int  # demo staff accounts created


@dataclass(frozen=True)
class _Rating:
    id: int
    unit_id: int
    kind: str
    source_id: str
    rated_at: datetime
    received_at: datetime
    contact_ok: bool
    quality: float  # the unit's demo quality (scoring.demo.generate.unit_quality)


@dataclass(frozen=True)
class _Plan:
    """How a case would go, if there were time."""

    story: str  # a key of STORIES, or "appeal_upheld"
    after: str  # after 已反馈: a key of AFTER_REPLY
    rerating: str  # the 复评, a key of cases.RERATING_LEVELS
    second: datetime | None  # the 复评 came as the demo's 2nd-round rating, at this time
    worker: demo_staff.Person | None
    assigned: bool  # has a 承办人 once worked
    assigned_early: bool  # has one already while 待核实
    supervisor: str
    late_contact: int = 0  # working days after the contact deadline (0: in time)
    late_reply: int = 0  # working days after the 整改 deadline (0: in time)


class _Calendar(workdays.WorkCalendar):
    """The working-day calendar, each day's answer remembered: chinesecalendar checks its
    whole table on every call, and a year of cases asks about the same days thousands of
    times."""

    def __init__(self, overrides: Mapping[date, bool], *, tz: ZoneInfo) -> None:
        super().__init__(overrides, tz=tz)
        self._known: dict[date, bool] = {}

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = super().is_workday(day)
        return known


class _Clock:
    """Office-hour moments counted in working days."""

    def __init__(self, calendar: workdays.WorkCalendar, rng: random.Random) -> None:
        self.calendar, self.rng = calendar, rng

    def local(self, day: date, at: time) -> datetime:
        """A local time of day, as stored (UTC)."""
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

    def _between(self, start: datetime, end: datetime) -> datetime:
        seconds = max(int((end - start).total_seconds()), 120)
        return (start + timedelta(seconds=self.rng.randrange(60, seconds))).astimezone(UTC)


class _Timeline:
    """One case's rows as its story unfolds, up to the load time."""

    def __init__(
        self, rating: _Rating, due: tuple[date, date], opened_at: datetime, clock: _Clock,
        now: datetime,
    ) -> None:  # fmt: skip
        self.rating, self.clock, self.now = rating, clock, now
        self.contact_due, self.rectify_due = due
        self.opened_at = self.last = opened_at
        self.state = S.pending
        self.events = [_event(cases.SYSTEM, "opened", opened_at, to=S.pending)]
        self.escalated_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.close_reason: str | None = None
        self.rerating: str | None = None
        self.upheld = False

    def move(
        self, to: CaseState, actor: str, role: str, at: datetime | None, note: str | None = None,
        kind: str = "transition",
    ) -> bool:  # fmt: skip
        """Record the move at ``at``; False (and nothing) when it would come after the load
        time. A missed deadline on the way is escalated first."""
        if at is None or at > self.now:
            self.escalate(self.now)
            return False
        self.escalate(at)
        _check(self.state, to, role, note)
        self.events.append(_event(actor, kind, at, frm=self.state, to=to, note=note))
        self.state, self.last = to, at
        if to is S.closed:
            self.closed_at = at
        return True

    def close(self, actor: str, role: str, at: datetime | None, reason: CloseReason,
              note: str) -> bool:  # fmt: skip
        if not self.move(S.closed, actor, role, at, note):
            return False
        self.close_reason = reason.value
        return True

    def say(self, actor: str, at: datetime | None, text: str) -> bool:
        """A reply to the citizen (保密联络), relayed by whoever reaches them."""
        if at is None or at > self.now:
            return False
        self.escalate(at)
        self.events.append(_event(actor, "reply", at, note=text))
        self.last = at
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
        self.events.append(_event(cases.SYSTEM, "escalated", morning, frm=self.state, note=note))
        self.escalated_at = self.last = morning


def _current_due(state: CaseState, contact_due: date, rectify_due: date) -> date | None:
    """:func:`surveys.cases.service.current_due` of a case in ``state``."""
    if state in cases.AWAITING_CONTACT:
        return contact_due
    return rectify_due if state in cases.AWAITING_RECTIFY else None


def _check(frm: CaseState, to: CaseState, role: str, note: str | None) -> None:
    """The rules of :func:`surveys.cases.service.transition`, with the closes allowed from
    any open state: a supervisor's, and the system's when the 复评 window has passed."""
    any_time_close = (
        to is S.closed
        and frm is not S.closed
        and (role == SUPERVISOR or (role == cases.SYSTEM and frm is S.replied))
    )
    legal = to in cases.TRANSITIONS[frm] or any_time_close
    if not legal or (to in cases.CITIZEN_MOVES) != (role == cases.CITIZEN):
        raise ValueError(f"demo case: no move {frm} → {to} by {role}")
    if to in cases.APPEAL_DECISIONS and role not in cases.SUPERVISOR_ROLES:
        raise ValueError(f"demo case: {to} is a supervisor's decision")
    if to in cases.NOTE_REQUIRED and not note:
        raise ValueError(f"demo case: {to} needs a note")


def _event(
    actor: str, kind: str, at: datetime, *, frm: CaseState | None = None,
    to: CaseState | None = None, note: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {"actor": actor, "kind": kind, "from_state": frm.value if frm else None,
            "to_state": to.value if to else None, "note": note, "delivered_at": None,
            "at": at.astimezone(UTC)}  # fmt: skip


# --- Stories -------------------------------------------------------------------------------


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _plan(
    rng: random.Random, rating: _Rating, crew: demo_staff.Crew, appeals: frozenset[str],
    second: tuple[datetime, str] | None,
) -> _Plan:  # fmt: skip
    people = crew.staff.get(rating.unit_id, ())
    story = "appeal_upheld" if rating.source_id in appeals else _pick(rng, STORIES)
    after = _pick(rng, AFTER_REPLY if rating.contact_ok else AFTER_REPLY_NO_CONTACT)
    return _Plan(
        story="loop" if second else story,
        after="rerated" if second else after,
        rerating=LABELS[second[1]] if second else _pick(rng, RERATINGS),
        second=second[0] if second else None,
        worker=rng.choice(people) if people else None,
        assigned=rng.random() >= UNASSIGNED,
        assigned_early=rng.random() < PENDING_ASSIGNED,
        supervisor=rng.choice(crew.supervisors).username,
        **({} if second else _lateness(rng, rating.quality)),
    )


def _lateness(rng: random.Random, quality: float) -> dict[str, int]:
    if _chance(rng, STALLED, quality):
        return {"late_contact": rng.randint(1, 3), "late_reply": rng.randint(5, 15)}
    return {
        "late_contact": rng.randint(1, 3) if _chance(rng, LATE_CONTACT, quality) else 0,
        "late_reply": rng.randint(1, 5) if _chance(rng, LATE_REPLY, quality) else 0,
    }


def _chance(rng: random.Random, share: tuple[float, float], quality: float) -> bool:
    """Whether a case is late: the weaker the unit, the more often."""
    base, spread = share
    return rng.random() < base + spread * (1 - quality)


def _note(rng: random.Random, state: CaseState) -> str:
    return rng.choice(notes.MOVE_NOTES[state])


def _before(tl: _Timeline, at: datetime | None, limit: datetime | None, share: float) -> (
    datetime | None
):  # fmt: skip
    """``at``, or a moment ``share`` of the way to ``limit`` when ``at`` is not before it (the
    steps before a 2nd-round rating that came soon after the first)."""
    if limit is None or (at is not None and at < limit):
        return at
    return tl.last + (limit - tl.last) * share


def _work(tl: _Timeline, plan: _Plan, rng: random.Random) -> None:
    """Play the plan forward until it ends or reaches the load time."""
    if plan.worker is None or not _contact(tl, plan, rng):
        return
    if plan.story == "unfounded":
        _unfounded(tl, plan, rng)
    elif plan.story == "appeal_upheld":
        _appeal(tl, plan, rng, upheld=True)
    elif (plan.story == "loop" or _appeal(tl, plan, rng, upheld=False)) and _rectify(
        tl, plan, rng
    ):
        _after_reply(tl, plan, rng)


def _contact(tl: _Timeline, plan: _Plan, rng: random.Random) -> bool:
    who = _who(plan)
    at = _before(tl, tl.clock.by(tl.last, tl.contact_due, plan.late_contact), plan.second, 0.25)
    if not tl.move(S.verifying, who, STAFF, at, _note(rng, S.verifying)):
        return False
    if not tl.rating.contact_ok:
        return True
    said = tl.last + timedelta(minutes=rng.randint(5, 60))
    return tl.say(who, _before(tl, said, plan.second, 0.25), rng.choice(notes.FIRST_REPLIES))


def _unfounded(tl: _Timeline, plan: _Plan, rng: random.Random) -> None:
    who = _who(plan)
    if tl.move(S.unfounded, who, STAFF, tl.clock.after(tl.last, rng.randint(0, 1)),
               _note(rng, S.unfounded)):  # fmt: skip
        note = rng.choice(notes.CLOSE_NOTES["unfounded"])
        tl.close(
            who, STAFF, tl.clock.after(tl.last, rng.randint(0, 1)), CloseReason.unfounded, note
        )


def _appeal(tl: _Timeline, plan: _Plan, rng: random.Random, *, upheld: bool) -> bool:
    """申诉 by the unit and the supervisor's decision; True once it was rejected."""
    asked = tl.clock.after(tl.last, rng.randint(0, 1))
    if not tl.move(S.appealing, _who(plan), STAFF, asked, _note(rng, S.appealing)):
        return False
    decision = S.appeal_upheld if upheld else S.appeal_rejected
    decided = tl.clock.after(tl.last, rng.randint(1, 3))
    if not tl.move(decision, plan.supervisor, SUPERVISOR, decided, _note(rng, decision)):
        return False
    if not upheld:
        return True
    tl.upheld = True
    note = rng.choice(notes.CLOSE_NOTES["appeal_upheld"])
    closed = tl.last + timedelta(minutes=rng.randint(2, 30))  # decided and closed at one sitting
    tl.close(plan.supervisor, SUPERVISOR, closed, CloseReason.appeal_upheld, note)
    return False


def _rectify(tl: _Timeline, plan: _Plan, rng: random.Random) -> bool:
    """整改 and 反馈; True once the 反馈 was given."""
    who = _who(plan)
    started = _before(tl, tl.clock.after(tl.last, rng.choice((0, 0, 1))), plan.second, 0.33)
    if not tl.move(S.rectifying, who, STAFF, started, _note(rng, S.rectifying)):
        return False
    replied = tl.clock.by(tl.last, tl.rectify_due, plan.late_reply)
    if plan.second is not None:
        replied = _within_window(tl, replied, plan.second)
    return tl.move(S.replied, who, STAFF, replied, _note(rng, S.replied))


def _within_window(tl: _Timeline, replied: datetime | None, rerated: datetime) -> datetime:
    """The 反馈 of a case whose 复评 came at ``rerated`` (a 2nd-round rating): before it, and
    late enough that the 复评 falls within the 复评 window after it."""
    calendar = tl.clock.calendar
    day = calendar.local_date(rerated) - timedelta(days=1)
    while day > calendar.local_date(tl.last) and _window_end(
        calendar, day - timedelta(days=1)
    ) >= (calendar.local_date(rerated)):
        day -= timedelta(days=1)
    earliest = max(tl.last, tl.clock.local(day, OPEN))
    if replied is not None and earliest <= replied < rerated:
        return replied
    start = earliest if earliest < rerated else tl.last
    return start + (rerated - start) / 2


def _window_end(calendar: workdays.WorkCalendar, day: date) -> date:
    """The last day of the 复评 window after a 反馈 on ``day`` (far off: not known yet)."""
    try:
        return calendar.add_working_days(day, RERATING_DAYS)
    except workdays.CalendarNotCovered:
        return date.max


def _after_reply(tl: _Timeline, plan: _Plan, rng: random.Random) -> None:
    if plan.after == "rerated":
        label = plan.rerating
        at = plan.second or tl.clock.after(tl.last, rng.randint(1, RERATING_DAYS - 1))
        if not tl.move(S.rerated, cases.CITIZEN, cases.CITIZEN, at, label, kind="rerating"):
            return
        tl.rerating = cases.RERATING_LEVELS[label].value
        note = rng.choice(notes.CLOSE_NOTES["rerated"])
        tl.close(_who(plan), STAFF, tl.clock.after(tl.last, rng.randint(0, 1)),
                 CloseReason.rerated, note)  # fmt: skip
    elif plan.after == "supervisor":
        at = tl.clock.after(tl.last, rng.randint(1, 3))
        note = rng.choice(notes.CLOSE_NOTES["supervisor"])
        tl.close(plan.supervisor, SUPERVISOR, at, CloseReason.supervisor, note)
    else:
        try:
            ends = tl.clock.calendar.add_working_days(tl.last, RERATING_DAYS)
        except workdays.CalendarNotCovered:
            return
        at = tl.clock.morning_after(ends)
        tl.close(cases.SYSTEM, cases.SYSTEM, at, CloseReason.no_rerating,
                 notes.no_rerating_note(RERATING_DAYS))  # fmt: skip


def _who(plan: _Plan) -> str:
    return plan.worker.username if plan.worker else cases.SYSTEM


# --- Loading -------------------------------------------------------------------------------


async def load_cases(
    *, session: AsyncSession, now: datetime, tz: ZoneInfo, policy: workdays.DeadlinePolicy,
    appeals: frozenset[str] = frozenset(), seed: int,
) -> DemoCases:  # fmt: skip
    """The demo staff, and a case for every demo 差评 that has none, as of ``now``.

    ``appeals`` are the source ids of ratings whose 申诉 is to be upheld (when there was
    time for it). Cases get no deadline, and so are not opened, in a year the working-day
    calendar does not cover. The caller commits.
    """
    all_units = (await session.exec(select(Unit).order_by(col(Unit.id)))).all()
    crew = await demo_staff.ensure_crew(session=session, units=all_units, seed=seed, now=now)
    overrides = await workdays.list_overrides(session=session)
    calendar = _Calendar({row.day: row.workday for row in overrides}, tz=tz)
    deadlines = cases.Deadlines(calendar, policy)
    seconds = await _second_rounds(session)
    built = []
    for rating in await _ratings_without_case(session, seed):
        rng = random.Random(f"{seed}:case:{rating.source_id}")
        plan = _plan(rng, rating, crew, appeals, seconds.get(rating.source_id))
        try:
            due = deadlines(rating.rated_at, rating.kind)
        except workdays.CalendarNotCovered:
            continue
        opened_at = _opened_at(rating, plan)
        if opened_at > now:
            continue
        timeline = _Timeline(rating, due, opened_at, _Clock(calendar, rng), now)
        _work(timeline, plan, rng)
        built.append((timeline, plan))
    await _store(session, built)
    return DemoCases(len(built), crew.added)


def _opened_at(rating: _Rating, plan: _Plan) -> datetime:
    """When the rating reached minyi; before a 2nd round that came almost at once."""
    if plan.second is None or plan.second - rating.rated_at > 2 * (
        rating.received_at - rating.rated_at
    ):
        return rating.received_at
    return rating.rated_at + (plan.second - rating.rated_at) / 5


def _demo_bad() -> list[Any]:
    return [
        Rating.source == DEMO_SOURCE,
        col(Rating.source_id).startswith(DEMO_PREFIX),
        col(Rating.is_default).is_(False),
    ]


async def _ratings_without_case(session: AsyncSession, seed: int) -> list[_Rating]:
    """Every demo 差评 of either round without a case, by id (a 1st round replaced by a
    2nd was a 差评 waiting for its case all the same)."""
    rating, unit, case = _table(Rating).c, _table(Unit).c, _table(FollowUpCase).c
    statement = (
        sa.select(
            rating.id,
            rating.unit_id,
            unit.kind,
            rating.source_id,
            rating.rated_at,
            rating.received_at,
            rating.contact_ok,
            unit.code,
        )  # fmt: skip
        .select_from(_table(Rating))
        .join(_table(Unit), unit.id == rating.unit_id)
        .outerjoin(_table(FollowUpCase), case.rating_id == rating.id)
        .where(*_demo_bad(), rating.level.in_(BAD), case.id.is_(None))
        .order_by(rating.id)
    )
    found = await (await session.connection()).execute(statement)
    return [
        _Rating(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            row[3],
            as_utc(row[4]),
            as_utc(row[5]),
            bool(row[6]),
            demo_data.unit_quality(row[7], seed),
        )  # fmt: skip
        for row in found
    ]


async def _second_rounds(session: AsyncSession) -> dict[str, tuple[datetime, str]]:
    """The demo's 2nd-round ratings (its 复评 after 整改) by the 1st round's source id."""
    statement = select(Rating.source_id, Rating.rated_at, Rating.level).where(
        *_demo_bad(), Rating.round == 2
    )
    return {
        source_id.removesuffix("-2"): (as_utc(rated_at), level)
        for source_id, rated_at, level in (await session.exec(statement)).all()
    }


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


async def _store(session: AsyncSession, built: Sequence[tuple[_Timeline, _Plan]]) -> None:
    """Insert the cases and their timelines; exclude the ratings whose 申诉 was upheld."""
    if not built:
        return
    connection = await session.connection()
    case_table = _table(FollowUpCase)
    statement = sa.insert(case_table).returning(case_table.c.rating_id, case_table.c.id)
    inserted = await connection.execute(statement, [_case_row(tl, plan) for tl, plan in built])
    case_of = {int(rating_id): int(case_id) for rating_id, case_id in inserted}
    events = [
        {"case_id": case_of[tl.rating.id], **event} for tl, _ in built for event in tl.events
    ]
    await connection.execute(sa.insert(_table(CaseEvent)), events)
    upheld = [tl.rating.id for tl, _ in built if tl.upheld]
    rating_table = _table(Rating)
    for start in range(0, len(upheld), CHUNK):
        chunk = upheld[start : start + CHUNK]
        await connection.execute(
            sa.update(rating_table).where(rating_table.c.id.in_(chunk)).values(excluded=True)
        )


def _case_row(tl: _Timeline, plan: _Plan) -> dict[str, Any]:
    assigned = plan.assigned and (tl.state is not S.pending or plan.assigned_early)
    worker = plan.worker if assigned else None
    return {"rating_id": tl.rating.id, "unit_id": tl.rating.unit_id, "state": tl.state.value,
            "contact_due": tl.contact_due, "rectify_due": tl.rectify_due,
            "rerating": tl.rerating, "opened_at": tl.opened_at, "closed_at": tl.closed_at,
            "escalated_at": tl.escalated_at, "assignee_id": worker.id if worker else None,
            "close_reason": tl.close_reason}  # fmt: skip
