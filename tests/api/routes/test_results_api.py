"""The results API: responses with paging, results per survey, free text, survey admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import select

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from surveys.questionnaire.models import ResponseStatus
from tests.api.console.conftest import bearer
from tests.surveys.questionnaire.test_results import CODE, FORMULA, add_response, definition

SURVEY_YAML = """\
code: api-new
title: 新调查
period: 2026H2
opens_on: 2026-07-01
closes_on: 2099-12-31
questions:
  - key: q1
    type: satisfaction
    text: 您满意吗？
"""


@dataclass
class Ids:
    own: int
    other: int


@pytest.fixture
async def ids(sessionmaker: SessionMaker) -> Ids:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
        by_code = {u.code: pk(u) for u in await units.list_units(session=session)}
        version = (
            await catalog.load_survey(session=session, definition=definition(), source="t")
        ).version
        own, other = by_code["spj"], by_code["kundulun"]
        for n in range(3):
            await add_response(
                session, version, own, {"sat": "satisfied", "note": f"意见{n} 13812345678"}
            )
        await add_response(
            session, version, own, {"sat": "neutral"}, status=ResponseStatus.in_progress
        )
        await add_response(session, version, other, {"sat": "very_satisfied", "note": FORMULA})
    return Ids(own=own, other=other)


@pytest.fixture
def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    return create_app(settings, sessionmaker)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def headers(sessionmaker: SessionMaker, role: StaffRole, unit: str | None) -> dict[str, str]:
    return await bearer(sessionmaker, f"t-{role.value}", role, unit)


class TestResponses:
    async def test_pages_with_count_of_all_matches(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.staff, "spj")

        first = await client.get("/api/v1/responses?limit=2", headers=auth)
        rest = await client.get("/api/v1/responses?limit=2&offset=2", headers=auth)

        assert first.status_code == 200
        assert first.json()["count"] == 4
        assert len(first.json()["data"]) == 2
        assert len(rest.json()["data"]) == 2
        row = first.json()["data"][0]
        assert set(row) == {
            "id",
            "survey",
            "version",
            "period",
            "unit_id",
            "status",
            "channel",
            "started_at",
            "completed_at",
        }
        assert {r["unit_id"] for r in first.json()["data"] + rest.json()["data"]} == {ids.own}

    async def test_filters(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)

        done = await client.get(
            f"/api/v1/responses?survey={CODE}&status=completed&period=2026H1", headers=auth
        )
        other = await client.get(f"/api/v1/responses?unit_id={ids.other}", headers=auth)

        assert done.json()["count"] == 4
        assert other.json()["count"] == 1

    async def test_filter_by_channel(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)

        every = await client.get("/api/v1/responses", headers=auth)
        bot = await client.get("/api/v1/responses?channel=telegram", headers=auth)
        web = await client.get("/api/v1/responses?channel=web", headers=auth)
        fax = await client.get("/api/v1/responses?channel=fax", headers=auth)

        assert {r["channel"] for r in every.json()["data"]} == {"telegram"}
        assert bot.json()["count"] == every.json()["count"] > 0
        assert web.json() == {"data": [], "count": 0}
        assert fax.status_code == 422

    async def test_other_unit_unknown_survey_no_token(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.staff, "spj")

        other = await client.get(f"/api/v1/responses?unit_id={ids.other}", headers=auth)
        unknown = await client.get("/api/v1/responses?survey=nope", headers=auth)
        anonymous = await client.get("/api/v1/responses")

        assert other.status_code == 404
        assert other.json()["code"] == "error.not_found"
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "error.unknown_survey"
        assert anonymous.status_code == 401

    async def test_limit_is_bounded(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)

        response = await client.get("/api/v1/responses?limit=100000", headers=auth)

        assert response.status_code == 422


class TestResults:
    async def test_own_unit_distribution(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.viewer, "spj")

        response = await client.get(f"/api/v1/surveys/{CODE}/results", headers=auth)

        assert response.status_code == 200
        body = response.json()
        assert body["responses"] == 3
        sat = body["questions"][0]
        assert sat["key"] == "sat"
        assert sat["mean_points"] == 75
        assert {o["code"]: o["count"] for o in sat["options"]}["satisfied"] == 3

    async def test_404s(self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids) -> None:
        auth = await headers(sessionmaker, StaffRole.staff, "spj")

        other = await client.get(
            f"/api/v1/surveys/{CODE}/results?unit_id={ids.other}", headers=auth
        )
        unknown = await client.get("/api/v1/surveys/nope/results", headers=auth)

        assert other.status_code == 404
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "error.unknown_survey"

    async def test_free_text_masked_and_paged(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.staff, "spj")

        response = await client.get(
            f"/api/v1/surveys/{CODE}/free-text?limit=2&q=意见", headers=auth
        )

        body = response.json()
        assert body["count"] == 3
        assert len(body["data"]) == 2
        assert all("138****5678" in row["text"] for row in body["data"])
        assert "13812345678" not in response.text

    async def test_documented_in_openapi(self, client: AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]

        assert "/api/v1/responses" in paths
        assert "/api/v1/surveys/{code}/results" in paths
        assert "application/yaml" in paths["/api/v1/surveys"]["post"]["requestBody"]["content"]


class TestSurveyAdmin:
    async def test_load_publish_close_audited(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = {**await headers(sessionmaker, StaffRole.admin, None)}
        yaml_headers = {**auth, "content-type": "application/yaml"}

        created = await client.post("/api/v1/surveys", content=SURVEY_YAML, headers=yaml_headers)
        same = await client.post("/api/v1/surveys", content=SURVEY_YAML, headers=yaml_headers)
        closed = await client.post("/api/v1/surveys/api-new/close", headers=auth)
        published = await client.post("/api/v1/surveys/api-new/publish", headers=auth)

        assert created.status_code == 201, created.text
        assert created.json()["created"] is True
        assert same.status_code == 200
        assert same.json()["created"] is False
        assert closed.json()["open"] is False
        assert closed.json()["closed_at"] is not None
        assert published.status_code == 200
        assert published.json()["closed_at"] is None
        listed = (await client.get("/api/v1/surveys")).json()
        assert "api-new" in {s["code"] for s in listed["data"]}
        async with unit_of_work(sessionmaker) as session:
            actions = (await session.exec(select(AuditEvent.action))).all()
        assert {"survey.load", "survey.close", "survey.publish"} <= set(actions)

    async def test_invalid_yaml_is_422_with_field_paths(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)
        bad = SURVEY_YAML.replace("period: 2026H2", "period: 2026").replace(
            "type: satisfaction", "type: stars"
        )

        response = await client.post(
            "/api/v1/surveys", content=bad, headers={**auth, "content-type": "text/plain"}
        )

        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "error.invalid_survey_file"
        assert any(p.startswith("period:") for p in body["problems"])
        assert any(p.startswith("questions[0].type:") for p in body["problems"])

    async def test_json_body_is_415(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)

        response = await client.post("/api/v1/surveys", json={"yaml": SURVEY_YAML}, headers=auth)

        assert response.status_code == 415
        assert response.json()["code"] == "error.survey_media_type"

    @pytest.mark.parametrize("role", [StaffRole.staff, StaffRole.supervisor, StaffRole.viewer])
    async def test_not_admin_is_403(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids, role: StaffRole
    ) -> None:
        auth = await headers(sessionmaker, role, "spj")

        load = await client.post(
            "/api/v1/surveys",
            content=SURVEY_YAML,
            headers={**auth, "content-type": "application/yaml"},
        )
        close = await client.post(f"/api/v1/surveys/{CODE}/close", headers=auth)

        assert load.status_code == 403
        assert close.status_code == 403

    async def test_publish_unknown_is_404_and_ended_is_409(
        self, client: AsyncClient, sessionmaker: SessionMaker, ids: Ids
    ) -> None:
        auth = await headers(sessionmaker, StaffRole.admin, None)

        unknown = await client.post("/api/v1/surveys/nope/publish", headers=auth)
        ended = await client.post(f"/api/v1/surveys/{CODE}/publish", headers=auth)

        assert unknown.status_code == 404
        assert ended.status_code == 409  # the test survey closed on 2026-06-30
        assert ended.json()["code"] == "error.survey_ended"
