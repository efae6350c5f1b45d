"""The ``minyi`` command line: one module per command group, attached here."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import (
    broadcast,
    calendar,
    cases,
    db,
    demo,
    imports,
    privacy,
    qr,
    scoring,
    serve,
    staff,
    survey,
    tokens,
    units,
    users,
)
from api.cli.common import choose_account

app = typer.Typer(
    help="minyi 民意: surveys and 好差评 for the 数字政府 evaluation.", no_args_is_help=True
)


@app.callback()
def root(
    account: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="USERNAME",
            help="The console account to act as (default: MINYI_USER); every command that "
            "changes data needs one, and is done and audited with its role and units.",
        ),
    ] = None,
) -> None:
    """minyi 民意: surveys and 好差评 for the 数字政府 evaluation."""
    choose_account(account)


app.add_typer(db.app, name="db")
app.add_typer(units.app, name="units")
app.add_typer(survey.app, name="survey")
app.add_typer(staff.app, name="staff")
app.add_typer(imports.app, name="import")
app.add_typer(tokens.app, name="token")
app.add_typer(demo.app, name="demo")
app.add_typer(privacy.app, name="privacy")
app.add_typer(cases.app, name="case")
app.add_typer(calendar.app, name="calendar")
app.add_typer(users.app, name="user")
app.add_typer(broadcast.app, name="broadcast")
app.command("qr")(qr.qr_poster)
app.command("serve")(serve.serve)
app.command("score")(scoring.score)
app.command("feedback")(scoring.feedback)


def main() -> None:
    app()
