"""Console pages: survey results (tables, ECharts bar charts, free text) and their export."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, WriteSessionDep
from surveys.accounts import audit, units
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.core.exceptions import NotFound
from surveys.questionnaire import catalog, exports, results
from surveys.questionnaire.definitions import QuestionType

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 20
ViewActor = Annotated[Actor, Depends(console_actor(Perm.view))]
ExportActor = Annotated[Actor, Depends(console_actor(Perm.export))]
TextParam = Annotated[str | None, Query(max_length=100)]


def _unit_id(actor: Actor, raw: str | None) -> int | None:
    """The unit filter of a form ("" for all); another unit is 404 like any unknown id."""
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise NotFound(unit=raw[:20])
    unit_id = int(raw)
    actor.unit_filter(unit_id)
    return unit_id


async def _survey_code(session: SessionDep, asked: str | None) -> tuple[str | None, list[Any]]:
    """The survey to show (the one asked for, else the latest period's) and every survey."""
    surveys = await catalog.list_surveys(session=session)
    if asked:
        return asked, surveys
    latest = max(surveys, key=lambda s: (s.period, s.opens_on, s.code), default=None)
    return (latest.code if latest else None), surveys


def _chart_data(found: results.SurveyResults) -> list[dict[str, Any]]:
    """What the bar charts draw, embedded in the page as JSON."""
    return [
        {
            "id": f"chart-q-{q.key}",
            "title": q.text,
            "labels": [o.label for o in q.options],
            "counts": [o.count for o in q.options],
        }
        for q in found.questions
        if q.options
    ]


def _visible_units(actor: Actor, all_units: list[Unit]) -> list[Unit]:
    return [u for u in all_units if actor.sees(u.id)]


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
) -> Response:
    """Pick a survey, a unit (of the actor's) and a period; see tables, charts, free text."""
    unit = _unit_id(actor, unit_id)
    code, surveys = await _survey_code(session, survey)
    context: dict[str, Any] = {
        "surveys": surveys,
        "survey": code,
        "unit_id": unit,
        "period": period or "",
        "q": q or "",
        "units": _visible_units(actor, await units.list_units(session=session)),
        "found": None,
    }
    if code is not None:
        found = await results.question_results(
            session=session, actor=actor, survey_code=code, unit_id=unit, period=period
        )
        texts, total = await results.free_text(
            session=session,
            actor=actor,
            survey_code=code,
            query=q,
            unit_id=unit,
            period=period,
            offset=offset,
            limit=PAGE_SIZE,
        )
        filters = {"survey": code, "unit_id": unit or "", "period": period or ""}
        context.update(
            found=found,
            periods=await results.survey_periods(session=session, survey_code=code),
            charts=_chart_data(found),
            satisfaction=QuestionType.satisfaction,
            scale=QuestionType.scale,
            texts=texts,
            total=total,
            offset=offset,
            page_size=PAGE_SIZE,
            filters=urlencode(filters),
            more=urlencode({**filters, "q": q or ""}),
        )
    return render(request, "console/results.html", context, actor=actor)


@router.get("/results/export")
async def export_results(
    session: WriteSessionDep,
    actor: ExportActor,
    survey: TextParam = None,
    unit_id: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=8)] = None,
    fmt: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """The distributions and masked free text as CSV or XLSX (Perm.export), audited."""
    unit = _unit_id(actor, unit_id)
    code, _ = await _survey_code(session, survey)
    if code is None:
        raise NotFound(survey="-")
    body = await results.export_results(
        session=session, actor=actor, survey_code=code, unit_id=unit, period=period, fmt=fmt
    )
    await audit.record(
        session=session,
        actor=actor,
        action="export.results",
        target=code,
        fmt=fmt,
        unit_id=unit,
        period=period or None,
        size=len(body),
    )
    media = exports.XLSX_MEDIA_TYPE if fmt == "xlsx" else exports.CSV_MEDIA_TYPE
    name = results.export_filename(code, fmt, period or None)
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
