"""Console page: per-事项 analysis of a unit (seed 004 item 17), and its download.

What the page shows is one query (:func:`surveys.haochaping.analysis.unit_analysis`: the
actor's units only, texts masked there); the download is one flow
(:func:`surveys.flows.exports.export_analysis`), which audits it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.periods import PERIOD_PATTERN
from surveys.core.workbook import TableFormat
from surveys.flows import exports
from surveys.haochaping import analysis

router = APIRouter(prefix="/console", include_in_schema=False)
ViewActor = Annotated[Actor, Depends(console_actor(Perm.view))]
ExportActor = Annotated[Actor, Depends(console_actor(Perm.export))]
UnitParam = Annotated[str | None, Query(max_length=40)]
PeriodParam = Annotated[str | None, Query(pattern=PERIOD_PATTERN)]


@router.get("/analysis", response_class=HTMLResponse)
async def analysis_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    unit: UnitParam = None,
    period: PeriodParam = None,
) -> Response:
    report = await analysis.unit_analysis(
        session=session, actor=actor, unit_code=unit or None, period=period or None,
        on=today(settings.tz), tz=settings.tz,
    )  # fmt: skip
    shown = {"unit": report.unit.code, **({"period": report.period} if report.period else {})}
    context = {
        "report": report,
        "query": urlencode(shown),
        "can_export": actor.can(Perm.export),
    }
    return render(request, "console/analysis.html", context, actor=actor)


@router.get("/analysis/export")
async def analysis_export(
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: ExportActor,
    unit: UnitParam = None,
    period: PeriodParam = None,
    fmt: TableFormat = "xlsx",
) -> Response:
    """The analysis as XLSX or CSV (Perm.export), audited."""
    file = await exports.export_analysis(
        session=session, actor=actor, unit_code=unit or None, period=period or None, fmt=fmt,
        on=today(settings.tz), tz=settings.tz,
    )  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{file.name}"'}
    return Response(file.body, media_type=file.media_type, headers=headers)
