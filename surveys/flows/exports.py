"""Exports of survey results: checked, built and audited in one flow.

The console's download calls :func:`export_results` and nothing else; the audit row holds
ids, the format and the size, never the exported text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core.exceptions import NotFound
from surveys.flows.registry import Adapter, flow
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
