"""Flows for accounts, API tokens and bot-linked staff: one function per staff action.

Each flow is registered with :func:`~surveys.flows.registry.flow` (which checks
:data:`Perm.manage` first), calls the services and writes one audit row named after the
action, in the caller's transaction. Secrets (one-time passwords, token secrets, bot link
codes) are returned once and never stored or audited in the clear. Reads are in
:mod:`surveys.accounts.queries`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, audit, staff, tokens, units
from surveys.accounts.access import Actor, Perm, StaffRole, check_role_units
from surveys.accounts.models import ApiToken, StaffUser
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.flows.registry import Adapter, flow

USERNAME = re.compile(r"^[^\s/\\]{1,64}$")
CONSOLE_AND_CLI = frozenset({Adapter.console, Adapter.cli})
CLI_ONLY = frozenset({Adapter.cli})


class InvalidUsername(DomainError):
    key = N_("error.invalid_username")
    status_code = 422


class UnknownUser(NotFound):
    key = N_("error.unknown_user")


class CannotDisableSelf(DomainError):
    key = N_("error.disable_self")
    status_code = 409


def _username(username: str) -> str:
    username = username.strip()
    if not USERNAME.match(username):
        raise InvalidUsername(max=64)
    return username


def _unit_codes(unit_codes: Sequence[str]) -> list[str]:
    return sorted({code.strip() for code in unit_codes if code.strip()})


async def _user(session: AsyncSession, username: str) -> StaffUser:
    user = await accounts.get_user(session=session, username=username)
    if user is None:
        raise UnknownUser(username=username.strip())
    return user


async def _record_new_account(
    session: AsyncSession,
    actor: Actor,
    action: str,
    username: str,
    role: StaffRole,
    codes: list[str],
) -> None:
    await audit.record(
        session=session, actor=actor, action=action, target=username, role=role.value, units=codes
    )


async def _set_active(
    session: AsyncSession, actor: Actor, user: StaffUser, *, active: bool, action: str
) -> StaffUser:
    await accounts.set_active(session=session, username=user.username, active=active)
    await audit.record(session=session, actor=actor, action=action, target=user.username)
    return user


async def _issue_link_code(
    session: AsyncSession, actor: Actor, username: str, now: datetime, action: str
) -> str:
    user = await _user(session, username)
    code = await staff.issue_link_code(session=session, username=user.username, now=now)
    await audit.record(session=session, actor=actor, action=action, target=user.username)
    return code


# Console accounts ---------------------------------------------------------------------


@flow("user.create", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def create_user(
    *,
    session: AsyncSession,
    actor: Actor,
    username: str,
    role: StaffRole,
    unit_codes: Sequence[str],
) -> tuple[StaffUser, str]:
    """A new account and its one-time password (to be changed at the first sign-in)."""
    username = _username(username)
    codes = _unit_codes(unit_codes)
    user, password = await accounts.create_user(
        session=session, username=username, role=role, unit_codes=codes
    )
    await _record_new_account(session, actor, "user.create", username, role, codes)
    return user, password


@flow("user.reset", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def reset_user_password(*, session: AsyncSession, actor: Actor, username: str) -> str:
    """A new one-time password; the account's sessions end and its lockout is lifted."""
    user = await _user(session, username)
    password = await accounts.reset_password(session=session, user=user)
    await audit.record(session=session, actor=actor, action="user.reset", target=user.username)
    return password


@flow("user.disable", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def disable_user(*, session: AsyncSession, actor: Actor, username: str) -> StaffUser:
    """The account can no longer sign in and every session ends; nobody disables themselves."""
    user = await _user(session, username)
    if actor.user_id is not None and actor.user_id == user.id:
        raise CannotDisableSelf()
    return await _set_active(session, actor, user, active=False, action="user.disable")


@flow("user.enable", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def enable_user(*, session: AsyncSession, actor: Actor, username: str) -> StaffUser:
    """A disabled account may sign in again."""
    user = await _user(session, username)
    return await _set_active(session, actor, user, active=True, action="user.enable")


@flow("user.link_code", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def issue_user_link_code(
    *, session: AsyncSession, actor: Actor, username: str, now: datetime
) -> str:
    """A one-time code the account's owner sends to the bot (``/link CODE``)."""
    return await _issue_link_code(session, actor, username, now, "user.link_code")


# Bot-linked staff (no console password) ----------------------------------------------


@flow("staff.add", perm=Perm.manage, adapters=CLI_ONLY)
async def add_staff(
    *,
    session: AsyncSession,
    actor: Actor,
    username: str,
    role: StaffRole,
    unit_codes: Sequence[str],
) -> StaffUser:
    """A staff member without a console password, who links the bot for notices."""
    username = _username(username)
    codes = _unit_codes(unit_codes)
    check_role_units(role, len(codes))
    user = await staff.add_staff(session=session, username=username, role=role, unit_codes=codes)
    await _record_new_account(session, actor, "staff.add", username, role, codes)
    return user


@flow("staff.link_code", perm=Perm.manage, adapters=CLI_ONLY)
async def issue_staff_link_code(
    *, session: AsyncSession, actor: Actor, username: str, now: datetime
) -> str:
    """A one-time code (15 minutes) the staff member sends to the bot (``/link CODE``)."""
    return await _issue_link_code(session, actor, username, now, "staff.link_code")


# API tokens ---------------------------------------------------------------------------


@flow("token.create", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def create_token(
    *,
    session: AsyncSession,
    actor: Actor,
    name: str,
    role: StaffRole | None,
    unit_code: str | None,
) -> tuple[ApiToken, str]:
    """A token for an integration; the secret is returned only here."""
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


@flow("token.revoke", perm=Perm.manage, adapters=CONSOLE_AND_CLI)
async def revoke_token(*, session: AsyncSession, actor: Actor, name: str) -> ApiToken:
    """The token stops working at once; its row stays for the audit log."""
    token = await tokens.revoke_token(session=session, name=name)
    await audit.record(session=session, actor=actor, action="token.revoke", target=token.name)
    return token
