"""The one error shape of the JSON API, ``{code, message}``, as the OpenAPI documents it.

Every refusal under ``/api/v1`` answers JSON with ``code`` (a catalogue key such as
``error.not_found``, stable for programs) and ``message`` (the reason in Simplified Chinese,
for people). A 422 adds ``problems``: one ``where: what`` line per problem (a field of the
request, or of a loaded survey file); the code of a request that does not match the schema is
``error.request_invalid`` (handled in :mod:`api.refusals`). Each router declares the
statuses its routes can answer with :func:`error_responses`, so ``/openapi.json`` says what
the API does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorPublic(BaseModel):
    """A refusal: nothing was stored."""

    code: str = Field(description="catalogue key, e.g. error.not_found")
    message: str = Field(description="the reason, in Simplified Chinese")


class ProblemsPublic(ErrorPublic):
    """A refused request or file, with every problem found in it."""

    problems: list[str] = Field(description='one "field.path: what is wrong" line each')


class ValidationDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequestPublic(ProblemsPublic):
    """422: the request does not match the schema; ``message`` names the fields, ``problems``
    says what is wrong with each (``body.text: String should match pattern '\\S'``), and
    ``detail`` gives the same as structured entries (never the input)."""

    detail: list[ValidationDetail]


DESCRIPTIONS: dict[int, str] = {
    400: "the body cannot be read (not UTF-8 JSON, nested too deeply, a broken form)",
    401: "no bearer token, or an unknown, revoked or expired one",
    403: "the token's role may not do this, or the token is bound to another unit",
    404: "unknown, or another unit's (which reveals nothing about it)",
    409: "refused by the current state (e.g. a case's state, a closed survey, a token taken)",
    413: "the body is larger than the limit",
    415: "the body's media type is not accepted",
    422: "the request is invalid; problems names each field",
    503: "the database was busy: nothing was stored, send it again (Retry-After)",
}
MODELS: dict[int, type[BaseModel]] = {422: InvalidRequestPublic}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}

# The statuses every route that needs a token can answer: a missing or unknown token, a
# missing permission, a malformed request, a busy database.
TOKEN_ROUTE = (401, 403, 422, 503)
# Routes with a JSON body add an unreadable (400) or too large (413) body.
BODY = (400, 413)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router or route: each status with the error model."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {
            "model": MODELS.get(status, ErrorPublic),
            "description": DESCRIPTIONS[status],
        }
        if status == 503:
            entry["headers"] = RETRY_AFTER
        found[status] = entry
    return found


__all__ = [
    "BODY",
    "TOKEN_ROUTE",
    "ErrorPublic",
    "InvalidRequestPublic",
    "ProblemsPublic",
    "error_responses",
]
