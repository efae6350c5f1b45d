"""The JSON API: survey responses of the caller's units (no respondent data, ever)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep
from api.errors import TOKEN_ROUTE, error_responses
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.questionnaire import results
from surveys.questionnaire.models import ResponseStatus

router = APIRouter(
    prefix="/api/v1", tags=["responses"], responses=error_responses(*TOKEN_ROUTE, 404)
)

ViewActor = Annotated[Actor, Depends(api_actor(Perm.view))]


class ResponsesPublic(BaseModel):
    data: list[results.ResponseRow]  # ids and states, never who answered
    count: int  # all matching responses, not only this page


@router.get("/responses", response_model=ResponsesPublic)
async def list_responses(
    session: SessionDep,
    actor: ViewActor,
    page: PageDep,
    survey: Annotated[str | None, Query(max_length=40, description="survey code")] = None,
    unit_id: IdQuery = None,
    period: Annotated[str | None, Query(max_length=8, description="e.g. 2026H2")] = None,
    status: ResponseStatus | None = None,
    channel: Annotated[
        Literal["telegram", "web"] | None, Query(description="where it was answered")
    ] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=results.ID_CURSOR_PATTERN,
            description="the id of the last response shown: the page after it, fast at any depth",
        ),
    ] = None,
) -> ResponsesPublic:
    """Responses of the caller's units, newest first.

    An unknown survey is 404, another unit's ``unit_id`` is 404 as well.
    """
    rows, total = await results.list_responses(
        session=session, actor=actor, survey_code=survey, unit_id=unit_id, period=period,
        status=status, offset=page.offset, limit=page.limit, channel=channel, after=after,
    )  # fmt: skip
    return ResponsesPublic(data=rows, count=total)
