"""The FastAPI application factory: the JSON API under /api/v1, the staff console and the
citizens' web chat under /c."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api import refusals
from api.auth import ConsoleLogin, PasswordChangeRequired
from api.console import admin as console_admin
from api.console import analysis as console_analysis
from api.console import auth as console_auth
from api.console import case_closing as console_case_closing
from api.console import cases as console_cases
from api.console import circular as console_circular
from api.console import dashboard as console_dashboard
from api.console import delivery as console_delivery
from api.console import feedback as console_feedback
from api.console import hotline as console_hotline
from api.console import ledger as console_ledger
from api.console import results as console_results
from api.console import scoring as console_scoring
from api.console import scoring_imports as console_scoring_imports
from api.console.web import redirect, render
from api.csrf import CSRFMiddleware
from api.headers import SecurityHeaders
from api.limits import BodyLimit
from api.routes import (
    case_closing,
    cases,
    health,
    hotline,
    indicators,
    integrations,
    ledger,
    metrics,
    ratings,
    responses,
    surveys,
    units,
)
from api.webchat import chat as webchat_chat
from api.webchat import contact as webchat_contact
from api.webchat import errors as webchat_errors
from api.webchat import forget as webchat_forget
from api.webchat import prefs as webchat_prefs
from api.webchat import rating as webchat_rating
from surveys.core.db import SessionMaker
from surveys.core.exceptions import DomainError
from surveys.core.i18n import Translator
from surveys.core.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "minyi_session"


def _derived_key(settings: Settings, purpose: str) -> str:
    return hmac.new(settings.secret_key_bytes(), purpose.encode(), hashlib.sha256).hexdigest()


def create_app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    app = FastAPI(title="minyi 民意", version="0.1.0")
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(surveys.router)
    app.include_router(integrations.router)
    app.include_router(ledger.router)  # before the cases: /api/v1/cases/ledger is no case id
    app.include_router(cases.router)
    app.include_router(case_closing.router)
    app.include_router(responses.router)
    app.include_router(units.router)
    app.include_router(indicators.router)
    app.include_router(ratings.router)
    app.include_router(hotline.router)
    for console in (
        console_auth,
        console_dashboard,
        console_ledger,  # before the cases: /console/cases/ledger.xlsx is no case id
        console_cases,
        console_case_closing,
        console_analysis,
        console_results,
        console_admin,
        console_delivery,
        console_scoring,
        console_feedback,
        console_circular,
        console_scoring_imports,
        console_hotline,
    ):
        app.include_router(console.router)
    for page in (webchat_chat, webchat_prefs, webchat_rating, webchat_contact, webchat_forget):
        app.include_router(page.router)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConsoleLogin, _to_login)
    app.add_exception_handler(PasswordChangeRequired, _to_password)
    # Console assets; vendor/ is filled from the npm registry by scripts/assets.sh.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Added last, runs first: the CSRF check sees the raw request, then the session cookie.
    app.add_middleware(
        SessionMiddleware,
        secret_key=_derived_key(settings, "console-session"),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(
        CSRFMiddleware, secret=_derived_key(settings, "csrf"), secure=settings.cookie_secure
    )
    # Last of all, so first: no body over its limit is read, parsed or authenticated.
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, refusals included
    refusals.install(app)  # unreadable or invalid request bodies: 400/422 in Chinese
    webchat_errors.install(app)  # the same as pages under /c
    return app


def _is_console(request: Request) -> bool:
    return request.url.path.startswith("/console")


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if webchat_errors.is_webchat(request):
        return await webchat_errors.domain_error(request, exc)
    t = Translator()
    message = t(exc.key, **exc.params)
    if _is_console(request):
        actor = getattr(request.state, "actor", None)
        context = {"message": message}
        return render(
            request, "console/error.html", context, actor=actor, status_code=exc.status_code
        )
    # 503 (the database was busy): nothing was stored; a client may simply send it again.
    headers = {"Retry-After": "5"} if exc.status_code == 503 else None
    body: dict[str, object] = {"code": exc.key, "message": message}
    if exc.status_code == 422:  # every 422 of the API has the documented shape (api/errors.py)
        problems = getattr(exc, "problems", None)
        body.update(problems=[str(p) for p in problems] if problems else [message], detail=[])
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _to_login(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/console/dashboard"
    return redirect(f"/console/login?next={quote(target)}")


async def _to_password(request: Request, exc: Exception) -> Response:
    return redirect("/console/password")
