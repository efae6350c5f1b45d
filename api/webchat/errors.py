"""Refusals on web chat pages: a page in the citizen's language with the error's status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.webchat import web
from api.webchat.citizen import Visitor, visitor_of
from surveys.core.exceptions import DomainError, UnknownSurvey
from surveys.core.i18n import N_

# The framework's refusals a citizen can meet, as pages: no such page, an unreadable form.
HTTP_KEYS = {404: N_("webchat.error.not_found"), 400: N_("webchat.error.bad_form")}
# Where the bot's wording points to a bot command, the web says it its own way.
WEB_KEYS = {UnknownSurvey.key: N_("webchat.error.unknown_survey")}


def install(app: FastAPI) -> None:
    """Pages instead of JSON for 404 and 400 under /c; the API's refusals stay as they are."""
    previous = app.exception_handlers[HTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        key = HTTP_KEYS.get(exc.status_code)
        if key is None or not is_webchat(request):
            answer = previous(request, exc)
            return answer if isinstance(answer, Response) else await answer
        visitor = _visitor(request)
        return web.message(request, visitor, visitor.t(key), status_code=exc.status_code)

    app.add_exception_handler(HTTPException, http_error)


def is_webchat(request: Request) -> bool:
    return request.url.path == "/c" or request.url.path.startswith("/c/")


async def domain_error(request: Request, exc: DomainError) -> Response:
    """The error's message (a closed or unknown survey, one answered already …)."""
    visitor = _visitor(request)
    text = visitor.t(WEB_KEYS.get(exc.key, exc.key), **exc.params)
    return web.message(request, visitor, text, status_code=exc.status_code)


def _visitor(request: Request) -> Visitor:
    visitor = getattr(request.state, "visitor", None)
    if isinstance(visitor, Visitor):
        return visitor
    return visitor_of(request, request.app.state.settings)
