"""Exports of survey results: checked, built and audited in one flow.

The console's download calls :func:`export_results` and nothing else; the audit row holds
ids, the format and the size, never the exported text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import ledger
from surveys.cases.queries import QueueFilters
from surveys.cases.workdays import load_calendar
from surveys.core.exceptions import NotFound
from surveys.core.workbook import TableFormat
from surveys.flows.registry import Adapter, flow
from surveys.haochaping import analysis, national
from surveys.questionnaire import exports, results


@dataclass(frozen=True)
class ExportFile:
    name: str  # ASCII, safe in a Content-Disposition header
    media_type: str
    body: bytes


@flow("export.results", perm=Perm.export, adapters=frozenset({Adapter.console}))
async def export_results(
    *,
    session: AsyncSession,
    actor: Actor,
    survey: str | None,
    unit_id: int | None = None,
    period: str | None = None,
    fmt: results.ExportFormat = "csv",
    channel: str | None = None,
) -> ExportFile:
    """A survey's distributions and masked free text (default: the latest period's survey),
    of one channel's responses ("telegram" or "web") when ``channel`` is given."""
    code, _ = await results.chosen_survey(session=session, asked=survey)
    if code is None:
        raise NotFound(survey="-")
    body = await results.export_results(
        session=session, actor=actor, survey_code=code, unit_id=unit_id, period=period,
        fmt=fmt, channel=channel,
    )  # fmt: skip
    await audit.record(
        session=session,
        actor=actor,
        action="export.results",
        target=code,
        fmt=fmt,
        unit_id=unit_id,
        period=period or None,
        channel=channel,
        size=len(body),
    )
    media = exports.XLSX_MEDIA_TYPE if fmt == "xlsx" else exports.CSV_MEDIA_TYPE
    return ExportFile(results.export_filename(code, fmt, period or None), media, body)


@flow("export.ledger", perm=Perm.export)
async def export_ledger(
    *,
    session: AsyncSession,
    actor: Actor,
    filters: QueueFilters,
    fmt: TableFormat,
    on: date,
    tz: ZoneInfo,
) -> ExportFile:
    """The 差评 台账: every case of the queue's ``filters`` (not only a page), masked."""
    calendar = await load_calendar(session=session, tz=tz)
    file = await ledger.write_ledger(
        session=session, actor=actor, filters=filters, fmt=fmt, on=on, tz=tz, calendar=calendar
    )
    await audit.record(
        session=session,
        actor=actor,
        action="export.ledger",
        target=filters.unit_code or None,
        fmt=fmt,
        rows=file.rows,
        filters=ledger.described(filters),
    )
    return ExportFile(file.name, file.media_type, file.body)


@flow("export.analysis", perm=Perm.export, adapters=frozenset({Adapter.console}))
async def export_analysis(
    *,
    session: AsyncSession,
    actor: Actor,
    unit_code: str | None,
    period: str | None,
    fmt: TableFormat,
    on: date,
    tz: ZoneInfo,
) -> ExportFile:
    """A unit's 事项 and windows by 差评率 with their 12-month trend (seed 004 item 17)."""
    report = await analysis.unit_analysis(
        session=session, actor=actor, unit_code=unit_code, period=period, on=on, tz=tz
    )
    file = analysis.write_analysis(report, fmt)
    await audit.record(
        session=session,
        actor=actor,
        action="export.analysis",
        target=report.unit.code,
        fmt=fmt,
        period=report.period,
        rows=file.rows,
    )
    return ExportFile(file.name, file.media_type, file.body)


@flow("export.haochaping", perm=Perm.export, adapters=frozenset({Adapter.cli}))
async def export_haochaping(
    *,
    session: AsyncSession,
    actor: Actor,
    period: str,
    fmt: national.NationalFormat,
    tz: ZoneInfo,
) -> ExportFile:
    """A half-year's 好差评 ratings of the actor's units in the national/provincial exchange
    layout (:mod:`surveys.haochaping.national`), JSON or CSV, free text masked."""
    file = await national.write_national(
        session=session, actor=actor, period=period, fmt=fmt, tz=tz
    )
    await audit.record(
        session=session,
        actor=actor,
        action="export.haochaping",
        target=period,
        fmt=f"national-{fmt}",
        rows=file.rows,
        size=len(file.body),
    )
    return ExportFile(file.name, file.media_type, file.body)
