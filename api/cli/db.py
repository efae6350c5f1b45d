"""``minyi db …``: the database schema."""

from __future__ import annotations

import typer

from surveys.core import migrate
from surveys.core.settings import get_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the database schema (DATABASE_URL)."""
    migrate.upgrade(get_settings().db_url, revision)
    typer.echo(f"database at {revision}")
