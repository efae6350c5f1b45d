"""Console pages: the evaluation results (考评结果), monitoring imports and the 反馈单."""

from __future__ import annotations

import asyncio
import io
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, templates, translate
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from scoring import export, feedback_sheet, monitoring, service
from scoring.method import load_method
from scoring.models import IMPORTED_COMPONENTS, Component
from scoring.periods import PERIOD_PATTERN, check_period, recent
from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.periods import half_year
from surveys.core.settings import Settings

router = APIRouter(prefix="/console", include_in_schema=False)
UPLOAD_MAX = 5 * 1024 * 1024
TREND_PERIODS = 4
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]
Viewer = Annotated[Actor, Depends(console_actor(Perm.view))]


def _period(settings: Settings, period: str | None) -> str:
    return period or half_year(today(settings.tz))[0]


async def _report(session: SessionDep, settings: Settings, period: str) -> service.ScoreReport:
    method = load_method(settings.scoring_method_file)
    computed_at = datetime.now(settings.tz).replace(microsecond=0)
    return await service.score_period(
        session=session, period=period, method=method, tz=settings.tz, computed_at=computed_at
    )


def _charts(
    report: service.ScoreReport, trend: dict[str, service.ScoreReport]
) -> dict[str, object]:
    rows = report.halves[report.scope]
    totals = [r.total.score for r in rows if r.total]
    bins = [f"{low}-{low + 5}" for low in range(50, 100, 5)]
    counts = [sum(1 for t in totals if low <= t < low + 5 or (low == 95 and t == 100))
              for low in range(50, 100, 5)]  # fmt: skip
    below = sum(1 for t in totals if t < 50)
    method = report.method
    ordered = sorted(rows, key=lambda r: -(r.total.score if r.total else -1))
    return {
        "bins": ["<50", *bins],
        "counts": [below, *counts],
        "units": [r.unit.name for r in ordered],
        "components": {
            c.value: [
                round(method.components[c] * (r.components.get(c) or 0.0), 2) for r in ordered
            ]
            for c in Component
        },
        "periods": list(trend),
        "trend": [
            {
                "name": r.unit.name,
                "data": [
                    next(
                        (
                            round(x.total.score, 2)
                            for x in trend[p].halves[p]
                            if x.unit.code == r.unit.code and x.total
                        ),
                        None,
                    )
                    for p in trend
                ],
            }
            for r in ordered[:10]
        ],
    }


@router.get("/scoring", response_class=HTMLResponse)
async def scoring_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    chosen = _period(settings, period)
    report = await _report(session, settings, chosen)
    trend = {}
    for p in recent(chosen, TREND_PERIODS):
        try:
            trend[p] = report if p == chosen else await _report(session, settings, p)
        except DomainError:
            continue
    imports = await monitoring.list_imports(session=session)
    context = {
        "report": report,
        "period": chosen,
        "rows": report.halves[chosen],
        "charts": _charts(report, trend),
        "imports": imports,
        "components": IMPORTED_COMPONENTS,
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
    report = await _report(session, settings, period)
    await audit.record(
        session=session, actor=actor, action="export.scores", target=period, fmt=fmt
    )
    name = f"scores_{period}.{fmt}"
    if fmt == "json":
        body, media = export.to_json(report), "application/json"
    elif fmt == "csv":
        body = export.to_csv(export.ranking_rows(report), fingerprint=report.fingerprint)
        media = "text/csv; charset=utf-8"
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            await asyncio.to_thread(export.write_xlsx, path, report)
            body = path.read_bytes()
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)


@router.post("/scoring/import", response_class=HTMLResponse)
async def scoring_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str, Form(pattern=PERIOD_PATTERN)],
    component: Annotated[str, Form(max_length=16)],
    file: Annotated[UploadFile, File()],
) -> Response:
    content = await file.read(UPLOAD_MAX + 1)
    problems: list[str] = []
    if len(content) > UPLOAD_MAX:
        problems = [translate(N_("console.scoring.too_large"), mb=UPLOAD_MAX // 1024 // 1024)]
    else:
        try:
            stored = await monitoring.import_monitoring_upload(
                session=session, file_name=file.filename or "upload", content=content,
                period=period, component=monitoring.parse_component(component),
                actor=actor.name, now=utcnow(),
            )  # fmt: skip
        except InvalidFile as exc:
            problems = exc.problems
        except DomainError as exc:
            problems = [translate(exc.key, **exc.params)]
    if problems:
        context = {"problems": problems, "file": file.filename, "period": period}
        return render(
            request, "console/scoring_import.html", context, actor=actor, status_code=422
        )
    await audit.record(
        session=session, actor=actor, action="import.monitoring", target=f"{period} {component}",
        rows=stored.rows,
    )  # fmt: skip
    return redirect(f"/console/scoring?period={period}&imported={stored.id}")


async def _sheet(
    session: SessionDep, settings: Settings, actor: Actor, unit_code: str, period: str
) -> feedback_sheet.FeedbackSheet:
    return await feedback_sheet.build(
        session=session, actor=actor, unit_code=unit_code, period=check_period(period),
        method=load_method(settings.scoring_method_file), tz=settings.tz,
        today=today(settings.tz), computed_at=datetime.now(settings.tz).replace(microsecond=0),
    )  # fmt: skip


@router.get("/feedback/{unit_code}", response_class=HTMLResponse)
async def feedback_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Viewer,
    unit_code: str,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    sheet = await _sheet(session, settings, actor, unit_code, _period(settings, period))
    context = {"sheet": sheet, "layout": "console/base.html"}
    return render(request, "console/feedback.html", context, actor=actor)


@router.get("/feedback/{unit_code}/pdf")
async def feedback_pdf(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: Viewer,
    unit_code: str,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    sheet = await _sheet(session, settings, actor, unit_code, _period(settings, period))
    html = templates.get_template("console/feedback.html").render(
        sheet=sheet, layout="console/print.html", t=translate, actor=None
    )
    pdf = await asyncio.to_thread(render_pdf, html)
    await audit.record(
        session=session,
        actor=actor,
        action="export.feedback",
        target=f"{unit_code} {sheet.period}",
    )
    name = f"feedback_{unit_code}_{sheet.period}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


def render_pdf(html: str) -> bytes:
    """The printable 反馈单 as PDF (WeasyPrint; Chinese needs a CJK font, see scripts/fonts.sh)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    HTML(string=html).write_pdf(buffer)
    return buffer.getvalue()
