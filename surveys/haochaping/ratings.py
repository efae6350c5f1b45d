"""好差评 ratings: code maps at the edges, validation, idempotent ingestion, 差评 detection."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.core.clock import as_utc
from surveys.core.exceptions import BadCursor
from surveys.core.i18n import N_, Translator
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.core.periods import half_year
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.questionnaire.definitions import Level

BAD_LEVELS = frozenset({Level.dissatisfied, Level.very_dissatisfied})
# GB/T 39046 Table A.8 numbers 1 = 非常满意 … 5 = 非常不满意; the national/provincial
# interface field `satisfaction` runs the other way, 1 = 非常不满意 … 5 = 非常满意.
GBT39046_LEVELS = {1: Level.very_satisfied, 2: Level.satisfied, 3: Level.neutral,
                   4: Level.dissatisfied, 5: Level.very_dissatisfied}  # fmt: skip
INTERFACE_LEVELS = {6 - n: level for n, level in GBT39046_LEVELS.items()}
# Clocks of integrations drift; a rating a few minutes ahead of ours is not from the future.
FUTURE_SLACK = timedelta(minutes=5)
# Keys per IN (...) list: under the bound-parameter limits of SQLite (32,766) and psycopg
# (65,535), and a file's whole chunk of 5,000 rows in one statement per unit.
KEYS_PER_QUERY = 5_000


def level_from_gbt39046(number: int) -> Level:
    return GBT39046_LEVELS[number]


def level_from_interface(number: int) -> Level:
    return INTERFACE_LEVELS[number]


def gbt39046_number(level: Level) -> int:
    return next(n for n, value in GBT39046_LEVELS.items() if value is level)


def interface_number(level: Level) -> int:
    return next(n for n, value in INTERFACE_LEVELS.items() if value is level)


def is_bad(level: str) -> bool:
    """差评 = 不满意 + 非常不满意 (内蒙古 好差评工作制度 第七条)."""
    return level in BAD_LEVELS


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    """The half-year code of a moment, by the local date (Asia/Shanghai by default)."""
    return half_year(moment.astimezone(tz).date())[0]


class RatingIn(BaseModel):
    """One rating as integrations send it (API body, or one row of an imported file)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_id: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=32)
    level: Level
    channel: int = Field(ge=1, le=7)
    rated_at: datetime
    # Text is stripped first: whitespace alone is refused, as an empty string is.
    case_no: str | None = Field(default=None, min_length=1, max_length=64)
    item_code: str | None = Field(default=None, min_length=1, max_length=64)
    item_name: str | None = Field(default=None, min_length=1, max_length=200)
    window: str | None = Field(default=None, min_length=1, max_length=32)
    reasons: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=10)
    comment: str | None = Field(default=None, min_length=1, max_length=2000)
    contact_ok: bool = False
    round: int = Field(default=1, ge=1, le=2)
    is_default: bool = False

    @field_validator("rated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            t = _translator()
            raise ValueError(t(N_("ratingsimport.value.no_offset")))
        return value


@dataclass
class RowError:
    row: int  # 0-based position in the batch; files report their line numbers
    field: str
    message: str  # a Chinese sentence from the catalogue (staff and integrators read it)


@cache
def _translator() -> Translator:
    return Translator()


# Pydantic's own words (English) by error type: what the value should be, in the catalogue's.
_VALUE_PROBLEMS = {
    "missing": N_("ratingsimport.value.missing"),
    "string_too_short": N_("ratingsimport.value.empty"),
    "string_too_long": N_("ratingsimport.value.too_long"),
    "too_long": N_("ratingsimport.value.too_many"),
    "string_type": N_("ratingsimport.value.not_text"),
    "list_type": N_("ratingsimport.value.not_list"),
    "extra_forbidden": N_("ratingsimport.value.unknown_field"),
    "enum": N_("ratingsimport.value.not_level"),
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
SHOWN_CHARS = 40  # a value quoted in a problem is cut there


def _bounds(name: str) -> tuple[object, object]:
    info = RatingIn.model_fields.get(name)
    metadata = info.metadata if info is not None else []
    low = next((m.ge for m in metadata if isinstance(m, Ge)), "")
    high = next((m.le for m in metadata if isinstance(m, Le)), "")
    return low, high


def value_problem(error: ErrorDetails) -> str:
    """One validation error of a rating as a Chinese sentence (what the value should be)."""
    t = _translator()
    if error["type"] == "value_error":  # our own validators: already a catalogue sentence
        return str(error.get("ctx", {}).get("error", ""))
    key = _VALUE_PROBLEMS.get(error["type"])
    if key is None:
        return t(N_("ratingsimport.value.invalid"))
    value = str(error.get("input", ""))
    low, high = _bounds(str(error["loc"][0]) if error["loc"] else "")
    return t(
        key,
        value=value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…",
        max=error.get("ctx", {}).get("max_length", ""),
        low=low,
        high=high,
        levels="、".join(level.value for level in Level),
    )


@dataclass
class IngestResult:
    created: list[Rating] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # source ids the unit already has
    errors: list[RowError] = field(default_factory=list)


def validate_rows(
    rows: Sequence[dict[str, object]],
) -> tuple[list[RatingIn | None], list[RowError]]:
    """Parse each row; a bad row gives one error per bad field and None in its place."""
    parsed: list[RatingIn | None] = []
    errors: list[RowError] = []
    for index, row in enumerate(rows):
        try:
            parsed.append(RatingIn.model_validate(row))
        except ValidationError as exc:
            parsed.append(None)
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "(row)"
                errors.append(RowError(index, where, value_problem(err)))
    return parsed, errors


async def check(
    *,
    session: AsyncSession,
    items: Sequence[RatingIn | None],
    source: RatingSource,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
) -> IngestResult:
    """What :func:`ingest` would refuse and skip, without writing anything (``created`` empty)."""
    result, _ = await _plan(session, items, source, tz, now, grace_days)
    return result


async def load_units(session: AsyncSession) -> dict[str, Unit]:
    """Every unit by its code, as ratings name them (read once per batch or file)."""
    return {u.code: u for u in (await session.exec(select(Unit))).all()}


async def plan(
    *,
    session: AsyncSession,
    items: Sequence[RatingIn | None],
    units: dict[str, Unit],
    source: RatingSource,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    new_units: frozenset[int] = frozenset(),
) -> tuple[IngestResult, list[Accepted]]:
    """:func:`check` of one chunk of a file against ``units``, and the ratings it would store
    with their unit and 办件: a query per unit for the source ids it already has (a seek
    per id; none for ``new_units``, see :func:`units_without`), one for the 办件 named."""
    return await _plan(session, items, source, tz, now, grace_days, units, new_units)


async def units_without(
    *, session: AsyncSession, source: RatingSource, unit_ids: Iterable[int]
) -> frozenset[int]:
    """The units that have no rating from ``source`` (one index seek each). Until the
    transaction adds some, none of their source ids can be a duplicate: an import looks
    them up only for the other units, and catches repeats within its own file."""
    connection = await session.connection()
    found = set()
    for unit_id in unit_ids:
        params = {"unit_id": unit_id, "source": source.value}
        if (await connection.execute(_ANY, params)).first() is None:
            found.add(unit_id)
    return frozenset(found)


async def store(
    *,
    session: AsyncSession,
    accepted: Sequence[Accepted],
    source: RatingSource,
    tz: ZoneInfo,
    received_at: datetime,
) -> list[dict[str, Any]]:
    """Insert ratings planned by :func:`plan` (SQLAlchemy Core, no ORM objects): a few
    multi-row ``INSERT … VALUES … RETURNING`` statements. The values stored, in order, each
    with its ``id``; ``active`` as it arrived (:func:`settle_rounds`: one replaced by a later
    rating of the same call is inactive in the table). Nothing is added to the session."""
    rows = [
        {**rating_values(item, source, unit, event, tz), **_STORED_DEFAULTS,
         "received_at": received_at}
        for item, unit, event in accepted
    ]  # fmt: skip
    if not rows:
        return rows
    settled = await settle_rounds(session, [_round_of(row) for row in rows])
    for row, active in zip(rows, settled.arrived, strict=True):
        row["active"] = active
    table: sa.Table = Rating.__table__  # type: ignore[attr-defined]
    # Returned in no promised order (asking for the rows' order makes SQLite insert them
    # one by one): matched by the key, unique per unit and source.
    statement = sa.insert(table).returning(table.c.unit_id, table.c.source_id, table.c.id)
    connection = await session.connection()
    ids = {(u, s): i for u, s, i in await connection.execute(statement, rows)}
    for row in rows:
        row["id"] = ids[row["unit_id"], row["source_id"]]
    await _retire(session, {ids[_source_key(rows[i])] for i in settled.replaced}, False)
    return rows


def _source_key(row: dict[str, Any]) -> tuple[int, str]:
    return row["unit_id"], row["source_id"]


# Columns the ORM fills from the model's defaults; Core inserts name them.
_STORED_DEFAULTS: dict[str, object] = {
    "respondent_id": None, "voice_file_id": None, "active": True, "excluded": False,
}  # fmt: skip


async def ingest(
    *,
    session: AsyncSession,
    items: Sequence[RatingIn | None],
    source: RatingSource,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
) -> IngestResult:
    """Store the valid new ratings; source ids the unit already has are reported, not stored.

    A rating whose half-year closed more than ``grace_days`` ago is refused, and so is
    one naming a unit or 办件 that does not exist. Source ids and 办件编号 are the unit's
    own: another unit's 办件 is unknown here, and another unit's source id no duplicate.
    """
    result, accepted = await _plan(session, items, source, tz, now, grace_days)
    new = [_rating(item, source, unit, event, tz) for item, unit, event in accepted]
    settled = await settle_rounds(session, [_round_of(rating) for rating in new])
    for rating, active in zip(new, settled.arrived, strict=True):
        rating.active = active
        session.add(rating)
        result.created.append(rating)
    await session.flush()
    # Replaced by a later rating of this batch: stored inactive, but left active in
    # ``created`` (as it arrived), so its 差评 opens its case as if the batch had come one
    # rating at a time (what a file import, stored a chunk at a time, does too).
    await _retire(session, {pk(new[i]) for i in settled.replaced}, False)
    return result


Accepted = tuple[RatingIn, Unit, ServiceEvent | None]  # a rating to store, its unit and 办件


# --- The latest round counts (domain.md §2) -----------------------------------------------


def is_latest(new_round: int, earlier_rounds: Iterable[int]) -> bool:
    """The one rule of rounds: a new rating of a 办件 by its rater counts (and retires the
    earlier active ones, kept as history) when its round is at least each of theirs, so a
    change within a round and a 2nd round after 整改 both replace what was there; an earlier
    round arriving late (a round 1 after the round 2) is stored as history, inactive."""
    return all(new_round >= earlier for earlier in earlier_rounds)


@dataclass(frozen=True)
class RoundOf:
    """What :func:`settle_rounds` needs of a new rating: which 办件 and rater, and its round.

    The 办件 is the ``service_event`` (an integration's ``case_no`` is found there, by unit
    and 办件编号, before a rating is stored, and a rating naming an unknown one is refused;
    the rating keeps only the event's id). Its rater is the one who rates it: ratings of the
    same 办件 are the same rater's unless both name a respondent and they differ (an
    integration names none). A rating without a 办件 (a QR poster's, or an integration's
    without ``case_no``) names no 办件 to compare: it is never matched, always counted.
    ``earlier``: ratings known to be earlier rounds of it (the rating a 复评 re-rates), also
    when no 办件 links them.
    """

    unit_id: int
    service_event_id: int | None
    respondent_id: int | None
    round: int
    earlier: tuple[int, ...] = ()


@dataclass(eq=False)
class _Standing:
    """An active rating of a 办件 while a batch is settled: stored (``id``) or new (index)."""

    round: int
    respondent_id: int | None
    id: int | None = None
    new: int | None = None


def _same_rater(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


@dataclass
class Settled:
    """:func:`settle_rounds`' answer. ``arrived``: whether each new rating counts as it
    arrives (store it so); ``replaced``: the new ones a later one of the same batch replaces,
    to be set inactive once stored (the caller does, by id)."""

    arrived: list[bool]
    replaced: list[int]


async def settle_rounds(session: AsyncSession, new: Sequence[RoundOf]) -> Settled:
    """Apply :func:`is_latest` to new ratings about to be stored, in order, as if they came
    one at a time (so a batch, or a file in chunks, ends as its ratings sent one by one
    would): whether each counts as it arrives, and which of them a later one replaces; the
    stored ratings they replace are set inactive now (kept as history). Every path that
    stores a rating comes here: the chat (bot and web), the 复评 after 整改,
    ``POST /api/v1/ratings`` and file imports (``minyi import ratings``, the console upload).

    An earlier rating excluded by an upheld 申诉 is replaced like any other and stays
    excluded: the appeal judged that rating, not the 办件 nor its rater, so a later round
    (after 整改 or 重办) is the citizen's new word and counts; a 差评 again opens its case.
    """
    standing: dict[tuple[int, int], list[_Standing]] = {}
    for found in await _active_of_events(session, new):
        key = (found.unit_id, found.service_event_id or 0)
        standing.setdefault(key, []).append(_Standing(found.round, found.respondent_id, pk(found)))
    known = await _active_by_id(session, [i for rating in new for i in rating.earlier])
    latest: list[bool] = []
    replaced: list[int] = []
    retired: set[int] = set()
    for index, rating in enumerate(new):
        key = (rating.unit_id, rating.service_event_id or 0)
        same = [
            s for s in standing.get(key, []) if _same_rater(s.respondent_id, rating.respondent_id)
        ]
        ids = {s.id for s in same}
        same += [
            _Standing(known[i].round, known[i].respondent_id, i)
            for i in rating.earlier
            if i in known and i not in retired and i not in ids
        ]
        active = is_latest(rating.round, (s.round for s in same))
        latest.append(active)
        if not active:
            continue
        for s in same:
            if s.id is not None:
                retired.add(s.id)
            if s.new is not None:
                replaced.append(s.new)
        if rating.service_event_id is not None:
            kept = [s for s in standing.get(key, []) if all(s is not t for t in same)]
            standing[key] = [*kept, _Standing(rating.round, rating.respondent_id, new=index)]
    await _retire(session, retired)
    return Settled(latest, sorted(replaced))


def _round_of(rating: Rating | dict[str, Any]) -> RoundOf:
    if isinstance(rating, Rating):
        return RoundOf(rating.unit_id, rating.service_event_id, rating.respondent_id,
                       rating.round)  # fmt: skip
    event, respondent = rating["service_event_id"], rating["respondent_id"]
    return RoundOf(
        int(rating["unit_id"]),
        None if event is None else int(event),
        None if respondent is None else int(respondent),
        int(rating["round"]),
    )


# The active ratings of some 办件 of a unit (by ix_rating_service_event_id); only ratings
# naming a 办件 ask.
_ACTIVE_OF_EVENTS = select(Rating).where(
    Rating.unit_id == sa.bindparam("unit_id"),
    col(Rating.active).is_(True),
    col(Rating.service_event_id).in_(sa.bindparam("keys", expanding=True)),
)


async def _active_of_events(session: AsyncSession, new: Sequence[RoundOf]) -> list[Rating]:
    by_unit: dict[int, set[int]] = {}
    for rating in new:
        if rating.service_event_id is not None:
            by_unit.setdefault(rating.unit_id, set()).add(rating.service_event_id)
    found: list[Rating] = []
    for unit_id, events in by_unit.items():
        wanted = sorted(events)
        for start in range(0, len(wanted), KEYS_PER_QUERY):
            params = {"unit_id": unit_id, "keys": wanted[start : start + KEYS_PER_QUERY]}
            found += (await session.exec(_ACTIVE_OF_EVENTS, params=params)).all()
    return sorted(found, key=pk)


async def _active_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Rating]:
    if not ids:
        return {}
    statement = select(Rating).where(col(Rating.id).in_(sorted(set(ids))))
    return {pk(r): r for r in (await session.exec(statement)).all() if r.active}


async def _retire(session: AsyncSession, ids: set[int], synchronize: bool = True) -> None:
    """Set ``ids`` inactive; with ``synchronize`` the session's copies of them too."""
    wanted = sorted(ids)
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        chunk = wanted[start : start + KEYS_PER_QUERY]
        statement = sa.update(Rating).where(col(Rating.id).in_(chunk)).values(active=False)
        if not synchronize:
            statement = statement.execution_options(synchronize_session=False)
        await session.exec(statement)


async def current_round(
    session: AsyncSession, *, unit_id: int, service_event_id: int, respondent_id: int | None
) -> int:
    """The round of the active rating of this 办件 by this rater (1 if none): the round a
    change of it is of, so the change replaces it rather than being taken for a late 1st."""
    key = RoundOf(unit_id, service_event_id, respondent_id, 1)
    found = await _active_of_events(session, [key])
    return max((r.round for r in found if _same_rater(r.respondent_id, respondent_id)), default=1)


async def supersede(
    session: AsyncSession, rating: Rating, *, earlier: Sequence[Rating] = ()
) -> None:
    """:func:`settle_rounds` of one new rating (an ORM object not added yet): sets its
    ``active`` and retires what it replaces. ``earlier``: the ratings it is a later round of
    (the rating a 复评 re-rates), when known."""
    rated = replace(_round_of(rating), earlier=tuple(pk(r) for r in earlier))
    (rating.active,) = (await settle_rounds(session, [rated])).arrived


async def _plan(
    session: AsyncSession,
    items: Sequence[RatingIn | None],
    source: RatingSource,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    units: dict[str, Unit] | None = None,
    new_units: frozenset[int] = frozenset(),
) -> tuple[IngestResult, list[Accepted]]:
    # Everything is read before anything is added, so no query autoflushes half a batch.
    if units is None:
        units = await load_units(session)
    present = [
        (item, units[item.unit]) for item in items if item is not None and item.unit in units
    ]
    keys = [(pk(unit), item.source_id) for item, unit in present]
    known = await _known_source_ids(session, source, [k for k in keys if k[0] not in new_units])
    events = await _events(
        session, [(pk(unit), item.case_no) for item, unit in present if item.case_no]
    )
    result = IngestResult()
    accepted: list[Accepted] = []
    today = today_in(tz, now)
    seen: set[_Key] = set()
    for index, item in enumerate(items):
        if item is None:
            continue
        unit = units.get(item.unit)
        if unit is None:
            result.errors.append(RowError(index, *_unknown_unit(item)))
            continue
        unit_id = pk(unit)
        key = (unit_id, item.source_id)
        if key in known or key in seen:
            result.duplicates.append(item.source_id)
            continue
        problem = _problem(item, unit, events, tz, (today, now), grace_days)
        if problem is not None:
            result.errors.append(RowError(index, *problem))
            continue
        seen.add(key)
        event = events.get((unit_id, item.case_no)) if item.case_no else None
        accepted.append((item, unit, event))
    return result, accepted


_Key = tuple[int, str]  # (unit id, source id or 办件编号): keys are unique per unit


def _by_unit(keys: Iterable[_Key]) -> dict[int, list[str]]:
    by_unit: dict[int, list[str]] = {}
    for unit_id, key in keys:
        by_unit.setdefault(unit_id, []).append(key)
    return by_unit


# One statement per unit, ``unit = u AND key IN (...)``: a seek on the (unit_id, …) unique
# index per key in SQLite and PostgreSQL (a row-value IN would scan the table), compiled
# once (the IN list is expanded at execution).
_KNOWN = select(Rating.source_id).where(
    Rating.unit_id == sa.bindparam("unit_id"),
    Rating.source == sa.bindparam("source"),
    col(Rating.source_id).in_(sa.bindparam("keys", expanding=True)),
)
_ANY = (
    select(Rating.id)
    .where(Rating.unit_id == sa.bindparam("unit_id"), Rating.source == sa.bindparam("source"))
    .limit(1)
)
_EVENTS = select(ServiceEvent).where(
    ServiceEvent.unit_id == sa.bindparam("unit_id"),
    col(ServiceEvent.case_no).in_(sa.bindparam("keys", expanding=True)),
)


def _per_unit(keys: Sequence[_Key], **params: object) -> Iterator[dict[str, object]]:
    """The parameters of :data:`_KNOWN` or :data:`_EVENTS` for ``keys``:
    one set per unit and :data:`KEYS_PER_QUERY` keys (under the bound-parameter limits)."""
    for unit_id, values in _by_unit(keys).items():
        for start in range(0, len(values), KEYS_PER_QUERY):
            yield {"unit_id": unit_id, "keys": values[start : start + KEYS_PER_QUERY], **params}


async def _known_source_ids(
    session: AsyncSession, source: RatingSource, keys: Sequence[_Key]
) -> set[_Key]:
    known: set[_Key] = set()
    connection = await session.connection()
    for params in _per_unit(keys, source=source.value):
        found = await connection.execute(_KNOWN, params)
        known.update((int(str(params["unit_id"])), source_id) for (source_id,) in found)
    return known


async def _events(session: AsyncSession, keys: Sequence[_Key]) -> dict[_Key, ServiceEvent]:
    events: dict[_Key, ServiceEvent] = {}
    for params in _per_unit(keys):
        found = (await session.exec(_EVENTS, params=params)).all()
        events.update(((event.unit_id, event.case_no), event) for event in found)
    return events


def _unknown_unit(item: RatingIn) -> tuple[str, str]:
    return "unit", _translator()(N_("ratingsimport.row.unknown_unit"), code=item.unit)


def _problem(
    item: RatingIn,
    unit: Unit,
    events: dict[_Key, ServiceEvent],
    tz: ZoneInfo,
    clock: tuple[date, datetime],  # today in tz, now
    grace_days: int,
) -> tuple[str, str] | None:
    today, now = clock
    t = _translator()
    if not unit.active:
        return _unknown_unit(item)
    _, _, last_day = half_year(item.rated_at.astimezone(tz).date())
    closes_on = last_day + timedelta(days=grace_days)
    if today > closes_on:
        period = period_of(item.rated_at, tz)
        return "rated_at", t(N_("ratingsimport.row.period_closed"), period=period,
                             closes_on=closes_on)  # fmt: skip
    if item.rated_at > now + FUTURE_SLACK:
        return "rated_at", t(N_("ratingsimport.row.future"))
    if item.case_no is None:
        return None
    # Looked up within the rating's unit only: another unit's 办件 is as unknown as a
    # missing one, so the answer never tells that it exists or whose it is.
    if (pk(unit), item.case_no) not in events:
        return "case_no", t(N_("ratingsimport.row.unknown_case"), case_no=item.case_no)
    return None


def _rating(
    item: RatingIn, source: RatingSource, unit: Unit, event: ServiceEvent | None, tz: ZoneInfo
) -> Rating:
    return Rating.model_validate(
        {**rating_values(item, source, unit, event, tz), "source": source}
    )


def rating_values(
    item: RatingIn, source: RatingSource, unit: Unit, event: ServiceEvent | None, tz: ZoneInfo
) -> dict[str, object]:
    """The stored fields of a rating (those given by the integration or its 办件)."""
    return {
        "source": source.value,
        "source_id": item.source_id,
        "service_event_id": event.id if event else None,
        "unit_id": pk(unit),
        "item_code": item.item_code or (event.item_code if event else None),
        "item_name": item.item_name or (event.item_name if event else None),
        "window_code": item.window or (event.window_code if event else None),
        "channel": item.channel,
        "level": item.level.value,
        "reasons": item.reasons,
        "comment": item.comment,
        "contact_ok": item.contact_ok,
        "round": item.round,
        "is_default": item.is_default,
        "period": period_of(item.rated_at, tz),
        "rated_at": item.rated_at.astimezone(UTC),
    }


def today_in(tz: ZoneInfo, now: datetime) -> date:
    return now.astimezone(tz).date()


@dataclass(frozen=True)
class RatingRow:
    """A rating as staff may see it: never who gave it; every text masked (§7)."""

    id: int
    source: str
    source_id: str
    unit_id: int
    item_code: str | None
    item_name: str | None
    window_code: str | None
    channel: int
    level: Level
    reasons: list[str]
    comment: str | None  # phones, ID numbers and e-mail addresses masked, as every text here
    has_voice: bool
    round: int
    active: bool
    excluded: bool
    is_default: bool
    period: str
    rated_at: datetime


def rating_row(rating: Rating) -> RatingRow:
    """``rating`` for staff: what the citizen or the integrator wrote goes through mask_text."""

    def masked(text: str | None) -> str | None:
        return mask_text(text) if text else text

    return RatingRow(
        id=pk(rating),
        source=str(rating.source),
        source_id=mask_text(rating.source_id),
        unit_id=rating.unit_id,
        item_code=masked(rating.item_code),
        item_name=masked(rating.item_name),
        window_code=masked(rating.window_code),
        channel=rating.channel,
        level=Level(rating.level),
        reasons=[mask_text(reason) for reason in rating.reasons],
        comment=masked(rating.comment),
        has_voice=rating.voice_file_id is not None,
        round=rating.round,
        active=rating.active,
        excluded=rating.excluded,
        is_default=rating.is_default,
        period=rating.period,
        rated_at=as_utc(rating.rated_at),
    )


# Seconds since 1970 (before the year 2286) with microseconds, then the rating's id: every
# text of this shape is a cursor this code can read, so a request can be checked by it alone.
CURSOR_PATTERN = r"^\d{1,10}\.\d{6}_[1-9]\d{0,17}$"


def cursor_of(row: RatingRow) -> str:
    """The ``after=`` cursor that continues a list after ``row``: its time and id."""
    return f"{row.rated_at.timestamp():.6f}_{row.id}"


def _parse_cursor(after: str) -> tuple[datetime, int]:
    stamp, _, rating_id = after.partition("_")
    try:
        at = datetime.fromtimestamp(float(stamp), UTC)
        number = int(rating_id)
    except (ValueError, OverflowError, OSError):
        raise BadCursor(cursor=after[:40]) from None
    if not 1 <= number < 2**63 or not math.isfinite(float(stamp)):
        raise BadCursor(cursor=after[:40])
    return at, number


async def list_ratings(
    *,
    session: AsyncSession,
    actor: Actor,
    unit_id: int | None = None,
    period: str | None = None,
    level: Level | None = None,
    offset: int = 0,
    limit: int = 50,
    after: str | None = None,
) -> tuple[list[RatingRow], int]:
    """Ratings of the actor's units, newest first: nobody's identity, comments masked.

    ``after`` (a :func:`cursor_of` of the last row shown) continues the list with one index
    seek however deep it is; ``offset`` counts rows from the start and slows down with depth.
    The count is exact: every match, not only this page.
    """
    actor.require(Perm.view)
    position = _parse_cursor(after) if after is not None else None
    statement = select(Rating)
    units = actor.unit_filter(unit_id)
    if units is not None:
        statement = statement.where(col(Rating.unit_id).in_(units))
    if period is not None:
        statement = statement.where(Rating.period == period)
    if level is not None:
        statement = statement.where(Rating.level == level.value)
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    page = statement.order_by(col(Rating.rated_at).desc(), col(Rating.id).desc())
    if position is not None:
        at, rating_id = position
        # A row-value comparison: one range seek on (rated_at, id) in SQLite and PostgreSQL.
        page = page.where(
            sa.tuple_(col(Rating.rated_at), col(Rating.id))
            < sa.tuple_(sa.literal(at, sa.DateTime(timezone=True)), sa.literal(rating_id))
        )
    found = (await session.exec(page.offset(offset).limit(limit))).all()
    return [rating_row(rating) for rating in found], int(total)
