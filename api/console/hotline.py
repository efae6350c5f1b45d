"""Console: the 12345 回访 page (domain.md §6).

Everyone who may view sees each of their units' 回访 in a half-year: the counts, 回访率,
联系率, 解决率, 满意率, the 不满意 (each a 差评 case) and the 无法联系 flagged for too few
calls, read through :func:`surveys.hotline.indicators.hotline_indicators` (unit staff see
their own units only). Managers also upload a 回访 file through the flow ``import.hotline``,
the same as ``minyi import hotline``: every row stored, or none with every problem by row and
column; and download the template to fill in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.admin import MAX_UPLOAD, UploadRefused, _filename, _read_upload
from api.console.web import render
from api.deps import SessionDep, SettingsDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.db import AsyncSession
from surveys.core.exceptions import InvalidFile
from surveys.core.models import utcnow
from surveys.core.periods import PERIOD_PATTERN, half_year
from surveys.core.settings import Settings
from surveys.flows import hotline as flows
from surveys.hotline import files, indicators

router = APIRouter(prefix="/console", include_in_schema=False)
Viewer = Annotated[Actor, Depends(console_actor(Perm.view))]
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]
PAGE = "/console/hotline"
CHOICES = 4  # half-years offered in the chooser: the current one and the three before


def _earlier(period: str) -> str:
    year, half = int(period[:4]), period[-1]
    return f"{year}H1" if half == "2" else f"{year - 1}H2"


def period_choices(current: str, chosen: str) -> list[str]:
    """The current half-year and those before it, newest first, with ``chosen`` among them."""
    choices = [current]
    while len(choices) < CHOICES:
        choices.append(_earlier(choices[-1]))
    if chosen not in choices:
        choices.append(chosen)
    return sorted(choices, reverse=True)


async def _page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    period: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    current = half_year(today(settings.tz))[0]
    chosen = period or current
    rows = await indicators.hotline_indicators(session=session, actor=actor, period=chosen)
    page = {
        "period": chosen,
        "periods": period_choices(current, chosen),
        "rows": rows,
        "own_units": actor.units is not None,
        "max_mb": MAX_UPLOAD >> 20,
        **context,
    }
    return render(request, "console/hotline.html", page, actor=actor, status_code=status_code)


@router.get("/hotline", response_class=HTMLResponse)
async def hotline_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Viewer,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    """Each of the actor's units' 回访 in a half-year (the current one unless chosen)."""
    return await _page(request, session, settings, actor, period)


@router.post("/hotline/import", response_class=HTMLResponse)
async def hotline_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    file: Annotated[UploadFile | None, File()] = None,
    period: Annotated[str | None, Form(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    """A 回访 file (.csv/.xlsx): every record stored, or none with every problem."""
    name = _filename(file)
    try:
        data = await _read_upload(file)
    except UploadRefused as exc:
        return await _page(request, session, settings, actor, period, 422, error=exc.message)
    with tempfile.TemporaryDirectory(prefix="minyi-hotline-") as folder:
        # The flow reads the file by its suffix and refuses any other than .csv and .xlsx.
        path = Path(folder) / f"upload{PurePath(name).suffix.lower()[:10]}"
        path.write_bytes(data)
        try:
            imported = await flows.import_hotline(
                session=session, actor=actor, path=path, source=name, settings=settings,
                now=utcnow(), name=name,  # problems name the chosen file, not the copy
            )  # fmt: skip
        except InvalidFile as exc:
            return await _page(request, session, settings, actor, period, 422,
                               problems=exc.problems, filename=name)  # fmt: skip
    result = imported.result
    counts = {
        "created": len(result.created),
        "duplicates": len(result.duplicates),
        "flagged": len(result.flagged),
        "retired": result.retired,
        "opened": len(result.opened),
        "header_row": imported.header_row,
    }
    return await _page(request, session, settings, actor, period, filename=name, counts=counts)


@router.get("/hotline/template")
async def hotline_template(
    actor: Manager,
    fmt: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx",
) -> Response:
    """The 回访 file to fill in: the Chinese headers and one example row."""
    written = files.template_file("csv" if fmt == "csv" else "xlsx")
    disposition = (f"attachment; filename=\"hotline_template.{fmt}\"; "
                   f"filename*=UTF-8''{quote(written.name)}")  # fmt: skip
    return Response(written.body, media_type=written.media_type,
                    headers={"Content-Disposition": disposition})  # fmt: skip
