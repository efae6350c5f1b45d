"""Console pages: each unit's 评估情况反馈单, on screen, printable and as PDF."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render, templates, translate
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from scoring import feedback_sheet, flows, service
from surveys.accounts.access import Actor, Perm
from surveys.core.periods import PERIOD_PATTERN

router = APIRouter(prefix="/console", include_in_schema=False)
Viewer = Annotated[Actor, Depends(console_actor(Perm.view))]


@router.get("/feedback/{unit_code}", response_class=HTMLResponse)
async def feedback_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Viewer,
    unit_code: str,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    sheet = await feedback_sheet.sheet_for(
        session=session, actor=actor, unit_code=unit_code, period=period,
        setup=service.setup(settings),
    )  # fmt: skip
    context = {"sheet": sheet, "layout": "console/base.html"}
    return render(request, "console/feedback.html", context, actor=actor)


@router.get("/feedback/{unit_code}/pdf")
async def feedback_pdf(
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: Viewer,
    unit_code: str,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    sheet = await flows.export_feedback(
        session=session, actor=actor, unit_code=unit_code, period=period,
        setup=service.setup(settings),
    )  # fmt: skip
    pdf = await asyncio.to_thread(render_pdf, printable(sheet))
    name = f"feedback_{sheet.unit.code}_{sheet.period}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


def printable(sheet: feedback_sheet.FeedbackSheet) -> str:
    """The 反馈单 as a stand-alone HTML page to print or turn into PDF."""
    page = templates.get_template("console/feedback.html")
    return page.render(sheet=sheet, layout="console/print.html", t=translate, actor=None)


def render_pdf(html: str) -> bytes:
    """The printable 反馈单 as PDF (WeasyPrint; Chinese needs a CJK font, see scripts/fonts.sh)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    HTML(string=html).write_pdf(buffer)
    return buffer.getvalue()
