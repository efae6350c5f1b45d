"""差评 follow-up cases for integrations (a unit's case system) with a unit-bound token:
the queue (search, 承办人, working days left), a case, replies, moves, assigning and 督办."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import BODY, TOKEN_ROUTE, error_responses
from api.links import CASE, links
from api.paging import IdPath, IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.cases import exceptions as refusals
from surveys.cases import queries
from surveys.cases.models import CaseState
from surveys.core.clock import today
from surveys.core.i18n import Translator
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
    data: list[queries.CaseRowPublic]
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


Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"\S")
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
CaseIds = Annotated[
    list[Annotated[int, Field(ge=1, lt=2**63)]], Field(min_length=1, max_length=200)
]
# Handing out work: supervisors' and administrators' tokens (they decide 申诉 too).
AssignActor = Annotated[Actor, Depends(api_actor(Perm.decide_appeal))]


class AssignIn(BaseModel):
    assignee: Username  # the username of a staff member serving the case's unit
    reason: Reason | None = None  # required when the case already has a 承办人


class BulkAssignIn(AssignIn):
    cases: CaseIds


class BulkEscalateIn(BaseModel):
    cases: CaseIds
    note: Reason | None = None  # the supervisor's 督办 opinion, on each case's timeline


class RefusedPublic(BaseModel):
    id: int
    code: str  # catalogue key, as in an error answer
    message: str  # the reason, in Simplified Chinese


class BulkPublic(BaseModel):
    done: list[int]  # the cases changed
    refused: list[RefusedPublic]  # the others, each with its reason; nothing of them changed


def _bulk(result: case_flows.BulkResult) -> BulkPublic:
    t = Translator()
    refused = [
        RefusedPublic(id=case_id, code=e.key, message=t(e.key, **e.params))
        for case_id, e in result.refused
    ]
    return BulkPublic(done=result.done, refused=refused)


@router.post("/bulk/assign", response_model=BulkPublic, responses=WRITE_ERRORS)
async def bulk_assign(body: BulkAssignIn, session: SessionDep, actor: AssignActor) -> BulkPublic:
    """Assign each listed case to one person; each is checked alone, refusals listed."""
    done = await case_flows.bulk_assign(
        session=session,
        actor=actor,
        case_ids=body.cases,
        assignee=body.assignee,
        reason=body.reason,
    )
    return _bulk(done)


@router.post("/bulk/escalate", response_model=BulkPublic, responses=WRITE_ERRORS)
async def bulk_escalate(
    body: BulkEscalateIn, session: SessionDep, actor: AssignActor
) -> BulkPublic:
    """督办 of each listed case its unit still owes work on; refusals listed."""
    done = await case_flows.bulk_escalate(
        session=session, actor=actor, case_ids=body.cases, note=body.note
    )
    return _bulk(done)


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
    q: Annotated[
        str | None,
        Query(
            max_length=refusals.SEARCH_MAX,
            description="办件编号, case number (123 or #123), 事项 or the citizen's text",
        ),
    ] = None,
    assignee: Annotated[
        str | None,
        Query(max_length=64, description="a 承办人's username, or `none` for 未分配"),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=queries.QUEUE_CURSOR_PATTERN,
            description="the `next` of the previous page: deep pages stay fast",
        ),
    ] = None,
) -> CasesPublic:
    """The caller's cases (a unit's token: that unit's), earliest deadline first, each with
    its 承办人 and the working days left to its current deadline (negative: overdue)."""
    filters = queries.QueueFilters(
        unit_id=unit_id,
        state=state,
        overdue=True if overdue else None,
        offset=page.offset,
        limit=page.limit,
        after=after,
        q=q or None,
        # A token is no person: "me" names nobody, as an unknown username does.
        assignee=assignee or None,
    )
    found = await queries.case_queue(session, actor, filters, today(settings.tz))
    return CasesPublic(
        data=[row.listed() for row in found.rows], count=found.total, next=found.next
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


@router.post("/{case_id}/assign", response_model=queries.CasePublic, responses=WRITE_ANSWER)
async def assign(
    case_id: IdPath, body: AssignIn, session: SessionDep, settings: SettingsDep, actor: AssignActor
) -> queries.CasePublic:
    """Make a staff member of the case's unit its 承办人; a reassignment needs a reason."""
    done = await case_flows.assign(
        session=session, actor=actor, case_id=case_id, assignee=body.assignee, reason=body.reason
    )
    return queries.summarize(done.case, today(settings.tz)).public()
