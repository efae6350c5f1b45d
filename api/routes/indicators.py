"""The JSON API: 好差评 indicators per unit, 事项 or window."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import TOKEN_ROUTE, error_responses
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.periods import PERIOD_PATTERN
from surveys.haochaping import indicators

router = APIRouter(
    prefix="/api/v1", tags=["indicators"], responses=error_responses(*TOKEN_ROUTE, 404)
)


class IndicatorsPage(BaseModel):
    data: list[indicators.IndicatorsPublic]
    count: int


@router.get("/indicators", response_model=IndicatorsPage)
async def list_indicators(
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, Depends(api_actor(Perm.view))],
    page: PageDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    unit_id: IdQuery = None,
    group_by: indicators.GroupBy = "unit",
) -> IndicatorsPage:
    """好评率, 差评率, 回访率, 整改率, 按时整改率 and 复评 of the caller's units (e.g. 2026H1)."""
    rows, total = await indicators.indicators_page(
        session=session, actor=actor, period=period, unit_id=unit_id, group_by=group_by,
        today=today(settings.tz), tz=settings.tz, offset=page.offset, limit=page.limit,
    )  # fmt: skip
    return IndicatorsPage(data=[row.public() for row in rows], count=total)
