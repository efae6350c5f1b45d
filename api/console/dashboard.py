"""Console pages: the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, SettingsDep
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.core.clock import today
from surveys.haochaping import dashboard as service

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, Depends(console_actor(Perm.view))],
) -> Response:
    overview = await service.overview(
        session=session,
        actor=actor,
        today=today(settings.tz),
        tz=settings.tz,
        policy=workdays.policy_from(settings),
    )
    context = {"overview": overview, "charts": overview.charts()}
    return render(request, "console/dashboard.html", context, actor=actor)
