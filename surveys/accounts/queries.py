"""What the administration pages and commands read: accounts, tokens, units, the audit log
(never a secret).

One function per page or listing; each checks the actor's permission itself. Writes are
flows (:mod:`surveys.flows.accounts`, :mod:`surveys.flows.units`), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, tokens, units
from surveys.accounts.access import Actor, Perm, StaffRole
from surveys.accounts.models import AuditEvent, StaffUnit, StaffUser, Unit, UnitKind
from surveys.core.exceptions import DomainError, UnknownUnit
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.haochaping.models import Rating

R = TypeVar("R")


@dataclass(frozen=True)
class AccountRow:
    """An account as the administrators see it: never a hash, nor the bot's chat id."""

    username: str
    role: StaffRole
    unit_codes: list[str]
    active: bool
    last_login_at: datetime | None
    bot_linked: bool
    must_change_password: bool
    has_password: bool


@dataclass(frozen=True)
class TokenRow:
    name: str
    role: StaffRole
    unit_code: str | None  # None: every unit
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class UnitChoice:
    code: str
    name: str


@dataclass(frozen=True)
class Listing(Generic[R]):
    """An administration page: its rows and the units its create form offers."""

    rows: list[R]
    units: list[UnitChoice]


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    kind: UnitKind
    active: bool
    accounts: int
    ratings: int


async def _unit_codes(session: AsyncSession) -> dict[int, str]:
    return {pk(u): u.code for u in (await session.exec(select(Unit))).all()}


async def _unit_choices(session: AsyncSession) -> list[UnitChoice]:
    return [UnitChoice(code=u.code, name=u.name) for u in await units.list_units(session=session)]


# Accounts -----------------------------------------------------------------------------


class FirstAccountNotAdmin(DomainError):
    key = N_("cli.first_account_admin")
    status_code = 422


async def is_first_account(*, session: AsyncSession, role: StaffRole) -> bool:
    """Whether an account made now would be the install's first, made by nobody yet.

    The first account must be an administrator (:class:`FirstAccountNotAdmin`); once any
    account exists, every new one is made by an account that may manage.
    """
    if (await session.exec(select(StaffUser.id))).first() is not None:
        return False
    if role is not StaffRole.admin:
        raise FirstAccountNotAdmin(role=role.value)
    return True


async def list_accounts(*, session: AsyncSession, actor: Actor) -> list[AccountRow]:
    actor.require(Perm.manage)
    codes = await _unit_codes(session)
    return [
        AccountRow(
            username=user.username,
            role=StaffRole(user.role),
            unit_codes=sorted(codes[i] for i in unit_ids if i in codes),
            active=user.active,
            last_login_at=user.last_login_at,
            bot_linked=user.telegram_chat_id is not None,
            must_change_password=user.must_change_password,
            has_password=user.password_hash is not None,
        )
        for user, unit_ids in await accounts.list_users(session=session)
    ]


async def users_page(*, session: AsyncSession, actor: Actor) -> Listing[AccountRow]:
    """The console's users page: every account and the units an account may serve."""
    rows = await list_accounts(session=session, actor=actor)
    return Listing(rows=rows, units=await _unit_choices(session))


# Tokens -------------------------------------------------------------------------------


async def list_tokens(*, session: AsyncSession, actor: Actor) -> list[TokenRow]:
    actor.require(Perm.manage)
    codes = await _unit_codes(session)
    return [
        TokenRow(
            name=token.name,
            role=StaffRole(token.role),
            unit_code=codes.get(token.unit_id) if token.unit_id is not None else None,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
        )
        for token in await tokens.list_tokens(session=session)
    ]


async def tokens_page(*, session: AsyncSession, actor: Actor) -> Listing[TokenRow]:
    """The console's tokens page: every token and the units a token may be bound to."""
    rows = await list_tokens(session=session, actor=actor)
    return Listing(rows=rows, units=await _unit_choices(session))


# Units --------------------------------------------------------------------------------


async def list_units_with_counts(*, session: AsyncSession, actor: Actor) -> list[UnitRow]:
    """Every unit, with how many accounts serve it and how many ratings it has."""
    actor.require(Perm.manage)
    staff_counts = dict(
        (
            await session.exec(
                select(StaffUnit.unit_id, func.count()).group_by(col(StaffUnit.unit_id))
            )
        ).all()
    )
    rating_counts = dict(
        (
            await session.exec(select(Rating.unit_id, func.count()).group_by(col(Rating.unit_id)))
        ).all()
    )
    return [
        UnitRow(
            code=unit.code,
            name=unit.name,
            kind=UnitKind(unit.kind),
            active=unit.active,
            accounts=int(staff_counts.get(pk(unit), 0)),
            ratings=int(rating_counts.get(pk(unit), 0)),
        )
        for unit in await units.list_units(session=session)
    ]


async def visible_units(
    *,
    session: AsyncSession,
    actor: Actor,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Unit], int]:
    """The actor's units (all of them for city-wide actors), by id, one page and the total."""
    actor.require(Perm.view)
    statement = select(Unit)
    if actor.units is not None:
        statement = statement.where(col(Unit.id).in_(actor.units))
    if active is not None:
        statement = statement.where(col(Unit.active).is_(active))
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    page = statement.order_by(col(Unit.id)).offset(offset).limit(limit)
    return list((await session.exec(page)).all()), int(total)


async def visible_unit(*, session: AsyncSession, actor: Actor, code: str) -> Unit:
    """One of the actor's units; another unit's code is as unknown as a made-up one."""
    actor.require(Perm.view)
    unit = (await session.exec(select(Unit).where(Unit.code == code))).first()
    if unit is None or not actor.sees(unit.id):
        raise UnknownUnit(code=code)
    return unit


async def audit_page(
    *,
    session: AsyncSession,
    actor: Actor,
    who: str | None = None,
    action: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """The audit log, newest first, one page and the total; for administrators only.

    ``who`` is an exact actor (``token:NAME`` for a token), ``action`` a prefix (``user.``).
    """
    actor.require(Perm.manage)
    statement = select(AuditEvent)
    if who:
        statement = statement.where(AuditEvent.actor == who)
    if action:
        statement = statement.where(col(AuditEvent.action).startswith(action))
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    page = statement.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)
    return list((await session.exec(page)).all()), int(total)
