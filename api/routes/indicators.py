"""The JSON API: 好差评 indicators per unit, 事项 or window."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from api.auth import api_actor
from api.deps import SessionDep, SettingsDep
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.periods import PERIOD_PATTERN
from surveys.haochaping import indicators

router = APIRouter(prefix="/api/v1", tags=["indicators"])


class IndicatorsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unit_id: int
    item_code: str | None
    item_name: str | None
    window_code: str | None
    ratings: int
    good: int
    bad: int
    good_rate: float | None
    bad_rate: float | None
    cases: int
    contact_rate: float | None
    rectify_rate: float | None
    on_time_rate: float | None
    rerating_satisfied_rate: float | None
    overdue_open: int
    top_reasons: list[tuple[str, int]]


class IndicatorsPage(BaseModel):
    data: list[IndicatorsPublic]
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
    data = [IndicatorsPublic.model_validate(row, from_attributes=True) for row in rows]
    return IndicatorsPage(data=data, count=total)
