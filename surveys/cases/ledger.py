"""The 差评 case ledger (台账): every case the queue shows for a filter, one row each.

The rows are the queue's cases (:class:`surveys.cases.queries.QueueFilters`, the same SQL
conditions, the same order by 整改 deadline and id), all of them rather than one page. One
statement joins each case to its rating, 办件, unit and 承办人 and is read in chunks as the
database returns it; nothing is loaded case by case. Every text a citizen or an integrator
wrote (办件编号, 事项, window, reasons, comment) goes out through
:func:`~surveys.core.masking.mask_text` (§7); the file itself is written by
:class:`surveys.core.workbook.TableWriter` (formula-safe, frozen header, widths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import Enum
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import StaffUser, Unit
from surveys.cases import closing, queries
from surveys.cases import service as cases
from surveys.cases.models import CaseState, FollowUpCase
from surveys.cases.workdays import CalendarNotCovered, WorkCalendar
from surveys.core.clock import as_utc, local_minutes
from surveys.core.exceptions import NotFound
from surveys.core.i18n import N_, Translator
from surveys.core.masking import mask_text
from surveys.core.workbook import MEDIA_TYPES, TableFormat, TableWriter
from surveys.haochaping.models import Rating, ServiceEvent

CHUNK = 1000
SHEET = N_("ledger.sheet")
# (header key, column width in characters), in the order of :meth:`LedgerRow.cells`.
COLUMNS: tuple[tuple[str, int], ...] = (
    (N_("ledger.col.case"), 10),
    (N_("ledger.col.case_no"), 22),
    (N_("ledger.col.item"), 30),
    (N_("ledger.col.window"), 10),
    (N_("ledger.col.channel"), 16),
    (N_("ledger.col.rated_at"), 17),
    (N_("ledger.col.unit"), 18),
    (N_("ledger.col.opened"), 12),
    (N_("ledger.col.contact_due"), 12),
    (N_("ledger.col.rectify_due"), 12),
    (N_("ledger.col.state"), 18),
    (N_("ledger.col.assignee"), 12),
    (N_("ledger.col.overdue_days"), 12),
    (N_("ledger.col.rerating"), 10),
    (N_("ledger.col.closed"), 12),
    (N_("ledger.col.reasons"), 24),
    (N_("ledger.col.comment"), 50),
)
# GB/T 39046 channel codes (domain.md §2).
CHANNELS = {
    1: N_("ledger.channel.1"),
    2: N_("ledger.channel.2"),
    3: N_("ledger.channel.3"),
    4: N_("ledger.channel.4"),
    5: N_("ledger.channel.5"),
    6: N_("ledger.channel.6"),
    7: N_("ledger.channel.7"),
}
RERATINGS = {
    "satisfied": N_("level.satisfied"),
    "neutral": N_("level.neutral"),
    "dissatisfied": N_("level.dissatisfied"),
}
NO_PAGE = 10**9  # the ledger is every matching case, not a page of them


@dataclass(frozen=True)
class LedgerRow:
    """One case as the ledger shows it: masked texts, Chinese labels, local dates."""

    case_id: int
    case_no: str | None
    item: str | None
    window: str | None
    channel: str | None
    rated_at: str
    unit: str
    opened: date
    contact_due: date
    rectify_due: date
    state: str
    assignee: str | None
    overdue_days: int | None  # working days past the current deadline today; None: unknown
    rerating: str | None
    closed: date | None
    reasons: str | None
    comment: str | None

    def cells(self) -> tuple[Any, ...]:
        return tuple(vars(self).values())


@dataclass(frozen=True)
class LedgerFile:
    name: str  # ASCII, safe in a Content-Disposition header
    media_type: str
    body: bytes
    rows: int


def headers(t: Translator | None = None) -> list[str]:
    """The Chinese column headers, in order."""
    t = t or Translator()
    return [t(key) for key, _ in COLUMNS]


def _statement(conditions: list[sa.ColumnElement[bool]]) -> Any:
    # The joined tables are aliases: a filter's subquery on a rating (the queue's search)
    # then stays a subquery of its own instead of correlating with these joins.
    case = FollowUpCase.__table__.c  # type: ignore[attr-defined]
    unit = sa.alias(Unit.__table__, "ledger_unit")  # type: ignore[attr-defined]
    rating = sa.alias(Rating.__table__, "ledger_rating")  # type: ignore[attr-defined]
    event = sa.alias(ServiceEvent.__table__, "ledger_event")  # type: ignore[attr-defined]
    person = sa.alias(StaffUser.__table__, "ledger_person")  # type: ignore[attr-defined]
    return (
        sa.select(
            case.id,
            case.state,
            case.close_reason,
            case.contact_due,
            case.rectify_due,
            case.opened_at,
            case.closed_at,
            case.rerating,
            unit.c.name.label("unit_name"),
            event.c.case_no,
            rating.c.item_name,
            rating.c.item_code,
            rating.c.window_code,
            rating.c.channel,
            rating.c.rated_at,
            rating.c.reasons,
            rating.c.comment,
            rating.c.source,
            rating.c.source_id,
            person.c.username,
        )  # fmt: skip
        .select_from(FollowUpCase.__table__)  # type: ignore[attr-defined]
        .join(unit, unit.c.id == case.unit_id)
        .join(rating, rating.c.id == case.rating_id)
        .outerjoin(event, event.c.id == rating.c.service_event_id)
        .outerjoin(person, person.c.id == case.assignee_id)
        .where(*conditions)
        .order_by(case.rectify_due, case.id)
    )


class _Shaper:
    """Turns result rows into :class:`LedgerRow`, remembering what repeats (masked 事项 and
    windows, working days past a deadline) so a city's year is counted once per value."""

    def __init__(self, calendar: WorkCalendar, on: date, tz: ZoneInfo, t: Translator) -> None:
        self.calendar, self.on, self.tz, self.t = calendar, on, tz, t
        self.mask: Callable[[str], str] = lru_cache(maxsize=4096)(mask_text)
        # Working days in (day, on] by day, filled back from ``on`` as deadlines ask.
        self._late: dict[date, int | None] = {on: 0}
        self._back_to = on

    def _masked(self, text: str | None) -> str | None:
        return self.mask(text) if text else None

    def _overdue_days(self, state: CaseState, contact_due: date, rectify_due: date) -> int | None:
        if state in cases.AWAITING_CONTACT:
            due: date | None = contact_due
        elif state in cases.AWAITING_RECTIFY:
            due = rectify_due
        else:
            due = None
        if due is None or self.on <= due:
            return 0
        return self._working_days_to_on(due)

    def _working_days_to_on(self, due: date) -> int | None:
        """:meth:`WorkCalendar.working_days_between` (due, on], each day looked up once for
        the whole ledger: counted back from ``on`` as far as the earliest deadline asks."""
        while self._back_to > due:
            day = self._back_to
            try:
                workday = self.calendar.is_workday(day)
            except CalendarNotCovered:  # no guessed count: older deadlines stay empty
                self._late[day - timedelta(days=1)] = None
                self._back_to = due
                break
            before = self._late[day]
            self._late[day - timedelta(days=1)] = None if before is None else before + workday
            self._back_to = day - timedelta(days=1)
        return self._late.get(due)

    def row(self, found: Any) -> LedgerRow:
        state = CaseState(found.state)
        rerating = RERATINGS.get(found.rerating or "")
        channel = CHANNELS.get(found.channel)
        reasons = [self.mask(r) for r in found.reasons or [] if r]
        return LedgerRow(
            case_id=found.id,
            case_no=self._masked(_service_number(found)),
            item=self._masked(found.item_name or found.item_code),
            window=self._masked(found.window_code),
            channel=self.t(channel) if channel else None,
            rated_at=local_minutes(found.rated_at, self.tz),
            unit=found.unit_name,
            opened=_local_date(found.opened_at, self.tz),
            contact_due=found.contact_due,
            rectify_due=found.rectify_due,
            state=closing.label_of(state, found.close_reason, self.t),
            assignee=found.username,
            overdue_days=self._overdue_days(state, found.contact_due, found.rectify_due),
            rerating=self.t(rerating) if rerating else None,
            closed=_local_date(found.closed_at, self.tz) if found.closed_at else None,
            reasons="、".join(reasons) or None,
            comment=mask_text(found.comment) if found.comment else None,
        )


def _service_number(found: Any) -> str | None:
    """The 办件编号 as the queue shows it (:func:`cases.service_number`)."""
    # The two fields the rule reads, without building a model per row (a city's year).
    rating = cast(Rating, SimpleNamespace(source=found.source, source_id=found.source_id))
    return cases.service_number(rating, found.case_no)


def _local_date(moment: datetime, tz: ZoneInfo) -> date:
    return as_utc(moment).astimezone(tz).date()


async def ledger_conditions(
    session: AsyncSession, actor: Actor, filters: queries.QueueFilters, on: date
) -> list[sa.ColumnElement[bool]]:
    """The queue's SQL conditions for ``filters`` (:func:`queries.queue_where`); a unit or
    承办人 the actor cannot choose is NotFound, where the queue shows no rows."""
    where = await queries.queue_where(session, actor, filters, on)
    if where.unknown_unit:
        raise NotFound(unit=(filters.unit_code or "")[:40])
    if where.unknown_assignee:
        raise NotFound(assignee=(filters.assignee or "")[:40])
    return where.conditions


async def ledger_rows(
    *,
    session: AsyncSession,
    actor: Actor,
    filters: queries.QueueFilters,
    on: date,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    t: Translator | None = None,
) -> list[LedgerRow]:
    """Every case of the queue for ``filters`` as ledger rows, in the queue's order."""
    found: list[LedgerRow] = []
    async for chunk in _chunks(session, actor, filters, on, tz, calendar, t or Translator()):
        found.extend(chunk)
    return found


async def _chunks(
    session: AsyncSession,
    actor: Actor,
    filters: queries.QueueFilters,
    on: date,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    t: Translator,
) -> Any:
    actor.require(Perm.view)
    conditions = await ledger_conditions(session, actor, filters, on)
    shaper = _Shaper(calendar, on, tz, t)
    statement = _statement(conditions).execution_options(yield_per=CHUNK)
    result = await session.stream(statement)
    async for part in result.partitions(CHUNK):
        yield [shaper.row(row) for row in part]


PAGING = frozenset({"offset", "limit", "after"})


def described(filters: queries.QueueFilters) -> dict[str, Any]:
    """The filters given, for the audit row: every field but the page, empty ones left out;
    text (a search as typed) masked, as a search may quote a phone number (§7)."""
    found: dict[str, Any] = {}
    for field in fields(filters):
        value = getattr(filters, field.name)
        if field.name in PAGING or value is None or value == "" or value is False:
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, str):
            value = mask_text(value)
        found[field.name] = value
    return found


def whole(filters: queries.QueueFilters) -> queries.QueueFilters:
    """The filters without the page: every matching case, from the first."""
    return replace(filters, offset=0, limit=NO_PAGE, after=None)


async def write_ledger(
    *,
    session: AsyncSession,
    actor: Actor,
    filters: queries.QueueFilters,
    fmt: TableFormat,
    on: date,
    tz: ZoneInfo,
    calendar: WorkCalendar,
) -> LedgerFile:
    """The ledger of ``filters`` as one file (CSV or an XLSX sheet 差评台账), written as the
    rows are read."""
    t = Translator()
    widths = [width for _, width in COLUMNS]
    with TableWriter(fmt, sheet=t(SHEET), headers=headers(t), widths=widths) as writer:
        async for chunk in _chunks(session, actor, whole(filters), on, tz, calendar, t):
            for row in chunk:
                writer.append(row.cells())
        content = writer.finish()
    name = f"ledger_{on:%Y%m%d}.{fmt}"
    return LedgerFile(name, MEDIA_TYPES[fmt], content, writer.rows)
