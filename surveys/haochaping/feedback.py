"""Receiving 好差评 ratings from any channel: store them, and open a case for each 差评."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.i18n import N_, Translator
from surveys.core.table_files import TableLimits
from surveys.haochaping import imports, ratings
from surveys.haochaping.models import RatingSource
from surveys.haochaping.ratings import IngestResult, RowError


@dataclass
class Received:
    result: IngestResult
    opened: list[FollowUpCase] = field(default_factory=list)


async def receive_ratings(
    *,
    session: AsyncSession,
    rows: Sequence[dict[str, object]],
    source: RatingSource,
    actor: Actor,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    policy: workdays.DeadlinePolicy,
) -> Received:
    """Validate each row, store the good new ones, open a follow-up case for each 差评.

    Bad rows are reported with their index and field; the good rows are stored anyway
    (an API batch). An actor bound to units may only rate those units.
    """
    actor.require(Perm.push)
    items, errors = ratings.validate_rows(rows)
    if actor.units is not None:
        allowed = (
            await session.exec(select(Unit.code).where(col(Unit.id).in_(actor.units)))
        ).all()
        t = Translator()
        for index, item in enumerate(items):
            if item is not None and item.unit not in allowed:
                units = "、".join(sorted(allowed))
                problem = t(N_("ratingsimport.row.token_units"), units=units)
                errors.append(RowError(index, "unit", problem))
                items[index] = None
    result = await ratings.ingest(
        session=session, items=items, source=source, tz=tz, now=now, grace_days=grace_days
    )
    result.errors = sorted(errors + result.errors, key=lambda e: (e.row, e.field))
    return await _open_cases(session, result, tz, policy)


async def import_ratings_file(
    *,
    session: AsyncSession,
    path: Path,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    policy: workdays.DeadlinePolicy,
    name: str | None = None,
    limits: TableLimits = imports.LIMITS,
    progress: imports.Progress | None = None,
) -> imports.Received:
    """A whole file or nothing (InvalidFile lists every problem); 差评 open cases as each
    chunk of the file is stored (set-based, :func:`surveys.cases.service.open_cases`).

    Problems name the file ``name`` (an upload's own name), by default ``path``.
    """
    calendar = await workdays.load_calendar(session=session, tz=tz)
    result = await imports.import_ratings(
        session=session, path=path, tz=tz, now=now, grace_days=grace_days, name=name,
        limits=limits, deadlines=cases.Deadlines(calendar, policy), progress=progress,
    )  # fmt: skip
    return imports.Received(result, result.opened)


async def _open_cases(
    session: AsyncSession, result: IngestResult, tz: ZoneInfo, policy: workdays.DeadlinePolicy
) -> Received:
    calendar = await workdays.load_calendar(session=session, tz=tz)
    received = Received(result)
    for rating in result.created:
        case = await cases.open_case(
            session=session, rating=rating, calendar=calendar, policy=policy
        )
        if case is not None:
            received.opened.append(case)
    return received
