"""Console pages: the evaluation results (考评结果) and monitoring imports."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from scoring import export, flows, outside, service
from scoring.models import IMPORTED_COMPONENTS
from surveys.accounts.access import Actor, Perm
from surveys.core.periods import PERIOD_PATTERN

router = APIRouter(prefix="/console", include_in_schema=False)
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]
Viewer = Annotated[Actor, Depends(console_actor(Perm.view))]


@router.get("/scoring", response_class=HTMLResponse)
async def scoring_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    page = await service.scoring_page(
        session=session, actor=actor, setup=service.setup(settings), period=period
    )
    method = page.report.method
    context = {
        "report": page.report,
        # Each unit's 民意 sources (score, interval, n, weight for the unit), by unit code.
        "sources": {r.unit.code: export.source_lines(r, method) for r in page.rows},
        "sources_text": export.sources_text(method),
        "interval_text": export.interval_text(method),
        "level": f"{method.confidence * 100:g}",
        "period": page.period,
        "groups": page.groups,
        "computed_at": page.computed_at,
        "charts": page.charts,
        "import_lines": page.import_lines,
        "components": IMPORTED_COMPONENTS,
        "outside_lines": await outside.import_lines(session=session, tz=settings.tz),
        "imported": request.query_params.get("imported"),
    }
    return render(request, "console/scoring.html", context, actor=actor)


@router.get("/scoring/export")
async def scoring_export(
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
    fmt: Annotated[str, Query(pattern="^(csv|xlsx|json)$")] = "xlsx",
) -> Response:
    report = await flows.export_scores(
        session=session, actor=actor, period=period, formats=[fmt], setup=service.setup(settings)
    )
    file = await asyncio.to_thread(export.download, report, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{file.name}"'}
    return Response(file.body, media_type=file.media_type, headers=headers)
