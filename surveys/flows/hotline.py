"""The flows that take in 12345 回访 records: a push over the API and a file import.

Each stores the whole batch or nothing (:class:`surveys.hotline.visits.InvalidVisits`) and
writes one audit row of counts, never the records (no citizens, no 工单 texts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.core.i18n import N_, Translator
from surveys.core.settings import Settings
from surveys.flows.registry import Adapter, flow
from surveys.hotline import files, visits
from surveys.hotline.models import VisitSource


@dataclass(frozen=True)
class Imported:
    """A file's records stored, and the spreadsheet row its header was found on."""

    result: visits.Ingested
    header_row: int


def _item(problem: visits.Problem, t: Translator) -> str:
    return t(N_("hotline.where.item"), number=problem.index + 1, index=problem.index,
             field=problem.field, problem=problem.message)  # fmt: skip


async def _audit(
    session: AsyncSession, actor: Actor, action: str, rows: int, result: visits.Ingested,
    target: str | None = None,
) -> None:  # fmt: skip
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target=target,
        rows=rows,
        created=len(result.created),
        duplicates=len(result.duplicates),
        flagged=len(result.flagged),
        retired=result.retired,
        cases_opened=len(result.opened),
    )


@flow("hotline.push", perm=Perm.push, adapters=frozenset({Adapter.api}))
async def push_visits(
    *,
    session: AsyncSession,
    actor: Actor,
    rows: Sequence[object],
    settings: Settings,
    now: datetime,
) -> visits.Ingested:
    """Store a batch of 回访 records from a 12345 system: all of them, or none (each
    problem named by the record's position and field)."""
    result = await visits.ingest_visits(
        session=session, rows=rows, source=VisitSource.api, actor=actor, tz=settings.tz,
        now=now, grace_days=settings.rating_grace_days, policy=workdays.policy_from(settings),
        locate=partial(_item, t=Translator()), name="request",
    )  # fmt: skip
    await _audit(session, actor, "hotline.push", len(rows), result)
    return result


@flow("import.hotline", perm=Perm.manage, adapters=frozenset({Adapter.console, Adapter.cli}))
async def import_hotline(
    *,
    session: AsyncSession,
    actor: Actor,
    path: Path,
    source: str,
    settings: Settings,
    now: datetime,
    name: str | None = None,
) -> Imported:
    """Every record of a 回访 file (.csv/.xlsx) stored, or none (:class:`InvalidFile`
    naming the row and column of each problem). ``name`` is the file as the person chose
    it when ``path`` is an upload's copy."""
    read = files.read_hotline_file(path, name=name)
    result = await visits.ingest_visits(
        session=session, rows=read.rows, source=VisitSource.file, actor=actor, tz=settings.tz,
        now=now, grace_days=settings.rating_grace_days, policy=workdays.policy_from(settings),
        locate=read.locate, name=name or str(path),
    )  # fmt: skip
    await _audit(session, actor, "import.hotline", len(read.rows), result, source[:120])
    return Imported(result, read.header_row)
