"""``minyi token …``: API tokens for integrations, audited."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import acting, reading
from surveys.accounts import queries
from surveys.accounts.access import StaffRole
from surveys.core.clock import local_minutes
from surveys.core.settings import get_settings
from surveys.flows import accounts as flows

app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)


@app.command("create")
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

    _, raw = acting(
        lambda session, actor: flows.create_token(
            session=session, actor=actor, name=name, role=role, unit_code=unit
        )
    )
    typer.echo(f"token {name!r} created; keep it now, it is not shown again:\n{raw}")


@app.command("list")
def token_list() -> None:
    """Tokens with their role, unit and state (never their secrets)."""
    tz = get_settings().tz
    rows = reading(lambda session, actor: queries.list_tokens(session=session, actor=actor))
    for row in rows:
        state = f"revoked {local_minutes(row.revoked_at, tz)}" if row.revoked_at else "active"
        typer.echo(
            f"{row.name}\t{row.role.value}\tunit={row.unit_code or 'all'}\t"
            f"created {local_minutes(row.created_at, tz) or '-'}\t{state}"
        )


@app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token by name."""
    acting(lambda session, actor: flows.revoke_token(session=session, actor=actor, name=name))
    typer.echo(f"token {name!r} revoked")
