"""Console pages: each unit's 评估情况反馈单, on screen, as a print view and as PDF."""

from __future__ import annotations

import asyncio
import io
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render, templates, translate
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from scoring import feedback_sheet, flows, service
from surveys.accounts.access import Actor, Perm
from surveys.core.periods import PERIOD_PATTERN, chinese_date
from surveys.core.settings import Settings

router = APIRouter(prefix="/console", include_in_schema=False)
Viewer = Annotated[Actor, Depends(console_actor(Perm.view))]
Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN)]
PAPER_CSS = Path(__file__).resolve().parents[1] / "static" / "paper.css"
SCREEN = "console/base.html"
PRINT = "console/print.html"


@router.get("/feedback/{unit_code}", response_class=HTMLResponse)
async def feedback_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: Viewer,
    unit_code: str, period: Period = None,
) -> Response:  # fmt: skip
    sheet = await feedback_sheet.sheet_for(
        session=session, actor=actor, unit_code=unit_code, period=period,
        setup=service.setup(settings),
    )  # fmt: skip
    return render(request, "console/feedback.html", context(sheet, settings, SCREEN), actor=actor)


@router.get("/feedback/{unit_code}/print", response_class=HTMLResponse)
async def feedback_print(
    request: Request, session: SessionDep, settings: SettingsDep, actor: Viewer,
    unit_code: str, period: Period = None,
) -> Response:  # fmt: skip
    """The sheet alone, laid out as the PDF, for the browser's print."""
    sheet = await feedback_sheet.sheet_for(
        session=session, actor=actor, unit_code=unit_code, period=period,
        setup=service.setup(settings),
    )  # fmt: skip
    return render(request, "console/feedback.html", context(sheet, settings, PRINT), actor=actor)


@router.get("/feedback/{unit_code}/pdf")
async def feedback_pdf(
    session: WriteSessionDep, settings: SettingsDep, actor: Viewer, unit_code: str,
    period: Period = None,
) -> Response:  # fmt: skip
    sheet = await flows.export_feedback(
        session=session, actor=actor, unit_code=unit_code, period=period,
        setup=service.setup(settings),
    )  # fmt: skip
    pdf = await asyncio.to_thread(render_pdf, printable(sheet, settings))
    name = f"feedback_{sheet.unit.code}_{sheet.period}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


def context(
    sheet: feedback_sheet.FeedbackSheet, settings: Settings, layout: str
) -> dict[str, Any]:
    """What the template needs beside the sheet: the letterhead of the settings, the layout."""
    paper = feedback_sheet.paper(
        sheet, issuer=settings.feedback_issuer, number=settings.feedback_number,
        seal=settings.feedback_seal,
    )  # fmt: skip
    return {
        "sheet": sheet,
        "paper": paper,
        "layout": layout,
        "chinese_date": chinese_date,
        "min_answers": feedback_sheet.MIN_QUESTION_ANSWERS,
    }


@cache
def paper_css() -> str:
    return PAPER_CSS.read_text("utf-8")


def printable(sheet: feedback_sheet.FeedbackSheet, settings: Settings) -> str:
    """The 反馈单 as a stand-alone HTML page (its stylesheet inline) to print or make a PDF of."""
    page = templates.get_template("console/feedback.html")
    return page.render(
        **context(sheet, settings, PRINT), paper_css=paper_css(), t=translate, actor=None
    )


def render_pdf(html: str) -> bytes:
    """The printable 反馈单 as PDF (WeasyPrint; Chinese needs a CJK font, see scripts/fonts.sh)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    HTML(string=html).write_pdf(buffer)
    return buffer.getvalue()
