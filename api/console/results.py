"""Console pages: survey results (tables, ECharts bar charts, free text) and their export."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, WriteSessionDep
from surveys.accounts.access import Actor, Perm
from surveys.flows import exports
from surveys.questionnaire import results
from surveys.questionnaire.definitions import QuestionType

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 20
ViewActor = Annotated[Actor, Depends(console_actor(Perm.view))]
ExportActor = Annotated[Actor, Depends(console_actor(Perm.export))]
TextParam = Annotated[str | None, Query(max_length=100)]


@router.get("/results", response_class=HTMLResponse)
async def results_page(
    request: Request,
    session: SessionDep,
    actor: ViewActor,
    survey: TextParam = None,
    unit_id: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=8)] = None,
    q: TextParam = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Pick a survey, a unit (of the actor's), a period and a channel; see tables, charts,
    free text (paged on by ``after=``), and the responses per channel."""
    page = await results.results_page(
        session=session, actor=actor, survey=survey, unit=unit_id, period=period, query=q,
        offset=offset, limit=PAGE_SIZE, channel=channel, after=after or None,
    )  # fmt: skip
    filters = {"survey": page.survey or "", "unit_id": page.unit_id or "", "period": period or ""}
    shown = {**filters, "channel": page.channel or ""}
    context: dict[str, Any] = {
        "surveys": page.surveys,
        "survey": page.survey,
        "unit_id": page.unit_id,
        "period": period or "",
        "channel": page.channel or "",
        "channels": results.CHANNELS,
        "q": q or "",
        "units": page.units,
        "found": page.found,
        "periods": page.periods,
        "charts": page.charts,
        "satisfaction": QuestionType.satisfaction,
        "scale": QuestionType.scale,
        "texts": page.texts,
        "total": page.total,
        "offset": offset,
        "after": after or "",
        "next": page.next,
        "page_size": PAGE_SIZE,
        "filters": urlencode(shown),
        "more": urlencode({**shown, "q": q or ""}),
    }
    return render(request, "console/results.html", context, actor=actor)


@router.get("/results/export")
async def export_results(
    session: WriteSessionDep,
    actor: ExportActor,
    survey: TextParam = None,
    unit_id: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=8)] = None,
    fmt: Literal["csv", "xlsx"] = "csv",
    channel: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The distributions and masked free text as CSV or XLSX (Perm.export), audited."""
    file = await exports.export_results(
        session=session, actor=actor, survey=survey, unit_id=results.parse_unit(unit_id),
        period=period, fmt=fmt, channel=channel or None,
    )  # fmt: skip
    return Response(
        file.body,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.name}"'},
    )
