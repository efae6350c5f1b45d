"""``minyi privacy …``: personal data."""

from __future__ import annotations

import typer

from api.cli.common import cli_actor, in_transaction
from surveys.core.db import AsyncSession, checkpoint
from surveys.core.settings import get_settings
from surveys.flows import privacy as privacy_flows

app = typer.Typer(help="Personal data.", no_args_is_help=True)


@app.command("purge")
def privacy_purge() -> None:
    """Delete chat ids unused for IDENTITY_RETENTION_DAYS (default 730); answers stay."""
    days = get_settings().identity_retention_days

    async def purge(session: AsyncSession) -> int:
        actor = await cli_actor(session)
        return await privacy_flows.purge_identities(session=session, actor=actor, days=days)

    deleted = in_transaction(purge)
    in_transaction(checkpoint)  # after the commit: the erased rows leave the write-ahead log too
    typer.echo(f"{deleted} identity row(s) older than {days} days deleted")
