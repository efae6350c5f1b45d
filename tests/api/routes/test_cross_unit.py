"""Nothing one unit sends or asks tells it about another unit.

Each test builds two worlds that differ only in whether another unit (gaj, 市公安局) holds the
object, sends the same request from spj's token or account to both, and compares the whole
answer: status and body. Another unit's 办件, source id, case or receipt link answers exactly
as a missing one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlmodel import SQLModel, col, select

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating, ServiceEvent
from tests.api.cli.test_cli import Minyi
from tests.api.cli.test_cli_cases import ADMIN, case_id, minyi, prepared
from tests.api.console.conftest import PASSWORD, Browser, add_user
from tests.api.routes.test_integrations import EVENT, NOW, make_token, rating

__all__ = ["case_id", "minyi", "prepared"]  # the command-line fixtures: spj's case

OWN = "spj"  # 市审批服务局: the unit asking
OTHER = "gaj"  # 市公安局: the unit whose objects must stay invisible
CSRF_VALUE = re.compile(r'(name="csrftoken" value=")[^"]+(")')


@dataclass
class World:
    sessionmaker: SessionMaker
    client: AsyncClient
    app: FastAPI
    tokens: dict[str | None, dict[str, str]] = field(default_factory=dict)

    async def token(self, unit_code: str | None) -> dict[str, str]:
        """The bearer header of a token of that unit (None: a city-wide one)."""
        if unit_code not in self.tokens:
            self.tokens[unit_code] = await make_token(self.sessionmaker, unit_code)
        return self.tokens[unit_code]

    async def push_event(self, unit_code: str, case_no: str, link_token: str) -> None:
        body = {**EVENT, "unit": unit_code, "case_no": case_no, "link_token": link_token}
        pushed = await self.client.post(
            "/api/v1/service-events", json=body, headers=await self.token(unit_code)
        )
        assert pushed.status_code == 201, pushed.text

    async def push_rating(self, unit_code: str, source_id: str, **fields: Any) -> None:
        body = rating(source_id, unit=unit_code, **fields)
        pushed = await self.client.post(
            "/api/v1/ratings", json=body, headers=await self.token(unit_code)
        )
        assert pushed.json()["created"] == [source_id], pushed.text


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[MakeWorld]:
    """``await make_world("name", without={"gaj"})``: an app on a database of its own."""
    engines = []
    clients: list[AsyncClient] = []

    async def make(name: str, *, without: frozenset[str] = frozenset()) -> World:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / name,
            secret_key="test-secret-key",  # type: ignore[arg-type]
            bot_token="123456:TEST",  # type: ignore[arg-type]
        )
        engine = create_engine(settings.db_url)
        engines.append(engine)
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        sessionmaker = create_sessionmaker(engine)
        parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
        async with unit_of_work(sessionmaker) as session:
            kept = [unit for unit in parsed if unit.code not in without]
            await units.upsert_units(session=session, units=kept)
        app = create_app(settings, sessionmaker)
        app.dependency_overrides[utcnow] = lambda: NOW
        client = AsyncClient(transport=ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return World(sessionmaker, client, app)

    yield make
    for client in clients:
        await client.aclose()
    for engine in engines:
        await engine.dispose()


def answer(response: Response) -> tuple[int, Any]:
    return response.status_code, response.json()


class TestRatingsNamingACaseNo:
    @pytest.mark.parametrize("token_unit", [OWN, None])
    async def test_another_units_case_no_answers_as_a_missing_one(
        self, make_world: MakeWorld, token_unit: str | None
    ) -> None:
        other, missing = await make_world("other"), await make_world("missing")
        await other.push_event(OTHER, "BJ-1", "rcpt-gaj-0001")
        await missing.push_event(OTHER, "BJ-2", "rcpt-gaj-0001")
        body = rating("pj-1", unit=OWN, case_no="BJ-1")

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/ratings", json=body, headers=await world.token(token_unit)
                )
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0] == (
            200,
            {
                "created": [],
                "duplicates": [],
                "errors": [
                    {"row": 0, "field": "case_no", "message": "该单位没有办件编号为“BJ-1”的办件。"}
                ],
                "cases_opened": 0,
            },
        )

    async def test_another_unit_named_by_a_bound_token_answers_as_a_missing_unit(
        self, make_world: MakeWorld
    ) -> None:
        other, missing = await make_world("other"), await make_world("missing", without={OTHER})
        body = rating("pj-1", unit=OTHER)

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/ratings", json=body, headers=await world.token(OWN)
                )
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0][0] == 200
        assert answers[0][1]["created"] == []


class TestRatingSourceIds:
    async def test_another_units_source_id_never_suppresses_a_rating(
        self, make_world: MakeWorld
    ) -> None:
        other, missing = await make_world("other"), await make_world("missing")
        await other.push_rating(OTHER, "pj-1")
        await missing.push_rating(OTHER, "pj-2")
        body = rating("pj-1", unit=OWN, level="dissatisfied", reasons=["办事效率"])

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/ratings", json=body, headers=await world.token(OWN)
                )
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0] == (
            200,
            {"created": ["pj-1"], "duplicates": [], "errors": [], "cases_opened": 1},
        )
        async with other.sessionmaker() as session:
            stored = await session.exec(
                select(Rating.source_id, Rating.level).order_by(col(Rating.id))
            )
            assert list(stored) == [("pj-1", "satisfied"), ("pj-1", "dissatisfied")]

    async def test_the_same_unit_resending_its_source_id_is_still_a_duplicate(
        self, make_world: MakeWorld
    ) -> None:
        world = await make_world("one")
        await world.push_rating(OTHER, "pj-1")
        await world.push_rating(OWN, "pj-1")

        again = await world.client.post(
            "/api/v1/ratings", json=rating("pj-1", unit=OWN), headers=await world.token(OWN)
        )

        assert answer(again) == (
            200,
            {"created": [], "duplicates": ["pj-1"], "errors": [], "cases_opened": 0},
        )


class TestServiceEvents:
    async def test_a_case_no_another_unit_used_is_stored_as_a_new_one(
        self, make_world: MakeWorld
    ) -> None:
        other, missing = await make_world("other"), await make_world("missing")
        await other.push_event(OTHER, "BJ-1", "rcpt-gaj-0001")
        await missing.push_event(OTHER, "BJ-2", "rcpt-gaj-0001")
        body = {**EVENT, "unit": OWN, "case_no": "BJ-1", "link_token": "rcpt-spj-0001"}

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/service-events", json=body, headers=await world.token(OWN)
                )
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0] == (201, {"id": 2, "case_no": "BJ-1", "created": True})
        async with other.sessionmaker() as session:
            stored = await session.exec(
                select(ServiceEvent.case_no, ServiceEvent.link_token).order_by(
                    col(ServiceEvent.id)
                )
            )
            assert list(stored) == [("BJ-1", "rcpt-gaj-0001"), ("BJ-1", "rcpt-spj-0001")]

    async def test_a_unit_the_token_does_not_serve_answers_as_a_missing_unit(
        self, make_world: MakeWorld
    ) -> None:
        other, missing = await make_world("other"), await make_world("missing", without={OTHER})
        body = {**EVENT, "unit": OTHER}

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/service-events", json=body, headers=await world.token(OWN)
                )
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0][0] == 404
        assert answers[0][1]["code"] == "error.unknown_unit"

    async def test_a_link_token_clash_does_not_tell_whose_it_is(
        self, make_world: MakeWorld
    ) -> None:
        theirs, ours = await make_world("theirs"), await make_world("ours")
        await theirs.push_event(OTHER, "BJ-1", "rcpt-0001")
        await ours.push_event(OWN, "BJ-1", "rcpt-0001")
        body = {**EVENT, "unit": OWN, "case_no": "BJ-9", "link_token": "rcpt-0001"}

        answers = [
            answer(
                await world.client.post(
                    "/api/v1/service-events", json=body, headers=await world.token(OWN)
                )
            )
            for world in (theirs, ours)
        ]

        assert answers[0] == answers[1]
        assert answers[0][0] == 409
        assert answers[0][1]["code"] == "error.link_token_taken"


async def _case_worlds(make_world: MakeWorld) -> tuple[World, World]:
    """``other``: gaj has case 1 (a 差评); ``missing``: gaj rated well, so there is no case."""
    other, missing = await make_world("other"), await make_world("missing")
    await other.push_rating(OTHER, "pj-1", level="dissatisfied", reasons=["办事效率"])
    await missing.push_rating(OTHER, "pj-1")
    own_case = await other.client.get("/api/v1/cases/1", headers=await other.token(OTHER))
    assert own_case.status_code == 200, own_case.text
    return other, missing


class TestCasesApi:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/api/v1/cases/1", None),
            ("POST", "/api/v1/cases/1/reply", {"actor": "spj-li", "text": "您好"}),
            ("POST", "/api/v1/cases/1/transition", {"actor": "spj-li", "to": "核实中"}),
        ],
    )
    async def test_another_units_case_answers_as_a_missing_one(
        self, make_world: MakeWorld, method: str, path: str, body: dict[str, str] | None
    ) -> None:
        other, missing = await _case_worlds(make_world)

        answers = [
            answer(
                await world.client.request(method, path, json=body, headers=await world.token(OWN))
            )
            for world in (other, missing)
        ]

        assert answers[0] == answers[1]
        assert answers[0] == (404, {"code": "error.not_found", "message": "未找到相关内容。"})


async def _sign_in(world: World) -> Browser:
    await add_user(world.sessionmaker, "wang", StaffRole.staff, [OWN])
    browser = Browser(AsyncClient(transport=ASGITransport(app=world.app), base_url="http://test"))
    await browser.get("/console/login")
    signed_in = await browser.post("/console/login", {"username": "wang", "password": PASSWORD})
    assert signed_in.status_code == 303, signed_in.text
    return browser


def page(response: Response) -> tuple[int, str]:
    """Status and page, without the per-session CSRF token."""
    return response.status_code, CSRF_VALUE.sub(r"\1…\2", response.text)


class TestCasesConsole:
    @pytest.mark.parametrize(
        ("method", "path", "form"),
        [
            ("GET", "/console/cases/1", None),
            ("POST", "/console/cases/1/reply", {"text": "您好"}),
            ("POST", "/console/cases/1/transition", {"to": "核实中", "note": ""}),
        ],
    )
    async def test_another_units_case_answers_as_a_missing_one(
        self, make_world: MakeWorld, method: str, path: str, form: dict[str, str] | None
    ) -> None:
        other, missing = await _case_worlds(make_world)
        pages = []
        for world in (other, missing):
            browser = await _sign_in(world)
            try:
                if form is None:
                    response = await browser.get(path)
                else:
                    response = await browser.post(path, form)
            finally:
                await browser.client.aclose()
            pages.append(page(response))

        assert pages[0] == pages[1]
        assert pages[0][0] == 404
        assert "未找到相关内容。" in pages[0][1]


class TestCasesCommandLine:
    def test_another_units_case_answers_as_a_missing_one(self, minyi: Minyi, case_id: int) -> None:
        """spj's case, asked for by gaj's staff, against a case number nobody has."""
        added = minyi(*ADMIN, "user", "add", "zhao", "--role", "staff", "--unit", OTHER)
        assert added.returncode == 0, added.stderr
        missing_id = case_id + 1000

        for command in (("show",), ("move", "核实中"), ("reply", "您好")):
            action, *rest = command
            other, missing = (
                minyi("--as", "zhao", "case", action, str(number), *rest)
                for number in (case_id, missing_id)
            )

            assert other.returncode == missing.returncode == 2, other.stdout + other.stderr
            assert (other.stdout, other.stderr) == (missing.stdout, missing.stderr)
            assert "未找到相关内容。" in other.stderr
