"""The API says what it does: every /api/v1 operation documents its error statuses with the
one ``{code, message}`` model, a 422 is ``{code, message, problems}``, whitespace is no text,
and the statuses the API really answers are the documented ones with that shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from pydantic import TypeAdapter

from api.errors import ErrorPublic, InvalidRequestPublic
from surveys.cases.models import CaseEvent
from surveys.core.db import SessionMaker
from surveys.haochaping.models import ServiceEvent
from tests.api.routes import test_integrations as base
from tests.api.routes.test_integrations import EVENT, count, make_token, rating

app = base.app  # the fixtures: the demo units, the app on them, an httpx client
client = base.client

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_SCHEMAS = {"ErrorPublic", "ProblemsPublic", "InvalidRequestPublic"}
BLANKS = [" ", "   ", "\u3000", "\t\n", "\u00a0"]


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation under /api/v1."""
    found = [
        (method, path, operation)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(found) >= 17  # the API of today; a new operation joins automatically
    return found


def schema_name(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def is_public(operation: dict[str, Any]) -> bool:
    return not operation.get("security") and operation["operationId"].startswith("list_surveys")


class TestOpenAPI:
    def test_every_error_status_uses_the_error_model(self, app: FastAPI) -> None:
        for method, path, operation in operations(app):
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            assert errors, (method, path)
            for status, response in errors.items():
                assert schema_name(response) in ERROR_SCHEMAS, (method, path, status)
                assert response["description"], (method, path, status)

    def test_every_operation_with_a_token_documents_its_refusals(self, app: FastAPI) -> None:
        for method, path, operation in operations(app):
            documented = set(operation["responses"])
            if is_public(operation):
                assert "503" in documented
                continue
            assert {"401", "403", "422", "503"} <= documented, (method, path)
            if "{" in path:
                assert "404" in documented, (method, path)
            if method == "post":
                assert "409" in documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= documented, (method, path)

    def test_a_busy_database_names_retry_after(self, app: FastAPI) -> None:
        for _, _, operation in operations(app):
            assert "Retry-After" in operation["responses"]["503"]["headers"]

    def test_the_error_models_require_code_and_message(self, app: FastAPI) -> None:
        schemas = app.openapi()["components"]["schemas"]
        for name in ERROR_SCHEMAS:
            assert {"code", "message"} <= set(schemas[name]["required"]), name
        assert "problems" in schemas["InvalidRequestPublic"]["required"]
        assert "HTTPValidationError" not in schemas  # FastAPI's {detail} shape is gone

    def test_every_link_leads_to_an_operation_and_its_parameter(self, app: FastAPI) -> None:
        by_id = {op["operationId"]: op for _, _, op in operations(app)}
        followed = 0
        for method, path, operation in operations(app):
            for status, response in operation["responses"].items():
                for name, link in response.get("links", {}).items():
                    target = by_id[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link["parameters"]) <= names, (method, path, status, name)
                    followed += 1
        assert followed >= 20
        cases = app.openapi()["paths"]["/api/v1/cases"]["get"]["responses"]["200"]
        assert cases["links"]["GetCase"]["parameters"] == {"case_id": "$response.body#/data/0/id"}

    def test_every_success_status_is_documented(self, app: FastAPI) -> None:
        events = app.openapi()["paths"]["/api/v1/service-events"]["post"]["responses"]
        assert {"200", "201"} <= set(events)

    def test_text_fields_say_whitespace_is_not_text(self, app: FastAPI) -> None:
        schemas = app.openapi()["components"]["schemas"]
        assert schemas["ReplyIn"]["properties"]["text"]["pattern"] == r"\S"
        note = schemas["TransitionIn"]["properties"]["note"]["anyOf"][0]
        assert note["pattern"] == r"\S"


def documented(app: FastAPI, method: str, path: str) -> set[str]:
    return set(app.openapi()["paths"][path][method]["responses"])


def assert_error(response: Response, status: int) -> ErrorPublic:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = TypeAdapter(ErrorPublic).validate_python(response.json())
    assert body.code.startswith("error.")
    assert not body.message.isascii()  # Chinese, for people
    return body


async def open_case(client: AsyncClient, headers: dict[str, str]) -> int:
    body = rating("pj-contract", level="dissatisfied")
    assert (await client.post("/api/v1/ratings", json=body, headers=headers)).status_code == 200
    (listed,) = (await client.get("/api/v1/cases", headers=headers)).json()["data"]
    return int(listed["id"])


class TestAnswers:
    async def test_the_statuses_answered_are_documented_and_shaped(
        self,
        app: FastAPI,
        client: AsyncClient,
        sessionmaker: SessionMaker,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        case_id = await open_case(client, headers)
        case_path = "/api/v1/cases/{case_id}"
        move_path = "/api/v1/cases/{case_id}/transition"

        unsigned = await client.get(f"/api/v1/cases/{case_id}")
        missing = await client.get("/api/v1/cases/999999", headers=headers)
        refused = await client.post(
            f"/api/v1/cases/{case_id}/transition", json={"to": "已关闭"}, headers=headers
        )
        invalid = await client.get("/api/v1/cases?limit=0", headers=headers)

        assert_error(unsigned, 401)
        assert_error(missing, 404)
        assert_error(refused, 409)
        assert_error(invalid, 422)
        assert {"401", "404"} <= documented(app, "get", case_path)
        assert "409" in documented(app, "post", move_path)
        assert "422" in documented(app, "get", "/api/v1/cases")

    async def test_a_422_is_code_message_and_problems_naming_the_fields(
        self,
        client: AsyncClient,
        sessionmaker: SessionMaker,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        response = await client.get("/api/v1/cases?limit=0&offset=-1", headers=headers)

        body = InvalidRequestPublic.model_validate(response.json())
        assert response.status_code == 422
        assert body.code == "error.request_invalid"
        assert "query.limit" in body.message
        assert "query.offset" in body.message
        assert sorted(p.split(":")[0] for p in body.problems) == ["query.limit", "query.offset"]
        assert "detail" in response.json()  # structured, as before, for existing clients


class TestWhitespaceIsNoText:
    @pytest.mark.parametrize("blank", BLANKS)
    async def test_a_blank_reply_is_refused_by_the_schema(
        self,
        client: AsyncClient,
        sessionmaker: SessionMaker,
        blank: str,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        case_id = await open_case(client, headers)
        before = await count(sessionmaker, CaseEvent)

        reply = await client.post(
            f"/api/v1/cases/{case_id}/reply", json={"text": blank}, headers=headers
        )
        person = await client.post(
            f"/api/v1/cases/{case_id}/reply", json={"text": "已联系", "actor": blank},
            headers=headers,
        )  # fmt: skip
        note = await client.post(
            f"/api/v1/cases/{case_id}/transition", json={"to": "核实中", "note": blank},
            headers=headers,
        )  # fmt: skip

        for response, field in ((reply, "body.text"), (person, "body.actor"), (note, "body.note")):
            body = InvalidRequestPublic.model_validate(response.json())
            assert response.status_code == 422, response.text
            assert body.code == "error.request_invalid"
            assert field in body.message
            assert any(p.startswith(field + ":") for p in body.problems)
        assert await count(sessionmaker, CaseEvent) == before  # nothing stored

    async def test_text_around_spaces_is_kept_stripped(
        self,
        client: AsyncClient,
        sessionmaker: SessionMaker,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        case_id = await open_case(client, headers)

        response = await client.post(
            f"/api/v1/cases/{case_id}/reply",
            json={"text": "\u3000已联系窗口 ", "actor": " spj-li "},
            headers=headers,
        )

        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("field", ["window", "item_name", "case_no"])
    async def test_a_blank_service_event_field_is_refused(
        self,
        client: AsyncClient,
        sessionmaker: SessionMaker,
        field: str,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        response = await client.post(
            "/api/v1/service-events", json={**EVENT, field: "\u3000 "}, headers=headers
        )

        body = InvalidRequestPublic.model_validate(response.json())
        assert response.status_code == 422
        assert f"body.{field}" in body.message
        assert await count(sessionmaker, ServiceEvent) == 0

    @pytest.mark.parametrize("field", ["comment", "window", "item_name", "case_no"])
    async def test_a_blank_rating_field_is_a_row_error(
        self,
        client: AsyncClient,
        sessionmaker: SessionMaker,
        field: str,
    ) -> None:
        headers = await make_token(sessionmaker, "spj")
        body = [rating("pj-ok"), rating("pj-blank", **{field: " \u3000"})]
        response = await client.post("/api/v1/ratings", json=body, headers=headers)

        received = response.json()
        assert response.status_code == 200
        assert received["created"] == ["pj-ok"]
        assert [(e["row"], e["field"]) for e in received["errors"]] == [(1, field)]
