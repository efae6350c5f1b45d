"""The story of one demo case (domain.md §3), drawn from the seed and its rating.

核实 (the case taken by one of the unit's staff, 认领, or assigned by a supervisor first),
整改 and 反馈, then

- the citizen's 复评 (the demo's 2nd-round rating, or a 复评 of the case) and the unit closes
  it (close reason ``rerated``); or nobody re-rates within the 复评 window and the system
  closes it (``no_rerating``); or a supervisor closes it with a note (``supervisor``);
- or 不属实, then closed (``unfounded``);
- or a 申诉 the evaluation office's supervisor upholds (申诉成立: the rating is excluded, as
  :func:`surveys.cases.service.transition` does) and closes (``appeal_upheld``), or rejects
  (申诉驳回, back to 整改).

Most steps come in time; some cases are late, more often in weaker units, and a few stall.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from scoring.demo import case_notes as notes
from scoring.demo.case_timeline import OPEN, STAFF, SUPERVISOR, DemoRating, Timeline
from scoring.demo.staff import Crew, Person
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, CloseReason
from surveys.core.i18n import N_, Translator

S = CaseState
# Shares of cases that miss a deadline: base + spread × (1 - the unit's demo quality).
LATE_CONTACT, LATE_REPLY = (0.02, 0.1), (0.03, 0.15)
# Stalled cases: contact 1–3 and 反馈 5–15 working days late (the 督办 list of any office).
STALLED = (0.02, 0.12)
# Who makes the 承办人: the staff member who takes it up (认领), a supervisor at once, nobody.
ASSIGNMENT = {"claim": 0.6, "supervisor": 0.3, "none": 0.1}
STORIES = {"loop": 0.91, "unfounded": 0.05, "appeal_rejected": 0.04}
AFTER_REPLY = {"rerated": 0.85, "supervisor": 0.04, "no_rerating": 0.11}  # contact agreed
AFTER_REPLY_NO_CONTACT = {"supervisor": 0.1, "no_rerating": 0.9}
RERATINGS = {"满意": 0.55, "基本满意": 0.3, "不满意": 0.15}
LABELS = {level.value: label for label, level in cases.RERATING_LEVELS.items()}


@dataclass(frozen=True)
class Plan:
    """How a case would go, if there were time."""

    story: str  # a key of STORIES, or "appeal_upheld"
    after: str  # after 已反馈: a key of AFTER_REPLY
    rerating: str  # the 复评, a key of cases.RERATING_LEVELS
    second: datetime | None  # the 复评 came as the demo's 2nd-round rating, at this time
    worker: Person | None
    assignment: str  # a key of ASSIGNMENT
    supervisor: str
    rerating_days: int  # the 复评 window (CASE_RERATING_DAYS)
    late_contact: int = 0  # working days after the contact deadline (0: in time)
    late_reply: int = 0  # working days after the 整改 deadline (0: in time)


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan(
    rng: random.Random, rating: DemoRating, crew: Crew, *, upheld: bool,
    second: tuple[datetime, str] | None, rerating_days: int,
) -> Plan:  # fmt: skip
    """The plan of a case; ``upheld``: its 申诉 is to be upheld; ``second``: the time and
    level of the rating's 2nd round, which is the case's 复评."""
    people: Sequence[Person] = crew.staff.get(rating.unit_id, ())
    story = "appeal_upheld" if upheld else _pick(rng, STORIES)
    after = _pick(rng, AFTER_REPLY if rating.contact_ok else AFTER_REPLY_NO_CONTACT)
    return Plan(
        story="loop" if second else story,
        after="rerated" if second else after,
        rerating=LABELS[second[1]] if second else _pick(rng, RERATINGS),
        second=second[0] if second else None,
        worker=rng.choice(people) if people else None,
        assignment=_pick(rng, ASSIGNMENT),
        supervisor=rng.choice(crew.supervisors).username,
        rerating_days=rerating_days,
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


def _before(tl: Timeline, at: datetime | None, limit: datetime | None, share: float) -> (
    datetime | None
):  # fmt: skip
    """``at``, or a moment ``share`` of the way to ``limit`` when ``at`` is not before it (the
    steps before a 2nd-round rating that came soon after the first)."""
    if limit is None or (at is not None and at < limit):
        return at
    return tl.last + (limit - tl.last) * share


def play(tl: Timeline, plan: Plan, rng: random.Random) -> None:
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


def _who(plan: Plan) -> str:
    return plan.worker.username if plan.worker else cases.SYSTEM


def _assign(tl: Timeline, plan: Plan, contact: datetime | None) -> datetime | None:
    """The 承办人 before the first contact: assigned by a supervisor soon after the case
    opened, or taken (认领) by the staff member just before contacting. Returns the contact
    time, after the assignment."""
    if plan.worker is None or plan.assignment == "none":
        return contact
    person = (plan.worker.id, plan.worker.username)
    if plan.assignment == "claim":
        if contact is not None and contact <= tl.now:
            taken = contact - timedelta(minutes=tl.clock.rng.randint(1, 10))
            tl.assign(plan.worker.username, person, max(tl.last, taken))
        return contact
    at = _before(tl, tl.clock.after(tl.last, 0), plan.second, 0.1)
    if not tl.assign(plan.supervisor, person, at):
        return None
    if contact is not None and contact <= tl.last:
        return _before(tl, tl.clock.minutes_after(tl.last, 5, 60), plan.second, 0.25)
    return contact


def _contact(tl: Timeline, plan: Plan, rng: random.Random) -> bool:
    who = _who(plan)
    at = _before(tl, tl.clock.by(tl.last, tl.contact_due, plan.late_contact), plan.second, 0.25)
    at = _assign(tl, plan, at)
    if not tl.move(S.verifying, who, STAFF, at, _note(rng, S.verifying)):
        return False
    if not tl.rating.contact_ok:
        return True
    said = _before(tl, tl.clock.minutes_after(tl.last, 5, 60), plan.second, 0.25)
    return tl.say(who, said, rng.choice(notes.FIRST_REPLIES))


def _unfounded(tl: Timeline, plan: Plan, rng: random.Random) -> None:
    who = _who(plan)
    at = tl.clock.after(tl.last, rng.randint(0, 1))
    if tl.move(S.unfounded, who, STAFF, at, _note(rng, S.unfounded)):
        note = rng.choice(notes.CLOSE_NOTES["unfounded"])
        tl.move(S.closed, who, STAFF, tl.clock.after(tl.last, rng.randint(0, 1)), note)


def _appeal(tl: Timeline, plan: Plan, rng: random.Random, *, upheld: bool) -> bool:
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
    closed = tl.clock.minutes_after(tl.last, 2, 30)  # decided and closed at one sitting
    tl.move(S.closed, plan.supervisor, SUPERVISOR, closed, note)
    return False


def _rectify(tl: Timeline, plan: Plan, rng: random.Random) -> bool:
    """整改 and 反馈; True once the 反馈 was given."""
    who = _who(plan)
    started = _before(tl, tl.clock.after(tl.last, rng.choice((0, 0, 1))), plan.second, 0.33)
    if not tl.move(S.rectifying, who, STAFF, started, _note(rng, S.rectifying)):
        return False
    replied = tl.clock.by(tl.last, tl.rectify_due, plan.late_reply)
    if plan.second is not None:
        replied = _within_window(tl, replied, plan.second, plan.rerating_days)
    return tl.move(S.replied, who, STAFF, replied, _note(rng, S.replied))


def _within_window(
    tl: Timeline, replied: datetime | None, rerated: datetime, days: int
) -> datetime:
    """The 反馈 of a case whose 复评 came at ``rerated`` (a 2nd-round rating): before it, and
    late enough that the 复评 falls within the 复评 window after it."""
    calendar = tl.clock.calendar
    rerated_on = calendar.local_date(rerated)
    day = rerated_on - timedelta(days=1)
    while day > calendar.local_date(tl.last) and (
        _window_end(calendar, day - timedelta(days=1), days) >= rerated_on
    ):
        day -= timedelta(days=1)
    earliest = max(tl.last, tl.clock.local(day, OPEN))
    if replied is not None and earliest <= replied < rerated:
        return replied
    start = earliest if earliest < rerated else tl.last
    return start + (rerated - start) / 2


def _window_end(calendar: workdays.WorkCalendar, day: date, days: int) -> date:
    """The last day of the 复评 window after a 反馈 on ``day`` (far off: not known yet)."""
    try:
        return calendar.add_working_days(day, days)
    except workdays.CalendarNotCovered:
        return date.max


def _after_reply(tl: Timeline, plan: Plan, rng: random.Random) -> None:
    if plan.after == "rerated":
        at = plan.second or tl.clock.after(tl.last, rng.randint(1, plan.rerating_days - 1))
        label = plan.rerating
        if not tl.move(S.rerated, cases.CITIZEN, cases.CITIZEN, at, label, kind="rerating"):
            return
        tl.rerating = cases.RERATING_LEVELS[label].value
        note = rng.choice(notes.CLOSE_NOTES["rerated"])
        tl.move(S.closed, _who(plan), STAFF, tl.clock.after(tl.last, rng.randint(0, 1)), note)
    elif plan.after == "supervisor":
        at = tl.clock.after(tl.last, rng.randint(1, 3))
        note = rng.choice(notes.CLOSE_NOTES["supervisor"])
        tl.close(CloseReason.supervisor, plan.supervisor, SUPERVISOR, at, note)
    else:
        _close_unrerated(tl, plan.rerating_days)


@cache
def _translator() -> Translator:
    return Translator()


def _close_unrerated(tl: Timeline, days: int) -> None:
    """已关闭（未复评）the morning after the window, with the note the system writes
    (:func:`surveys.cases.closing.close_unrerated`)."""
    ends = _window_end(tl.clock.calendar, tl.clock.calendar.local_date(tl.last), days)
    if ends == date.max:
        return
    note = _translator()(N_("caseclose.note.no_rerating"), days=days, due=ends.isoformat())
    at = tl.clock.morning_after(ends)
    tl.close(CloseReason.no_rerating, cases.SYSTEM, cases.SYSTEM, at, note)
