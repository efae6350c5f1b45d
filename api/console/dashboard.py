"""Console pages: the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, SettingsDep
from surveys.accounts.access import Actor, Perm
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
        session=session, actor=actor, today=today(settings.tz), tz=settings.tz
    )
    charts = {
        "months": [p.month for p in overview.trend],
        "ratings": [p.ratings for p in overview.trend],
        "bad": [p.bad for p in overview.trend],
        "good_rate": [
            None if p.good_rate is None else round(p.good_rate * 100, 2) for p in overview.trend
        ],
        "units": [u.name for u in overview.units if u.ratings or u.bad_open],
        "unit_open": [u.bad_open for u in overview.units if u.ratings or u.bad_open],
        "unit_overdue": [u.overdue for u in overview.units if u.ratings or u.bad_open],
    }
    context = {"overview": overview, "charts": charts}
    return render(request, "console/dashboard.html", context, actor=actor)
