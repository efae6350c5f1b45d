"""``minyi units …``: the evaluated units (考评对象)."""

from __future__ import annotations

import typer

from api.cli.common import FileArg, cli_actor, in_transaction, parse
from surveys.core.db import AsyncSession
from surveys.core.text import decode_office_text
from surveys.flows import units as flows

app = typer.Typer(help="Evaluated units (考评对象).", no_args_is_help=True)


@app.command("load")
def units_load(file: FileArg) -> None:
    """Load units from a CSV file (code,name,kind[,active]); all rows or none."""
    text = parse(lambda: decode_office_text(file.read_bytes(), file.name))

    async def load(session: AsyncSession) -> tuple[int, int]:
        actor = await cli_actor(session)
        return await flows.load_units(session=session, actor=actor, text=text, source=file.name)

    created, updated = in_transaction(load)
    typer.echo(f"{created} unit(s) created, {updated} updated")
