"""The flow that imports a 好差评 ratings file (.csv/.xlsx): every row or none, audited."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.core.settings import Settings
from surveys.core.table_files import TableLimits
from surveys.flows.registry import Adapter, flow
from surveys.haochaping import feedback, imports
from surveys.haochaping.imports import Progress, Received


@flow("import.ratings", perm=Perm.manage, adapters=frozenset({Adapter.console, Adapter.cli}))
async def import_ratings(
    *,
    session: AsyncSession,
    actor: Actor,
    path: Path,
    source: str,
    settings: Settings,
    now: datetime,
    name: str | None = None,
    limits: TableLimits | None = None,
    progress: Progress | None = None,
) -> Received:
    """Every row stored and a case opened for each 差评, or none (:class:`InvalidFile`).

    ``source`` is recorded in the audit log. ``name`` is the file's name as the person
    chose it when ``path`` is a copy (an upload stored under a temporary name): problems
    name it; without it they name ``path``. ``limits`` replace the file limits of
    :data:`surveys.haochaping.imports.LIMITS` (the command line's ``--max-rows``);
    ``progress`` is called as the file is read.
    """
    received = await feedback.import_ratings_file(
        session=session,
        path=path,
        tz=settings.tz,
        now=now,
        grace_days=settings.rating_grace_days,
        policy=workdays.policy_from(settings),
        name=name,
        limits=limits or imports.LIMITS,
        progress=progress,
    )
    result = received.result
    await audit.record(
        session=session,
        actor=actor,
        action="import.ratings",
        target=source[:120],
        created=len(result.created),
        duplicates=len(result.duplicates),
        cases_opened=len(received.opened),
    )
    return received
