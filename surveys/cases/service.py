"""The 差评 follow-up loop (domain.md §3): 核实 → 整改 → 反馈 → 复评 → 结案, with 申诉复核.

Every move is a :class:`CaseEvent` recording who, when and a note. Staff only ever see
:func:`masked_reference` for the citizen (保密联络, §3 and §7); replies reach the citizen through
the bot, which relays the undelivered ones (:func:`pending_replies`).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import ColumnElement, not_, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases.exceptions import NOTE_REQUIRED as NOTE_REQUIRED
from surveys.cases.exceptions import SEARCH_MAX as SEARCH_MAX
from surveys.cases.exceptions import TEXT_MAX as TEXT_MAX
from surveys.cases.exceptions import CaseClosed as CaseClosed
from surveys.cases.exceptions import InvalidText as InvalidText
from surveys.cases.exceptions import InvalidTransition as InvalidTransition
from surveys.cases.exceptions import NoteRequired as NoteRequired
from surveys.cases.exceptions import RereratingNotAllowed as RereratingNotAllowed
from surveys.cases.exceptions import SupervisorOnly as SupervisorOnly
from surveys.cases.models import CaseEvent, CaseState, CloseReason, FollowUpCase
from surveys.cases.workdays import SHANGHAI, DeadlinePolicy, WorkCalendar
from surveys.core.clock import as_utc
from surveys.core.exceptions import NotFound, UnknownUnit
from surveys.core.models import pk, utcnow
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.haochaping.ratings import is_bad, period_of, supersede
from surveys.questionnaire.definitions import Level

S = CaseState
TRANSITIONS: Mapping[CaseState, frozenset[CaseState]] = {
    S.pending: frozenset({S.verifying}),
    S.verifying: frozenset({S.rectifying, S.unfounded, S.appealing}),
    S.rectifying: frozenset({S.replied}),
    S.replied: frozenset({S.rerated}),
    S.rerated: frozenset({S.closed}),
    S.unfounded: frozenset({S.closed}),
    S.appealing: frozenset({S.appeal_upheld, S.appeal_rejected}),
    S.appeal_rejected: frozenset({S.rectifying}),
    S.appeal_upheld: frozenset({S.closed}),
    S.closed: frozenset(),
}
# How a move along TRANSITIONS to 已关闭 ended, by the state it leaves.
CLOSED_AFTER: Mapping[CaseState, CloseReason] = {
    S.rerated: CloseReason.rerated,
    S.unfounded: CloseReason.unfounded,
    S.appeal_upheld: CloseReason.appeal_upheld,
}
# Closes outside TRANSITIONS (:func:`close`, surveys.cases.closing) and the states each may
# end: a supervisor's at any time (with a note); the system's once the 复评 window has passed
# or when the citizen, erasing their contact, can no longer 复评.
CLOSE_FROM: Mapping[CloseReason, frozenset[CaseState]] = {
    CloseReason.supervisor: frozenset(S) - {S.closed},
    CloseReason.no_rerating: frozenset({S.replied}),
    CloseReason.unreachable: frozenset({S.replied}),
}
# Only the citizen's re-rating (record_rerating) moves a case to 已复评, never staff.
CITIZEN_MOVES = frozenset({S.rerated})
APPEAL_DECISIONS = frozenset({S.appeal_upheld, S.appeal_rejected})
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
# States in which the unit still owes the 1st contact / the 整改 and 反馈; 申诉中 counts too, so
# an undecided appeal is escalated to the supervisor who must decide it.
AWAITING_CONTACT = frozenset({S.pending})
AWAITING_RECTIFY = frozenset(
    {S.pending, S.verifying, S.rectifying, S.appealing, S.appeal_rejected}
)
RERATING_LEVELS: Mapping[str, Level] = {
    "满意": Level.satisfied,
    "基本满意": Level.neutral,
    "不满意": Level.dissatisfied,
}
SYSTEM = "system"
CITIZEN = "citizen"
_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # letters only, no I/O: never mistaken for an id
_REF_LENGTH = 6


def _state(case: FollowUpCase) -> str:
    # Rows read back from the database hold the plain string, new ones the enum.
    return CaseState(case.state).value


def _event(case: FollowUpCase, actor: str, kind: str, **fields: object) -> CaseEvent:
    return CaseEvent.model_validate({"case_id": pk(case), "actor": actor, "kind": kind, **fields})


async def open_case(
    *, session: AsyncSession, rating: Rating, calendar: WorkCalendar, policy: DeadlinePolicy
) -> FollowUpCase | None:
    """Open the follow-up of an active, non-default 差评; None otherwise or if already open."""
    if not rating.active or rating.is_default or not is_bad(rating.level):
        return None
    existing = await session.exec(
        select(FollowUpCase.id).where(FollowUpCase.rating_id == pk(rating))
    )
    if existing.first() is not None:
        return None
    unit = await session.get(Unit, rating.unit_id)
    if unit is None:
        raise UnknownUnit(code=str(rating.unit_id))
    # Raises CalendarNotCovered before anything is written: no guessed deadline.
    contact_due, rectify_due = policy.deadlines(calendar, as_utc(rating.rated_at), unit.kind)
    case = FollowUpCase(
        rating_id=pk(rating), unit_id=pk(unit), contact_due=contact_due, rectify_due=rectify_due
    )
    session.add(case)
    await session.flush()
    session.add(_event(case, SYSTEM, "opened", to_state=S.pending.value))
    await session.flush()
    return case


@dataclass(frozen=True)
class StoredRating:
    """A rating just stored in bulk (no ORM object): what opening its follow-up needs."""

    id: int
    unit_id: int
    unit_kind: str
    level: str
    rated_at: datetime
    is_default: bool = False
    active: bool = True


class Deadlines:
    """:meth:`DeadlinePolicy.deadlines` remembered per local date and unit kind: a file of a
    year has a few hundred dates, and each is counted through the calendar once."""

    def __init__(self, calendar: WorkCalendar, policy: DeadlinePolicy) -> None:
        self.calendar, self.policy = calendar, policy
        self._known: dict[tuple[date, str], tuple[date, date]] = {}

    def __call__(self, trigger: datetime, kind: str) -> tuple[date, date]:
        key = (self.calendar.local_date(as_utc(trigger)), kind)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = self.policy.deadlines(self.calendar, key[0], kind)
        return found


async def open_cases(
    *, session: AsyncSession, ratings: Sequence[StoredRating], deadlines: Deadlines
) -> list[int]:
    """:func:`open_case` for many ratings at once, in set-based statements (one query for
    cases already open, one insert of the cases, one of their "opened" events): the ids of
    the cases opened, in the order of ``ratings``. Deadlines are all computed (and
    :class:`CalendarNotCovered` raised) before anything is written."""
    bad = [r for r in ratings if r.active and not r.is_default and is_bad(r.level)]
    if not bad:
        return []
    connection = await session.connection()
    cases: sa.Table = FollowUpCase.__table__  # type: ignore[attr-defined]
    open_already = await connection.execute(
        sa.select(cases.c.rating_id).where(cases.c.rating_id.in_([r.id for r in bad]))
    )
    taken = set(open_already.scalars())
    rows: list[dict[str, Any]] = []
    for rating in bad:
        if rating.id in taken:
            continue
        contact_due, rectify_due = deadlines(rating.rated_at, rating.unit_kind)
        rows.append({"rating_id": rating.id, "unit_id": rating.unit_id, "contact_due": contact_due,
                     "rectify_due": rectify_due})  # fmt: skip
    if not rows:
        return []
    now = utcnow()
    defaults = {"state": S.pending.value, "rerating": None, "opened_at": now, "closed_at": None,
                "escalated_at": None}  # fmt: skip
    # Returned in no promised order (asking for the rows' order makes SQLite insert them
    # one by one): matched by rating.
    statement = sa.insert(cases).returning(cases.c.rating_id, cases.c.id)
    inserted = await connection.execute(statement, [{**row, **defaults} for row in rows])
    case_of = {int(rating_id): int(case_id) for rating_id, case_id in inserted}
    ids = [case_of[row["rating_id"]] for row in rows]
    events: sa.Table = CaseEvent.__table__  # type: ignore[attr-defined]
    opened = {"actor": SYSTEM, "kind": "opened", "from_state": None, "to_state": S.pending.value,
              "note": None, "delivered_at": None, "at": now}  # fmt: skip
    await connection.execute(sa.insert(events), [{"case_id": id_, **opened} for id_ in ids])
    return ids


def _check_move(case: FollowUpCase, to: CaseState, actor_role: str, note: str | None) -> None:
    frm = CaseState(case.state)
    if to not in TRANSITIONS[frm] or to in CITIZEN_MOVES:
        raise InvalidTransition(frm=frm, to=to)
    if to in APPEAL_DECISIONS and actor_role not in SUPERVISOR_ROLES:
        raise SupervisorOnly(to=to)
    if to in NOTE_REQUIRED and not note:
        raise NoteRequired(to=to)


def _check_close(
    case: FollowUpCase, reason: CloseReason, actor_role: str, note: str | None
) -> None:
    frm = CaseState(case.state)
    if frm not in CLOSE_FROM[reason]:
        raise InvalidTransition(frm=frm, to=S.closed)
    if reason is CloseReason.supervisor:
        if actor_role not in SUPERVISOR_ROLES:
            raise SupervisorOnly(to=S.closed)
        if not note:
            raise NoteRequired(to=S.closed)


async def _move(
    session: AsyncSession,
    case: FollowUpCase,
    to: CaseState,
    actor: str,
    kind: str,
    note: str | None,
    *,
    reason: CloseReason | None = None,
    at: datetime | None = None,
) -> CaseEvent:
    frm = CaseState(case.state)
    event = _event(case, actor, kind, from_state=frm.value, to_state=to.value, note=note)
    if at is not None:
        event.at = at
    case.state = to
    if to == S.closed:
        case.closed_at = event.at
        case.close_reason = (reason or CLOSED_AFTER[frm]).value
    session.add(event)
    await session.flush()
    return event


async def transition(
    *,
    session: AsyncSession,
    case: FollowUpCase,
    to: CaseState,
    actor: str,
    actor_role: str,
    note: str | None,
) -> CaseEvent:
    """Move a case along :data:`TRANSITIONS`, recording who, when and the note."""
    note = (note or "").strip() or None
    _check_move(case, to, actor_role, note)
    if to == S.appeal_upheld:
        # Upheld appeal: the rating leaves the scores but stays, audited by this event.
        rating = await session.get(Rating, case.rating_id)
        if rating is not None:
            rating.excluded = True
    return await _move(session, case, to, actor, "transition", note)


async def close(
    *,
    session: AsyncSession,
    case: FollowUpCase,
    reason: CloseReason,
    actor: str,
    actor_role: str,
    note: str | None,
    at: datetime | None = None,
) -> CaseEvent:
    """Close a case outside :data:`TRANSITIONS` (:data:`CLOSE_FROM`), recording the reason."""
    note = (note or "").strip() or None
    _check_close(case, reason, actor_role, note)
    return await _move(session, case, S.closed, actor, "transition", note, reason=reason, at=at)


def _clean_text(text: str) -> str:
    text = text.strip()
    if not text or len(text) > TEXT_MAX:
        raise InvalidText(got=len(text))
    return text


def _refuse_closed(case: FollowUpCase) -> None:
    if case.state == S.closed:
        raise CaseClosed()


async def add_reply(
    *, session: AsyncSession, case: FollowUpCase, actor: str, text: str
) -> CaseEvent:
    """A staff reply to the citizen, relayed later by the bot (保密联络)."""
    _refuse_closed(case)
    event = _event(case, actor, "reply", note=_clean_text(text))
    session.add(event)
    await session.flush()
    return event


def undelivered_to_citizen() -> list[ColumnElement[bool]]:
    """Conditions on :class:`CaseEvent` joined to its :class:`FollowUpCase`: a message for
    the citizen, not yet delivered. The 反馈 of a move to 已反馈 goes while the case awaits
    the 复评 (a 反馈 recorded before it was sent to citizens is not sent late)."""
    moved = col(CaseEvent.kind) == "transition"
    feedback = (
        moved
        & (col(CaseEvent.to_state) == S.replied.value)
        & (col(FollowUpCase.state) == S.replied.value)
        & col(CaseEvent.note).is_not(None)
    )
    for_citizen = or_(
        col(CaseEvent.kind) == "reply",
        moved & (col(CaseEvent.to_state) == S.unfounded.value),
        feedback,
    )
    return [for_citizen, col(CaseEvent.delivered_at).is_(None)]


async def pending_replies(*, session: AsyncSession) -> list[tuple[CaseEvent, FollowUpCase]]:
    """Messages for the citizen not yet delivered, oldest first, with their case: staff
    replies, the reason a 差评 was found 不属实 (the citizen is told why) and the 反馈 of a
    move to 已反馈 (sent with the 复评 question)."""
    statement = (
        select(CaseEvent, FollowUpCase)
        .join(FollowUpCase, col(CaseEvent.case_id) == col(FollowUpCase.id))
        .where(*undelivered_to_citizen())
        .order_by(col(CaseEvent.id))
    )
    return [(event, case) for event, case in (await session.exec(statement)).all()]


async def mark_delivered(*, session: AsyncSession, event: CaseEvent) -> None:
    """Record that the bot delivered a reply; an earlier delivery time is kept."""
    if event.delivered_at is None:
        event.delivered_at = utcnow()
        await session.flush()


async def add_citizen_message(
    *, session: AsyncSession, case: FollowUpCase, text: str
) -> CaseEvent:
    """A message from the citizen about an open case, added to its timeline."""
    _refuse_closed(case)
    event = _event(case, CITIZEN, "citizen", note=_clean_text(text))
    session.add(event)
    await session.flush()
    return event


async def record_rerating(
    *,
    session: AsyncSession,
    case: FollowUpCase,
    level: str,
    now: datetime | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> CaseEvent:
    """The citizen's 复评 after 反馈 (满意/基本满意/不满意); moves the case to 已复评.

    The 复评 is also the 办件's next round (评价次数 2 after a 1st): a rating like the one the
    case follows (unit, 办件, 事项, window, channel, respondent) with the 复评's level, which
    replaces it in the scores (surveys.haochaping.ratings.settle_rounds); it opens no case.
    """
    code = RERATING_LEVELS.get(level)
    if code is None:
        raise ValueError(f"re-rating must be one of {' / '.join(RERATING_LEVELS)}, got {level!r}")
    if case.state != S.replied:
        raise RereratingNotAllowed(state=CaseState(case.state))
    case.rerating = code.value
    at = now or utcnow()
    original = await session.get_one(Rating, case.rating_id)
    again = Rating(
        source=RatingSource.bot, source_id=f"rerating-{pk(case)}",
        service_event_id=original.service_event_id, unit_id=original.unit_id,
        item_code=original.item_code, item_name=original.item_name,
        window_code=original.window_code, channel=original.channel,
        respondent_id=original.respondent_id, level=code.value, contact_ok=original.contact_ok,
        round=original.round + 1, period=period_of(at, tz), rated_at=at,
    )  # fmt: skip
    await supersede(session, again, earlier=[original])
    session.add(again)
    return await _move(session, case, S.rerated, CITIZEN, "rerating", level, at=at)


def current_due(case: FollowUpCase) -> date | None:
    """The deadline the unit is working against now; None once it has answered."""
    if case.state in AWAITING_CONTACT:
        return case.contact_due
    if case.state in AWAITING_RECTIFY:
        return case.rectify_due
    return None


def is_overdue(case: FollowUpCase, today: date) -> bool:
    """Past the contact deadline while 待核实, or past the 整改 deadline before 已反馈."""
    due = current_due(case)
    return due is not None and today > due


def overdue_condition(on: date) -> ColumnElement[bool]:
    """:func:`is_overdue` on the day ``on`` as a SQL condition on ``follow_up_case``."""
    return or_(
        (col(FollowUpCase.state).in_([s.value for s in AWAITING_CONTACT]))
        & (col(FollowUpCase.contact_due) < on),
        (col(FollowUpCase.state).in_([s.value for s in AWAITING_RECTIFY - AWAITING_CONTACT]))
        & (col(FollowUpCase.rectify_due) < on),
    )


def _due_column() -> ColumnElement[date]:
    """:func:`current_due` of a case still awaiting its unit, as a SQL expression."""
    state = col(FollowUpCase.state)
    return sa.case(
        (state.in_([s.value for s in AWAITING_CONTACT]), col(FollowUpCase.contact_due)),
        else_=col(FollowUpCase.rectify_due),
    )


async def overdue_cases(
    *, session: AsyncSession, today: date, unit_id: int | None = None
) -> list[FollowUpCase]:
    """Cases past their current deadline, optionally of one unit (chosen by the database)."""
    statement = select(FollowUpCase).where(overdue_condition(today))
    if unit_id is not None:
        statement = statement.where(FollowUpCase.unit_id == unit_id)
    return list((await session.exec(statement.order_by(col(FollowUpCase.id)))).all())


async def escalate_overdue(
    *, session: AsyncSession, today: date, now: datetime
) -> list[FollowUpCase]:
    """Mark newly overdue cases 督办 (once per case) and return them.

    Only cases not escalated yet are read, so a round with nothing new reads nothing.
    """
    statement = select(FollowUpCase).where(
        overdue_condition(today), col(FollowUpCase.escalated_at).is_(None)
    )
    escalated = list((await session.exec(statement.order_by(col(FollowUpCase.id)))).all())
    for case in escalated:
        case.escalated_at = now
        which = "核实" if case.state in AWAITING_CONTACT else "整改反馈"
        note = f"超过{which}期限（{current_due(case)}），已督办"
        session.add(_event(case, SYSTEM, "escalated", from_state=_state(case), note=note, at=now))
    await session.flush()
    return escalated


async def due_soon(
    *, session: AsyncSession, calendar: WorkCalendar, today: date
) -> list[FollowUpCase]:
    """Cases not yet overdue whose current deadline falls within one working day."""
    horizon = calendar.add_working_days(today, 1)
    due = _due_column()
    statement = select(FollowUpCase).where(
        col(FollowUpCase.state).in_([s.value for s in AWAITING_RECTIFY]),
        due >= today,
        due <= horizon,
    )
    return list((await session.exec(statement.order_by(col(FollowUpCase.id)))).all())


def masked_reference(case: FollowUpCase) -> str:
    """The only citizen reference staff see: a stable label, never a chat id, name or phone.

    A label, not a secret: it hides contact data, not which case it is.
    """
    digest = int.from_bytes(hashlib.sha256(f"minyi-case:{pk(case)}".encode()).digest())
    letters = []
    for _ in range(_REF_LENGTH):
        digest, index = divmod(digest, len(_REF_ALPHABET))
        letters.append(_REF_ALPHABET[index])
    return "市民#" + "".join(letters)


async def timeline(*, session: AsyncSession, case: FollowUpCase) -> list[CaseEvent]:
    """Every event of a case in the order it was recorded."""
    statement = select(CaseEvent).where(CaseEvent.case_id == pk(case)).order_by(col(CaseEvent.id))
    return list((await session.exec(statement)).all())


async def get_case_for(*, session: AsyncSession, case_id: int, actor: Actor) -> FollowUpCase:
    """A case the actor may see; another unit's case is NotFound, as if it did not exist."""
    actor.require(Perm.view)
    case = await session.get(FollowUpCase, case_id)
    if case is None or not actor.sees(case.unit_id):
        raise NotFound(case=case_id)
    return case


@dataclass(frozen=True)
class CaseFilter:
    unit_id: int | None = None
    state: CaseState | None = None
    overdue_on: date | None = None  # only cases overdue on that day
    on_time_on: date | None = None  # only cases not overdue on that day
    opened_from: date | None = None
    opened_to: date | None = None
    assignee_id: int | None = None  # only this 承办人's cases
    unassigned: bool = False  # only cases without a 承办人
    search: str | None = None  # 办件编号, case number, 事项 or text (search_condition)
    open_only: bool = False  # 在办: every case not 已关闭


async def list_cases(
    *,
    session: AsyncSession,
    actor: Actor,
    where: CaseFilter = CaseFilter(),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[FollowUpCase], int]:
    """The actor's cases by deadline, earliest first, one page of them and the total."""
    actor.require(Perm.view)
    statement = select(FollowUpCase).where(*filter_conditions(actor, where))
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    statement = statement.order_by(col(FollowUpCase.rectify_due), col(FollowUpCase.id))
    found = (await session.exec(statement.offset(offset).limit(limit))).all()
    return list(found), int(total)


def filter_conditions(actor: Actor, where: CaseFilter) -> list[ColumnElement[bool]]:
    """A :class:`CaseFilter` within the actor's units, as SQL conditions on the cases."""
    found: list[ColumnElement[bool]] = []
    units = actor.unit_filter(where.unit_id)
    if units is not None:
        found.append(col(FollowUpCase.unit_id).in_(units))
    found.extend(_state_conditions(where))
    if where.opened_from is not None:
        found.append(col(FollowUpCase.opened_at) >= _day_start(where.opened_from))
    if where.opened_to is not None:
        found.append(col(FollowUpCase.opened_at) < _day_start(where.opened_to + timedelta(days=1)))
    if where.overdue_on is not None:
        found.append(overdue_condition(where.overdue_on))
    if where.on_time_on is not None:
        found.append(not_(overdue_condition(where.on_time_on)))
    if where.assignee_id is not None:
        found.append(col(FollowUpCase.assignee_id) == where.assignee_id)
    if where.unassigned:
        found.append(col(FollowUpCase.assignee_id).is_(None))
    if where.search and where.search.strip():
        found.append(search_condition(where.search))
    return found


def _state_conditions(where: CaseFilter) -> list[ColumnElement[bool]]:
    """One state, or 在办 (every state but 已关闭), or any."""
    if where.state is not None:
        return [col(FollowUpCase.state) == where.state.value]
    if where.open_only:
        return [col(FollowUpCase.state) != S.closed.value]
    return []


_CASE_NUMBER = re.compile(r"#?\s*([1-9][0-9]{0,11})")
CASE_ID_MAX = 2**31 - 1  # case ids are INTEGER: a longer number is only a 办件编号


def _text_safe(needle: str) -> bool:
    """Whether the citizen's own text may be matched on what is stored, not what staff see.

    Only for letters without case (漢字…, Unicode "Lo"): masking never changes such a letter
    and a masked span holds none, so a stored match is a match in the masked text, and a
    search cannot confirm a hidden phone, ID number or e-mail address (domain.md §7).
    """
    return bool(needle) and all(unicodedata.category(ch) == "Lo" for ch in needle)


def _contains(column: Any, needle: str) -> ColumnElement[bool]:
    return sa.func.lower(column).contains(needle.lower(), autoescape=True)


def search_condition(text: str) -> ColumnElement[bool]:
    """The queue search as a condition on ``follow_up_case``: the case number (#123 or 123),
    the 办件编号 (:func:`service_number`), the 事项 (name or code), and the citizen's comment
    and reasons when :func:`_text_safe` (so nothing masked can be found by what it hides)."""
    needle = text.strip()[:SEARCH_MAX]
    found: list[ColumnElement[bool]] = []
    number = _CASE_NUMBER.fullmatch(needle)
    if number and int(number.group(1)) <= CASE_ID_MAX:
        found.append(col(FollowUpCase.id) == int(number.group(1)))
    event_numbers = sa.select(col(ServiceEvent.id)).where(
        _contains(col(ServiceEvent.case_no), needle)
    )
    on_rating = [
        _contains(col(Rating.source_id), needle) & (col(Rating.source) != RatingSource.bot.value),
        col(Rating.service_event_id).in_(event_numbers),
        _contains(col(Rating.item_name), needle),
        _contains(col(Rating.item_code), needle),
    ]
    if _text_safe(needle):
        # JSON lists are stored with non-ASCII escaped (\uXXXX): match either spelling.
        escaped = json.dumps(needle)[1:-1]
        reasons = sa.cast(col(Rating.reasons), sa.Text)
        on_rating += [
            col(Rating.comment).contains(needle, autoescape=True),
            reasons.contains(needle, autoescape=True),
            reasons.contains(escaped, autoescape=True),
        ]
    found.append(sa.exists().where(col(Rating.id) == col(FollowUpCase.rating_id), or_(*on_rating)))
    return or_(*found)


async def service_numbers(*, session: AsyncSession, ratings: Sequence[Rating]) -> dict[int, str]:
    """The 办件编号 of ratings by rating id (see :func:`service_number`); none for the rest."""
    event_ids = {r.service_event_id for r in ratings if r.service_event_id is not None}
    numbers: dict[int, str] = {}
    if event_ids:
        rows = await session.exec(
            select(ServiceEvent.id, ServiceEvent.case_no).where(
                col(ServiceEvent.id).in_(event_ids)
            )
        )
        numbers = {int(event_id): case_no for event_id, case_no in rows.all() if event_id}
    found: dict[int, str] = {}
    for rating in ratings:
        number = service_number(rating, numbers.get(rating.service_event_id or 0))
        if number is not None:
            found[pk(rating)] = number
    return found


def service_number(rating: Rating, event_case_no: str | None) -> str | None:
    """A rating's 办件编号: its 办件's (a pushed service event), else the number the rating
    came with from a 好差评 system (its source id, for imported or pushed ratings); None for a
    rating given in our chat about no 办件 (its source id is our own)."""
    if event_case_no:
        return event_case_no
    if RatingSource(rating.source) is RatingSource.bot:
        return None
    return rating.source_id


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def act(
    *,
    session: AsyncSession,
    actor: Actor,
    case: FollowUpCase,
    to: CaseState,
    note: str | None,
    person: str | None = None,
) -> CaseEvent:
    """A staff move: 申诉 decisions need :attr:`Perm.decide_appeal`, the rest the unit's staff."""
    actor.require(Perm.decide_appeal if to in APPEAL_DECISIONS else Perm.work_cases)
    actor.require_unit(case.unit_id, case=case.id)
    role = "supervisor" if actor.can(Perm.decide_appeal) else "staff"
    return await transition(
        session=session, case=case, to=to, actor=_who(actor, person), actor_role=role, note=note
    )


async def reply_as(
    *, session: AsyncSession, actor: Actor, case: FollowUpCase, text: str, person: str | None
) -> CaseEvent:
    """A reply by the unit's staff, relayed to the citizen (保密联络)."""
    actor.require(Perm.work_cases)
    actor.require_unit(case.unit_id, case=case.id)
    return await add_reply(session=session, case=case, actor=_who(actor, person), text=text)


def _who(actor: Actor, person: str | None) -> str:
    """The name on the timeline: the account, or the person an integration names."""
    if actor.kind == "token" and person:
        return person.strip()[:64]
    return actor.name[:64]
