"""Old names of the administration flows, kept only until the command line calls the new ones.

The flows are in :mod:`surveys.flows.accounts`, :mod:`surveys.flows.units` and
:mod:`surveys.flows.imports`; the reads in :mod:`surveys.accounts.queries`.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor
from surveys.accounts.models import StaffUser
from surveys.accounts.queries import (
    AccountRow,
    TokenRow,
    UnitRow,
    list_accounts,
    list_tokens,
    list_units_with_counts,
    visible_unit,
    visible_units,
)
from surveys.flows.accounts import (
    CannotDisableSelf,
    InvalidUsername,
    UnknownUser,
    create_token,
    disable_user,
    enable_user,
    revoke_token,
)
from surveys.flows.accounts import create_user as create_account
from surveys.flows.accounts import issue_user_link_code as issue_link_code
from surveys.flows.accounts import reset_user_password as reset_account_password
from surveys.flows.units import load_units

__all__ = [
    "AccountRow",
    "CannotDisableSelf",
    "InvalidUsername",
    "TokenRow",
    "UnitRow",
    "UnknownUser",
    "create_account",
    "create_token",
    "issue_link_code",
    "list_accounts",
    "list_tokens",
    "list_units_with_counts",
    "load_units",
    "reset_account_password",
    "revoke_token",
    "set_account_active",
    "visible_unit",
    "visible_units",
]


async def set_account_active(
    *, session: AsyncSession, actor: Actor, username: str, active: bool
) -> StaffUser:
    change = enable_user if active else disable_user
    return await change(session=session, actor=actor, username=username)
