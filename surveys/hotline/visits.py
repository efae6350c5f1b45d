"""12345 回访 records (domain.md §6): validation, idempotent ingestion, the attempts rule.

A batch (a file, or one POST) is stored whole or not at all: every problem is one Chinese
sentence from the catalogue, located by the caller (a file's row and column, an API item
and field). The same 工单号 and round of a unit again is a duplicate, reported and not
stored; a higher round retires the earlier ones (kept, ``active`` False). A 无法联系 claimed
after fewer than 3 attempts, or attempts on fewer than 2 working days, is stored with
``short_attempts`` and reported as flagged. A 不满意 opens a 差评 case (重办) on a rating of
source ``hotline``, through the same :func:`surveys.cases.service.open_case` as ratings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk
from surveys.core.periods import half_year
from surveys.haochaping.models import Rating, RatingSource
from surveys.hotline.models import HotlineVisit, VisitOutcome, VisitSatisfaction, VisitSource
from surveys.questionnaire.definitions import Level

MIN_ATTEMPTS = 3  # domain.md §6: up to 3 attempts over 2 working days, then 无法联系
MIN_WORKDAYS = 2
MAX_ATTEMPTS = 10
MAX_ROUND = 9
PHONE_CHANNEL = 6  # GB/T 39046 channel 6 电话
FUTURE_SLACK = timedelta(minutes=5)  # a 12345 system's clock a little ahead is no future
KEYS_PER_QUERY = 5_000  # 工单号 per IN (...) list, under both databases' parameter limits
SHOWN_CHARS = 40


class AttemptOutcome(StrEnum):
    """How one call of a 回访 ended."""

    answered = "answered"
    no_answer = "no_answer"
    busy = "busy"
    refused = "refused"
    power_off = "power_off"
    invalid_number = "invalid_number"


ATTEMPT_LABELS = {
    "接通": AttemptOutcome.answered,
    "无人接听": AttemptOutcome.no_answer,
    "占线": AttemptOutcome.busy,
    "拒接": AttemptOutcome.refused,
    "关机": AttemptOutcome.power_off,
    "空号": AttemptOutcome.invalid_number,
}
OUTCOME_LABELS = {"已接通": VisitOutcome.answered, "接通": VisitOutcome.answered,
                  "无法联系": VisitOutcome.unreachable}  # fmt: skip
YES_NO = {"是": True, "否": False}


@cache
def _translator() -> Translator:
    return Translator()


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _label(value: object, labels: dict[str, Any], codes: Iterable[str], key: str) -> Any:
    text = str(value).strip() if value is not None else value
    if text in labels:
        return labels[text]
    if text in set(codes):
        return text
    shown = "、".join(labels)
    raise ValueError(_translator()(key, value=_shown(value), labels=shown))


class AttemptIn(BaseModel):
    """One call: when, and how it ended (接通, 无人接听, 占线, 拒接, 关机, 空号 or the codes)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    at: datetime  # with an offset, or local time of the evaluation's time zone
    outcome: AttemptOutcome

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> object:
        codes = (o.value for o in AttemptOutcome)
        return _label(value, ATTEMPT_LABELS, codes, N_("hotline.value.not_attempt"))


class VisitIn(BaseModel):
    """One 回访 record as a 12345 system sends it (API item, or one row of a file)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket_no: str = Field(min_length=1, max_length=64)  # 工单号
    unit: str = Field(min_length=1, max_length=32)
    round: int = Field(default=1, ge=1, le=MAX_ROUND)
    item_name: str = Field(min_length=1, max_length=200)
    item_code: str | None = Field(default=None, min_length=1, max_length=64)
    finished_at: datetime  # 办结时间
    attempts: list[AttemptIn] = Field(min_length=1, max_length=MAX_ATTEMPTS)
    # Left out: 已接通 when the last call was answered, else 无法联系.
    outcome: VisitOutcome | None = None
    contacted: bool | None = None  # 是否联系
    resolved: bool | None = None  # 是否解决
    satisfaction: VisitSatisfaction | None = None  # 是否满意

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> object:
        if value is None:
            return value
        codes = (o.value for o in VisitOutcome)
        return _label(value, OUTCOME_LABELS, codes, N_("hotline.value.not_outcome"))

    @field_validator("satisfaction", mode="before")
    @classmethod
    def _satisfaction(cls, value: object) -> object:
        if value is None:
            return value
        labels = {s.value: s for s in VisitSatisfaction}
        return _label(value, labels, labels, N_("hotline.value.not_satisfaction"))

    @field_validator("contacted", "resolved", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        return YES_NO.get(value.strip(), value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Problem:
    index: int  # position in the batch (0-based); a file names its row
    field: str  # "ticket_no", "attempts.1.at"…
    message: str  # a Chinese sentence from the catalogue


class InvalidVisits(InvalidFile):
    """A batch of 回访 records refused whole; ``problems`` say where and what."""

    key = N_("hotline.invalid")


_VALUE_PROBLEMS = {
    "missing": N_("ratingsimport.value.missing"),
    "string_too_short": N_("ratingsimport.value.empty"),
    "too_short": N_("ratingsimport.value.empty"),
    "string_too_long": N_("ratingsimport.value.too_long"),
    "too_long": N_("ratingsimport.value.too_many"),
    "string_type": N_("ratingsimport.value.not_text"),
    "list_type": N_("ratingsimport.value.not_list"),
    "model_type": N_("hotline.value.not_attempt_object"),
    "extra_forbidden": N_("ratingsimport.value.unknown_field"),
    "bool_parsing": N_("ratingsimport.value.not_yes_no"),
    "bool_type": N_("ratingsimport.value.not_yes_no"),
    "int_parsing": N_("ratingsimport.value.not_in_range"),
    "int_type": N_("ratingsimport.value.not_in_range"),
    "int_from_float": N_("ratingsimport.value.not_in_range"),
    "greater_than_equal": N_("ratingsimport.value.not_in_range"),
    "less_than_equal": N_("ratingsimport.value.not_in_range"),
    "datetime_parsing": N_("ratingsimport.value.not_time"),
    "datetime_from_date_parsing": N_("ratingsimport.value.not_time"),
    "datetime_type": N_("ratingsimport.value.not_time"),
}


def value_problem(error: ErrorDetails) -> str:
    """One validation error of a record as a Chinese sentence."""
    t = _translator()
    if error["type"] == "value_error":  # our validators: already a catalogue sentence
        return str(error.get("ctx", {}).get("error", ""))
    key = _VALUE_PROBLEMS.get(error["type"])
    if key is None:
        return t(N_("ratingsimport.value.invalid"))
    return t(key, value=_shown(error.get("input", "")), low=1, high=MAX_ROUND,
             max=error.get("ctx", {}).get("max_length", ""))  # fmt: skip


def validate_visits(rows: Sequence[object]) -> tuple[list[VisitIn | None], list[Problem]]:
    """Parse each record; a bad one gives a problem per bad field and None in its place."""
    parsed: list[VisitIn | None] = []
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        try:
            parsed.append(VisitIn.model_validate(row))
        except ValidationError as exc:
            parsed.append(None)
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(index, where, value_problem(err)))
    return parsed, problems


# Checking one record against the rules and the database's units ---------------------


def _aware(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def localized(item: VisitIn, tz: ZoneInfo) -> VisitIn:
    """The record with every time given without an offset read as local time in ``tz``."""
    attempts = [a.model_copy(update={"at": _aware(a.at, tz)}) for a in item.attempts]
    attempts.sort(key=lambda a: a.at)
    return item.model_copy(update={"finished_at": _aware(item.finished_at, tz),
                                   "attempts": attempts})  # fmt: skip


def outcome_of(item: VisitIn) -> VisitOutcome:
    if item.outcome is not None:
        return item.outcome
    last = item.attempts[-1].outcome
    return VisitOutcome.answered if last is AttemptOutcome.answered else VisitOutcome.unreachable


def short_attempts(attempts: Sequence[AttemptIn], calendar: workdays.WorkCalendar) -> bool:
    """Whether 无法联系 came too soon: fewer than 3 calls, or calls on fewer than 2 distinct
    working days (a call on a weekend or holiday adds a call, not a working day)."""
    days = {calendar.local_date(attempt.at) for attempt in attempts}
    worked = {day for day in days if calendar.is_workday(day)}
    return len(attempts) < MIN_ATTEMPTS or len(worked) < MIN_WORKDAYS


@dataclass(frozen=True)
class Rules:
    """What a record is checked against besides its own fields."""

    units: dict[str, Unit]
    allowed: frozenset[str] | None  # unit codes a token bound to units may send
    tz: ZoneInfo
    now: datetime
    grace_days: int
    calendar: workdays.WorkCalendar


def check_visit(index: int, item: VisitIn, rules: Rules) -> list[Problem]:
    """The rule problems of one parsed, localized record (no database access)."""
    t = _translator()
    unit = rules.units.get(item.unit)
    if unit is None or not unit.active:
        return [Problem(index, "unit", t(N_("ratingsimport.row.unknown_unit"), code=item.unit))]
    if rules.allowed is not None and item.unit not in rules.allowed:
        units = "、".join(sorted(rules.allowed))
        return [Problem(index, "unit", t(N_("hotline.row.token_units"), units=units))]
    found = _time_problems(index, item, rules)
    found += _outcome_problems(index, item)
    return found


def _time_problems(index: int, item: VisitIn, rules: Rules) -> list[Problem]:
    t = _translator()
    found = []
    today = rules.now.astimezone(rules.tz).date()
    period, _, last_day = half_year(item.finished_at.astimezone(rules.tz).date())
    closes_on = last_day + timedelta(days=rules.grace_days)
    if today > closes_on:
        message = t(N_("hotline.row.period_closed"), period=period, closes_on=closes_on)
        found.append(Problem(index, "finished_at", message))
    latest = rules.now + FUTURE_SLACK
    if item.finished_at > latest:
        found.append(Problem(index, "finished_at", t(N_("ratingsimport.row.future"))))
    finished = item.finished_at.astimezone(rules.tz).strftime("%Y-%m-%d %H:%M")
    for n, attempt in enumerate(item.attempts):
        if attempt.at < item.finished_at:
            message = t(N_("hotline.row.before_finish"), finished=finished)
            found.append(Problem(index, f"attempts.{n}.at", message))
        elif attempt.at > latest:
            found.append(Problem(index, f"attempts.{n}.at", t(N_("ratingsimport.row.future"))))
    return found


def _outcome_problems(index: int, item: VisitIn) -> list[Problem]:
    t = _translator()
    last = len(item.attempts) - 1
    if outcome_of(item) is VisitOutcome.answered:
        if item.attempts[last].outcome is not AttemptOutcome.answered:
            message = t(N_("hotline.row.answered_not_last"), number=last + 1)
            return [Problem(index, f"attempts.{last}.outcome", message)]
        return []
    found = [
        Problem(index, f"attempts.{n}.outcome", t(N_("hotline.row.unreachable_answered")))
        for n, attempt in enumerate(item.attempts)
        if attempt.outcome is AttemptOutcome.answered
    ]
    for name in ("contacted", "resolved", "satisfaction"):
        if getattr(item, name) is not None:
            found.append(Problem(index, name, t(N_("hotline.row.answers_unreachable"))))
    return found


# Ingestion -------------------------------------------------------------------------------


@dataclass
class Ingested:
    """What a batch stored: the new visits, the (工单号, round) already there, the flagged
    visits (无法联系 too soon), how many earlier rounds were retired, and the cases opened."""

    created: list[HotlineVisit] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    retired: int = 0
    opened: list[FollowUpCase] = field(default_factory=list)

    @property
    def flagged(self) -> list[HotlineVisit]:
        return [visit for visit in self.created if visit.short_attempts]


Locate = Callable[[Problem], str]  # a problem as the caller names its place


async def load_rules(
    *, session: AsyncSession, actor: Actor, tz: ZoneInfo, now: datetime, grace_days: int
) -> Rules:
    """Units, the actor's allowed units and the working-day calendar, read once per batch."""
    units = {u.code: u for u in (await session.exec(select(Unit))).all()}
    allowed = None
    if actor.units is not None:
        allowed = frozenset(u.code for u in units.values() if pk(u) in actor.units)
    calendar = await workdays.load_calendar(session=session, tz=tz)
    return Rules(units, allowed, tz, now, grace_days, calendar)


async def ingest_visits(
    *,
    session: AsyncSession,
    rows: Sequence[object],
    source: VisitSource,
    actor: Actor,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    policy: workdays.DeadlinePolicy,
    locate: Locate,
    name: str,
) -> Ingested:
    """Store every new record of the batch, or none (:class:`InvalidVisits` naming ``name``
    and every problem, each placed by ``locate``)."""
    rules = await load_rules(session=session, actor=actor, tz=tz, now=now, grace_days=grace_days)
    parsed, problems = validate_visits(rows)
    items: list[tuple[int, VisitIn, bool]] = []
    for index, item in enumerate(parsed):
        if item is None:
            continue
        item = localized(item, tz)
        found = check_visit(index, item, rules)
        flagged = False
        if not found and outcome_of(item) is VisitOutcome.unreachable:
            try:
                flagged = short_attempts(item.attempts, rules.calendar)
            except workdays.CalendarNotCovered as exc:
                message = _translator()(N_("hotline.row.calendar"), year=exc.year)
                found.append(Problem(index, "attempts", message))
        problems += found
        items.append((index, item, flagged))
    if problems:
        problems.sort(key=lambda p: p.index)
        raise InvalidVisits(name, [locate(problem) for problem in problems])
    return await _store(session, items, rules, source, actor, policy)


_Key = tuple[int, str]  # (unit id, 工单号)


async def _rounds(session: AsyncSession, keys: Iterable[_Key]) -> dict[_Key, dict[int, int]]:
    """The stored rounds of each (unit, 工单号): round → visit id."""
    by_unit: dict[int, list[str]] = {}
    for unit_id, ticket in set(keys):
        by_unit.setdefault(unit_id, []).append(ticket)
    found: dict[_Key, dict[int, int]] = {}
    table = col(HotlineVisit.ticket_no)
    for unit_id, tickets in by_unit.items():
        for start in range(0, len(tickets), KEYS_PER_QUERY):
            statement = select(table, col(HotlineVisit.round), col(HotlineVisit.id)).where(
                col(HotlineVisit.unit_id) == unit_id,
                table.in_(tickets[start : start + KEYS_PER_QUERY]),
            )
            for ticket, round_, visit_id in (await session.exec(statement)).all():
                found.setdefault((unit_id, ticket), {})[round_] = pk_of(visit_id)
    return found


async def _store(
    session: AsyncSession,
    items: Sequence[tuple[int, VisitIn, bool]],
    rules: Rules,
    source: VisitSource,
    actor: Actor,
    policy: workdays.DeadlinePolicy,
) -> Ingested:
    result = Ingested()
    keyed = [(pk(rules.units[item.unit]), item, flagged) for _, item, flagged in items]
    stored = await _rounds(session, ((u, item.ticket_no) for u, item, _ in keyed))
    latest = {key: max(rounds) for key, rounds in stored.items()}
    new: list[tuple[int, VisitIn, bool]] = []
    taken: set[tuple[int, str, int]] = set()
    for unit_id, item, flagged in keyed:
        key = (unit_id, item.ticket_no)
        if item.round in stored.get(key, {}) or (*key, item.round) in taken:
            result.duplicates.append((item.ticket_no, item.round))
            continue
        taken.add((*key, item.round))
        latest[key] = max(latest.get(key, 0), item.round)
        new.append((unit_id, item, flagged))
    result.retired = await _retire(session, stored, latest)
    for unit_id, item, flagged in new:
        active = item.round == latest[unit_id, item.ticket_no]
        visit = _visit(unit_id, item, flagged, active, source, actor, rules.tz)
        session.add(visit)
        result.created.append(visit)
    await session.flush()
    await _open_cases(session, result, rules, policy)
    return result


async def _retire(
    session: AsyncSession, stored: dict[_Key, dict[int, int]], latest: dict[_Key, int]
) -> int:
    """Earlier rounds of a 工单 that now has a later one: kept, no longer counted."""
    ids = [
        visit_id
        for key, rounds in stored.items()
        for round_, visit_id in rounds.items()
        if round_ < latest[key]
    ]
    retired = 0
    for start in range(0, len(ids), KEYS_PER_QUERY):
        statement = (
            sa.update(HotlineVisit)
            .where(col(HotlineVisit.id).in_(ids[start : start + KEYS_PER_QUERY]))
            .where(col(HotlineVisit.active).is_(True))
            .values(active=False)
        )
        outcome: Any = await session.exec(statement)
        retired += int(outcome.rowcount or 0)
    return retired


def _visit(
    unit_id: int,
    item: VisitIn,
    flagged: bool,
    active: bool,
    source: VisitSource,
    actor: Actor,
    tz: ZoneInfo,
) -> HotlineVisit:
    return HotlineVisit(
        unit_id=unit_id,
        ticket_no=item.ticket_no,
        round=item.round,
        item_name=item.item_name,
        item_code=item.item_code,
        finished_at=item.finished_at.astimezone(UTC),
        attempts=[
            {"at": a.at.astimezone(UTC).isoformat(), "outcome": a.outcome.value}
            for a in item.attempts
        ],
        outcome=outcome_of(item),
        contacted=item.contacted,
        resolved=item.resolved,
        satisfaction=item.satisfaction,
        short_attempts=flagged,
        period=period_of(item.finished_at, tz),
        source=source,
        token_id=actor.token_id,
        active=active,
    )


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    """The half-year of a moment by its local date (a visit's: its 办结 time)."""
    return half_year(moment.astimezone(tz).date())[0]


def rating_source_id(ticket_no: str, round_: int) -> str:
    """The rating's idempotency key: 工单号 and round (a long 工单号 shortened by a digest,
    within the 64 characters a source id may have)."""
    plain = f"{ticket_no}#{round_}"
    if len(plain) <= 64:
        return plain
    digest = hashlib.blake2b(ticket_no.encode(), digest_size=6).hexdigest()
    return f"{ticket_no[:40]}~{digest}#{round_}"


def pk_of(value: int | None) -> int:
    if value is None:
        raise ValueError("a stored visit without an id")
    return value


def _answered_at(visit: HotlineVisit) -> datetime:
    answered = [a for a in visit.attempts if a["outcome"] == AttemptOutcome.answered.value]
    return datetime.fromisoformat(str(answered[-1]["at"]))


async def _open_cases(
    session: AsyncSession, result: Ingested, rules: Rules, policy: workdays.DeadlinePolicy
) -> None:
    """A 不满意 becomes a 差评 rating of source hotline and opens its case (重办); a round
    already superseded stores its rating inactive, which opens no case."""
    pairs = []
    for visit in result.created:
        if visit.satisfaction != VisitSatisfaction.dissatisfied:
            continue
        rated_at = _answered_at(visit)
        rating = Rating(
            source=RatingSource.hotline,
            source_id=rating_source_id(visit.ticket_no, visit.round),
            unit_id=visit.unit_id,
            item_code=visit.item_code,
            item_name=visit.item_name,
            channel=PHONE_CHANNEL,
            level=Level.dissatisfied.value,
            round=visit.round,
            active=visit.active,
            period=period_of(rated_at, rules.tz),
            rated_at=rated_at,
        )
        session.add(rating)
        pairs.append((visit, rating))
    if not pairs:
        return
    await session.flush()
    for visit, rating in pairs:
        visit.rating_id = pk(rating)
        case = await cases.open_case(
            session=session, rating=rating, calendar=rules.calendar, policy=policy
        )
        if case is not None:
            result.opened.append(case)
    await session.flush()
