"""Console pages: the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from surveys.access import Actor, Perm

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request, actor: Annotated[Actor, Depends(console_actor(Perm.view))]
) -> Response:
    return render(request, "console/dashboard.html", {}, actor=actor)
