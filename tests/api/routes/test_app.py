"""The FastAPI app through httpx on a real SQLite file: health, OpenAPI, surveys, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from starlette.exceptions import HTTPException

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import UnknownUnit
from surveys.core.i18n import Translator
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.questionnaire import catalog, conversation, respondents
from surveys.questionnaire.engine import Done, Input, Pick, Skip
from surveys.questionnaire.models import SurveyVersion

DEMO_DAY = date(2026, 7, 1)
TODAY = date(2026, 9, 1)
SURVEY = "szzf-2026h2"

# Positions in the demo survey: 1 channels, 8 city_governance, 9 data_protection,
# 10 age_band, 12 suggestion. "Not in the last six months" hides 2-7; under 30 hides 11.
SHORTEST_COMPLETION: list[Input] = [Pick(1, 5), Done(1), Pick(8, 0), Pick(9, 1), Pick(10, 0)]


@pytest.fixture
def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    return create_app(settings, sessionmaker)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def demo_version(sessionmaker: SessionMaker) -> SurveyVersion:
    """The demo units and the demo survey, loaded through the services and committed."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
        result = await catalog.load_survey(
            session=session, definition=demo.demo_survey(DEMO_DAY), source="demo survey"
        )
    return result.version


async def answer(
    sessionmaker: SessionMaker, version: SurveyVersion, external_id: int, inputs: list[Input]
) -> conversation.Reply:
    """One respondent begins the demo survey for 昆都仑区 and gives ``inputs``, committed."""
    async with unit_of_work(sessionmaker) as session:
        who = await respondents.get_or_create_respondent(
            session=session, secret=b"api-test", channel="telegram", external_id=external_id
        )
        reply = await conversation.begin_survey(
            session=session, respondent=who, survey_code=SURVEY, unit_code="kundulun", today=TODAY
        )
        for given in inputs:
            reply = await conversation.submit(
                session=session, respondent=who, given=given, version_id=pk(version), today=TODAY
            )
            assert reply.notice is None, (given, reply.notice)
    return reply


def demo_row(responses: int, completed: int) -> dict[str, object]:
    return {
        "code": SURVEY,
        "title": "数字政府建设满意度调查",
        "version": 1,
        "period": "2026H2",
        "opens_on": "2026-07-01",
        "closes_on": "2026-12-31",
        "responses": responses,
        "completed": completed,
    }


class TestHealthz:
    async def test_reports_the_api_and_the_database_ok(self, client: AsyncClient) -> None:
        response = await client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


class TestOpenapi:
    async def test_lists_the_routes_under_the_title(self, client: AsyncClient) -> None:
        response = await client.get("/openapi.json")

        assert response.status_code == 200
        schema = response.json()
        assert schema["info"]["title"] == "minyi 民意"
        assert {"/healthz", "/api/v1/surveys"} <= set(schema["paths"])


class TestListSurveys:
    async def test_empty_database(self, client: AsyncClient) -> None:
        response = await client.get("/api/v1/surveys")

        assert response.status_code == 200
        assert response.json() == {"data": [], "count": 0}

    @pytest.mark.usefixtures("demo_version")
    async def test_the_demo_survey_without_responses(self, client: AsyncClient) -> None:
        response = await client.get("/api/v1/surveys")

        assert response.status_code == 200
        assert response.json() == {"data": [demo_row(responses=0, completed=0)], "count": 1}

    async def test_counts_a_completed_response(
        self, client: AsyncClient, sessionmaker: SessionMaker, demo_version: SurveyVersion
    ) -> None:
        reply = await answer(sessionmaker, demo_version, 1, [*SHORTEST_COMPLETION, Skip(12)])
        assert reply.finished is not None

        response = await client.get("/api/v1/surveys")

        assert response.json() == {"data": [demo_row(responses=1, completed=1)], "count": 1}

    async def test_counts_a_started_response_as_not_completed(
        self, client: AsyncClient, sessionmaker: SessionMaker, demo_version: SurveyVersion
    ) -> None:
        await answer(sessionmaker, demo_version, 1, [*SHORTEST_COMPLETION, Skip(12)])
        reply = await answer(sessionmaker, demo_version, 2, SHORTEST_COMPLETION[:2])
        assert reply.finished is None

        response = await client.get("/api/v1/surveys")

        assert response.json() == {"data": [demo_row(responses=2, completed=1)], "count": 1}


class TestDomainErrorHandler:
    async def test_becomes_json_with_code_chinese_message_and_status(
        self, app: FastAPI, client: AsyncClient
    ) -> None:
        async def unknown_unit() -> None:
            raise UnknownUnit(code="x")

        app.add_api_route("/test/unknown-unit", unknown_unit)

        response = await client.get("/test/unknown-unit")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body == {"code": "error.unknown_unit", "message": body["message"]}
        assert body["message"] == Translator()("error.unknown_unit", code="x")
        assert "x" in body["message"]
        assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])


class TestUnknownPath:
    async def test_a_malformed_request_is_a_json_404(self, client: AsyncClient) -> None:
        response = await client.post(
            "/api/v1/no-such-thing?x=%zz",
            content=b'{"not": json',
            headers={"content-type": "application/json"},
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "code": "error.not_found",
            "message": Translator()("error.not_found"),
        }

    async def test_an_unknown_api_path_is_404_in_chinese(self, client: AsyncClient) -> None:
        response = await client.get("/api/v1/no-such-thing")

        assert response.status_code == 404
        body = response.json()
        assert body == {"code": "error.not_found", "message": body["message"]}
        assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])

    async def test_a_wrong_method_is_405_in_chinese_with_allow(self, client: AsyncClient) -> None:
        response = await client.delete("/api/v1/units")

        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        body = response.json()
        assert body == {
            "code": "error.method_not_allowed",
            "message": Translator()("error.method_not_allowed"),
        }

    async def test_a_missing_static_file_is_404_without_detail(self, client: AsyncClient) -> None:
        response = await client.get("/static/no-such-file.css")

        assert response.status_code == 404
        assert response.json()["code"] == "error.not_found"

    async def test_any_other_framework_status_keeps_status_and_headers(
        self, app: FastAPI, client: AsyncClient
    ) -> None:
        async def refuse() -> None:
            raise HTTPException(429, headers={"Retry-After": "3"})

        app.add_api_route("/api/v1/test-refusal", refuse)
        response = await client.get("/api/v1/test-refusal")

        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json() == {
            "code": "error.http_status",
            "message": Translator()("error.http_status", status=429),
        }

    async def test_no_token_is_still_401_in_chinese(self, client: AsyncClient) -> None:
        response = await client.get("/api/v1/units")

        assert response.status_code == 401
        assert set(response.json()) == {"code", "message"}
