"""Bearer tokens for integrations: the secret is shown once, only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, StaffRole, check_role_units
from surveys.accounts.models import ApiToken, Unit
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.core.models import pk, utcnow

PREFIX = "my_"  # lets secret scanners and log filters recognise a leaked minyi token
NAME_MAX = 64


class InvalidToken(DomainError):
    key = N_("error.invalid_token")
    status_code = 401


class InvalidTokenName(DomainError):
    key = N_("error.invalid_token_name")
    status_code = 422

    def __init__(self) -> None:
        super().__init__(max=NAME_MAX)


class TokenNameTaken(DomainError):
    key = N_("error.token_name_taken")
    status_code = 409

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def _active(session: AsyncSession, name: str) -> ApiToken | None:
    statement = select(ApiToken).where(ApiToken.name == name, col(ApiToken.revoked_at).is_(None))
    return (await session.exec(statement)).first()


async def create_token(
    *, session: AsyncSession, name: str, unit: Unit | None, role: StaffRole | None = None
) -> tuple[ApiToken, str]:
    """A new token with a role, bound to one unit or to all; the secret is returned only here.

    Without a role: a unit's token acts as its staff, an unbound one as admin. Unit staff
    tokens need a unit; an admin token always covers every unit.
    """
    name = name.strip()
    role = role or (StaffRole.staff if unit else StaffRole.admin)
    check_role_units(role, 1 if unit else 0)
    if role is StaffRole.admin:
        unit = None
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidTokenName()
    # Names stay unique among live tokens so that revoking by name is unambiguous.
    if await _active(session, name) is not None:
        raise TokenNameTaken(name=name)
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=_digest(raw), unit_id=pk(unit) if unit else None, role=role.value
    )
    session.add(token)
    await session.flush()
    return token, raw


async def verify_token(*, session: AsyncSession, raw: str) -> ApiToken:
    """The live token whose secret is ``raw``; :class:`InvalidToken` otherwise."""
    # Looking up the hash, not the secret, leaks nothing useful through timing.
    if not raw.startswith(PREFIX):
        raise InvalidToken()
    statement = select(ApiToken).where(ApiToken.token_hash == _digest(raw))
    token = (await session.exec(statement)).first()
    if token is None or token.revoked_at is not None:
        raise InvalidToken()
    return token


def actor_for_token(token: ApiToken, address: str | None) -> Actor:
    """What an integration may do: its role, over its unit (or every unit)."""
    return Actor.scoped(
        name=token.name,
        role=StaffRole(token.role),
        unit_ids=[token.unit_id] if token.unit_id is not None else [],
        address=address,
        token_id=pk(token),
    )


async def revoke_token(*, session: AsyncSession, name: str) -> ApiToken:
    """Revoke the live token of that name; it is kept, marked revoked, for the audit trail."""
    token = await _active(session, name.strip())
    if token is None:
        raise NotFound(token=name)
    token.revoked_at = utcnow()
    session.add(token)
    await session.flush()
    return token


async def list_tokens(*, session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, oldest first."""
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.id)))).all())
