"""Console pages: administration (units, accounts, tokens, audit log, ratings imports).

Administrators only (:data:`Perm.manage`). Every form makes one call to its flow
(:mod:`surveys.flows.accounts`, :mod:`surveys.flows.units`, :mod:`surveys.flows.imports`),
which checks the permission again and writes the audit row; every page reads through one
query (:mod:`surveys.accounts.queries`). One-time passwords, token secrets and bot link
codes are shown once, in the response to the form that made them, and never again.
Uploads are read whole (up to :data:`MAX_UPLOAD` bytes) before anything is stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePath
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from api.paging import PageDep
from surveys.accounts import audit_log, queries
from surveys.accounts.access import Actor, Perm, StaffRole, UnitRequired
from surveys.accounts.models import UnitKind
from surveys.core.clock import local_minutes
from surveys.core.db import AsyncSession
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.core.text import decode_office_text
from surveys.flows import accounts as account_flows
from surveys.flows import imports as import_flows
from surveys.flows import units as unit_flows

router = APIRouter(prefix="/console", include_in_schema=False)

T = TypeVar("T")
ManageActor = Annotated[Actor, Depends(console_actor(Perm.manage))]
MAX_UPLOAD = 5 * 1024 * 1024
RATINGS_SUFFIXES = (".csv", ".xlsx", ".json")  # .json: the national exchange layout
NAME = Annotated[str, Form(max_length=200)]


class UploadRefused(Exception):
    """An upload that is not read at all: none chosen, too large, wrong type or encoding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    rows = await queries.list_units_with_counts(session=session, actor=actor)
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
        text = decode_office_text(data, name)  # UTF-8 or GBK
        created, updated = await unit_flows.load_units(
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


# Accounts and tokens: one list page each, with its create form ------------------------


@dataclass(frozen=True)
class _ListPage:
    """The users or the tokens page: its list, its create form and what a form just did."""

    template: str
    path: str
    listing: Callable[..., Awaitable[queries.Listing[Any]]]
    request: Request
    session: AsyncSession
    settings: Settings
    actor: Actor

    async def show(self, status_code: int = 200, **context: Any) -> Response:
        found = await self.listing(session=self.session, actor=self.actor)
        page = {
            "rows": found.rows,
            "units": found.units,
            "local": partial(local_minutes, tz=self.settings.tz),
            "roles": [role.value for role in StaffRole],
            "form": context.pop("form", None) or {},
        }
        return render(
            self.request,
            self.template,
            {**page, **context},
            actor=self.actor,
            status_code=status_code,
        )

    async def act(
        self,
        call: Awaitable[T],
        *,
        shown: Callable[[T], dict[str, str]] | None = None,
        form: dict[str, Any] | None = None,
    ) -> Response:
        """Run one flow: a refusal shows the page with its reason (and the form as sent);
        a secret made is shown once on the page; otherwise back to the list."""
        try:
            done = await call
        except DomainError as exc:
            return await self.show(exc.status_code, error=_message(exc), form=form)
        if shown is None:
            return redirect(self.path)
        return await self.show(shown=shown(done))


def _list_page(
    template: str, path: str, listing: Callable[..., Awaitable[queries.Listing[Any]]]
) -> Callable[..., Awaitable[_ListPage]]:
    async def dependency(
        request: Request, session: SessionDep, settings: SettingsDep, actor: ManageActor
    ) -> _ListPage:
        return _ListPage(template, path, listing, request, session, settings, actor)

    return dependency


UsersPage = Annotated[
    _ListPage, Depends(_list_page("console/users.html", "/console/users", queries.users_page))
]
TokensPage = Annotated[
    _ListPage, Depends(_list_page("console/tokens.html", "/console/tokens", queries.tokens_page))
]


@router.get("/users", response_class=HTMLResponse)
async def users_page(page: UsersPage) -> Response:
    return await page.show()


@router.post("/users", response_class=HTMLResponse)
async def user_create(
    page: UsersPage,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[StaffRole, Form()] = StaffRole.staff,
    unit: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A new account: its one-time password is on this response only."""
    chosen = [code[:32] for code in unit or []]
    return await page.act(
        account_flows.create_user(
            session=page.session,
            actor=page.actor,
            username=username,
            role=role,
            unit_codes=chosen,
        ),
        shown=lambda made: {"kind": "created", "username": made[0].username, "secret": made[1]},
        form={"username": username, "role": role.value, "units": chosen},
    )


@router.post("/users/reset", response_class=HTMLResponse)
async def user_reset(page: UsersPage, username: NAME = "") -> Response:
    """A new one-time password for the account, shown once; its sessions end."""
    return await page.act(
        account_flows.reset_user_password(
            session=page.session, actor=page.actor, username=username
        ),
        shown=lambda password: {"kind": "reset", "username": username.strip(), "secret": password},
    )


@router.post("/users/disable", response_class=HTMLResponse)
async def user_disable(page: UsersPage, username: NAME = "") -> Response:
    return await page.act(
        account_flows.disable_user(session=page.session, actor=page.actor, username=username)
    )


@router.post("/users/enable", response_class=HTMLResponse)
async def user_enable(page: UsersPage, username: NAME = "") -> Response:
    return await page.act(
        account_flows.enable_user(session=page.session, actor=page.actor, username=username)
    )


@router.post("/users/link-code", response_class=HTMLResponse)
async def user_link_code(page: UsersPage, username: NAME = "") -> Response:
    """A one-time bot link code (15 minutes) for the account's owner to send to the bot."""
    return await page.act(
        account_flows.issue_user_link_code(
            session=page.session, actor=page.actor, username=username, now=utcnow()
        ),
        shown=lambda code: {"kind": "link", "username": username.strip(), "secret": code},
    )


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(page: TokensPage) -> Response:
    return await page.show()


@router.post("/tokens", response_class=HTMLResponse)
async def token_create(
    page: TokensPage,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[StaffRole, Form()] = StaffRole.staff,
    unit: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A token for an integration: its secret is on this response only."""
    return await page.act(
        account_flows.create_token(
            session=page.session, actor=page.actor, name=name, role=role, unit_code=unit or None
        ),
        shown=lambda made: {"name": made[0].name, "secret": made[1]},
        form={"name": name, "role": role.value, "unit": unit},
    )


@router.post("/tokens/revoke", response_class=HTMLResponse)
async def token_revoke(page: TokensPage, name: NAME = "") -> Response:
    return await page.act(
        account_flows.revoke_token(session=page.session, actor=page.actor, name=name)
    )


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
    events, total = await queries.audit_page(
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
        "events": [audit_log.describe(event, translate) for event in events],
        "actions": {code: translate(key) for code, key in audit_log.ACTION_LABELS.items()},
        "local": partial(local_minutes, tz=settings.tz),
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
            received = await import_flows.import_ratings(
                session=session,
                actor=actor,
                path=path,
                source=name,
                name=name,  # problems name the chosen file, not its temporary copy
                settings=settings,
                now=utcnow(),
            )
        except InvalidFile as exc:
            return _imports_page(request, actor, 422, problems=exc.problems, filename=name)
    counts = {
        "created": len(received.result.created),
        "duplicates": len(received.result.duplicates),
        "opened": len(received.opened),
        "header_row": received.result.header_row,
    }
    return _imports_page(request, actor, filename=name, counts=counts)
