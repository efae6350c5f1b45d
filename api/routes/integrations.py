"""Endpoints for service systems and rating channels, authenticated by bearer tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import BODY, TOKEN_ROUTE, error_responses
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.core.models import utcnow
from surveys.flows import integrations as flows
from surveys.haochaping import service_events

# An unknown unit is 404; a link token or working-day calendar conflict 409.
router = APIRouter(
    prefix="/api/v1",
    tags=["integrations"],
    responses=error_responses(*TOKEN_ROUTE, *BODY, 404, 409),
)


PushActor = Annotated[Actor, Depends(api_actor(Perm.push))]


class ServiceEventPublic(BaseModel):
    id: int
    case_no: str
    created: bool


class RowErrorPublic(BaseModel):
    row: int
    field: str
    message: str


class RatingsReceived(BaseModel):
    created: list[str]
    duplicates: list[str]
    errors: list[RowErrorPublic]
    cases_opened: int


@router.post(
    "/service-events",
    response_model=ServiceEventPublic,
    responses={201: {"model": ServiceEventPublic, "description": "stored"}},
)
async def push_service_event(
    item: service_events.ServiceEventIn,
    session: SessionDep,
    actor: PushActor,
    response: Response,
) -> ServiceEventPublic:
    """Record a finished 办件; the unit's same 办件编号 twice stores one event (200, not 201).

    Another unit's 办件 of that 办件编号 is no clash, and a unit the token may not push for
    is answered as an unknown one: nothing tells one unit about another's.
    """
    event, created = await flows.push_service_event(session=session, actor=actor, item=item)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    assert event.id is not None
    return ServiceEventPublic(id=event.id, case_no=event.case_no, created=created)


@router.post("/ratings", response_model=RatingsReceived)
async def push_ratings(
    body: dict[str, Any] | list[dict[str, Any]],
    session: SessionDep,
    settings: SettingsDep,
    actor: PushActor,
    now: Annotated[datetime, Depends(utcnow)],
) -> RatingsReceived:
    """Store one rating or a batch; bad rows are reported by index, good rows are kept."""
    received = await flows.push_ratings(
        session=session, actor=actor, rows=body if isinstance(body, list) else [body],
        tz=settings.tz, now=now, grace_days=settings.rating_grace_days,
        policy=workdays.policy_from(settings),
    )  # fmt: skip
    result = received.result
    return RatingsReceived(
        created=[r.source_id for r in result.created],
        duplicates=result.duplicates,
        errors=[
            RowErrorPublic(row=e.row, field=e.field, message=e.message) for e in result.errors
        ],
        cases_opened=len(received.opened),
    )
