"""Paging for every list: ``offset``/``limit`` in, ``data``/``count`` (all matches) out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

MAX_LIMIT = 200


class PageParams(BaseModel):
    offset: int
    limit: int


def page_params(
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> PageParams:
    return PageParams(offset=offset, limit=limit)


PageDep = Annotated[PageParams, Depends(page_params)]
