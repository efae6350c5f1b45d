"""The request body limit: the first thing every request meets, before parsing or sign-in.

A declared ``Content-Length`` over the limit is answered 413 at once, its body never read; a
body sent without one (chunked) is counted as it arrives and refused where it passes the
limit, the application then told the client has gone. JSON and forms may be
``MAX_BODY_MB``; the console's upload forms and a batch of ratings pushed with a bearer
token (60,000 ratings are about 10 MB) ``MAX_UPLOAD_MB``. The token is checked later, by
the route: here its mere presence lifts the limit, so an anonymous client never gets more
than ``MAX_BODY_MB`` parsed before its 401.
"""

from __future__ import annotations

import json
from html import escape

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from surveys.core.i18n import N_, Translator
from surveys.core.settings import Settings

MB = 1024 * 1024
UPLOAD_PATHS = frozenset(
    {
        "/console/imports",
        "/console/units",
        "/console/scoring/import",
        "/console/scoring/outside",
        "/console/hotline/import",
    }
)
BATCH_PATHS = frozenset({"/api/v1/ratings"})  # with a bearer token
CODE = N_("error.body_too_large")


def limit_for(scope: Scope, *, body: int, upload: int) -> int:
    """The largest body this request may send, in bytes."""
    if scope["method"] != "POST":
        return body
    path = scope["path"].rstrip("/") or "/"
    if path in UPLOAD_PATHS:
        return upload
    if path in BATCH_PATHS and _has_bearer(scope):
        return upload
    return body


def _has_bearer(scope: Scope) -> bool:
    return any(
        name == b"authorization" and value[:7].lower() == b"bearer "
        for name, value in scope["headers"]
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


class BodyLimit:
    """Pure ASGI middleware: refuses a request body over its limit (see the module)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.body = int(settings.max_body_mb * MB)
        self.upload = int(settings.max_upload_mb * MB)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope, body=self.body, upload=self.upload)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        counted = _Counted(scope, receive, send, limit)
        try:
            await self.app(scope, counted.receive, counted.send)
        except Exception:
            if not counted.refused:
                raise
            # The application saw the client "leave" mid-body; it has been answered already.


class _Counted:
    """The receive and send of one request whose body is counted against ``limit``."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.refused = False
        self.started = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                if not self.started:
                    await _refuse(self.scope, self._send, self.limit)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 has been sent in its place
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    t = Translator()
    mb = f"{limit / MB:g}"
    message = t(CODE, mb=mb)
    if scope["path"].startswith("/console"):
        title = t(N_("error.body_too_large_title"))
        page = (
            '<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
            f'<p>{escape(message)}</p><p><a href="/console/dashboard">'
            f"{escape(t(N_('console.error.back')))}</a></p></body></html>"
        )
        body, media = page.encode(), b"text/html; charset=utf-8"
    else:
        payload = {"code": CODE, "message": message}
        body, media = json.dumps(payload, ensure_ascii=False).encode(), b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
