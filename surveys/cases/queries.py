"""What staff read about 差评 cases: one query per page or endpoint, masked here (§7).

The console, the REST API and the command line show a case only through these plain
records: the citizen as :func:`~surveys.cases.service.masked_reference`, every text a citizen
or an integrator wrote (comment, reasons, item name and code, window code, notes, replies,
citizen messages) through :func:`~surveys.core.masking.mask_text`,
and the moves open to the actor worked out here, so no adapter queries or masks by itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import units
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import StaffUser, Unit
from surveys.cases import assign as assigning
from surveys.cases import closing, contact
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, CitizenContact, FollowUpCase
from surveys.cases.workdays import CalendarNotCovered, WorkCalendar, load_calendar
from surveys.core.clock import local_minutes, today
from surveys.core.exceptions import BadCursor
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.delivery import outbox
from surveys.haochaping.models import Rating

STATE_ORDER = list(CaseState)
PAGE_SIZE = 50
# The queue's order is (整改 deadline, id): a cursor is the last row's deadline (its day
# number, date.toordinal) and id. Every text of this shape is a cursor this code can read
# (days 1 to 999,999: up to the year 2738), so a request can be checked by its shape alone.
QUEUE_CURSOR_PATTERN = r"^[1-9]\d{0,5}_[1-9]\d{0,17}$"


@dataclass(frozen=True)
class UnitChoice:
    id: int
    code: str
    name: str


# A case as integrations read it (REST API): every field of a summary but 督办.
@dataclass(frozen=True)
class CasePublic:
    id: int
    unit_id: int
    state: CaseState
    reference: str  # masked: staff never see who the citizen is
    contact_due: date
    rectify_due: date
    overdue: bool
    close_reason: str | None  # how a 已关闭 case ended (CloseReason); None while open
    state_label: str  # the state as staff read it, e.g. 已关闭（未复评）


@dataclass(frozen=True)
class CaseSummary(CasePublic):
    """A case as every list and every answer to a move shows it."""

    escalated: bool

    def public(self) -> CasePublic:
        return CasePublic(**{f.name: getattr(self, f.name) for f in fields(CasePublic)})


# A case as the REST API lists it: the summary, its 承办人 and the working days left.
@dataclass(frozen=True)
class CaseRowPublic(CasePublic):
    assignee: str | None  # the 承办人's username; None: not assigned
    days_left: int | None  # working days to the current deadline, negative when overdue


@dataclass(frozen=True)
class CaseDetailPublic(CaseRowPublic):
    """One case as the API's detail shows it: as listed, and whether the citizen is reached."""

    undeliverable: bool  # 无法送达: a message to the citizen did not arrive (record it)


@dataclass(frozen=True)
class QueueRow(CaseSummary):
    unit_code: str
    unit_name: str
    item: str | None  # the 事项 rated, by name
    case_no: str | None = None  # 办件编号 (masked)
    assignee: str | None = None  # the 承办人's username
    # Working days from today to the current deadline (0: due today, negative: overdue);
    # None once the unit has answered or the calendar does not cover the deadline.
    days_left: int | None = None

    def listed(self) -> CaseRowPublic:
        return CaseRowPublic(
            **vars(self.public()), assignee=self.assignee, days_left=self.days_left
        )


@dataclass(frozen=True)
class QueueFilters:
    """Which cases, one page of them. A unit by code (a choice on the page) or by id."""

    unit_code: str | None = None  # not among the actor's units: no rows, unknown_unit
    unit_id: int | None = None  # another unit's id: NotFound
    state: CaseState | None = None
    overdue: bool | None = None  # True: only overdue on the day, False: only on time
    opened_from: date | None = None
    opened_to: date | None = None
    offset: int = 0
    limit: int = PAGE_SIZE
    after: str | None = None  # a ``next`` handed out before: the page after that row
    # 承办人: "me" (the signed-in account), "none" (未分配) or a username.
    assignee: str | None = None
    q: str | None = None  # 办件编号, case number, 事项 or text (cases.search_condition)
    open_only: bool = False  # 在办: every case not 已关闭 (the state filter's "open")


ME = "me"
OPEN = "open"  # the state filter's value for 在办 (every case not 已关闭)
UNASSIGNED = "none"


@dataclass(frozen=True)
class QueuePage:
    units: list[UnitChoice]  # the units the actor may filter by, by code
    rows: list[QueueRow] = field(default_factory=list)
    total: int = 0  # all matching cases, not only this page
    unknown_unit: bool = False  # filters.unit_code is none of ``units``
    unknown_assignee: bool = False  # filters.assignee names no account (or "me" a token)
    next: str | None = None  # ``after=`` this for the next page; None on the last one
    start: int = 0  # how many matching cases come before the first row shown


@dataclass(frozen=True)
class TimelineRow:
    at: str  # local time, minutes
    actor: str  # as recorded: a staff name, an integration's person, "citizen" or "system"
    by: str  # "citizen", "system" or "staff"
    kind: str  # opened/transition/reply/citizen/rerating/escalated
    from_state: str | None
    to_state: str | None
    note: str | None  # masked
    delivered_at: str  # replies: when the bot delivered it, "" if not yet


@dataclass(frozen=True)
class CaseDetail(CaseSummary):
    unit_code: str
    unit_name: str
    item: str | None
    item_code: str | None
    window_code: str | None
    level: str | None  # the rating's Level code; None if the rating is gone
    channel: int | None
    rated_at: str
    contact_ok: bool
    reasons: list[str]
    comment: str | None  # masked
    voice: bool  # a voice comment exists (heard in the bot, never here)
    rerating: str | None
    opened_at: str
    closed_at: str
    escalated_at: str
    events: list[TimelineRow]
    next_states: list[CaseState]  # every staff move from this state, whoever may make it
    work_moves: list[CaseState]  # the unit's moves open to this actor
    appeal_moves: list[CaseState]  # the 申诉 decisions open to this actor
    can_reply: bool
    undeliverable: bool  # 无法送达: a message to the citizen failed or the chat blocked the bot
    # How the citizen reads replies: "web" (their private page), "telegram" (the bot), or
    # None (a rating imported or pushed, no citizen to write to). Never who they are.
    reached_by: str | None = None
    # The 办件 and the people on it.
    case_no: str | None = None  # 办件编号 (masked)
    consent: bool = False  # the citizen agreed to be contacted
    assignee: str | None = None
    days_left: int | None = None
    assignees: list[str] = field(default_factory=list)  # whom this actor may assign it to
    can_claim: bool = False  # unassigned, of the actor's unit: 认领
    can_escalate: bool = False  # a supervisor's 督办 is open

    def detail_public(self) -> CaseDetailPublic:
        return CaseDetailPublic(
            **vars(self.public()),
            assignee=self.assignee,
            days_left=self.days_left,
            undeliverable=self.undeliverable,
        )


def summarize(case: FollowUpCase, on: date) -> CaseSummary:
    """A case as lists show it, overdue or not on the day ``on``."""
    return CaseSummary(
        id=pk(case),
        unit_id=case.unit_id,
        state=CaseState(case.state),
        reference=cases.masked_reference(case),
        contact_due=case.contact_due,
        rectify_due=case.rectify_due,
        overdue=cases.is_overdue(case, on),
        close_reason=case.close_reason,
        state_label=closing.state_label(case),
        escalated=case.escalated_at is not None,
    )


async def _visible_units(session: AsyncSession, actor: Actor) -> list[Unit]:
    found = await units.list_units(session=session)
    return sorted((u for u in found if actor.sees(u.id)), key=lambda u: u.code)


async def _item_names(
    session: AsyncSession, found: Sequence[FollowUpCase]
) -> dict[int, str | None]:
    ids = [case.rating_id for case in found]
    if not ids:
        return {}
    rows = await session.exec(select(Rating.id, Rating.item_name).where(col(Rating.id).in_(ids)))
    return {
        int(rating_id): mask_text(name) if name else name
        for rating_id, name in rows.all()
        if rating_id is not None
    }


def days_left(case: FollowUpCase, calendar: WorkCalendar, on: date) -> int | None:
    """Working days from ``on`` to the case's current deadline, negative when overdue."""
    due = cases.current_due(case)
    if due is None:
        return None
    try:
        return calendar.working_days_between(on, due)
    except CalendarNotCovered:
        return None


def queue_cursor(row: CaseSummary) -> str:
    """The ``after=`` cursor that continues the queue after ``row``: its deadline and id."""
    return f"{row.rectify_due.toordinal()}_{row.id}"


def _parse_queue_cursor(after: str) -> tuple[date, int]:
    if not re.fullmatch(QUEUE_CURSOR_PATTERN, after):
        raise BadCursor(cursor=after[:40])
    day, _, case_id = after.partition("_")
    return date.fromordinal(int(day)), int(case_id)


def _order_key() -> sa.ColumnElement[tuple[date, int]]:
    return sa.tuple_(col(FollowUpCase.rectify_due), col(FollowUpCase.id))


def _position(after: tuple[date, int]) -> sa.ColumnElement[tuple[date, int]]:
    due, case_id = after
    return sa.tuple_(sa.literal(due, sa.Date), sa.literal(case_id, sa.BigInteger))


async def _count(session: AsyncSession, conditions: Sequence[sa.ColumnElement[bool]]) -> int:
    statement = select(func.count()).select_from(FollowUpCase).where(*conditions)
    return int((await session.exec(statement)).one())


@dataclass(frozen=True)
class QueueWhere:
    """:class:`QueueFilters` resolved: the SQL conditions on the cases, or which name typed
    (a unit code, an assignee) is unknown to the actor."""

    conditions: list[sa.ColumnElement[bool]]
    unknown_unit: bool = False
    unknown_assignee: bool = False


async def queue_where(
    session: AsyncSession,
    actor: Actor,
    filters: QueueFilters,
    on: date,
    choices: list[UnitChoice] | None = None,
) -> QueueWhere:
    """The queue's filters as SQL conditions: one form for the queue and its 台账
    (surveys.cases.ledger), so a filter added here is both's. ``choices``: the actor's units
    if already read."""
    if choices is None:
        visible = await _visible_units(session, actor)
        choices = [UnitChoice(pk(u), u.code, u.name) for u in visible]
    unit_id = filters.unit_id
    if filters.unit_code:
        chosen = next((u for u in choices if u.code == filters.unit_code), None)
        if chosen is None:
            return QueueWhere([], unknown_unit=True)
        unit_id = chosen.id
    assignee_id: int | None = None
    if filters.assignee and filters.assignee != UNASSIGNED:
        assignee_id = await _assignee_id(session, actor, filters.assignee)
        if assignee_id is None:
            return QueueWhere([], unknown_assignee=True)
    where = cases.CaseFilter(
        unit_id=unit_id,
        state=filters.state,
        overdue_on=on if filters.overdue is True else None,
        on_time_on=on if filters.overdue is False else None,
        opened_from=filters.opened_from,
        opened_to=filters.opened_to,
        assignee_id=assignee_id,
        unassigned=filters.assignee == UNASSIGNED,
        search=filters.q,
        open_only=filters.open_only,
    )
    return QueueWhere(cases.filter_conditions(actor, where))


async def case_queue(
    session: AsyncSession, actor: Actor, filters: QueueFilters | None, on: date
) -> QueuePage:
    """The actor's cases by deadline, earliest first, with the units they may filter by.

    ``filters`` None: only the choices (the adapter found the typed filters invalid).
    Filtered, counted (one COUNT) and paged by the database, on the indexes of the order
    (整改 deadline, id); ``filters.after`` continues after a row by one index seek however
    deep, ``offset`` counts rows from there (or from the start).
    """
    actor.require(Perm.view)
    position = (
        _parse_queue_cursor(filters.after) if filters and filters.after is not None else None
    )
    visible = await _visible_units(session, actor)
    choices = [UnitChoice(pk(u), u.code, u.name) for u in visible]
    if filters is None:
        return QueuePage(choices)
    where = await queue_where(session, actor, filters, on, choices)
    if where.unknown_unit or where.unknown_assignee:
        return QueuePage(
            choices, unknown_unit=where.unknown_unit, unknown_assignee=where.unknown_assignee
        )
    conditions = where.conditions
    total = await _count(session, conditions)
    page = select(FollowUpCase).where(*conditions)
    start = filters.offset
    if position is not None:
        # A row-value comparison: one range seek on (rectify_due, id).
        page = page.where(_order_key() > _position(position))
        start += await _count(session, [*conditions, _order_key() <= _position(position)])
    page = page.order_by(col(FollowUpCase.rectify_due), col(FollowUpCase.id))
    found = (await session.exec(page.offset(filters.offset).limit(filters.limit + 1))).all()
    rows = await _rows(session, found[: filters.limit], choices, on)
    more = len(found) > filters.limit
    return QueuePage(
        choices, rows, total, next=queue_cursor(rows[-1]) if rows and more else None, start=start
    )


async def _assignee_id(session: AsyncSession, actor: Actor, assignee: str) -> int | None:
    if assignee == ME:
        return actor.user_id
    statement = select(StaffUser.id).where(StaffUser.username == assignee.strip())
    return (await session.exec(statement)).first()


async def _rows(
    session: AsyncSession, found: Sequence[FollowUpCase], choices: list[UnitChoice], on: date
) -> list[QueueRow]:
    items = await _item_names(session, found)
    numbers = await _case_numbers(session, found)
    people = await assigning.names(session=session, user_ids=[c.assignee_id for c in found])
    calendar = await load_calendar(session=session) if found else WorkCalendar()
    by_id = {u.id: u for u in choices}
    rows = []
    for case in found:
        unit = by_id.get(case.unit_id)
        rows.append(
            QueueRow(
                **vars(summarize(case, on)),
                unit_code=unit.code if unit else "",
                unit_name=unit.name if unit else "",
                item=items.get(case.rating_id),
                case_no=numbers.get(case.rating_id),
                assignee=people.get(case.assignee_id or 0),
                days_left=days_left(case, calendar, on),
            )
        )
    return rows


async def _case_numbers(session: AsyncSession, found: Sequence[FollowUpCase]) -> dict[int, str]:
    """The masked 办件编号 of the cases' ratings, by rating id."""
    ids = [case.rating_id for case in found]
    if not ids:
        return {}
    ratings = (await session.exec(select(Rating).where(col(Rating.id).in_(ids)))).all()
    numbers = await cases.service_numbers(session=session, ratings=ratings)
    return {rating_id: mask_text(number) for rating_id, number in numbers.items()}


@dataclass(frozen=True)
class Workload:
    """One person's open cases (or, with ``assignee`` None, the unassigned ones)."""

    assignee: str | None
    open: int
    overdue: int


async def workload(session: AsyncSession, actor: Actor, on: date) -> list[Workload]:
    """Open and overdue cases per 承办人 in the actor's units, busiest first, 未分配 last.

    For those who hand out the work (supervisors, administrators); the same cases as the
    queue counts: every case not 已关闭, overdue by :func:`cases.overdue_condition`.
    """
    actor.require(Perm.view)
    units_filter = actor.unit_filter()
    overdue = sa.case((cases.overdue_condition(on), 1), else_=0)
    statement = (
        sa.select(col(FollowUpCase.assignee_id), func.count(), func.sum(overdue))
        .where(col(FollowUpCase.state) != CaseState.closed.value)
        .group_by(col(FollowUpCase.assignee_id))
    )
    if units_filter is not None:
        statement = statement.where(col(FollowUpCase.unit_id).in_(units_filter))
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    people = await assigning.names(session=session, user_ids=[row[0] for row in rows])
    found = [
        Workload(people.get(row[0], f"#{row[0]}"), int(row[1]), int(row[2] or 0))
        for row in rows
        if row[0] is not None
    ]
    found.sort(key=lambda w: (-w.open, -w.overdue, w.assignee or ""))
    unassigned = [Workload(None, int(r[1]), int(r[2] or 0)) for r in rows if r[0] is None]
    return found + unassigned


async def case_rows(
    session: AsyncSession, actor: Actor, case_ids: Sequence[int], on: date
) -> list[QueueRow]:
    """These cases as queue rows, in the order given; those the actor may not see left out."""
    actor.require(Perm.view)
    if not case_ids:
        return []
    statement = select(FollowUpCase).where(col(FollowUpCase.id).in_(case_ids))
    found = {pk(case): case for case in (await session.exec(statement)).all()}
    visible = [found[i] for i in case_ids if i in found and actor.sees(found[i].unit_id)]
    choices = [UnitChoice(pk(u), u.code, u.name) for u in await _visible_units(session, actor)]
    return await _rows(session, visible, choices, on)


def _by(event: CaseEvent) -> str:
    if event.actor == cases.CITIZEN:
        return "citizen"
    if event.actor == cases.SYSTEM:
        return "system"
    return "staff"


def _timeline_row(event: CaseEvent, tz: ZoneInfo) -> TimelineRow:
    return TimelineRow(
        at=local_minutes(event.at, tz),
        actor=event.actor,
        by=_by(event),
        kind=event.kind,
        from_state=event.from_state,
        to_state=event.to_state,
        # Anyone's text may quote a phone or ID number; staff views mask it (§7).
        note=_masked(event.note),
        delivered_at=local_minutes(event.delivered_at, tz),
    )


def _masked(text: str | None) -> str | None:
    return mask_text(text) if text else None


def staff_moves(state: CaseState) -> list[CaseState]:
    """Every move staff may make from ``state`` (the citizen's 复评 is not one), in order."""
    return sorted(cases.TRANSITIONS[state] - cases.CITIZEN_MOVES, key=STATE_ORDER.index)


def moves_open_to(actor: Actor, state: CaseState) -> tuple[list[CaseState], list[CaseState]]:
    """The unit's moves and the 申诉 decisions this actor may make from ``state``."""
    allowed = staff_moves(state)
    work = [s for s in allowed if s not in cases.APPEAL_DECISIONS]
    decide = [s for s in allowed if s in cases.APPEAL_DECISIONS]
    return (
        work if actor.can(Perm.work_cases) else [],
        decide if actor.can(Perm.decide_appeal) else [],
    )


async def case_detail(
    session: AsyncSession, actor: Actor, case_id: int, tz: ZoneInfo
) -> CaseDetail:
    """One case the actor may see (another unit's is NotFound), its rating and timeline."""
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    rating = await session.get(Rating, case.rating_id)
    unit = await session.get(Unit, case.unit_id)
    events = await cases.timeline(session=session, case=case)
    state = CaseState(case.state)
    work_moves, appeal_moves = moves_open_to(actor, state)
    on = today(tz)
    undeliverable = await outbox.undeliverable_cases(session, case_ids=[pk(case)])
    people = await _people(session, actor, case)
    return CaseDetail(
        **vars(summarize(case, on)),
        unit_code=unit.code if unit else "",
        unit_name=unit.name if unit else "",
        item=_masked(rating.item_name if rating else None),
        item_code=_masked(rating.item_code if rating else None),
        window_code=_masked(rating.window_code if rating else None),
        level=rating.level if rating else None,
        channel=rating.channel if rating else None,
        rated_at=local_minutes(rating.rated_at, tz) if rating else "",
        contact_ok=bool(rating and rating.contact_ok),
        reasons=[mask_text(reason) for reason in rating.reasons or []] if rating else [],
        comment=_masked(rating.comment if rating else None),
        voice=bool(rating and rating.voice_file_id),
        rerating=case.rerating,
        opened_at=local_minutes(case.opened_at, tz),
        closed_at=local_minutes(case.closed_at, tz),
        escalated_at=local_minutes(case.escalated_at, tz),
        events=[_timeline_row(event, tz) for event in events],
        next_states=staff_moves(state),
        work_moves=work_moves,
        appeal_moves=appeal_moves,
        can_reply=actor.can(Perm.work_cases) and state is not CaseState.closed,
        undeliverable=bool(undeliverable),
        reached_by=await contact.channel_of(session=session, case=case),
        case_no=await _case_number(session, rating),
        consent=await _consent(session, case, rating),
        days_left=days_left(case, await load_calendar(session=session, tz=tz), on),
        **people,
    )


async def _case_number(session: AsyncSession, rating: Rating | None) -> str | None:
    if rating is None:
        return None
    number = (await cases.service_numbers(session=session, ratings=[rating])).get(pk(rating))
    return _masked(number)


async def _consent(session: AsyncSession, case: FollowUpCase, rating: Rating | None) -> bool:
    """Whether the citizen agreed to be contacted: in the web chat, a page link was made for
    them (no link: 不需要联系); elsewhere, what the rating recorded (the bot's question)."""
    statement = select(CitizenContact).where(CitizenContact.case_id == pk(case))
    web = (await session.exec(statement)).first()
    if web is not None:
        return web.token_hash is not None
    return bool(rating and rating.contact_ok)


async def _people(session: AsyncSession, actor: Actor, case: FollowUpCase) -> dict[str, Any]:
    """The 承办人, whom this actor may hand the case to, and whether they may take it."""
    current = await assigning.names(session=session, user_ids=[case.assignee_id])
    open_ = case.state != CaseState.closed
    found = await assigning.eligible(session=session, unit_ids=[case.unit_id])
    people = found.get(case.unit_id, [])
    choices: list[str] = []
    if open_ and assigning.may_assign_any(actor, case):
        choices = [p.username for p in people]
    serves = any(p.id == actor.user_id for p in people)
    state = CaseState(case.state)
    return {
        "assignee": current.get(case.assignee_id or 0),
        "assignees": choices,
        "can_claim": open_ and serves and assigning.may_claim(actor, case),
        "can_escalate": assigning.may_assign_any(actor, case)
        and state in cases.AWAITING_RECTIFY
        and case.escalated_at is None,
    }
