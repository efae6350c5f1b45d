"""Integrations push 办件 and ratings with bearer tokens; 差评 open cases with deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import func, select

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import tokens, units
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping import service_events
from surveys.haochaping.models import Rating, ServiceEvent

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
EVENT: dict[str, Any] = {
    "case_no": "BJ2026112300001",
    "item_code": "11150200MB",
    "item_name": "建设工程规划许可证核发",
    "unit": "spj",
    "window": "W03",
    "channel": 4,
    "finished_at": "2026-11-20T10:00:00+08:00",
    "link_token": "rcpt-7f3a9c21",
}


def rating(source_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "unit": "spj",
        "level": "satisfied",
        "channel": 4,
        "rated_at": "2026-11-21T09:00:00+08:00",
        **fields,
    }


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


async def make_token(sessionmaker: SessionMaker, unit_code: str | None) -> dict[str, str]:
    async with unit_of_work(sessionmaker) as session:
        unit = (
            await units.get_unit_or_raise(session=session, code=unit_code) if unit_code else None
        )
        _, raw = await tokens.create_token(session=session, name=f"t-{unit_code}", unit=unit)
    return {"Authorization": f"Bearer {raw}"}


def stale_once(lookup: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``lookup`` that finds nothing the first time, as a check made a moment too early."""
    calls: list[bool] = []

    async def stale(**kwargs: Any) -> Any:
        if not calls:
            calls.append(True)
            return None
        return await lookup(**kwargs)

    return stale


async def count(sessionmaker: SessionMaker, model: type[Any]) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


class TestAuthentication:
    @pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer my_nope"}])
    async def test_refused_without_a_valid_token(
        self, client: AsyncClient, sessionmaker: SessionMaker, header: dict[str, str]
    ) -> None:
        response = await client.post("/api/v1/service-events", json=EVENT, headers=header)
        assert response.status_code == 401
        assert response.json()["code"] == "error.invalid_token"
        assert await count(sessionmaker, ServiceEvent) == 0


class TestPushServiceEvent:
    async def test_the_same_case_number_twice_stores_one_event(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        first = await client.post("/api/v1/service-events", json=EVENT, headers=headers)
        again = await client.post("/api/v1/service-events", json=EVENT, headers=headers)
        assert (first.status_code, first.json()["created"]) == (201, True)
        assert (again.status_code, again.json()["created"]) == (200, False)
        assert await count(sessionmaker, ServiceEvent) == 1

    async def test_two_pushes_of_a_new_case_at_once_store_one_event(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")

        answers = await asyncio.gather(
            *(client.post("/api/v1/service-events", json=EVENT, headers=headers) for _ in "ab")
        )

        assert sorted((a.status_code, a.json()["created"]) for a in answers) == [
            (200, False), (201, True),
        ]  # fmt: skip
        assert answers[0].json()["id"] == answers[1].json()["id"]
        assert await count(sessionmaker, ServiceEvent) == 1

    async def test_a_push_that_lost_the_race_answers_as_a_repeat_push(
        self, client: AsyncClient, sessionmaker: SessionMaker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # SQLite lets one writer in at a time, so the race is played here: the second push
        # checked for the 办件 (and its link token) before the first one was stored.
        headers = await make_token(sessionmaker, "spj")
        first = await client.post("/api/v1/service-events", json=EVENT, headers=headers)
        repeat = await client.post("/api/v1/service-events", json=EVENT, headers=headers)
        for name in ("get_event", "get_event_by_link_token"):
            real = getattr(service_events, name)
            monkeypatch.setattr(service_events, name, stale_once(real))

        raced = await client.post("/api/v1/service-events", json=EVENT, headers=headers)

        assert first.status_code == 201
        assert (raced.status_code, raced.json()) == (repeat.status_code, repeat.json())
        assert (repeat.status_code, repeat.json()["created"]) == (200, False)
        assert await count(sessionmaker, ServiceEvent) == 1

    async def test_an_unknown_unit_is_named(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, None)
        response = await client.post(
            "/api/v1/service-events", json={**EVENT, "unit": "nope"}, headers=headers
        )
        assert response.status_code == 404
        assert "nope" in response.json()["message"]

    async def test_a_malformed_event_is_a_422_naming_the_field(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        response = await client.post(
            "/api/v1/service-events", json={**EVENT, "channel": 12}, headers=headers
        )
        assert response.status_code == 422
        assert any(err["loc"][-1] == "channel" for err in response.json()["detail"])

    async def test_a_link_token_longer_than_a_deep_link_allows_is_a_422_saying_why(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        response = await client.post(
            "/api/v1/service-events", json={**EVENT, "link_token": "x" * 63}, headers=headers
        )
        assert response.status_code == 422
        [error] = [e for e in response.json()["detail"] if e["loc"][-1] == "link_token"]
        assert "8-62 characters" in error["msg"]
        assert "Telegram's 64 characters" in error["msg"]
        async with unit_of_work(sessionmaker) as session:
            stored = (await session.exec(select(func.count()).select_from(ServiceEvent))).one()
        assert stored == 0


class TestPushRatings:
    async def test_a_batch_keeps_good_rows_and_reports_bad_ones(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        body = [
            rating("pj-1"),
            rating("pj-2", unit="gaj"),  # another unit than the token's
            rating("pj-3", level="meh"),
            rating("pj-4", unit="spj", rated_at="2025-12-20T09:00:00+08:00"),  # closed period
        ]
        response = await client.post("/api/v1/ratings", json=body, headers=headers)
        assert response.status_code == 200
        data = response.json()
        assert data["created"] == ["pj-1"]
        assert [(e["row"], e["field"]) for e in data["errors"]] == [
            (1, "unit"),
            (2, "level"),
            (3, "rated_at"),
        ]
        assert "2026-01-15" in data["errors"][2]["message"]
        assert await count(sessionmaker, Rating) == 1

    async def test_a_resent_rating_is_a_duplicate_not_a_second_row(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, None)
        await client.post("/api/v1/ratings", json=rating("pj-9"), headers=headers)
        again = await client.post("/api/v1/ratings", json=rating("pj-9"), headers=headers)
        assert again.json()["duplicates"] == ["pj-9"]
        assert await count(sessionmaker, Rating) == 1

    async def test_a_bad_rating_opens_a_case_with_working_day_deadlines(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        await client.post("/api/v1/service-events", json=EVENT, headers=headers)
        # Saturday 2026-11-21: counting starts Monday 11-23 (民法典 §201).
        body = rating("pj-5", level="very_dissatisfied", case_no=EVENT["case_no"])
        response = await client.post("/api/v1/ratings", json=body, headers=headers)
        assert response.json()["cases_opened"] == 1
        async with sessionmaker() as session:
            case = (await session.exec(select(FollowUpCase))).one()
            stored = (await session.exec(select(Rating))).one()
        assert (case.state, case.contact_due, case.rectify_due) == (
            "待核实",
            date(2026, 11, 23),
            date(2026, 11, 27),
        )
        assert (stored.item_code, stored.window_code) == ("11150200MB", "W03")


class TestCasesApi:
    async def _case(self, client: AsyncClient, headers: dict[str, str]) -> int:
        body = rating("pj-c", level="dissatisfied", reasons=["办事效率"])
        await client.post("/api/v1/ratings", json=body, headers=headers)
        listed = await client.get("/api/v1/cases", headers=headers)
        assert listed.status_code == 200
        (case,) = listed.json()["data"]
        assert case["state"] == "待核实"
        assert case["reference"].startswith("市民#")
        return int(case["id"])

    async def test_unit_staff_move_and_reply_on_their_case(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        case_id = await self._case(client, headers)
        moved = await client.post(
            f"/api/v1/cases/{case_id}/transition",
            json={"actor": "spj-li", "to": "核实中"},
            headers=headers,
        )
        assert moved.json()["state"] == "核实中"
        replied = await client.post(
            f"/api/v1/cases/{case_id}/reply",
            json={"actor": "spj-li", "text": "已联系窗口整改"},
            headers=headers,
        )
        assert replied.status_code == 200
        refused = await client.post(
            f"/api/v1/cases/{case_id}/transition",
            json={"actor": "spj-li", "to": "已关闭"},
            headers=headers,
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "error.invalid_transition")

    async def test_another_units_token_cannot_see_the_case(
        self, client: AsyncClient, sessionmaker: SessionMaker
    ) -> None:
        case_id = await self._case(client, await make_token(sessionmaker, "spj"))
        other = await make_token(sessionmaker, "gaj")
        assert (await client.get("/api/v1/cases", headers=other)).json()["count"] == 0
        response = await client.post(
            f"/api/v1/cases/{case_id}/reply", json={"actor": "x", "text": "hi"}, headers=other
        )
        assert response.status_code == 404
