"""The JSON API: 好差评 ratings of the caller's units (pushing them: integrations.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import as_utc
from surveys.core.masking import mask_text
from surveys.core.periods import PERIOD_PATTERN
from surveys.haochaping import ratings
from surveys.haochaping.models import Rating
from surveys.questionnaire.definitions import Level

router = APIRouter(prefix="/api/v1", tags=["ratings"])


class RatingPublic(BaseModel):
    """A rating as staff may see it: never who gave it; the comment masked."""

    id: int
    source: str
    source_id: str
    unit_id: int
    item_code: str | None
    item_name: str | None
    window_code: str | None
    channel: int
    level: Level
    reasons: list[str]
    comment: str | None
    has_voice: bool
    round: int
    active: bool
    excluded: bool
    is_default: bool
    period: str
    rated_at: datetime


class RatingsPage(BaseModel):
    data: list[RatingPublic]
    count: int


def _public(rating: Rating) -> RatingPublic:
    assert rating.id is not None
    return RatingPublic(
        id=rating.id,
        source=str(rating.source),
        source_id=rating.source_id,
        unit_id=rating.unit_id,
        item_code=rating.item_code,
        item_name=rating.item_name,
        window_code=rating.window_code,
        channel=rating.channel,
        level=Level(rating.level),
        reasons=list(rating.reasons),
        comment=mask_text(rating.comment) if rating.comment else None,
        has_voice=rating.voice_file_id is not None,
        round=rating.round,
        active=rating.active,
        excluded=rating.excluded,
        is_default=rating.is_default,
        period=rating.period,
        rated_at=as_utc(rating.rated_at),
    )


@router.get("/ratings", response_model=RatingsPage)
async def list_ratings(
    session: SessionDep,
    actor: Annotated[Actor, Depends(api_actor(Perm.view))],
    page: PageDep,
    unit_id: IdQuery = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    level: Level | None = None,
) -> RatingsPage:
    """Ratings of the caller's units, newest first (period e.g. 2026H1)."""
    found, total = await ratings.list_ratings(
        session=session, actor=actor, unit_id=unit_id, period=period, level=level,
        offset=page.offset, limit=page.limit,
    )  # fmt: skip
    return RatingsPage(data=[_public(r) for r in found], count=total)
