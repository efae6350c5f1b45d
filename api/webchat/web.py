"""Rendering web chat pages: templates, cookies, the redirect after a post and its flash.

A post is answered with 303 to a page (so a reload never posts again), or, for an htmx
request, with the page's fragment. What the post had to say (a notice, the survey's
introduction, the answer just given) travels to that page in ``minyi_flash``: a signed
cookie read once and valid for two minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.webchat.citizen import Visitor
from surveys.core.i18n import DEFAULT_LOCALE
from surveys.core.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
FLASH_COOKIE = "minyi_flash"
FLASH_SECONDS = 120
HTML_LANG = {DEFAULT_LOCALE: "zh-Hans"}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def page(
    request: Request,
    visitor: Visitor,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page (or fragment) in the visitor's language and mode, with their cookies."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    values = {
        "t": visitor.t,
        "care": visitor.care,
        "locale": visitor.locale,
        "lang": HTML_LANG.get(visitor.locale, visitor.locale),
        "here": here if request.method == "GET" else "/c/chat",
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/c")
    return visitor.keep(response)


def message(
    request: Request, visitor: Visitor, text: str, *, status_code: int, heading: str = ""
) -> HTMLResponse:
    """A page saying one thing (an error, a thank-you), with a way back to the surveys."""
    context = {"text": text, "heading": heading or visitor.t("webchat.notice_heading")}
    return page(request, visitor, "webchat/message.html", context, status_code=status_code)


def redirect(
    visitor: Visitor, url: str, settings: Settings, flash: dict[str, Any] | None = None
) -> RedirectResponse:
    """303 to ``url``, carrying ``flash`` to it."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            _serializer(settings).dumps(flash),
            max_age=FLASH_SECONDS,
            path="/c",
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
        )
    return visitor.keep(response)


def read_flash(request: Request, settings: Settings) -> dict[str, Any]:
    """What the last post left for this page; nothing when absent, old or forged."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return {}
    try:
        value = _serializer(settings).loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return {}
    return value if isinstance(value, dict) else {}


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    key = hmac.new(settings.secret_key_bytes(), b"web-flash", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt="minyi-flash")
