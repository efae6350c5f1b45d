"""Console: importing a monitoring component (日常监测, 实地调研, 第三方评估) for a half-year."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from scoring import flows
from surveys.accounts.access import Actor, Perm
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.periods import PERIOD_PATTERN

router = APIRouter(prefix="/console", include_in_schema=False)
UPLOAD_MAX = 5 * 1024 * 1024
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]


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
            stored = await flows.import_monitoring(
                session=session, actor=actor, file_name=file.filename or "upload",
                content=content, period=period, component=component, now=utcnow(),
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
    return redirect(f"/console/scoring?period={period}&imported={stored.id}")
