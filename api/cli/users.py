"""``minyi user …``: console accounts (one-time passwords, roles and units), audited.

Changes are made as the acting account (``minyi --as NAME``). Only the very first account,
an administrator, is created without one: there is nobody yet to act as.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli.common import (
    ADDRESS,
    SERVER_READER,
    account_name,
    cli_actor,
    fail,
    in_transaction,
    reading_actor,
    require_account,
)
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import StaffUser
from surveys.core.clock import local_minutes
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.flows import admin

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
    if account_name() is not None:
        return await cli_actor(session)
    if (await session.exec(select(StaffUser.id))).first() is not None:
        require_account()
    if role is not StaffRole.admin:
        fail(Translator()(N_("cli.first_account_admin")))
    return FIRST_ACCOUNT


def _check_units(role: StaffRole, unit: list[str] | None) -> None:
    if role is StaffRole.staff and not unit:
        fail("a staff account serves at least one unit: give --unit CODE (repeat for several)")


@app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(metavar="NAME")],
    role: RoleOption,
    unit: UnitsOption = None,
) -> None:
    """Create a console account; its one-time password is printed once."""
    _check_units(role, unit)

    async def create(session: AsyncSession) -> str:
        actor = await _creator(session, role)
        _, password = await admin.create_account(
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

    async def accounts(session: AsyncSession) -> list[admin.AccountRow]:
        actor = await reading_actor(session) or SERVER_READER
        return await admin.list_accounts(session=session, actor=actor)

    rows = in_transaction(accounts)
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

    async def reset(session: AsyncSession) -> str:
        actor = await cli_actor(session)
        return await admin.reset_account_password(session=session, actor=actor, username=username)

    password = in_transaction(reset)
    typer.echo(
        f"new one-time password for {username.strip()!r}, shown only now; it must be changed "
        f"at the next sign-in:\n{password}"
    )


def _set_active(username: str, active: bool) -> None:

    async def change(session: AsyncSession) -> None:
        actor = await cli_actor(session)
        await admin.set_account_active(
            session=session, actor=actor, username=username, active=active
        )

    in_transaction(change)
    typer.echo(f"user {username.strip()!r} {'enabled' if active else 'disabled'}")


@app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    _set_active(username, False)


@app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Enable a disabled account again."""
    _set_active(username, True)


@app.command("link-code")
def user_link_code(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Print a one-time code; the account's owner sends `/link CODE` to the bot (15 min)."""

    async def issue(session: AsyncSession) -> str:
        actor = await cli_actor(session)
        return await admin.issue_link_code(
            session=session, actor=actor, username=username, now=utcnow()
        )

    code = in_transaction(issue)
    typer.echo(f"send this to the bot within 15 minutes:  /link {code}")
