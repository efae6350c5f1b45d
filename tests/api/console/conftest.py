"""Console fixtures: the app on a real SQLite file with the demo units, accounts of every
role, and browsers-without-JavaScript (httpx) that sign in through the real form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import accounts, tokens, units
from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings

PASSWORD = "correct-horse-battery"
CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')
# Two units of each kind is enough to tell own from other.
OWN_UNIT = "spj"  # 市审批服务局
OTHER_UNIT = "kundulun"  # 昆都仑区


@pytest.fixture
async def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    return create_app(settings, sessionmaker)


async def add_user(
    sessionmaker: SessionMaker, username: str, role: StaffRole, unit_codes: list[str]
) -> None:
    """An account whose password is already changed to :data:`PASSWORD`."""
    async with unit_of_work(sessionmaker) as session:
        user, once = await accounts.create_user(
            session=session, username=username, role=role, unit_codes=unit_codes
        )
        await accounts.change_password(session=session, user=user, current=once, new=PASSWORD)


async def bearer(
    sessionmaker: SessionMaker, name: str, role: StaffRole, unit_code: str | None
) -> dict[str, str]:
    async with unit_of_work(sessionmaker) as session:
        unit = (
            await units.get_unit_or_raise(session=session, code=unit_code) if unit_code else None
        )
        _, raw = await tokens.create_token(session=session, name=name, unit=unit, role=role)
    return {"Authorization": f"Bearer {raw}"}


@dataclass
class Browser:
    """A signed-in console user, posting forms with the page's CSRF token."""

    client: AsyncClient
    csrf: str = ""

    async def get(self, url: str, **kwargs: Any) -> Response:
        response = await self.client.get(url, **kwargs)
        found = CSRF_FIELD.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        if not self.csrf:
            await self.get("/console/login")
        return await self.client.post(url, data={"csrftoken": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture
async def browser_for(app: FastAPI) -> AsyncIterator[Any]:
    """``await browser_for("name")``: a client signed in as that (existing) account."""
    clients: list[AsyncClient] = []

    async def sign_in(username: str, password: str = PASSWORD) -> Browser:
        client = AsyncClient(transport=ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        browser = Browser(client)
        await browser.get("/console/login")
        response = await browser.post(
            "/console/login", {"username": username, "password": password}
        )
        assert response.status_code == 303, response.text
        return browser

    yield sign_in
    for client in clients:
        await client.aclose()


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[Browser]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield Browser(client)
