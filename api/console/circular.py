"""Console pages: the 通报 (every kind's ranking circulated to the city), on screen, as a print
view, and as PDF, XLSX or stand-alone HTML (each download audited)."""

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
from scoring import circular, flows, service
from surveys.accounts.access import Actor, Perm
from surveys.core.periods import PERIOD_PATTERN

router = APIRouter(prefix="/console", include_in_schema=False)
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]
Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN)]
Year = Annotated[str | None, Query(pattern=r"^\d{4}$")]
PAPER_CSS = Path(__file__).resolve().parents[1] / "static" / "paper.css"
SCREEN = "console/base.html"
PRINT = "console/print.html"
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


@router.get("/circular", response_class=HTMLResponse)
async def circular_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: Manager,
    period: Period = None, year: Year = None,
) -> Response:  # fmt: skip
    found = await circular.circular_for(
        session=session, actor=actor, setup=service.setup(settings), settings=settings,
        period=period, year=year,
    )  # fmt: skip
    return render(request, "console/circular.html", context(found, SCREEN), actor=actor)


@router.get("/circular/print", response_class=HTMLResponse)
async def circular_print(
    request: Request, session: SessionDep, settings: SettingsDep, actor: Manager,
    period: Period = None, year: Year = None,
) -> Response:  # fmt: skip
    """The 通报 alone, laid out as the PDF, for the browser's print."""
    found = await circular.circular_for(
        session=session, actor=actor, setup=service.setup(settings), settings=settings,
        period=period, year=year,
    )  # fmt: skip
    return render(request, "console/circular.html", context(found, PRINT), actor=actor)


@router.get("/circular/export")
async def circular_export(
    session: WriteSessionDep, settings: SettingsDep, actor: Manager,
    period: Period = None, year: Year = None,
    fmt: Annotated[str, Query(pattern="^(pdf|xlsx|html)$")] = "pdf",
) -> Response:  # fmt: skip
    found = await flows.export_circular(
        session=session, actor=actor, formats=[fmt], setup=service.setup(settings),
        settings=settings, period=period, year=year,
    )  # fmt: skip
    body = await asyncio.to_thread(file_body, found, fmt)
    name = f"{found.file_stem}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def context(found: circular.Circular, layout: str) -> dict[str, Any]:
    query = f"?year={found.scope}" if found.annual else f"?period={found.scope}"
    return {"circular": found, "layout": layout, "query": query}


@cache
def paper_css() -> str:
    """The paper's stylesheet, inline in the stand-alone page (none when it is not there)."""
    return PAPER_CSS.read_text("utf-8") if PAPER_CSS.exists() else ""


def printable(found: circular.Circular) -> str:
    """The 通报 as a stand-alone HTML page (its stylesheet inline) to print or make a PDF of."""
    page = templates.get_template("console/circular.html")
    return page.render(**context(found, PRINT), paper_css=paper_css(), t=translate, actor=None)


def render_pdf(html: str) -> bytes:
    """The printable page as PDF (WeasyPrint; Chinese needs a CJK font, see scripts/fonts.sh)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    HTML(string=html).write_pdf(buffer)
    return buffer.getvalue()


def file_body(found: circular.Circular, fmt: str) -> bytes:
    """The 通报 in one format: pdf, xlsx or html."""
    if fmt == "xlsx":
        return circular.xlsx_bytes(found)
    html = printable(found)
    return render_pdf(html) if fmt == "pdf" else html.encode()


def write_files(found: circular.Circular, out: Path, formats: list[str]) -> list[Path]:
    """The chosen formats written into ``out``; the paths written, in a stable order."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in circular.FORMATS:
        if fmt in formats:
            path = out / f"{found.file_stem}.{fmt}"
            path.write_bytes(file_body(found, fmt))
            written.append(path)
    return written
