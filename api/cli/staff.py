"""``minyi staff …``: staff of the units and their bot notifications."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import acting, print_link_code
from surveys.accounts.access import StaffRole
from surveys.flows import accounts as flows

app = typer.Typer(help="Staff of the units and their bot notifications.", no_args_is_help=True)


@app.command("add")
def staff_add(
    username: str,
    role: Annotated[StaffRole, typer.Option(help="admin|supervisor|staff|viewer")],
    unit: Annotated[list[str] | None, typer.Option(help="Unit code (repeat for several)")] = None,
) -> None:
    """Add a staff member serving the given units."""
    acting(
        lambda session, actor: flows.add_staff(
            session=session, actor=actor, username=username, role=role, unit_codes=unit or []
        )
    )
    typer.echo(f"staff {username!r} ({role.value}) added")


@app.command("link-code")
def staff_link_code(username: str) -> None:
    """Print a one-time code; the staff member sends `/link CODE` to the bot (15 minutes)."""
    print_link_code(flows.issue_staff_link_code, username)
