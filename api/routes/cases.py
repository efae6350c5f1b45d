"""差评 follow-up cases for integrations (a unit's case system) with a unit-bound token."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep
from api.routes.integrations import TokenDep
from surveys import cases
from surveys.clock import today
from surveys.models import CaseState, FollowUpCase

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class CasePublic(BaseModel):
    id: int
    unit_id: int
    state: CaseState
    reference: str  # masked: staff never see who the citizen is
    contact_due: date
    rectify_due: date
    overdue: bool


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


class ReplyIn(BaseModel):
    actor: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)


class TransitionIn(BaseModel):
    actor: str = Field(min_length=1, max_length=64)
    to: CaseState
    note: str | None = Field(default=None, max_length=2000)


def _public(case: FollowUpCase, on: date) -> CasePublic:
    assert case.id is not None
    return CasePublic(
        id=case.id,
        unit_id=case.unit_id,
        state=CaseState(case.state),
        reference=cases.masked_reference(case),
        contact_due=case.contact_due,
        rectify_due=case.rectify_due,
        overdue=cases.is_overdue(case, on),
    )


@router.get("", response_model=CasesPublic)
async def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    token: TokenDep,
    state: CaseState | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasesPublic:
    """Cases of the token's unit (all units for an unbound token), by deadline."""
    found = await cases.list_cases(
        session=session, unit_id=token.unit_id, state=state, offset=offset, limit=limit
    )
    on = today(settings.tz)
    return CasesPublic(data=[_public(c, on) for c in found], count=len(found))


@router.post("/{case_id}/reply", response_model=CasePublic)
async def reply(
    case_id: int, body: ReplyIn, session: SessionDep, settings: SettingsDep, token: TokenDep
) -> CasePublic:
    """Write to the citizen; the bot relays it (保密联络)."""
    case = await cases.get_case_for(session=session, case_id=case_id, unit_id=token.unit_id)
    await cases.add_reply(session=session, case=case, actor=body.actor, text=body.text)
    return _public(case, today(settings.tz))


@router.post("/{case_id}/transition", response_model=CasePublic)
async def transition(
    case_id: int, body: TransitionIn, session: SessionDep, settings: SettingsDep, token: TokenDep
) -> CasePublic:
    """Move the case on as unit staff (申诉 decisions need a supervisor in the console)."""
    case = await cases.get_case_for(session=session, case_id=case_id, unit_id=token.unit_id)
    await cases.transition(
        session=session,
        case=case,
        to=body.to,
        actor=body.actor,
        actor_role="staff",
        note=body.note,
    )
    return _public(case, today(settings.tz))
