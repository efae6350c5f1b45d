"""Web chat fixtures: the app with the demo units and survey, and citizens as browsers
without JavaScript (httpx clients, each with its own cookie jar)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.core.clock import today
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.questionnaire import catalog

FIELD = re.compile(r'name="(v|p)" value="(\d+)"')


@pytest.fixture
async def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
        await catalog.load_survey(
            session=session, definition=demo.demo_survey(today(settings.tz)), source="demo"
        )
    return create_app(settings, sessionmaker)


@pytest.fixture
def code(settings: Settings) -> str:
    return demo.demo_survey(today(settings.tz)).code


@dataclass
class Citizen:
    """A phone without JavaScript: follows redirects, posts the forms it was shown."""

    client: AsyncClient
    page: Response | None = None

    async def get(self, url: str, **kwargs: Any) -> Response:
        self.page = await self.client.get(url, **kwargs)
        return self.page

    def form(self) -> dict[str, str]:
        """The version and position the current page's question forms carry."""
        assert self.page is not None
        return dict(FIELD.findall(self.page.text))

    async def act(self, act: str, **fields: Any) -> Response:
        """Post ``act`` to the question on the page, and land on the next page."""
        data = {**self.form(), "act": act, **{k: str(v) for k, v in fields.items()}}
        self.page = await self.client.post("/c/chat", data=data, follow_redirects=True)
        return self.page

    async def pick(self, label: str) -> Response:
        """Press the option button showing ``label``."""
        assert self.page is not None
        index = option_index(self.page.text, label)
        return await self.act("pick", i=index)


def option_index(html: str, label: str) -> int:
    tick = r"(?:<span[^>]*>[^<]*</span>)?"
    button = r'name="i" value="(\d+)"[^>]*>' + tick + re.escape(label) + "</button>"
    found = re.search(button, html)
    assert found, f"no option {label!r} on the page"
    return int(found.group(1))


CitizenFactory = Callable[..., Awaitable[Citizen]]


@pytest.fixture
async def citizen_for(app: FastAPI) -> AsyncIterator[CitizenFactory]:
    clients: list[AsyncClient] = []

    async def make(**headers: str) -> Citizen:
        client = AsyncClient(
            transport=ASGITransport(app=app), base_url="http://test", headers=headers
        )
        clients.append(client)
        return Citizen(client)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def citizen(citizen_for: CitizenFactory) -> Citizen:
    return await citizen_for()
