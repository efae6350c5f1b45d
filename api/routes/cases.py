"""差评 follow-up cases for integrations (a unit's case system) with a unit-bound token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, StringConstraints

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import BODY, TOKEN_ROUTE, error_responses
from api.links import CASE, links
from api.paging import IdPath, IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.cases import queries
from surveys.cases.models import CaseState
from surveys.core.clock import today
from surveys.flows import cases as case_flows

router = APIRouter(
    prefix="/api/v1/cases", tags=["cases"], responses=error_responses(*TOKEN_ROUTE, 404)
)
# A move or a reply the case's state refuses is 409; a body may be unreadable or too large.
WRITE_ERRORS = error_responses(409, *BODY)
# The answer's case id feeds the next read, reply or move.
WRITE_ANSWER = {**WRITE_ERRORS, 200: {"links": links("$response.body#/id", *CASE)}}
# Whitespace alone is no text: stripped first, then it must hold a visible character (the
# schema says so with its pattern, so a client knows before sending).
Person = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64, pattern=r"\S")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"\S")]


class CasesPublic(BaseModel):
    data: list[queries.CasePublic]
    count: int  # all matching cases, not only this page
    next: str | None = None  # ?after= this for the next page; None on the last one


ViewActor = Annotated[Actor, Depends(api_actor(Perm.view))]
WorkActor = Annotated[Actor, Depends(api_actor(Perm.work_cases))]
# A move is unit work or a 申诉 decision: the flow checks which the actor may make.
MoveActor = Annotated[Actor, Depends(api_actor(Perm.view))]


class ReplyIn(BaseModel):
    # The person at the integration who wrote it, shown on the timeline (not the citizen).
    actor: Person | None = None
    text: Text


class TransitionIn(BaseModel):
    actor: Person | None = None
    to: CaseState
    note: Text | None = None


@router.get(
    "",
    response_model=CasesPublic,
    responses={200: {"links": links("$response.body#/data/0/id", *CASE)}},
)
async def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    page: PageDep,
    state: CaseState | None = None,
    unit_id: IdQuery = None,
    overdue: bool = False,
    after: Annotated[
        str | None,
        Query(
            pattern=queries.QUEUE_CURSOR_PATTERN,
            description="the `next` of the previous page: deep pages stay fast",
        ),
    ] = None,
) -> CasesPublic:
    """The caller's cases (a unit's token: that unit's), earliest deadline first."""
    filters = queries.QueueFilters(
        unit_id=unit_id,
        state=state,
        overdue=True if overdue else None,
        offset=page.offset,
        limit=page.limit,
        after=after,
    )
    found = await queries.case_queue(session, actor, filters, today(settings.tz))
    return CasesPublic(
        data=[row.public() for row in found.rows], count=found.total, next=found.next
    )


@router.get(
    "/{case_id}",
    response_model=queries.CaseDetailPublic,
    responses={200: {"links": links("$response.body#/id", "ReplyToCase", "MoveCase")}},
)
async def get_case(
    case_id: IdPath, session: SessionDep, settings: SettingsDep, actor: ViewActor
) -> queries.CaseDetailPublic:
    """One case; another unit's case is 404. ``undeliverable``: a message to the citizen
    could not be delivered (无法送达), so the citizen cannot be reached through the bot."""
    return (await queries.case_detail(session, actor, case_id, settings.tz)).detail_public()


@router.post("/{case_id}/reply", response_model=queries.CasePublic, responses=WRITE_ANSWER)
async def reply(
    case_id: IdPath, body: ReplyIn, session: SessionDep, settings: SettingsDep, actor: WorkActor
) -> queries.CasePublic:
    """Write to the citizen; the bot relays it (保密联络)."""
    done = await case_flows.reply(
        session=session, actor=actor, case_id=case_id, text=body.text, person=body.actor
    )
    return queries.summarize(done.case, today(settings.tz)).public()


@router.post("/{case_id}/transition", response_model=queries.CasePublic, responses=WRITE_ANSWER)
async def transition(
    case_id: IdPath,
    body: TransitionIn,
    session: SessionDep,
    settings: SettingsDep,
    actor: MoveActor,
) -> queries.CasePublic:
    """Move the case on (unit staff); 申诉 decisions need a supervisor's token."""
    done = await case_flows.transition(
        session=session,
        actor=actor,
        case_id=case_id,
        to=body.to.value,
        note=body.note,
        person=body.actor,
    )
    return queries.summarize(done.case, today(settings.tz)).public()
