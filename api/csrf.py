"""CSRF protection of the console's forms: asgi-csrf (double-submit cookie), plus a fix for
its reading of upload forms, and a 400 (not a 500) for a multipart form it cannot read."""

from __future__ import annotations

import inspect
import json
import re
from typing import TYPE_CHECKING, Any

import asgi_csrf  # type: ignore[import-untyped]
from python_multipart import FormParser, MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.console.web import templates
from surveys.core.i18n import N_, Translator

CSRF_COOKIE = "csrftoken"

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks


class CSRFMiddleware:
    """asgi-csrf (double-submit cookie) on every console form post.

    The JSON API authenticates with bearer tokens, never cookies, so it is not covered; the
    sign-in form is, even before any cookie exists (login CSRF).
    """

    def __init__(self, app: ASGIApp, *, secret: str, secure: bool) -> None:
        self.app = asgi_csrf.asgi_csrf(
            app,
            signing_secret=secret,
            cookie_name=CSRF_COOKIE,
            always_protect={"/console/login"},
            skip_if_scope=lambda scope: not scope["path"].startswith("/console"),
            cookie_secure=secure,
            cookie_samesite="Lax",
            send_csrf_failed=_csrf_failed,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            found = _multipart_boundary(scope)
            if found == b"":
                await _form_malformed(scope, send)
                return
            if found is not None:  # asgi-csrf reads "; boundary=" literally: say it so
                scope = _with_content_type(scope, b"multipart/form-data; boundary=" + found)
        try:
            await self.app(scope, receive, send)
        except _MalformedForm:  # raised while looking for the token, before any answer
            await _form_malformed(scope, send)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# RFC 2046 §5.1.1: 1 to 70 characters from this set (its inner spaces are left out: no
# browser or client sends them, and asgi-csrf would read them differently).
BOUNDARY = re.compile(rb"^[0-9A-Za-z'()+_,\-./:=?]{1,70}$")


class _MalformedForm(Exception):
    """The multipart body does not follow its boundary."""


def _multipart_boundary(scope: Scope) -> bytes | None:
    """None: not a multipart form; b"": one without a usable boundary; else the boundary.

    asgi-csrf would fail on a multipart Content-Type without "; boundary=" (IndexError, a
    500 for anyone, signed in or not); such a form is refused here, before it."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == b"content-type"]
    if not values:
        return None
    media, options = parse_options_header(values[0])
    if media != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary", b"")
    if len(values) > 1 or not BOUNDARY.match(boundary):
        return b""
    return boundary


def _with_content_type(scope: Scope, value: bytes) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", value)]}


async def _form_malformed(scope: Scope, send: Send) -> None:
    """400 with the message: the console's error page, or the API's JSON."""
    t = Translator()
    key = N_("error.form_malformed")
    message = t(key)
    if scope["path"].startswith("/console"):
        page = templates.get_template("console/error.html")
        body = page.render(message=message, actor=None, csrftoken="").encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"code": key, "message": message}, ensure_ascii=False).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _csrf_failed(scope: Scope, send: Send, message_id: Any = None) -> None:
    body = Translator()(N_("console.error.csrf")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Upload forms and CSRF ----------------------------------------------------------------
# asgi-csrf 0.11 finds the token of a multipart form with python-multipart's FormParser(...,
# FileClass=...), an argument python-multipart 0.0.26 removed (simonw/asgi-csrf#38, fix
# pending in #39): every upload form would fail with a TypeError. Until a fixed asgi-csrf is
# released, its reader is replaced by this one, with the same contract: the ``csrftoken``
# field must come before any file, and the body read so far is replayed to the app.
# Drop this once asgi-csrf supports python-multipart >= 0.0.26.


class _TokenReader:
    """Callbacks for python-multipart: stop at the ``csrftoken`` field, refuse a file first."""

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.field = self.value = self.data = b""
        self.name: bytes | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.field.strip().lower()] = self.value.strip()
        self.field = self.value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"filename" in options:
            raise asgi_csrf.FileBeforeToken
        self.name, self.data = options.get(b"name"), b""
        self.headers.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.name == b"csrftoken":
            self.data += data[start:end]

    def on_part_end(self) -> None:
        if self.name == b"csrftoken":
            raise asgi_csrf.TokenFound(self.data.decode("utf-8", "replace"))


async def _multipart_csrftoken(boundary: bytes, receive: Receive) -> tuple[str | None, Receive]:
    messages: list[Message] = []
    parser = MultipartParser(boundary, _TokenReader().callbacks())

    async def replay_receive() -> Message:
        return messages.pop(0) if messages else await receive()

    more_body = True
    try:
        while more_body:
            message = await receive()
            messages.append(message)
            parser.write(message.get("body", b""))
            more_body = message.get("more_body", False)
    except asgi_csrf.TokenFound as found:
        return str(found.args[0]), replay_receive
    except MultipartParseError as exc:
        raise _MalformedForm() from exc
    return None, replay_receive


if "FileClass" not in inspect.signature(FormParser.__init__).parameters:
    asgi_csrf._parse_multipart_form_data = _multipart_csrftoken
