"""The previous implementation of the 好差评 indicators and the dashboard, kept as the oracle.

:func:`rating_indicators` and :func:`overview` below are the row-by-row versions that loaded
every rating into Python; the SQL versions in ``surveys.haochaping`` must return exactly what
these return (tests/surveys/haochaping/test_pages_sql.py). Kept verbatim apart from imports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.service import is_overdue
from surveys.core.clock import as_utc
from surveys.core.masking import mask_text
from surveys.haochaping import indicators
from surveys.haochaping.dashboard import TREND_MONTHS, MonthPoint, Overview, UnitRow
from surveys.haochaping.indicators import (
    GOOD_LEVELS,
    RECTIFIED_STATES,
    RERATING_OK,
    SHANGHAI,
    TOP_REASONS,
    GroupBy,
    Indicators,
)
from surveys.haochaping.models import Rating
from surveys.haochaping.ratings import is_bad
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import Response, ResponseStatus

RATE_DIGITS = 4

_Key = tuple[int, str | None]


@dataclass
class _Tally:
    item_name: str | None = None
    ratings: int = 0
    good: int = 0
    bad: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    cases: int = 0
    contacted: int = 0
    rectified: int = 0
    on_time: int = 0
    rerated: int = 0
    rerated_ok: int = 0
    overdue_open: int = 0


@dataclass(frozen=True)
class _CaseRow:
    state: CaseState
    contact_due: date
    rectify_due: date
    rerating: str | None
    replied_at: datetime | None  # the 已反馈 transition, if any


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
    cases, ``overdue_open`` uses :func:`surveys.cases.is_overdue` on ``today``.

    ``period`` and ``unit_id`` filter on the rating; groups and rates cover whatever is left
    (all periods when ``period`` is None). Groups without any row are absent; a rate is None
    when its denominator is 0, otherwise rounded to 4 places.
    """
    tallies: dict[_Key, _Tally] = {}
    good_levels = GOOD_LEVELS | {Level.neutral} if neutral_is_good else GOOD_LEVELS
    for key, name, level, reasons in await _rating_rows(session, period, unit_id, group_by):
        _add_rating(_tally(tallies, key, name), level, reasons, good_levels)
    for key, name, case in await _case_rows(session, period, unit_id, group_by):
        _add_case(_tally(tallies, key, name, fill_only=True), case, today, tz)
    return [_indicators(key, tallies[key], group_by) for key in sorted(tallies, key=_order)]


def _filtered(
    statement: Select[*tuple[Any, ...]], period: str | None, unit_id: int | None
) -> Select[*tuple[Any, ...]]:
    statement = statement.where(col(Rating.is_default).is_(False), col(Rating.excluded).is_(False))
    if period is not None:
        statement = statement.where(Rating.period == period)
    if unit_id is not None:
        statement = statement.where(Rating.unit_id == unit_id)
    return statement


def _key(group_by: GroupBy, unit_id: int, item_code: str | None, window: str | None) -> _Key:
    if group_by == "item":
        return unit_id, item_code
    if group_by == "window":
        return unit_id, window
    return unit_id, None


async def _rating_rows(
    session: AsyncSession, period: str | None, unit_id: int | None, group_by: GroupBy
) -> list[tuple[_Key, str | None, str, list[str]]]:
    statement: Select[*tuple[Any, ...]] = Select(
        col(Rating.unit_id),
        col(Rating.item_code),
        col(Rating.item_name),
        col(Rating.window_code),
        col(Rating.level),
        col(Rating.reasons),
    )
    statement = _filtered(statement, period, unit_id).where(col(Rating.active).is_(True))
    # By id, so the latest rating names the 事项 when its name changed.
    rows = (await session.exec(statement.order_by(col(Rating.id)))).all()
    # Reasons may be typed by the citizen: masked before they are counted and shown (§7).
    return [
        (_key(group_by, unit, item, window), name, level, [mask_text(r) for r in reasons or []])
        for unit, item, name, window, level, reasons in rows
    ]


async def _case_rows(
    session: AsyncSession, period: str | None, unit_id: int | None, group_by: GroupBy
) -> list[tuple[_Key, str | None, _CaseRow]]:
    replied = and_(
        col(CaseEvent.case_id) == col(FollowUpCase.id),
        col(CaseEvent.to_state) == CaseState.replied.value,
    )
    statement: Select[*tuple[Any, ...]] = (
        Select(
            col(FollowUpCase.id),
            col(FollowUpCase.state),
            col(FollowUpCase.contact_due),
            col(FollowUpCase.rectify_due),
            col(FollowUpCase.rerating),
            col(Rating.unit_id),
            col(Rating.item_code),
            col(Rating.item_name),
            col(Rating.window_code),
            col(CaseEvent.at),
        )
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .outerjoin(CaseEvent, replied)
    )
    rows = (await session.exec(_filtered(statement, period, unit_id))).all()
    return list(_one_per_case(rows, group_by).values())


def _one_per_case(
    rows: Iterable[Sequence[Any]], group_by: GroupBy
) -> dict[int, tuple[_Key, str | None, _CaseRow]]:
    cases: dict[int, tuple[_Key, str | None, _CaseRow]] = {}
    for case_id, state, contact_due, rectify_due, rerating, unit, item, name, window, at in rows:
        # SQLite hands DateTime(timezone=True) back without its offset; events store UTC.
        replied_at = at if at is None or at.tzinfo else at.replace(tzinfo=UTC)
        if case_id in cases and replied_at is not None:
            # TRANSITIONS allow one 已反馈 per case; were there more, the first would count.
            replied_at = min(replied_at, cases[case_id][2].replied_at or replied_at)
        row = _CaseRow(CaseState(state), contact_due, rectify_due, rerating, replied_at)
        cases[case_id] = (_key(group_by, unit, item, window), name, row)
    return cases


def _tally(
    tallies: dict[_Key, _Tally], key: _Key, item_name: str | None, *, fill_only: bool = False
) -> _Tally:
    tally = tallies.setdefault(key, _Tally())
    if item_name is not None and not (fill_only and tally.item_name is not None):
        tally.item_name = item_name
    return tally


def _add_rating(tally: _Tally, level: str, reasons: list[str], good: frozenset[Level]) -> None:
    tally.ratings += 1
    if level in good:
        tally.good += 1
    elif is_bad(level):
        tally.bad += 1
        tally.reasons.update(set(reasons))


def _add_case(tally: _Tally, case: _CaseRow, today: date, tz: ZoneInfo) -> None:
    tally.cases += 1
    tally.contacted += case.state != CaseState.pending
    if case.state in RECTIFIED_STATES or case.replied_at is not None:
        tally.rectified += 1
    if case.replied_at is not None and case.replied_at.astimezone(tz).date() <= case.rectify_due:
        tally.on_time += 1
    if case.rerating is not None:
        tally.rerated += 1
        tally.rerated_ok += case.rerating in RERATING_OK
    probe = FollowUpCase(
        rating_id=0,
        unit_id=0,
        state=case.state,
        contact_due=case.contact_due,
        rectify_due=case.rectify_due,
    )
    tally.overdue_open += is_overdue(probe, today)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, RATE_DIGITS)


def _order(key: _Key) -> tuple[int, bool, str]:
    unit_id, code = key
    return unit_id, code is not None, code or ""


def _indicators(key: _Key, tally: _Tally, group_by: GroupBy) -> Indicators:
    unit_id, code = key
    top = sorted(tally.reasons.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_REASONS]
    # Codes and names come from integrators and chat links: masked as any such text (§7).
    shown = mask_text(code) if code else code
    return Indicators(
        unit_id=unit_id,
        item_code=shown if group_by == "item" else None,
        item_name=(mask_text(tally.item_name or "") or None) if group_by == "item" else None,
        window_code=shown if group_by == "window" else None,
        ratings=tally.ratings,
        good=tally.good,
        bad=tally.bad,
        good_rate=_rate(tally.good, tally.ratings),
        bad_rate=_rate(tally.bad, tally.ratings),
        cases=tally.cases,
        contacted=tally.contacted,
        contact_rate=_rate(tally.contacted, tally.cases),
        rectified=tally.rectified,
        rectify_rate=_rate(tally.rectified, tally.cases),
        on_time=tally.on_time,
        on_time_rate=_rate(tally.on_time, tally.cases),
        rerated=tally.rerated,
        rerating_satisfied_rate=_rate(tally.rerated_ok, tally.rerated),
        overdue_open=tally.overdue_open,
        top_reasons=tuple(top),
    )


def _months(today: date, count: int) -> list[str]:
    year, month = today.year, today.month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found[::-1]


async def overview(*, session: AsyncSession, actor: Actor, today: date, tz: ZoneInfo) -> Overview:
    """The dashboard of the actor's units (every unit for admins and city-wide readers)."""
    actor.require(Perm.view)
    statement = select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.id))
    visible = [u for u in (await session.exec(statement)).all() if actor.sees(u.id)]
    ids = [u.id for u in visible if u.id is not None]
    by_unit = {
        row.unit_id: row
        for row in await rating_indicators(session=session, today=today, tz=tz)
        if row.unit_id in ids
    }
    open_cases = await session.exec(
        select(FollowUpCase.unit_id, func.count())
        .where(col(FollowUpCase.unit_id).in_(ids), FollowUpCase.state != CaseState.closed.value)
        .group_by(col(FollowUpCase.unit_id))
    )
    bad_open = dict(open_cases.all())
    # Overdue as the case queue counts it: every case past its current deadline, whatever
    # became of its rating's score (issue 15: the dashboard and the queue agree).
    overdue: dict[int, int] = {}
    for case in (await session.exec(select(FollowUpCase))).all():
        if case.unit_id in ids and is_overdue(case, today):
            overdue[case.unit_id] = overdue.get(case.unit_id, 0) + 1
    responses = await session.exec(
        select(Response.unit_id, func.count())
        .where(
            col(Response.unit_id).in_(ids),
            Response.status == ResponseStatus.completed.value,
        )
        .group_by(col(Response.unit_id))
    )
    completed = {unit_id: n for unit_id, n in responses.all() if unit_id is not None}
    rows = []
    for unit in visible:
        assert unit.id is not None
        found = by_unit.get(unit.id)
        rows.append(
            UnitRow(
                unit_id=unit.id,
                code=unit.code,
                name=unit.name,
                kind=str(unit.kind),
                ratings=found.ratings if found else 0,
                good_rate=found.good_rate if found else None,
                bad_rate=found.bad_rate if found else None,
                bad_open=int(bad_open.get(unit.id, 0)),
                overdue=overdue.get(unit.id, 0),
                responses=int(completed.get(unit.id, 0)),
            )
        )
    return Overview(units=rows, trend=await _trend(session, ids, today, tz))


async def _trend(
    session: AsyncSession, unit_ids: list[int], today: date, tz: ZoneInfo
) -> list[MonthPoint]:
    """Counted ratings per month (in ``tz``) over the last :data:`TREND_MONTHS` months."""
    months = _months(today, TREND_MONTHS)
    first = date.fromisoformat(months[0] + "-01")
    since = datetime.combine(first, time(), tzinfo=tz) - timedelta(days=1)
    statement = select(Rating.rated_at, Rating.level).where(
        col(Rating.unit_id).in_(unit_ids),
        col(Rating.active).is_(True),
        col(Rating.is_default).is_(False),
        col(Rating.excluded).is_(False),
        col(Rating.rated_at) >= since,
    )
    total: Counter[str] = Counter()
    good: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    good_levels = indicators.GOOD_LEVELS | {Level.neutral}
    for rated_at, level in (await session.exec(statement)).all():
        month = as_utc(rated_at).astimezone(tz).strftime("%Y-%m")
        total[month] += 1
        good[month] += Level(level) in good_levels
        bad[month] += is_bad(level)
    return [
        MonthPoint(
            month=m,
            ratings=total[m],
            bad=bad[m],
            good_rate=round(good[m] / total[m], 4) if total[m] else None,
        )
        for m in months
    ]
