"""The JSON API: units (考评对象), each caller seeing only its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import api_actor
from api.deps import SessionDep
from api.errors import TOKEN_ROUTE, error_responses
from api.links import UNIT_ID, links
from api.paging import PageDep
from surveys.accounts import queries
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit, UnitPublic

router = APIRouter(prefix="/api/v1", tags=["units"], responses=error_responses(*TOKEN_ROUTE, 404))

ViewActor = Annotated[Actor, Depends(api_actor(Perm.view))]


class UnitsPublic(BaseModel):
    data: list[UnitPublic]
    count: int  # all matching units, not only this page


def _public(unit: Unit) -> UnitPublic:
    return UnitPublic.model_validate(unit, from_attributes=True)


# The first unit listed: read it by code, list its cases, ratings, indicators, responses.
FIRST_UNIT = {
    **links("$response.body#/data/0/code", "GetUnit"),
    **links("$response.body#/data/0/id", *UNIT_ID),
}


@router.get("/units", response_model=UnitsPublic, responses={200: {"links": FIRST_UNIT}})
async def list_units(
    session: SessionDep, actor: ViewActor, page: PageDep, active: bool | None = None
) -> UnitsPublic:
    """The caller's units (a unit's token: that unit only; city-wide tokens: all), by id."""
    found, total = await queries.visible_units(
        session=session, actor=actor, active=active, offset=page.offset, limit=page.limit
    )
    return UnitsPublic(data=[_public(unit) for unit in found], count=total)


@router.get(
    "/units/{code}",
    response_model=UnitPublic,
    responses={200: {"links": links("$response.body#/id", *UNIT_ID)}},
)
async def get_unit(code: str, session: SessionDep, actor: ViewActor) -> UnitPublic:
    """One unit by code; another unit's code is 404, as an unknown one."""
    return _public(await queries.visible_unit(session=session, actor=actor, code=code))
