"""``minyi user …``: console accounts (one-time passwords, roles and units), audited."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli.common import cli_actor, fail, in_transaction
from surveys.accounts.access import StaffRole
from surveys.core.clock import local_minutes
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
    actor = cli_actor()

    async def create(session: AsyncSession) -> str:
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
    actor = cli_actor()
    tz = get_settings().tz
    rows = in_transaction(lambda s: admin.list_accounts(session=s, actor=actor))
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
    actor = cli_actor()
    password = in_transaction(
        lambda s: admin.reset_account_password(session=s, actor=actor, username=username)
    )
    typer.echo(
        f"new one-time password for {username.strip()!r}, shown only now; it must be changed "
        f"at the next sign-in:\n{password}"
    )


def _set_active(username: str, active: bool) -> None:
    actor = cli_actor()
    in_transaction(
        lambda s: admin.set_account_active(
            session=s, actor=actor, username=username, active=active
        )
    )
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
    actor = cli_actor()
    code = in_transaction(
        lambda s: admin.issue_link_code(session=s, actor=actor, username=username, now=utcnow())
    )
    typer.echo(f"send this to the bot within 15 minutes:  /link {code}")
