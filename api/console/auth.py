"""Sign in, sign out, change password: each one call to :mod:`surveys.flows.sessions`, which
checks and audits; these pages keep the session cookie and explain a refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import (
    PUBLIC,
    SESSION_USER,
    SESSION_VERSION,
    client_address,
    console_actor,
    signed_in,
)
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from surveys.accounts import accounts
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import StaffUser
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_
from surveys.core.settings import Settings
from surveys.flows import sessions as session_flows

router = APIRouter(prefix="/console", include_in_schema=False)
HOME = "/console/dashboard"


def _policy(settings: Settings) -> accounts.LoginPolicy:
    return accounts.LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(minutes=settings.lockout_minutes),
        address_failures=settings.login_address_failures,
    )


def _safe_next(target: str | None) -> str:
    """Only a console path of this site; never an open redirect."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return HOME
    return target


@router.get("", dependencies=[PUBLIC])
async def console_home() -> RedirectResponse:
    return redirect(HOME)


@router.get("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "console/login.html", {"next": _safe_next(next)})


@router.post("/login", dependencies=[PUBLIC])
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    outcome = await session_flows.sign_in(
        session=session,
        username=username,
        password=password,
        address=client_address(request),
        policy=_policy(settings),
    )
    user = outcome.user
    if user is None:
        message = translate(outcome.error or "", **(outcome.params or {}))
        context = {"next": _safe_next(next), "error": message, "username": username[:64]}
        return render(request, "console/login.html", context, status_code=outcome.status_code)
    request.session.clear()  # a new session on every sign-in: no fixation
    request.session[SESSION_USER] = user.id
    request.session[SESSION_VERSION] = user.session_version
    if user.must_change_password:
        return redirect("/console/password")
    return redirect(_safe_next(next))


@router.post("/logout")
async def logout(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, Depends(console_actor(Perm.signed_in))],
) -> Response:
    await session_flows.sign_out(session=session, actor=actor)
    request.session.clear()
    return redirect("/console/login")


@router.get("/password", response_class=HTMLResponse)
async def password_page(
    request: Request,
    actor: Annotated[Actor, Depends(console_actor(Perm.signed_in))],
    found: Annotated[tuple[Actor, StaffUser], Depends(signed_in)],
) -> Response:
    first = found[1].must_change_password
    return render(request, "console/password.html", {"first": first}, actor=actor)


@router.post("/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, Depends(console_actor(Perm.signed_in))],
    found: Annotated[tuple[Actor, StaffUser], Depends(signed_in)],
    current: Annotated[str, Form(max_length=200)] = "",
    new: Annotated[str, Form(max_length=200)] = "",
    repeat: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    context: dict[str, object] = {"first": found[1].must_change_password}
    if new != repeat:
        context["error"] = translate(N_("console.password.mismatch"))
        return render(request, "console/password.html", context, actor=actor, status_code=422)
    try:
        user = await session_flows.change_password(
            session=session, actor=actor, current=current, new=new
        )
    except DomainError as exc:
        context["error"] = translate(exc.key, **exc.params)
        return render(
            request, "console/password.html", context, actor=actor, status_code=exc.status_code
        )
    request.session[SESSION_VERSION] = user.session_version  # this session goes on
    return redirect(HOME)
