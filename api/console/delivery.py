"""Console page 消息投递 (administrators only): the outbox at a glance and the last messages
that did not arrive, read through :func:`surveys.delivery.queries.delivery_page`, which
never reads a chat id or a message's text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import render
from api.deps import SessionDep, SettingsDep
from surveys.accounts.access import Actor, Perm
from surveys.core.models import utcnow
from surveys.delivery import queries as delivery_queries

router = APIRouter(prefix="/console", include_in_schema=False)
ManageActor = Annotated[Actor, Depends(console_actor(Perm.manage))]


@router.get("/delivery", response_class=HTMLResponse)
async def delivery_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: ManageActor
) -> Response:
    """The outbox's depth and the last 100 failed or unreachable messages."""
    page = await delivery_queries.delivery_page(session, actor=actor, now=utcnow(), tz=settings.tz)
    return render(request, "console/delivery.html", {"page": page}, actor=actor)
