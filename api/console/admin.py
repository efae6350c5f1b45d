"""Console pages: administration (units, accounts, tokens, audit log, ratings imports).

Administrators only (:data:`Perm.manage`); :mod:`surveys.admin` checks the permission
again and writes the audit row of every change. One-time passwords, token secrets and bot
link codes are shown once, in the response to the form that made them, and never again.
Uploads are read whole (up to :data:`MAX_UPLOAD` bytes) before anything is stored.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from api.paging import PageDep
from surveys.accounts import audit, units
from surveys.accounts.access import Actor, Perm, StaffRole, UnitRequired
from surveys.accounts.models import UnitKind
from surveys.cases import workdays
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.flows import admin

router = APIRouter(prefix="/console", include_in_schema=False)

ManageActor = Annotated[Actor, Depends(console_actor(Perm.manage))]
MAX_UPLOAD = 5 * 1024 * 1024
RATINGS_SUFFIXES = (".csv", ".xlsx")
NAME = Annotated[str, Form(max_length=200)]


class UploadRefused(Exception):
    """An upload that is not read at all: none chosen, too large, wrong type or encoding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _local(moment: datetime | None, settings: Settings) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(settings.tz):%Y-%m-%d %H:%M}"


def _message(exc: DomainError) -> str:
    if isinstance(exc, UnitRequired):
        return translate(N_("console.admin.unit_required"))
    return translate(exc.key, **exc.params)


def _filename(file: UploadFile | None) -> str:
    # Only the name, never a path the browser may have sent along.
    return PurePath((file.filename or "").replace("\\", "/")).name if file else ""


async def _read_upload(file: UploadFile | None) -> bytes:
    if file is None or not _filename(file):
        raise UploadRefused(translate(N_("console.admin.upload.none")))
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise UploadRefused(
            translate(N_("console.admin.upload.too_large"), mb=MAX_UPLOAD // (1024 * 1024))
        )
    if not data:
        raise UploadRefused(translate(N_("console.admin.upload.empty")))
    return data


# Units --------------------------------------------------------------------------------


async def _units_page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    status_code: int = 200,
    **context: Any,
) -> Response:
    rows = await admin.list_units_with_counts(session=session, actor=actor)
    page = {"rows": rows, "kinds": [k.value for k in UnitKind], "max_mb": MAX_UPLOAD >> 20}
    return render(
        request, "console/units.html", {**page, **context}, actor=actor, status_code=status_code
    )


@router.get("/units", response_class=HTMLResponse)
async def units_page(request: Request, session: SessionDep, actor: ManageActor) -> Response:
    return await _units_page(request, session, actor)


@router.post("/units", response_class=HTMLResponse)
async def units_upload(
    request: Request,
    session: SessionDep,
    actor: ManageActor,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Add or update units from a CSV (code,name,kind[,active]): all rows or none."""
    name = _filename(file)
    try:
        data = await _read_upload(file)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UploadRefused(translate(N_("console.admin.upload.not_utf8"))) from exc
        created, updated = await admin.load_units(
            session=session, actor=actor, text=text, source=name
        )
    except UploadRefused as exc:
        return await _units_page(request, session, actor, 422, error=exc.message)
    except InvalidFile as exc:
        return await _units_page(
            request, session, actor, 422, problems=exc.problems, filename=name
        )
    done = translate(N_("console.admin.units.loaded"), file=name, created=created, updated=updated)
    return await _units_page(request, session, actor, message=done)


# Accounts -----------------------------------------------------------------------------


async def _people_page(
    request: Request,
    session: SessionDep,
    settings: Settings,
    actor: Actor,
    template: str,
    rows: Any,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """The users or the tokens page: the list, the create form and what was just done."""
    page = {
        "rows": rows,
        "local": partial(_local, settings=settings),
        "roles": [role.value for role in StaffRole],
        "units": await units.list_units(session=session),
        "form": context.pop("form", {}),
    }
    return render(request, template, {**page, **context}, actor=actor, status_code=status_code)


async def _users_page(
    request: Request,
    session: SessionDep,
    settings: Settings,
    actor: Actor,
    status_code: int = 200,
    **context: Any,
) -> Response:
    rows = await admin.list_accounts(session=session, actor=actor)
    return await _people_page(
        request, session, settings, actor, "console/users.html", rows, status_code, **context
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: ManageActor
) -> Response:
    return await _users_page(request, session, settings, actor)


@router.post("/users", response_class=HTMLResponse)
async def user_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[StaffRole, Form()] = StaffRole.staff,
    unit: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A new account: its one-time password is on this response only."""
    chosen = [code[:32] for code in unit or []]
    try:
        user, password = await admin.create_account(
            session=session, actor=actor, username=username, role=role, unit_codes=chosen
        )
    except DomainError as exc:
        form = {"username": username, "role": role.value, "units": chosen}
        return await _users_page(
            request, session, settings, actor, exc.status_code, error=_message(exc), form=form
        )
    shown = {"kind": "created", "username": user.username, "secret": password}
    return await _users_page(request, session, settings, actor, shown=shown)


@router.post("/users/reset", response_class=HTMLResponse)
async def user_reset(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    username: NAME = "",
) -> Response:
    """A new one-time password for the account, shown once; its sessions end."""
    try:
        password = await admin.reset_account_password(
            session=session, actor=actor, username=username
        )
    except DomainError as exc:
        return await _users_page(
            request, session, settings, actor, exc.status_code, error=_message(exc)
        )
    shown = {"kind": "reset", "username": username.strip(), "secret": password}
    return await _users_page(request, session, settings, actor, shown=shown)


async def _set_active(
    request: Request,
    session: SessionDep,
    settings: Settings,
    actor: Actor,
    username: str,
    active: bool,
) -> Response:
    try:
        await admin.set_account_active(
            session=session, actor=actor, username=username, active=active
        )
    except DomainError as exc:
        return await _users_page(
            request, session, settings, actor, exc.status_code, error=_message(exc)
        )
    return redirect("/console/users")


@router.post("/users/disable", response_class=HTMLResponse)
async def user_disable(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    username: NAME = "",
) -> Response:
    return await _set_active(request, session, settings, actor, username, False)


@router.post("/users/enable", response_class=HTMLResponse)
async def user_enable(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    username: NAME = "",
) -> Response:
    return await _set_active(request, session, settings, actor, username, True)


@router.post("/users/link-code", response_class=HTMLResponse)
async def user_link_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    username: NAME = "",
) -> Response:
    """A one-time bot link code (15 minutes) for the account's owner to send to the bot."""
    try:
        code = await admin.issue_link_code(
            session=session, actor=actor, username=username, now=utcnow()
        )
    except DomainError as exc:
        return await _users_page(
            request, session, settings, actor, exc.status_code, error=_message(exc)
        )
    shown = {"kind": "link", "username": username.strip(), "secret": code}
    return await _users_page(request, session, settings, actor, shown=shown)


# Tokens -------------------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    session: SessionDep,
    settings: Settings,
    actor: Actor,
    status_code: int = 200,
    **context: Any,
) -> Response:
    rows = await admin.list_tokens(session=session, actor=actor)
    return await _people_page(
        request, session, settings, actor, "console/tokens.html", rows, status_code, **context
    )


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: ManageActor
) -> Response:
    return await _tokens_page(request, session, settings, actor)


@router.post("/tokens", response_class=HTMLResponse)
async def token_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[StaffRole, Form()] = StaffRole.staff,
    unit: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A token for an integration: its secret is on this response only."""
    try:
        token, raw = await admin.create_token(
            session=session, actor=actor, name=name, role=role, unit_code=unit or None
        )
    except DomainError as exc:
        form = {"name": name, "role": role.value, "unit": unit}
        return await _tokens_page(
            request, session, settings, actor, exc.status_code, error=_message(exc), form=form
        )
    shown = {"name": token.name, "secret": raw}
    return await _tokens_page(request, session, settings, actor, shown=shown)


@router.post("/tokens/revoke", response_class=HTMLResponse)
async def token_revoke(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    name: NAME = "",
) -> Response:
    try:
        await admin.revoke_token(session=session, actor=actor, name=name)
    except DomainError as exc:
        return await _tokens_page(
            request, session, settings, actor, exc.status_code, error=_message(exc)
        )
    return redirect("/console/tokens")


# Audit log ----------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    page: PageDep,
    who: Annotated[str, Query(max_length=80)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Newest first; filter by actor (exact) and by action prefix (e.g. ``user.``)."""
    who, action = who.strip(), action.strip()
    events, total = await audit.list_events(
        session=session,
        actor=actor,
        who=who or None,
        action=action or None,
        offset=page.offset,
        limit=page.limit,
    )

    def link(offset: int) -> str:
        query = {"who": who, "action": action, "offset": offset, "limit": page.limit}
        return "/console/audit?" + urlencode({k: v for k, v in query.items() if v != ""})

    end = page.offset + len(events)
    context = {
        "events": events,
        "local": partial(_local, settings=settings),
        "total": total,
        "first": page.offset + 1 if events else 0,
        "last": end,
        "who": who,
        "action": action,
        "previous": link(max(0, page.offset - page.limit)) if page.offset > 0 else None,
        "next": link(end) if end < total else None,
    }
    return render(request, "console/audit.html", context, actor=actor)


# Ratings imports ----------------------------------------------------------------------


def _imports_page(
    request: Request, actor: Actor, status_code: int = 200, **context: Any
) -> Response:
    page = {"max_mb": MAX_UPLOAD >> 20, **context}
    return render(request, "console/imports.html", page, actor=actor, status_code=status_code)


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(request: Request, actor: ManageActor) -> Response:
    return _imports_page(request, actor)


@router.post("/imports", response_class=HTMLResponse)
async def imports_upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A 好差评 ratings file (.csv/.xlsx): every row stored, or none with every problem."""
    name = _filename(file)
    suffix = PurePath(name).suffix.lower()
    try:
        if name and suffix not in RATINGS_SUFFIXES:
            raise UploadRefused(translate(N_("console.admin.imports.wrong_type")))
        data = await _read_upload(file)
    except UploadRefused as exc:
        return _imports_page(request, actor, 422, error=exc.message)
    with tempfile.TemporaryDirectory(prefix="minyi-import-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            received = await admin.import_ratings(
                session=session,
                actor=actor,
                path=path,
                source=name,
                tz=settings.tz,
                now=utcnow(),
                grace_days=settings.rating_grace_days,
                policy=workdays.policy_from(settings),
            )
        except InvalidFile as exc:
            return _imports_page(request, actor, 422, problems=exc.problems, filename=name)
    result = received.result
    counts = {
        "created": len(result.created),
        "duplicates": len(result.duplicates),
        "opened": len(received.opened),
    }
    return _imports_page(request, actor, filename=name, counts=counts)
