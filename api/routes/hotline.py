"""The JSON API: 12345 回访 records pushed by a 12345 system (domain.md §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import BODY, TOKEN_ROUTE, error_responses
from surveys.accounts.access import Actor, Perm
from surveys.core.models import utcnow
from surveys.flows import hotline as flows

router = APIRouter(
    prefix="/api/v1", tags=["hotline"], responses=error_responses(*TOKEN_ROUTE, *BODY, 409)
)


class VisitsReceived(BaseModel):
    accepted: int  # new records stored
    duplicates: int  # the unit's 工单号 and round already stored: skipped
    flagged: int  # 无法联系 after fewer than 3 calls or on fewer than 2 working days
    retired: int  # earlier rounds now history
    cases_opened: int  # 不满意: 差评 cases opened (重办)


@router.post("/hotline-visits", response_model=VisitsReceived)
async def push_hotline_visits(
    body: Annotated[list[dict[str, Any]], Body(max_length=5_000)],
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, Depends(api_actor(Perm.push))],
    now: Annotated[datetime, Depends(utcnow)],
) -> VisitsReceived:
    """Store a list of 12345 回访 records: all of them, or none (422 names each problem by
    the record's position and field)."""
    result = await flows.push_visits(
        session=session, actor=actor, rows=body, settings=settings, now=now
    )
    return VisitsReceived(
        accepted=len(result.created),
        duplicates=len(result.duplicates),
        flagged=len(result.flagged),
        retired=result.retired,
        cases_opened=len(result.opened),
    )
