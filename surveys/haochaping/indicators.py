"""好差评 indicators per unit, 事项 or window: the numbers shown beside the raw 好评率.

Raw 好评率 sits near 100% in published reports, so every row also carries 差评率, 回访率, 整改率
and 按时整改率 (domain.md §5), from the ratings and the 差评 loop (§2, §3). The console and the
民意调查 scoring both read them from :func:`rating_indicators`.

Everything is counted in the database, grouped and filtered there: one statement gives every
group's counts (ratings and cases), one the reasons of its 差评; Python only masks the texts.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ConfigDict, with_config
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.service import overdue_condition
from surveys.core.masking import mask_text
from surveys.haochaping.models import Rating, RatingSource
from surveys.haochaping.ratings import BAD_LEVELS
from surveys.questionnaire.definitions import Level

GroupBy = Literal["unit", "item", "window"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
GOOD_LEVELS = frozenset({Level.very_satisfied, Level.satisfied})
RERATING_OK = frozenset({Level.satisfied, Level.neutral})
# Reaching 已反馈 is the 整改 step; 已关闭 counts only when the case passed through it, since
# 不属实 and 申诉成立 close a case without any 整改.
RECTIFIED_STATES = frozenset({CaseState.replied, CaseState.rerated})
TOP_REASONS = 3
RATE_DIGITS = 4

_Key = tuple[int, str | None]


# The indicators of one group as integrations read them (REST API): counts and rates; the
# key fields not grouped on stay None (and are always in the JSON).
@with_config(ConfigDict(json_schema_serialization_defaults_required=True))
@dataclass(frozen=True, kw_only=True)
class IndicatorsPublic:
    unit_id: int
    item_code: str | None = None
    item_name: str | None = None
    window_code: str | None = None
    ratings: int
    good: int
    bad: int
    good_rate: float | None
    bad_rate: float | None
    cases: int
    contact_rate: float | None
    rectify_rate: float | None
    on_time_rate: float | None
    rerating_satisfied_rate: float | None
    overdue_open: int
    top_reasons: tuple[tuple[str, int], ...]


@dataclass(frozen=True, kw_only=True)
class Indicators(IndicatorsPublic):
    """The indicators of one group, with the case counts behind their rates."""

    contacted: int  # left 待核实: the unit reached the citizen (回访)
    rectified: int
    on_time: int
    rerated: int

    def public(self) -> IndicatorsPublic:
        return IndicatorsPublic(
            **{f.name: getattr(self, f.name) for f in fields(IndicatorsPublic)}
        )


# --- Dialect helpers ----------------------------------------------------------------------


def dialect_of(session: AsyncSession) -> str:
    """``sqlite`` or ``postgresql``: the few expressions below are written per dialect."""
    bind = session.bind
    assert bind is not None
    return bind.dialect.name


def json_elements(dialect: str, column: Any) -> Any:
    """The texts of a JSON list column as a table (column ``value``), one row per element."""
    name = "json_array_elements_text" if dialect == "postgresql" else "json_each"
    return getattr(sa.func, name)(column).table_valued("value")


_SCAN_FROM = datetime(1970, 1, 1, tzinfo=UTC)
_SCAN_TO = datetime(2100, 1, 1, tzinfo=UTC)


@functools.cache
def _offsets(tz: ZoneInfo) -> tuple[tuple[datetime | None, int], ...]:
    """The UTC offsets (seconds) of ``tz`` from 1970 to 2100, newest first, each with the UTC
    instant it starts (None for the first). One entry for Asia/Shanghai (fixed since 1991)."""
    spans: list[tuple[datetime | None, int]] = []
    moment = _SCAN_FROM

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    current = offset(moment)
    spans.append((None, current))
    step = timedelta(days=1)
    while moment < _SCAN_TO:
        following = moment + step
        if offset(following) != current:
            low, high = moment, following  # the change is in (low, high]: to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            current = offset(high)
            spans.append((high, current))
        moment = following
    # Only the spans the data may fall in matter; from 1992 on Asia/Shanghai is one span.
    return tuple(reversed(_merge(spans)))


def _merge(spans: list[tuple[datetime | None, int]]) -> list[tuple[datetime | None, int]]:
    merged: list[tuple[datetime | None, int]] = []
    for start, offset in spans:
        if not merged or merged[-1][1] != offset:
            merged.append((start, offset))
    return merged


def _sqlite_date(column: Any, tz: ZoneInfo) -> Any:
    """SQLite: ``date(column, '+N seconds')`` with the offset of ``tz`` in force at that
    instant. Stored timestamps are UTC text (``2026-01-01 00:30:26.000000``)."""

    def shifted(offset: int) -> Any:
        return sa.func.date(column, sa.literal_column(f"'{offset:+d} seconds'"))

    spans = _offsets(tz)
    if len(spans) == 1:
        return shifted(spans[0][1])
    whens = [(column >= start, shifted(offset)) for start, offset in spans if start is not None]
    return sa.case(*whens, else_=shifted(spans[-1][1]))


def local_date(dialect: str, column: Any, tz: ZoneInfo) -> Any:
    """The date in ``tz`` of a stored instant, comparable with a ``Date`` column."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(tz.key, column), sa.Date)
    return _sqlite_date(column, tz)


# --- Counting -----------------------------------------------------------------------------


def counted(
    statement: Any, period: str | None, units: frozenset[int] | None, *, per_unit: bool = True
) -> Any:
    """Ratings that count (§2): not 系统默认评价, not excluded by an upheld 申诉; of ``period``
    and ``units`` when given. With ``per_unit`` and no ``units``, an IN over the unit table
    (every rating has its unit), so the indexes that start with the unit are searched unit by
    unit instead of read whole; without, the ratings are reached from another table."""
    statement = statement.where(col(Rating.is_default).is_(False), col(Rating.excluded).is_(False))
    # A 不满意 12345 回访's rating (its 差评 case) counts in the 12345 source, not as 好差评.
    statement = statement.where(col(Rating.source) != RatingSource.hotline.value)
    if period is not None and per_unit:
        statement = statement.where(Rating.period == period)
    elif period is not None:
        # Not a term an index of rating can serve (the period is never NULL): SQLite would
        # otherwise read the period's ratings one by one to find their few cases.
        statement = statement.where(sa.func.coalesce(col(Rating.period), "") == period)
    if units is not None:
        return statement.where(col(Rating.unit_id).in_(sorted(units)))
    if per_unit:
        return statement.where(col(Rating.unit_id).in_(sa.select(col(Unit.id))))
    return statement


def _key_column(group_by: GroupBy) -> Any:
    if group_by == "item":
        return col(Rating.item_code)
    if group_by == "window":
        return col(Rating.window_code)
    return sa.cast(sa.null(), sa.String)


def _values(levels: Iterable[str]) -> list[str]:
    return sorted(str(level) for level in levels)


def _flag(condition: ColumnElement[bool]) -> Any:
    return sa.case((condition, 1), else_=0)


def _rating_counts(
    period: str | None, units: frozenset[int] | None, group_by: GroupBy, good: frozenset[Level]
) -> Any:
    """Ratings, 好评 and 差评 per group, and the highest rating id (the latest name)."""
    # Grouped in the order of ix_rating_counted (unit, period, level, 事项, window): read in
    # index order without a sort, then rolled up to the group in a second, small step.
    columns = [col(Rating.unit_id), col(Rating.period), col(Rating.level)]
    if group_by != "unit":
        columns.append(col(Rating.item_code))
    if group_by == "window":
        columns.append(col(Rating.window_code))
    key = _key_column(group_by)
    inner = counted(
        sa.select(
            *columns,
            key.label("key"),
            sa.func.count().label("n"),
            sa.func.max(col(Rating.id)).label("last_id"),
        ),
        period,
        units,
    )
    inner = inner.where(col(Rating.active).is_(True)).group_by(*columns).subquery("by_level")
    level = inner.c.level
    return (
        sa.select(
            inner.c.unit_id,
            inner.c.key,
            sa.func.sum(inner.c.n).label("ratings"),
            sa.func.sum(sa.case((level.in_(_values(good)), inner.c.n), else_=0)).label("good"),
            sa.func.sum(sa.case((level.in_(_values(BAD_LEVELS)), inner.c.n), else_=0)).label(
                "bad"
            ),
            sa.func.max(inner.c.last_id).label("last_id"),
        )
        .group_by(inner.c.unit_id, inner.c.key)
        .cte("rating_counts")
    )


def _case_counts(
    dialect: str,
    period: str | None,
    units: frozenset[int] | None,
    group_by: GroupBy,
    today: date,
    tz: ZoneInfo,
) -> Any:
    """The 差评 loop per group: cases of counted ratings (any round), and how far each got."""
    replied = (
        sa.select(
            col(CaseEvent.case_id).label("case_id"), sa.func.min(col(CaseEvent.at)).label("at")
        )
        .where(col(CaseEvent.to_state) == CaseState.replied.value)
        .group_by(col(CaseEvent.case_id))
        .subquery("replied")
    )
    state = col(FollowUpCase.state)
    on_time = replied.c.at.is_not(None) & (
        local_date(dialect, replied.c.at, tz) <= col(FollowUpCase.rectify_due)
    )
    rerating = col(FollowUpCase.rerating)
    statement = (
        sa.select(
            col(Rating.unit_id).label("unit_id"),
            _key_column(group_by).label("key"),
            sa.func.count().label("cases"),
            sa.func.sum(_flag(state != CaseState.pending.value)).label("contacted"),
            sa.func.sum(
                _flag(state.in_(_values(RECTIFIED_STATES)) | replied.c.at.is_not(None))
            ).label("rectified"),
            sa.func.sum(_flag(on_time)).label("on_time"),
            sa.func.sum(_flag(rerating.is_not(None))).label("rerated"),
            sa.func.sum(_flag(rerating.in_(_values(RERATING_OK)))).label("rerated_ok"),
            sa.func.sum(_flag(overdue_condition(today))).label("overdue_open"),
            # The name of a group whose ratings were all replaced: its first case's rating's.
            (
                sa.func.min(
                    sa.case((col(Rating.item_name).is_not(None), col(FollowUpCase.id)), else_=None)
                )
                if group_by == "item"
                else sa.null()
            ).label("name_case"),
        )
        .select_from(FollowUpCase)
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .outerjoin(replied, replied.c.case_id == col(FollowUpCase.id))
    )
    # Read case by case (100,000 in a city's year), each rating by its id: the IN (a no-op
    # beside the join) offers SQLite the ids, which beats any index of the ratings.
    statement = counted(statement, period, units, per_unit=False).where(
        col(Rating.id).in_(sa.select(col(FollowUpCase.rating_id)))
    )
    return statement.group_by(col(Rating.unit_id), _key_column(group_by)).cte("case_counts")


_RATING_FIGURES = ("ratings", "good", "bad", "last_id")
_CASE_FIGURES = (
    "cases", "contacted", "rectified", "on_time", "rerated", "rerated_ok", "overdue_open",
    "name_case",
)  # fmt: skip


def _groups_statement(
    dialect: str,
    period: str | None,
    units: frozenset[int] | None,
    group_by: GroupBy,
    today: date,
    tz: ZoneInfo,
    good: frozenset[Level],
) -> tuple[Any, Any]:
    """Every group with its counts, in the order shown: unit, the group without a key first,
    then the key (by code point, as Python orders text); and the groups' subquery."""
    ratings = _rating_counts(period, units, group_by, good)
    cases = _case_counts(dialect, period, units, group_by, today, tz)
    keys = sa.union(
        sa.select(ratings.c.unit_id, ratings.c.key), sa.select(cases.c.unit_id, cases.c.key)
    ).subquery("group_keys")
    statement = (
        sa.select(
            keys.c.unit_id,
            keys.c.key,
            *(ratings.c[name] for name in _RATING_FIGURES),
            *(cases.c[name] for name in _CASE_FIGURES),
        )
        .select_from(keys)
        .outerjoin(
            ratings,
            (ratings.c.unit_id == keys.c.unit_id) & ratings.c.key.is_not_distinct_from(keys.c.key),
        )
        .outerjoin(
            cases,
            (cases.c.unit_id == keys.c.unit_id) & cases.c.key.is_not_distinct_from(keys.c.key),
        )
    )
    code = keys.c.key.collate("C") if dialect == "postgresql" else keys.c.key
    statement = statement.order_by(keys.c.unit_id, keys.c.key.is_not(None), code)
    return statement, keys


@dataclass
class _Group:
    unit_id: int
    key: str | None
    figures: Mapping[str, int | None]
    item_name: str | None = None
    reasons: tuple[tuple[str, int], ...] = ()


async def _groups(
    session: AsyncSession,
    *,
    period: str | None,
    units: frozenset[int] | None,
    group_by: GroupBy,
    today: date,
    tz: ZoneInfo,
    neutral_is_good: bool,
    offset: int | None = None,
    limit: int | None = None,
) -> tuple[list[_Group], int]:
    dialect = dialect_of(session)
    good = GOOD_LEVELS | {Level.neutral} if neutral_is_good else GOOD_LEVELS
    statement, keys = _groups_statement(dialect, period, units, group_by, today, tz, good)
    paged = limit is not None
    if paged:
        statement = statement.add_columns(sa.func.count().over().label("total"))
        statement = statement.limit(limit).offset(offset or 0)
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    groups = [
        _Group(
            row.unit_id,
            row.key,
            {name: row._mapping[name] for name in (*_RATING_FIGURES, *_CASE_FIGURES)},
        )
        for row in rows
    ]
    total = len(groups)
    if paged:
        total = rows[0].total if rows else await _count(session, keys)
    if groups:
        await _add_reasons(session, dialect, groups, period, group_by)
        if group_by == "item":
            await _add_names(session, groups, period)
    return groups, int(total)


async def _count(session: AsyncSession, keys: Any) -> int:
    """The number of groups (asked only when a page is past the end)."""
    statement = sa.select(sa.func.count()).select_from(keys)
    return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]


async def _add_reasons(
    session: AsyncSession,
    dialect: str,
    groups: list[_Group],
    period: str | None,
    group_by: GroupBy,
) -> None:
    """The top reasons of each group: counted in SQL once per rating and raw text, then masked
    (§7); raw texts that mask alike are one reason, counted once per rating."""
    units = frozenset(g.unit_id for g in groups)
    elements = json_elements(dialect, col(Rating.reasons))
    key = _key_column(group_by).label("key")
    # COUNT(DISTINCT id): a reason named twice in one rating counts once. (A DISTINCT
    # subquery instead would lead SQLite to read every rating of the unit, for its order.)
    statement = (
        counted(
            sa.select(
                col(Rating.unit_id),
                key,
                elements.c.value,
                sa.func.count(sa.distinct(col(Rating.id))),
            )
            .select_from(Rating)
            .join(elements, sa.true()),
            period,
            units,
        )
        .where(
            col(Rating.active).is_(True),
            col(Rating.level).in_(_values(BAD_LEVELS)),
            elements.c.value.is_not(None),
        )
        .group_by(col(Rating.unit_id), key, elements.c.value)
    )
    wanted = {(g.unit_id, g.key): g for g in groups}
    counts: dict[_Key, Counter[str]] = defaultdict(Counter)
    raws: dict[_Key, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for unit_id, group_key, raw, n in (await session.exec(statement)).all():  # type: ignore[call-overload]
        if (unit_id, group_key) not in wanted:
            continue
        masked = mask_text(raw)
        counts[unit_id, group_key][masked] += n
        raws[unit_id, group_key][masked].add(raw)
    for group_key, by_text in raws.items():
        for masked, texts in by_text.items():
            if len(texts) > 1:  # one rating may hold several of them: count it once
                counts[group_key][masked] = await _ratings_with_any(
                    session, dialect, group_key, texts, period, group_by
                )
    for group_key, counter in counts.items():
        top = sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_REASONS]
        wanted[group_key].reasons = tuple(top)


async def _ratings_with_any(
    session: AsyncSession,
    dialect: str,
    group: _Key,
    texts: set[str],
    period: str | None,
    group_by: GroupBy,
) -> int:
    unit_id, group_key = group
    elements = json_elements(dialect, col(Rating.reasons))
    statement = counted(
        sa.select(sa.func.count(sa.distinct(col(Rating.id))))
        .select_from(Rating)
        .join(elements, sa.true()),
        period,
        frozenset({unit_id}),
    ).where(
        col(Rating.active).is_(True),
        col(Rating.level).in_(_values(BAD_LEVELS)),
        elements.c.value.in_(sorted(texts)),
        _key_column(group_by).is_not_distinct_from(group_key),
    )
    return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]


async def _add_names(session: AsyncSession, groups: list[_Group], period: str | None) -> None:
    """The 事项 name of each group: its latest counted rating's (highest id) that has one,
    else that of its first case's rating."""
    last_ids = {g.figures["last_id"] for g in groups if g.figures["last_id"] is not None}
    names = await _names_of(session, sa.select(col(Rating.id), col(Rating.item_name)), last_ids)
    missing: list[_Group] = []
    for group in groups:
        group.item_name = names.get(group.figures["last_id"] or 0)
        if group.item_name is None and group.figures["last_id"] is not None:
            group.item_name = await _latest_name(session, group, period)
        if group.item_name is None and group.figures["name_case"] is not None:
            missing.append(group)
    if missing:
        by_case = await _names_of(
            session,
            sa.select(col(FollowUpCase.id), col(Rating.item_name)).join(
                Rating, col(Rating.id) == col(FollowUpCase.rating_id)
            ),
            {g.figures["name_case"] for g in missing},
            col(FollowUpCase.id),
        )
        for group in missing:
            group.item_name = by_case.get(group.figures["name_case"] or 0)


async def _names_of(
    session: AsyncSession, statement: Any, ids: Iterable[int | None], by: Any = None
) -> dict[int, str | None]:
    wanted = sorted(i for i in ids if i is not None)
    found: dict[int, str | None] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        column = col(Rating.id) if by is None else by
        rows = (await session.exec(statement.where(column.in_(chunk)))).all()
        found.update((int(row_id), name) for row_id, name in rows)
    return found


async def _latest_name(session: AsyncSession, group: _Group, period: str | None) -> str | None:
    statement = counted(sa.select(col(Rating.item_name)), period, frozenset({group.unit_id}))
    statement = (
        statement.where(
            col(Rating.active).is_(True),
            col(Rating.item_code).is_not_distinct_from(group.key),
            col(Rating.item_name).is_not(None),
        )
        .order_by(col(Rating.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).scalars().first()  # type: ignore[call-overload, no-any-return]


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, RATE_DIGITS)


def _indicators(group: _Group, group_by: GroupBy) -> Indicators:
    figures = {name: int(value or 0) for name, value in group.figures.items()}
    code = group.key
    # Codes and names come from integrators and chat links: masked as any such text (§7).
    shown = mask_text(code) if code else code
    return Indicators(
        unit_id=group.unit_id,
        item_code=shown if group_by == "item" else None,
        item_name=(mask_text(group.item_name or "") or None) if group_by == "item" else None,
        window_code=shown if group_by == "window" else None,
        ratings=figures["ratings"],
        good=figures["good"],
        bad=figures["bad"],
        good_rate=_rate(figures["good"], figures["ratings"]),
        bad_rate=_rate(figures["bad"], figures["ratings"]),
        cases=figures["cases"],
        contacted=figures["contacted"],
        contact_rate=_rate(figures["contacted"], figures["cases"]),
        rectified=figures["rectified"],
        rectify_rate=_rate(figures["rectified"], figures["cases"]),
        on_time=figures["on_time"],
        on_time_rate=_rate(figures["on_time"], figures["cases"]),
        rerated=figures["rerated"],
        rerating_satisfied_rate=_rate(figures["rerated_ok"], figures["rerated"]),
        overdue_open=figures["overdue_open"],
        top_reasons=group.reasons,
    )


async def rating_indicators(
    *,
    session: AsyncSession,
    period: str | None = None,
    unit_id: int | None = None,
    group_by: GroupBy = "unit",
    today: date,
    neutral_is_good: bool = True,
    tz: ZoneInfo = SHANGHAI,
) -> list[Indicators]:
    """好评率, 差评率, 回访率, 整改率, 按时整改率 and 复评 per unit, (unit, 事项) or (unit, 窗口).

    Counted ratings: active (the latest round, §2), not 系统默认评价 (``is_default``) and not
    excluded by an upheld 申诉 (``excluded``). 好评 = 非常满意 + 满意, plus 基本满意 when
    ``neutral_is_good``; 差评 = 不满意 + 非常不满意. ``top_reasons`` are the three most frequent
    reasons among counted 差评 (each reason once per rating), by count then reason.

    Cases: those of ratings that are neither default nor excluded, so an upheld 申诉 leaves the
    loop too; a case whose rating was later replaced by a 2nd round still counts, since the
    整改 it records happened. ``rectified`` passed 已反馈 (so 不属实 and 申诉成立 never count),
    ``on_time`` did so on or before ``rectify_due`` by the ``tz`` date of the event, and
    ``rerating_satisfied_rate`` is 复评 满意 or 基本满意 over 复评. Case rates are over all
    cases, ``overdue_open`` is :func:`surveys.cases.is_overdue` on ``today``.

    ``period`` and ``unit_id`` filter on the rating; groups and rates cover whatever is left
    (all periods when ``period`` is None). Groups without any row are absent; a rate is None
    when its denominator is 0, otherwise rounded to 4 places.
    """
    units = None if unit_id is None else frozenset({unit_id})
    groups, _ = await _groups(
        session, period=period, units=units, group_by=group_by, today=today, tz=tz,
        neutral_is_good=neutral_is_good,
    )  # fmt: skip
    return [_indicators(group, group_by) for group in groups]


async def indicators_for(
    *,
    session: AsyncSession,
    actor: Actor,
    period: str | None,
    unit_id: int | None,
    group_by: GroupBy,
    today: date,
    tz: ZoneInfo = SHANGHAI,
) -> list[Indicators]:
    """:func:`rating_indicators` of the actor's units (another unit asked for: NotFound)."""
    actor.require(Perm.view)
    groups, _ = await _groups(
        session, period=period, units=actor.unit_filter(unit_id), group_by=group_by,
        today=today, tz=tz, neutral_is_good=True,
    )  # fmt: skip
    return [_indicators(group, group_by) for group in groups]


async def indicators_page(
    *,
    session: AsyncSession,
    actor: Actor,
    period: str | None,
    unit_id: int | None,
    group_by: GroupBy,
    today: date,
    tz: ZoneInfo = SHANGHAI,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Indicators], int]:
    """One page of :func:`indicators_for` and the number of groups."""
    actor.require(Perm.view)
    groups, total = await _groups(
        session, period=period, units=actor.unit_filter(unit_id), group_by=group_by,
        today=today, tz=tz, neutral_is_good=True, offset=offset, limit=limit,
    )  # fmt: skip
    return [_indicators(group, group_by) for group in groups], total
