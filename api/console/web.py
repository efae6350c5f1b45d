"""Rendering console pages: Jinja2 templates from ``templates/``, catalogue text, CSRF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from surveys.accounts.access import Actor, Perm
from surveys.core.i18n import Translator
from surveys.core.periods import chinese_date, period_label


def period_text(period: str | None) -> str:
    """A period code as people write it (``2026H2`` → 2026年下半年); anything else as it is."""
    if not period:
        return ""
    try:
        return period_label(period)
    except ValueError:
        return period


TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
translate = Translator()
templates.env.globals["t"] = translate
templates.env.globals["Perm"] = Perm
templates.env.filters["period"] = period_text
templates.env.filters["chinese_date"] = chinese_date


def csrf_token(request: Request) -> str:
    """The token every console form posts back (field ``csrftoken``)."""
    make = request.scope.get("csrftoken")
    return str(make()) if callable(make) else ""


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = {"actor": actor, "csrftoken": csrf_token(request), **(context or {})}
    return templates.TemplateResponse(request, name, page, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a form post: 303, so a reload does not post again."""
    return RedirectResponse(url, status_code=303)
