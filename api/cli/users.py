"""``minyi user …``: console accounts (one-time passwords, roles and units), audited.

Changes are made as the acting account (``minyi --as NAME``). Only the very first account,
an administrator, is created without one: there is nobody yet to act as.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Protocol

import typer

from api.cli.common import (
    ADDRESS,
    account_name,
    acting,
    cli_actor,
    in_transaction,
    print_link_code,
    reading,
)
from surveys.accounts import queries
from surveys.accounts.access import Actor, StaffRole
from surveys.core.clock import local_minutes
from surveys.core.db import AsyncSession
from surveys.core.settings import get_settings
from surveys.flows import accounts as flows

app = typer.Typer(
    help="Console accounts: one-time passwords, roles and units.", no_args_is_help=True
)

RoleOption = Annotated[StaffRole, typer.Option(help="admin|supervisor|staff|viewer")]
UnitsOption = Annotated[
    list[str] | None,
    typer.Option("--unit", help="Unit code the account serves (repeat for several)"),
]


# Who creates the first account of a fresh install, in the audit log.
FIRST_ACCOUNT = Actor(name="cli:first-account", role=StaffRole.admin, units=None, address=ADDRESS)


async def _creator(session: AsyncSession, role: StaffRole) -> Actor:
    """The acting account; without one, the first-account bootstrap while there is none
    (and then only an administrator may be created)."""
    if account_name() is None and await queries.is_first_account(session=session, role=role):
        return FIRST_ACCOUNT
    return await cli_actor(session)


@app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(metavar="NAME")],
    role: RoleOption,
    unit: UnitsOption = None,
) -> None:
    """Create a console account; its one-time password is printed once."""

    async def create(session: AsyncSession) -> str:
        actor = await _creator(session, role)
        _, password = await flows.create_user(
            session=session, actor=actor, username=username, role=role, unit_codes=unit or []
        )
        return password

    password = in_transaction(create)
    scope = ", ".join(unit) if unit else "all units"
    typer.echo(
        f"user {username.strip()!r} ({role.value}, {scope}) created. One-time password, "
        f"shown only now; it must be changed at the first sign-in:\n{password}"
    )


@app.command("list")
def user_list() -> None:
    """Accounts: name, role, units, state, last sign-in, bot linked (never passwords)."""
    tz = get_settings().tz
    rows = reading(lambda session, actor: queries.list_accounts(session=session, actor=actor))
    if not rows:
        typer.echo("no users yet; add one with `minyi user add NAME --role admin`")
    for row in rows:
        state = "active" if row.active else "disabled"
        if row.active and row.must_change_password and row.has_password:
            state += " (one-time password)"
        if not row.has_password:
            state += " (no password: bot notices only)"
        typer.echo(
            f"{row.username}\t{row.role.value}\tunits={','.join(row.unit_codes) or 'all'}\t"
            f"{state}\tlast login {local_minutes(row.last_login_at, tz) or '-'}\t"
            f"bot {'linked' if row.bot_linked else 'not linked'}"
        )


@app.command("reset")
def user_reset(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Give the account a new one-time password; its sessions end, a lockout is lifted."""
    password = acting(
        lambda session, actor: flows.reset_user_password(
            session=session, actor=actor, username=username
        )
    )
    typer.echo(
        f"new one-time password for {username.strip()!r}, shown only now; it must be changed "
        f"at the next sign-in:\n{password}"
    )


class _AccountChange(Protocol):
    def __call__(
        self, *, session: AsyncSession, actor: Actor, username: str
    ) -> Awaitable[object]: ...


def _switch(username: str, change: _AccountChange, done: str) -> None:
    acting(lambda session, actor: change(session=session, actor=actor, username=username))
    typer.echo(f"user {username.strip()!r} {done}")


@app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    _switch(username, flows.disable_user, "disabled")


@app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Enable a disabled account again."""
    _switch(username, flows.enable_user, "enabled")


@app.command("link-code")
def user_link_code(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Print a one-time code; the account's owner sends `/link CODE` to the bot (15 min)."""
    print_link_code(flows.issue_user_link_code, username)
