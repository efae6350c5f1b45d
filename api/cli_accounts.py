"""``minyi user …`` and ``minyi token create|revoke``: console accounts and API tokens.

Every change goes through :mod:`surveys.admin` and is audited as ``cli:<os user>``, an
administrator over every unit (whoever runs the command administers the server).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli_common import _fail, _in_transaction
from surveys.accounts.access import Actor, StaffRole
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.flows import admin

RoleOption = Annotated[StaffRole, typer.Option(help="admin|supervisor|staff|viewer")]
UnitsOption = Annotated[
    list[str] | None,
    typer.Option("--unit", help="Unit code the account serves (repeat for several)"),
]


def cli_actor() -> Actor:
    """The person at the terminal, as recorded in the audit log."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}"[:80], role=StaffRole.admin, units=None)


def _local(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(get_settings().tz):%Y-%m-%d %H:%M}"


def _check_units(role: StaffRole, unit: list[str] | None) -> None:
    if role is StaffRole.staff and not unit:
        _fail("a staff account serves at least one unit: give --unit CODE (repeat for several)")


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

    password = _in_transaction(create)
    scope = ", ".join(unit) if unit else "all units"
    typer.echo(
        f"user {username.strip()!r} ({role.value}, {scope}) created. One-time password, "
        f"shown only now; it must be changed at the first sign-in:\n{password}"
    )


def user_list() -> None:
    """Accounts: name, role, units, state, last sign-in, bot linked (never passwords)."""
    actor = cli_actor()
    rows = _in_transaction(lambda s: admin.list_accounts(session=s, actor=actor))
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
            f"{state}\tlast login {_local(row.last_login_at)}\t"
            f"bot {'linked' if row.bot_linked else 'not linked'}"
        )


def user_reset(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Give the account a new one-time password; its sessions end, a lockout is lifted."""
    actor = cli_actor()
    password = _in_transaction(
        lambda s: admin.reset_account_password(session=s, actor=actor, username=username)
    )
    typer.echo(
        f"new one-time password for {username.strip()!r}, shown only now; it must be changed "
        f"at the next sign-in:\n{password}"
    )


def _set_active(username: str, active: bool) -> None:
    actor = cli_actor()
    _in_transaction(
        lambda s: admin.set_account_active(
            session=s, actor=actor, username=username, active=active
        )
    )
    typer.echo(f"user {username.strip()!r} {'enabled' if active else 'disabled'}")


def user_disable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    _set_active(username, False)


def user_enable(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Enable a disabled account again."""
    _set_active(username, True)


def user_link_code(username: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Print a one-time code; the account's owner sends `/link CODE` to the bot (15 min)."""
    actor = cli_actor()
    code = _in_transaction(
        lambda s: admin.issue_link_code(session=s, actor=actor, username=username, now=utcnow())
    )
    typer.echo(f"send this to the bot within 15 minutes:  /link {code}")


def token_create(
    name: str,
    unit: Annotated[str | None, typer.Option(help="Bind the token to one unit code")] = None,
    role: Annotated[
        StaffRole | None,
        typer.Option(
            help="admin|supervisor|staff|viewer (default: staff with --unit, else admin)"
        ),
    ] = None,
) -> None:
    """Create an API token for an integration; the secret is printed once, stored hashed."""
    if role is StaffRole.staff and not unit:
        _fail("a staff token acts for one unit: give --unit CODE")
    actor = cli_actor()

    async def create(session: AsyncSession) -> str:
        _, raw = await admin.create_token(
            session=session, actor=actor, name=name, role=role, unit_code=unit
        )
        return raw

    raw = _in_transaction(create)
    typer.echo(f"token {name!r} created; keep it now, it is not shown again:\n{raw}")


def token_list() -> None:
    """Tokens with their role, unit and state (never their secrets)."""
    actor = cli_actor()
    for row in _in_transaction(lambda s: admin.list_tokens(session=s, actor=actor)):
        state = f"revoked {_local(row.revoked_at)}" if row.revoked_at else "active"
        typer.echo(
            f"{row.name}\t{row.role.value}\tunit={row.unit_code or 'all'}\t"
            f"created {_local(row.created_at)}\t{state}"
        )


def token_revoke(name: str) -> None:
    """Revoke a token by name."""
    actor = cli_actor()
    _in_transaction(lambda s: admin.revoke_token(session=s, actor=actor, name=name))
    typer.echo(f"token {name!r} revoked")


def _replace(group: typer.Typer, name: str, command: Callable[..., None]) -> None:
    """Register ``command`` as ``name``, replacing a command of that name already there."""
    group.registered_commands = [c for c in group.registered_commands if c.name != name]
    group.command(name)(command)


def register(*, app: typer.Typer, token_app: typer.Typer) -> None:
    """Attach ``minyi user`` and the audited ``minyi token`` commands."""
    user_app = typer.Typer(
        help="Console accounts: one-time passwords, roles and units.", no_args_is_help=True
    )
    user_app.command("add")(user_add)
    user_app.command("list")(user_list)
    user_app.command("reset")(user_reset)
    user_app.command("disable")(user_disable)
    user_app.command("enable")(user_enable)
    user_app.command("link-code")(user_link_code)
    app.add_typer(user_app, name="user")
    _replace(token_app, "create", token_create)
    _replace(token_app, "list", token_list)
    _replace(token_app, "revoke", token_revoke)
