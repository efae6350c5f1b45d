"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.routes import cases, health, integrations, surveys
from surveys.db import SessionMaker
from surveys.exceptions import DomainError
from surveys.i18n import Translator
from surveys.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    app = FastAPI(title="minyi 民意", version="0.1.0")
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.include_router(health.router)
    app.include_router(surveys.router)
    app.include_router(integrations.router)
    app.include_router(cases.router)
    app.add_exception_handler(DomainError, _domain_error)
    # Console assets; vendor/ is filled from the npm registry by scripts/assets.sh.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    t = Translator()
    body = {"code": exc.key, "message": t(exc.key, **exc.params)}
    return JSONResponse(body, status_code=exc.status_code)
