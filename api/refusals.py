"""Requests the app cannot read are refused in Chinese, never with a 500 or a traceback.

A body that fails validation is 422 (a lone surrogate such as ``"\\ud800"`` in a JSON string
is refused here: it is not text and could not be stored or echoed), and a body that cannot be
parsed at all (not UTF-8, nested too deeply, a broken upload form) is 400. The API answers
JSON ``{code, message}`` (validation errors keep FastAPI's ``detail`` list, without the
input); the console answers its error page with the message.

Whatever else the framework refuses with an ``HTTPException`` (an unknown path 404, a method
the path does not take 405, a static file that is not there) gets the same shape: its
status and headers (``Allow`` of a 405) are kept, the text is Chinese.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from python_multipart.exceptions import MultipartParseError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from api.console.web import render, translate
from surveys.core.i18n import N_

BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's detail for such a body
MAX_FIELDS_SHOWN = 5
# The framework's own refusals, by status; any other status is error.http_status.
HTTP_KEYS = {
    404: N_("error.not_found"),
    405: N_("error.method_not_allowed"),
}
NO_BODY = frozenset({204, 304})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _unreadable_body)


def refusal(request: Request, status_code: int, key: str, message: str) -> Response:
    """The console's error page, or the API's JSON ``{code, message}``."""
    if request.url.path.startswith("/console"):
        actor = getattr(request.state, "actor", None)
        context = {"message": message}
        return render(request, "console/error.html", context, actor=actor, status_code=status_code)
    return JSONResponse({"code": key, "message": message}, status_code=status_code)


def _text(value: Any) -> str:
    """As text that can be sent: a lone surrogate becomes "?"."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _where(loc: Sequence[Any]) -> str:
    return ".".join(_text(part) for part in loc) or "body"


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "string_unicode" for error in errors):
        key = N_("error.request_unicode")
        message = translate(key)
    else:
        key = N_("error.request_invalid")
        places = list(dict.fromkeys(_where(error.get("loc", ())) for error in errors))
        more = "…" if len(places) > MAX_FIELDS_SHOWN else ""
        shown = "、".join(places[:MAX_FIELDS_SHOWN]) + more
        message = translate(key, fields=shown)
    response = refusal(request, 422, key, message)
    if isinstance(response, JSONResponse):
        detail = [
            {
                "loc": [_text(p) if isinstance(p, str) else p for p in error.get("loc", ())],
                "msg": _text(error.get("msg", "")),
                "type": _text(error.get("type", "")),
            }
            for error in errors
        ]
        # problems: the shape of every 422 of the API (api/errors.py), one line per field.
        problems = [
            f"{_where(error.get('loc', ()))}: {_text(error.get('msg', ''))}" for error in errors
        ]
        body = {"code": key, "message": message, "problems": problems, "detail": detail}
        return JSONResponse(body, status_code=422)
    return response


async def _unreadable_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__ or exc.__context__
    form = isinstance(cause, MultiPartException | MultipartParseError)
    if exc.status_code != 400 or not (form or exc.detail == BODY_UNREADABLE):
        return _http_error(request, exc)
    if form:
        key = N_("error.form_malformed")
    elif isinstance(cause, RecursionError):
        key = N_("error.request_too_deep")
    else:  # not UTF-8, or not JSON at all
        key = N_("error.request_unreadable")
    return refusal(request, 400, key, translate(key))


def _http_error(request: Request, exc: HTTPException) -> Response:
    """The framework's refusal (404, 405, …) in Chinese: same status, same headers."""
    headers = dict(exc.headers or {})
    if exc.status_code in NO_BODY:
        return Response(status_code=exc.status_code, headers=headers)
    key = HTTP_KEYS.get(exc.status_code)
    if key is None:
        key = N_("error.http_status")
        message = translate(key, status=exc.status_code)
    else:
        message = translate(key)
    response = refusal(request, exc.status_code, key, message)
    response.headers.update(headers)
    return response
