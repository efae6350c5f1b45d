"""``minyi units …``: the evaluated units (考评对象)."""

from __future__ import annotations

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli.common import FileArg, cli_actor, in_transaction, parse
from surveys.accounts import units

app = typer.Typer(help="Evaluated units (考评对象).", no_args_is_help=True)


@app.command("load")
def units_load(file: FileArg) -> None:
    """Load units from a CSV file (code,name,kind[,active]); all rows or none."""
    parsed = parse(lambda: units.parse_units_csv(file.read_text("utf-8"), source=str(file)))

    async def load(session: AsyncSession) -> tuple[int, int]:
        await cli_actor(session)
        return await units.upsert_units(session=session, units=parsed)

    created, updated = in_transaction(load)
    typer.echo(f"{created} unit(s) created, {updated} updated")
