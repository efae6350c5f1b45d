"""GET /api/v1/units: each token sees its own units only; others' codes are 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import tokens, units
from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings

OWN = "spj"
OTHER = "kundulun"


@pytest.fixture
async def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    return create_app(settings, sessionmaker)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def bearer(
    sessionmaker: SessionMaker, role: StaffRole | None, unit_code: str | None
) -> dict[str, str]:
    async with unit_of_work(sessionmaker) as session:
        unit = (
            await units.get_unit_or_raise(session=session, code=unit_code) if unit_code else None
        )
        _, raw = await tokens.create_token(session=session, name="t", unit=unit, role=role)
    return {"Authorization": f"Bearer {raw}"}


async def test_a_unit_token_lists_its_own_unit_only(
    client: AsyncClient, sessionmaker: SessionMaker
) -> None:
    headers = await bearer(sessionmaker, StaffRole.staff, OWN)

    response = await client.get("/api/v1/units", headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (unit,) = body["data"]
    assert unit["code"] == OWN
    assert set(unit) == {"id", "code", "name", "kind", "active"}


async def test_another_units_code_is_404_like_an_unknown_one(
    client: AsyncClient, sessionmaker: SessionMaker
) -> None:
    headers = await bearer(sessionmaker, StaffRole.viewer, OWN)

    own = await client.get(f"/api/v1/units/{OWN}", headers=headers)
    other = await client.get(f"/api/v1/units/{OTHER}", headers=headers)
    unknown = await client.get("/api/v1/units/nowhere", headers=headers)

    assert own.status_code == 200
    assert own.json()["code"] == OWN
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.json()["code"] == unknown.json()["code"] == "error.unknown_unit"


async def test_a_city_wide_token_pages_through_every_unit(
    client: AsyncClient, sessionmaker: SessionMaker
) -> None:
    headers = await bearer(sessionmaker, StaffRole.viewer, None)

    first = (await client.get("/api/v1/units?limit=10", headers=headers)).json()
    rest = (await client.get("/api/v1/units?offset=10&limit=200", headers=headers)).json()
    other = await client.get(f"/api/v1/units/{OTHER}", headers=headers)

    assert first["count"] == rest["count"] == 35
    codes = [u["code"] for u in first["data"] + rest["data"]]
    assert len(codes) == len(set(codes)) == 35
    assert other.status_code == 200


async def test_the_active_filter(client: AsyncClient, sessionmaker: SessionMaker) -> None:
    async with unit_of_work(sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code=OTHER)
        unit.active = False
        session.add(unit)
    headers = await bearer(sessionmaker, None, None)  # admin

    active = (await client.get("/api/v1/units?active=true", headers=headers)).json()
    inactive = (await client.get("/api/v1/units?active=false", headers=headers)).json()

    assert active["count"] == 34
    assert [u["code"] for u in inactive["data"]] == [OTHER]


async def test_without_a_token_or_with_bad_paging(
    client: AsyncClient, sessionmaker: SessionMaker
) -> None:
    headers = await bearer(sessionmaker, StaffRole.staff, OWN)

    assert (await client.get("/api/v1/units")).status_code == 401
    assert (await client.get("/api/v1/units?limit=0", headers=headers)).status_code == 422
    assert (await client.get("/api/v1/units?limit=201", headers=headers)).status_code == 422
