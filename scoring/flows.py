"""The staff flows of the scoring: monitoring imports, score exports and 反馈单 exports.

Each flow takes the acting :class:`~surveys.accounts.access.Actor`, is checked by
:func:`surveys.flows.registry.flow`, calls the services and writes one audit row named
after itself, in the caller's transaction. The console and the command line call these
and nothing else; turning a result into a download or files is theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import circular, export, feedback_sheet, monitoring, outside, service
from scoring.exceptions import InvalidPeriod, UnknownComponent
from scoring.models import Component
from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core import table_files
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.flows.registry import Adapter, flow

CONSOLE_AND_CLI = frozenset({Adapter.console, Adapter.cli})


def _component(text: str | Component) -> Component:
    try:
        return monitoring.parse_component(text)
    except ValueError as exc:
        raise UnknownComponent(value=str(text)[:20]) from exc


# What refuses an import because of what the person gave (the file, the period, the
# component): audited as ``import.monitoring.refused``, with the file's name and the number
# of problems (never its contents).
REFUSALS = (InvalidFile, InvalidPeriod, monitoring.PeriodOutOfRange, UnknownComponent)
REFUSED_ACTION = "import.monitoring.refused"
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


@flow("import.monitoring", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def import_monitoring(
    *, session: AsyncSession, actor: Actor, file_name: str, content: bytes | Path, period: str,
    component: str | Component, now: datetime, tz: ZoneInfo = DEFAULT_TZ, force: bool = False,
) -> monitoring.Imported:  # fmt: skip
    """Store a .csv/.xlsx of 日常监测/实地调研/第三方评估 scores: every row, or none.

    A half-year outside :func:`scoring.monitoring.period_window` is refused unless
    ``force``. A refusal (:data:`REFUSALS`) stores nothing but its audit row, in the caller's
    transaction, and is raised on: an adapter commits despite it to keep that row.
    """
    try:
        chosen = _component(component)
        usual = _usual_period(period, now, tz, force=force)
        async with session.begin_nested():  # a refusal leaves nothing of the import behind
            imported = await monitoring.import_monitoring_upload(
                session=session, file_name=file_name, content=content, period=period,
                component=chosen, actor=audit.actor_label(actor), now=now,
            )  # fmt: skip
    except REFUSALS as exc:
        await _audit_refusal(session, actor, file_name, f"{period} {component}", exc)
        raise
    stored = imported.stored
    await audit.record(
        session=session, actor=actor, action="import.monitoring",
        target=f"{stored.period} {chosen.value}", import_id=pk(stored), rows=stored.rows,
        sha256=stored.sha256, **_forced(usual),
    )  # fmt: skip
    return imported


def _usual_period(period: str, now: datetime, tz: ZoneInfo, *, force: bool) -> bool:
    """Whether ``period`` is in :func:`scoring.monitoring.period_window`; outside it,
    :class:`~scoring.monitoring.PeriodOutOfRange` unless ``force``."""
    try:
        monitoring.check_period_window(period, now.astimezone(tz).date())
    except monitoring.PeriodOutOfRange:
        if not force:
            raise
        return False
    return True


def _forced(usual: bool) -> dict[str, Any]:
    """What an import's audit row says of its half-year: ``forced`` only when it was."""
    return {} if usual else {"forced": True}


async def _audit_refusal(
    session: AsyncSession, actor: Actor, file_name: str, target: str, exc: DomainError,
    action: str = REFUSED_ACTION,
) -> None:  # fmt: skip
    problems = len(exc.problems) if isinstance(exc, InvalidFile) else 1
    await audit.record(
        session=session, actor=actor, action=action, target=target[:120],
        file=table_files.file_name(file_name)[:255], problems=problems, reason=exc.key,
    )  # fmt: skip


@flow("export.scores", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def export_scores(
    *, session: AsyncSession, actor: Actor, formats: Sequence[str], setup: service.Setup,
    period: str | None = None, year: str | None = None,
    progress: service.Progress = service.quiet,
) -> service.ScoreReport:  # fmt: skip
    """Every unit's scores of a half-year, or of a year (both halves and 年度分), to export."""
    chosen = sorted(set(formats))
    wrong = [fmt for fmt in chosen if fmt not in export.FORMATS]
    if wrong or not chosen:
        raise ValueError(f"export formats {formats!r}: choose from {export.FORMATS}")
    report = await service.score_scope(
        session=session, setup=setup, period=period, year=year, progress=progress
    )
    await audit.record(
        session=session, actor=actor, action="export.scores", target=report.scope,
        formats=chosen, fingerprint=report.fingerprint,
    )  # fmt: skip
    return report


@flow("export.feedback", perm=Perm.view, adapters=CONSOLE_AND_CLI)
async def export_feedback(
    *, session: AsyncSession, actor: Actor, unit_code: str, period: str | None,
    setup: service.Setup,
) -> feedback_sheet.FeedbackSheet:  # fmt: skip
    """One unit's 评估情况反馈单 to print (another unit's is NotFound, as on the page)."""
    sheet = await feedback_sheet.sheet_for(
        session=session, actor=actor, unit_code=unit_code, period=period, setup=setup
    )
    await audit.record(
        session=session, actor=actor, action="export.feedback",
        target=f"{sheet.unit.code} {sheet.period}",
    )  # fmt: skip
    return sheet


@flow("export.circular", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def export_circular(
    *, session: AsyncSession, actor: Actor, formats: Sequence[str], setup: service.Setup,
    settings: Settings, period: str | None = None, year: str | None = None,
) -> circular.Circular:  # fmt: skip
    """The 通报 of a half-year or of a year (every kind's ranking), to print or circulate."""
    chosen = sorted(set(formats))
    wrong = [fmt for fmt in chosen if fmt not in circular.FORMATS]
    if wrong or not chosen:
        raise ValueError(f"circular formats {formats!r}: choose from {circular.FORMATS}")
    paper = await circular.circular_for(
        session=session, actor=actor, setup=setup, settings=settings, period=period, year=year
    )
    await audit.record(
        session=session, actor=actor, action="export.circular", target=paper.scope,
        formats=chosen, number=paper.paper.number, fingerprint=paper.fingerprint,
    )  # fmt: skip
    return paper


# Outside 民意 results (a poll, a 蒙速办 figure): refused like the monitoring imports, audited
# as ``import.outside.refused``.
OUTSIDE_REFUSALS = (
    InvalidFile, InvalidPeriod, monitoring.PeriodOutOfRange, outside.InvalidSourceName,
    outside.InvalidMethodNote,
)  # fmt: skip
OUTSIDE_REFUSED_ACTION = "import.outside.refused"


@flow("import.outside", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def import_outside(
    *, session: AsyncSession, actor: Actor, file_name: str, content: bytes | Path, period: str,
    source_name: str, method_note: str, now: datetime, tz: ZoneInfo = DEFAULT_TZ,
    force: bool = False,
) -> outside.Imported:  # fmt: skip
    """Store a .csv/.xlsx of one outside source's results (单位, 得分, 样本量): every row, or
    none; the source's earlier import of the half-year is kept as history.

    The period window, ``force`` and the refusals are those of :func:`import_monitoring`.
    """
    try:
        usual = _usual_period(period, now, tz, force=force)
        async with session.begin_nested():  # a refusal leaves nothing of the import behind
            imported = await outside.import_outside_upload(
                session=session, file_name=file_name, content=content, period=period,
                source_name=source_name, method_note=method_note,
                actor=audit.actor_label(actor), now=now,
            )  # fmt: skip
    except OUTSIDE_REFUSALS as exc:
        target = f"{period} {' '.join(source_name.split())}"
        await _audit_refusal(session, actor, file_name, target, exc, OUTSIDE_REFUSED_ACTION)
        raise
    stored = imported.stored
    await audit.record(
        session=session, actor=actor, action="import.outside",
        target=f"{stored.period} {stored.source_name}", import_id=pk(stored), rows=stored.rows,
        sha256=stored.sha256, **_forced(usual),
    )  # fmt: skip
    return imported
