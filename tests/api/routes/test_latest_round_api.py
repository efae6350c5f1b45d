"""``POST /api/v1/ratings``: a 2nd round of a 办件 (named by its 办件编号) retires the 1st,
kept as history, so only the latest counts; the same source id again is a duplicate; a 1st
round sent after the 2nd is stored as history and displaces nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, func, select

from api.main import create_app
from scoring.aggregate import rating_counts
from scoring.demo import survey as demo
from scoring.method import load_method
from surveys.accounts import units
from surveys.accounts.models import Unit
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating
from tests.api.routes.test_integrations import EVENT, NOW, make_token, rating

PERIOD = "2026H2"


@pytest.fixture
async def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    app = create_app(settings, sessionmaker)
    app.dependency_overrides[utcnow] = lambda: NOW
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def headers(client: AsyncClient, sessionmaker: SessionMaker) -> dict[str, str]:
    """市审批服务局's token, and its 办件 EVENT pushed."""
    headers = await make_token(sessionmaker, "spj")
    pushed = await client.post("/api/v1/service-events", json=EVENT, headers=headers)
    assert pushed.status_code in (200, 201), pushed.text
    return headers


def of_the_case(source_id: str, **fields: Any) -> dict[str, Any]:
    return rating(source_id, case_no=EVENT["case_no"], **fields)


async def rounds(sessionmaker: SessionMaker) -> list[tuple[str, int, bool, str]]:
    async with sessionmaker() as session:
        found = await session.exec(
            select(Rating.source_id, Rating.round, Rating.active, Rating.level).order_by(
                col(Rating.id)
            )
        )
        return [tuple(row) for row in found.all()]  # type: ignore[misc]


async def counted(sessionmaker: SessionMaker) -> dict[str, int]:
    """市审批服务局's counted ratings by level, as ``minyi score`` counts them."""
    async with sessionmaker() as session:
        unit = (await session.exec(select(Unit).where(col(Unit.code) == "spj"))).one()
        counts = await rating_counts(session=session, period=PERIOD, method=load_method())
    return {level: n for level, n in counts.get(pk(unit), {}).items() if n}


async def cases(sessionmaker: SessionMaker) -> int:
    async with sessionmaker() as session:
        return (await session.exec(select(func.count()).select_from(FollowUpCase))).one()


class TestPushedRounds:
    async def test_the_second_round_retires_the_first_and_a_resend_is_a_duplicate(
        self, client: AsyncClient, headers: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        first = await client.post(
            "/api/v1/ratings", json=of_the_case("pj-r1", level="dissatisfied"), headers=headers
        )
        assert first.json()["cases_opened"] == 1
        assert await counted(sessionmaker) == {"dissatisfied": 1}

        second = of_the_case("pj-r2", level="satisfied", round=2)
        sent = await client.post("/api/v1/ratings", json=second, headers=headers)
        again = await client.post("/api/v1/ratings", json=second, headers=headers)

        assert (sent.json()["created"], sent.json()["cases_opened"]) == (["pj-r2"], 0)
        assert (again.json()["created"], again.json()["duplicates"]) == ([], ["pj-r2"])
        assert await rounds(sessionmaker) == [
            ("pj-r1", 1, False, "dissatisfied"),
            ("pj-r2", 2, True, "satisfied"),
        ]
        assert await counted(sessionmaker) == {"satisfied": 1}
        assert await cases(sessionmaker) == 1

    async def test_a_first_round_sent_late_is_history(
        self, client: AsyncClient, headers: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        await client.post(
            "/api/v1/ratings", json=of_the_case("pj-r2", level="neutral", round=2), headers=headers
        )

        late = await client.post(
            "/api/v1/ratings",
            json=of_the_case("pj-r1", level="very_dissatisfied"),
            headers=headers,
        )

        assert (late.json()["created"], late.json()["cases_opened"]) == (["pj-r1"], 0)
        assert await rounds(sessionmaker) == [
            ("pj-r2", 2, True, "neutral"),
            ("pj-r1", 1, False, "very_dissatisfied"),
        ]
        assert await counted(sessionmaker) == {"neutral": 1}

    async def test_ratings_without_a_banjian_are_never_matched(
        self, client: AsyncClient, headers: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        body = [rating("pj-n1"), rating("pj-n2", level="neutral", round=2)]

        await client.post("/api/v1/ratings", json=body, headers=headers)

        assert [active for _, _, active, _ in await rounds(sessionmaker)] == [True, True]
        assert await counted(sessionmaker) == {"satisfied": 1, "neutral": 1}
