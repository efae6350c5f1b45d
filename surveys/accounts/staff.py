"""Staff of the evaluated units: who they are, which units they serve, their bot link.

Staff link their own Telegram chat with a one-time code to receive notifications about
their units' cases. The console's accounts (passwords, sessions) build on this table.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit, StaffUser
from surveys.core.clock import as_utc
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.core.models import pk

LINK_CODE_MINUTES = 15


class InvalidLinkCode(DomainError):
    key = N_("error.invalid_link_code")
    status_code = 400


class UsernameTaken(DomainError):
    key = N_("error.username_taken")
    status_code = 409


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def add_staff(
    *, session: AsyncSession, username: str, role: StaffRole, unit_codes: list[str]
) -> StaffUser:
    """A staff member serving the given units (none: all units, for admins)."""
    if (await session.exec(select(StaffUser).where(StaffUser.username == username))).first():
        raise UsernameTaken(username=username)
    found = [await units.get_unit_or_raise(session=session, code=c) for c in unit_codes]
    user = StaffUser(username=username, role=role)
    session.add(user)
    await session.flush()
    for unit in found:
        session.add(StaffUnit(user_id=pk(user), unit_id=pk(unit)))
    await session.flush()
    return user


async def issue_link_code(*, session: AsyncSession, username: str, now: datetime) -> str:
    """A one-time code (valid 15 minutes) to send to the bot as ``/link CODE``."""
    user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).first()
    if user is None:
        raise NotFound(username=username)
    code = secrets.token_hex(4).upper()
    user.link_code_hash = _digest(code)
    user.link_code_expires_at = now + timedelta(minutes=LINK_CODE_MINUTES)
    session.add(user)
    await session.flush()
    return code


async def link_chat(*, session: AsyncSession, code: str, chat_id: int, now: datetime) -> StaffUser:
    """Bind the staff member's own chat; the code works once."""
    statement = select(StaffUser).where(StaffUser.link_code_hash == _digest(code))
    user = (await session.exec(statement)).first()
    expires = user.link_code_expires_at if user else None
    if user is None or expires is None or as_utc(expires) < now:
        raise InvalidLinkCode()
    user.telegram_chat_id = chat_id
    user.link_code_hash = None
    user.link_code_expires_at = None
    session.add(user)
    await session.flush()
    return user
