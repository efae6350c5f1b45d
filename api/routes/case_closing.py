"""结案 over the API: a supervisor's token closes an open case with a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import TOKEN_ROUTE, error_responses
from api.links import CASE, links
from api.paging import IdPath
from api.routes.cases import WRITE_ERRORS, Text
from surveys.accounts.access import Actor, Perm
from surveys.cases import queries
from surveys.core.clock import today
from surveys.flows import case_closing as closing_flows

router = APIRouter(
    prefix="/api/v1/cases", tags=["cases"], responses=error_responses(*TOKEN_ROUTE, 404)
)
CloseActor = Annotated[Actor, Depends(api_actor(Perm.decide_appeal))]


class CloseIn(BaseModel):
    note: Text  # why the case is closed: kept on its timeline, not sent to the citizen


@router.post(
    "/{case_id}/close",
    response_model=queries.CasePublic,
    responses={**WRITE_ERRORS, 200: {"links": links("$response.body#/id", *CASE)}},
)
async def close_case(
    case_id: IdPath, body: CloseIn, session: SessionDep, settings: SettingsDep, actor: CloseActor
) -> queries.CasePublic:
    """结案: close an open case whatever its state (a supervisor's token), with a note;
    its ``close_reason`` becomes ``supervisor``."""
    done = await closing_flows.close(session=session, actor=actor, case_id=case_id, note=body.note)
    return queries.summarize(done.case, today(settings.tz)).public()
