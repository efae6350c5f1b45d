"""Administration: accounts, tokens, units and imports, each checked and audited here.

Every function takes the actor and checks its permission itself (:data:`Perm.manage` for
changes), so the console, the API and the command line cannot disagree; every change
writes one audit row in the same transaction. Secrets (one-time passwords, token secrets,
bot link codes) are returned once and never stored or audited in the clear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, audit, staff, tokens, units
from surveys.accounts.access import Actor, Perm, StaffRole
from surveys.accounts.models import ApiToken, StaffUnit, StaffUser, Unit, UnitKind
from surveys.cases import workdays
from surveys.core.exceptions import DomainError, NotFound, UnknownUnit
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.haochaping import feedback
from surveys.haochaping.models import Rating

USERNAME = re.compile(r"^[^\s/\\]{1,64}$")


class InvalidUsername(DomainError):
    key = N_("error.invalid_username")
    status_code = 422


class UnknownUser(NotFound):
    key = N_("error.unknown_user")


class CannotDisableSelf(DomainError):
    key = N_("error.disable_self")
    status_code = 409


# Accounts -----------------------------------------------------------------------------


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


async def _user(session: AsyncSession, username: str) -> StaffUser:
    user = await accounts.get_user(session=session, username=username)
    if user is None:
        raise UnknownUser(username=username.strip())
    return user


async def list_accounts(*, session: AsyncSession, actor: Actor) -> list[AccountRow]:
    actor.require(Perm.manage)
    codes = {pk(u): u.code for u in (await session.exec(select(Unit))).all()}
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


async def create_account(
    *,
    session: AsyncSession,
    actor: Actor,
    username: str,
    role: StaffRole,
    unit_codes: Sequence[str],
) -> tuple[StaffUser, str]:
    """A new account and its one-time password (to be changed at the first sign-in)."""
    actor.require(Perm.manage)
    username = username.strip()
    if not USERNAME.match(username):
        raise InvalidUsername(max=64)
    codes = sorted({code.strip() for code in unit_codes if code.strip()})
    user, password = await accounts.create_user(
        session=session, username=username, role=role, unit_codes=codes
    )
    await audit.record(
        session=session,
        actor=actor,
        action="user.create",
        target=username,
        role=role.value,
        units=codes,
    )
    return user, password


async def reset_account_password(*, session: AsyncSession, actor: Actor, username: str) -> str:
    """A new one-time password; the account's sessions end and its lockout is lifted."""
    actor.require(Perm.manage)
    user = await _user(session, username)
    password = await accounts.reset_password(session=session, user=user)
    await audit.record(session=session, actor=actor, action="user.reset", target=user.username)
    return password


async def set_account_active(
    *, session: AsyncSession, actor: Actor, username: str, active: bool
) -> StaffUser:
    """Disable (every session ends) or enable an account; nobody disables themselves."""
    actor.require(Perm.manage)
    user = await _user(session, username)
    if not active and actor.user_id is not None and actor.user_id == user.id:
        raise CannotDisableSelf()
    await accounts.set_active(session=session, username=user.username, active=active)
    action = "user.enable" if active else "user.disable"
    await audit.record(session=session, actor=actor, action=action, target=user.username)
    return user


async def issue_link_code(
    *, session: AsyncSession, actor: Actor, username: str, now: datetime
) -> str:
    """A one-time code the account's owner sends to the bot (``/link CODE``)."""
    actor.require(Perm.manage)
    user = await _user(session, username)
    code = await staff.issue_link_code(session=session, username=user.username, now=now)
    await audit.record(session=session, actor=actor, action="user.link_code", target=user.username)
    return code


# Tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    name: str
    role: StaffRole
    unit_code: str | None  # None: every unit
    created_at: datetime
    revoked_at: datetime | None


async def list_tokens(*, session: AsyncSession, actor: Actor) -> list[TokenRow]:
    actor.require(Perm.manage)
    codes = {pk(u): u.code for u in (await session.exec(select(Unit))).all()}
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


async def create_token(
    *,
    session: AsyncSession,
    actor: Actor,
    name: str,
    role: StaffRole | None,
    unit_code: str | None,
) -> tuple[ApiToken, str]:
    """A token for an integration; the secret is returned only here."""
    actor.require(Perm.manage)
    unit_code = (unit_code or "").strip() or None
    unit = await units.get_unit_or_raise(session=session, code=unit_code) if unit_code else None
    token, raw = await tokens.create_token(session=session, name=name, unit=unit, role=role)
    await audit.record(
        session=session,
        actor=actor,
        action="token.create",
        target=token.name,
        role=token.role,
        unit=unit.code if unit and token.unit_id is not None else None,
    )
    return token, raw


async def revoke_token(*, session: AsyncSession, actor: Actor, name: str) -> ApiToken:
    actor.require(Perm.manage)
    token = await tokens.revoke_token(session=session, name=name)
    await audit.record(session=session, actor=actor, action="token.revoke", target=token.name)
    return token


# Units --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    kind: UnitKind
    active: bool
    accounts: int
    ratings: int


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


async def load_units(
    *, session: AsyncSession, actor: Actor, text: str, source: str
) -> tuple[int, int]:
    """Add or update units from a CSV text: all rows or none (:class:`InvalidFile`)."""
    actor.require(Perm.manage)
    parsed = units.parse_units_csv(text, source=source)
    created, updated = await units.upsert_units(session=session, units=parsed)
    await audit.record(
        session=session,
        actor=actor,
        action="units.load",
        target=source[:120],
        created=created,
        updated=updated,
    )
    return created, updated


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


# Imports ------------------------------------------------------------------------------


async def import_ratings(
    *,
    session: AsyncSession,
    actor: Actor,
    path: Path,
    source: str,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    policy: workdays.DeadlinePolicy,
) -> feedback.Received:
    """A 好差评 file: every row stored (差评 open cases), or none (:class:`InvalidFile`)."""
    actor.require(Perm.manage)
    received = await feedback.import_ratings_file(
        session=session, path=path, tz=tz, now=now, grace_days=grace_days, policy=policy
    )
    result = received.result
    await audit.record(
        session=session,
        actor=actor,
        action="import.ratings",
        target=source[:120],
        created=len(result.created),
        duplicates=len(result.duplicates),
        cases_opened=len(received.opened),
    )
    return received
