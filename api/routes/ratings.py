"""The JSON API: 好差评 ratings of the caller's units (pushing them: integrations.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep
from api.errors import TOKEN_ROUTE, error_responses
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.core.periods import PERIOD_PATTERN
from surveys.haochaping import ratings
from surveys.questionnaire.definitions import Level

router = APIRouter(
    prefix="/api/v1", tags=["ratings"], responses=error_responses(*TOKEN_ROUTE, 404)
)


class RatingsPage(BaseModel):
    data: list[ratings.RatingRow]  # never who rated; comments masked
    count: int
    next: str | None  # ?after= this for the next page; None on the last one


@router.get("/ratings", response_model=RatingsPage)
async def list_ratings(
    session: SessionDep,
    actor: Annotated[Actor, Depends(api_actor(Perm.view))],
    page: PageDep,
    unit_id: IdQuery = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    level: Level | None = None,
    after: Annotated[
        str | None,
        Query(
            pattern=ratings.CURSOR_PATTERN,
            description="the `next` of the previous page: deep pages stay fast",
        ),
    ] = None,
) -> RatingsPage:
    """Ratings of the caller's units, newest first (period e.g. 2026H1).

    Page with ``after=`` (the ``next`` of the page before) rather than a large ``offset``:
    it continues from an index seek however deep the list is.
    """
    found, total = await ratings.list_ratings(
        session=session, actor=actor, unit_id=unit_id, period=period, level=level,
        offset=page.offset, limit=page.limit, after=after,
    )  # fmt: skip
    more = len(found) == page.limit
    return RatingsPage(
        data=found, count=total, next=ratings.cursor_of(found[-1]) if found and more else None
    )
