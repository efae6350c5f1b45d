"""Console accounts: one-time passwords, sign-in with lockout, password changes, sessions.

Accounts are the :class:`~surveys.staff.StaffUser` rows that also get bot notices. Passwords
are hashed with argon2 (pwdlib). Sign-in never raises on a wrong password: the failure must
be stored (lockout counts) in the same transaction the edge commits, so it is returned.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from pwdlib import PasswordHash
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import staff
from surveys.accounts.access import Actor, StaffRole, check_role_units
from surveys.accounts.models import LoginAttempt, StaffUnit, StaffUser
from surveys.core.clock import as_utc
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.core.models import pk

PASSWORD_MIN = 10
PASSWORD_MAX = 128
_hasher = PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so the timing is the same."""
    return _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(DomainError):
    key = N_("error.weak_password")
    status_code = 422

    def __init__(self) -> None:
        super().__init__(min=PASSWORD_MIN, max=PASSWORD_MAX)


class WrongPassword(DomainError):
    key = N_("error.wrong_current_password")
    status_code = 422


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    address_failures: int = 20


@dataclass(frozen=True)
class LoginOutcome:
    """``user`` when signed in; otherwise ``error``, a catalogue key, and its parameters."""

    user: StaffUser | None
    error: str | None = None
    params: dict[str, object] | None = None
    status_code: int = 200


LOGIN_ERRORS = [N_("login.error.invalid"), N_("login.error.locked"), N_("login.error.throttled")]


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def _check_strength(password: str, username: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or password.lower() == username.lower():
        raise WeakPassword()


async def get_user(*, session: AsyncSession, username: str) -> StaffUser | None:
    statement = select(StaffUser).where(StaffUser.username == username.strip())
    return (await session.exec(statement)).first()


async def create_user(
    *, session: AsyncSession, username: str, role: StaffRole, unit_codes: list[str]
) -> tuple[StaffUser, str]:
    """An account with a one-time password, to be changed at the first sign-in."""
    check_role_units(role, len(unit_codes))
    user = await staff.add_staff(
        session=session, username=username.strip(), role=role, unit_codes=unit_codes
    )
    password = one_time_password()
    user.password_hash = _hasher.hash(password)
    user.must_change_password = True
    session.add(user)
    await session.flush()
    return user, password


async def reset_password(*, session: AsyncSession, user: StaffUser) -> str:
    """A new one-time password; every session of the account ends, the lockout too."""
    password = one_time_password()
    user.password_hash = _hasher.hash(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    user.session_version += 1
    session.add(user)
    await session.flush()
    return password


async def _address_failures(session: AsyncSession, address: str, since: datetime) -> int:
    statement = select(func.count()).where(
        LoginAttempt.address == address,
        col(LoginAttempt.ok).is_(False),
        col(LoginAttempt.at) >= since,
    )
    return int((await session.exec(statement)).one())


async def authenticate(
    *,
    session: AsyncSession,
    username: str,
    password: str,
    address: str,
    now: datetime,
    policy: LoginPolicy,
) -> LoginOutcome:
    """Check a sign-in; every attempt is recorded, failures count toward the lockout."""
    username = username.strip()[:64]
    address = address[:64]
    if await _address_failures(session, address, now - policy.lockout) >= policy.address_failures:
        # No attempt is recorded: a flood must not grow the table without bound.
        return LoginOutcome(None, N_("login.error.throttled"), {}, 429)
    user = await get_user(session=session, username=username)
    locked_until = as_utc(user.locked_until) if user and user.locked_until else None
    if user is not None and locked_until is not None and locked_until > now:
        session.add(LoginAttempt(username=username, address=address, ok=False, at=now))
        await session.flush()
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        return LoginOutcome(None, N_("login.error.locked"), {"minutes": minutes}, 423)
    valid = _hasher.verify(
        password, user.password_hash if user and user.password_hash else _dummy_hash()
    )
    ok = bool(valid and user is not None and user.active and user.password_hash)
    session.add(LoginAttempt(username=username, address=address, ok=ok, at=now))
    if user is None:
        await session.flush()
        return LoginOutcome(None, N_("login.error.invalid"), {}, 401)
    if not ok:
        user.failed_logins += 1
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
        session.add(user)
        await session.flush()
        return LoginOutcome(None, N_("login.error.invalid"), {}, 401)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    await session.flush()
    return LoginOutcome(user)


async def change_password(
    *, session: AsyncSession, user: StaffUser, current: str, new: str
) -> None:
    """Replace the password; all other sessions of the account end."""
    if not user.password_hash or not _hasher.verify(current, user.password_hash):
        raise WrongPassword()
    _check_strength(new, user.username)
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    user.session_version += 1
    session.add(user)
    await session.flush()


async def sign_out(*, session: AsyncSession, user_id: int) -> None:
    """End every session of the account (the cookie carries the old version)."""
    user = await session.get(StaffUser, user_id)
    if user is not None:
        user.session_version += 1
        session.add(user)
        await session.flush()


async def unit_ids_of(*, session: AsyncSession, user: StaffUser) -> list[int]:
    statement = select(StaffUnit.unit_id).where(StaffUnit.user_id == pk(user))
    return list((await session.exec(statement)).all())


async def actor_for_session(
    *, session: AsyncSession, user_id: int, version: int, address: str | None
) -> tuple[Actor, StaffUser] | None:
    """The signed-in actor of a session cookie, if the account and the session are live."""
    user = await session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    actor = Actor.scoped(
        name=user.username,
        role=StaffRole(user.role),
        unit_ids=await unit_ids_of(session=session, user=user),
        address=address,
        user_id=pk(user),
    )
    return actor, user


async def list_users(*, session: AsyncSession) -> list[tuple[StaffUser, list[int]]]:
    users = (await session.exec(select(StaffUser).order_by(col(StaffUser.username)))).all()
    links = (await session.exec(select(StaffUnit))).all()
    by_user: dict[int, list[int]] = {}
    for link in links:
        by_user.setdefault(link.user_id, []).append(link.unit_id)
    return [(u, sorted(by_user.get(pk(u), []))) for u in users]


async def set_active(*, session: AsyncSession, username: str, active: bool) -> StaffUser:
    user = await get_user(session=session, username=username)
    if user is None:
        raise NotFound(username=username)
    user.active = active
    user.session_version += 1
    session.add(user)
    await session.flush()
    return user


async def first_admin(*, session: AsyncSession, username: str) -> str | None:
    """On a fresh install, an admin account with a one-time password; None if any exists."""
    if (await session.exec(select(StaffUser.id))).first() is not None:
        return None
    _, password = await create_user(
        session=session, username=username, role=StaffRole.admin, unit_codes=[]
    )
    return password
