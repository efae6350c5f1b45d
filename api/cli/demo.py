"""``minyi demo …``: demo data, and the first console account ``admin``.

These set up a fresh install, so they act as no account (there is none yet)."""

from __future__ import annotations

import typer

from api.cli.common import in_transaction, parse
from scoring.demo import survey as demo
from surveys.accounts import accounts, units
from surveys.cases import workdays
from surveys.core.clock import today
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.questionnaire import catalog

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("load")
def demo_load() -> None:
    """Load the demo units and the demo survey for the current half-year (safe to rerun)."""
    file = demo.UNITS_CSV
    parsed = parse(lambda: units.parse_units_csv(file.read_text("utf-8"), source=str(file)))
    created, updated = in_transaction(lambda s: units.upsert_units(session=s, units=parsed))
    typer.echo(f"{created} unit(s) created, {updated} updated")
    definition = demo.demo_survey(today(get_settings().tz))
    result = in_transaction(
        lambda s: catalog.load_survey(session=s, definition=definition, source="demo survey")
    )
    state = "new version" if result.created else "unchanged, still version"
    typer.echo(f"{definition.code}: {state} {result.version.version}")


@app.command("activity")
def demo_activity() -> None:
    """Demo ratings, answers, monitoring imports, the units' demo staff and the 差评 cases of
    both halves of the demo year, and a first console account ``admin`` (safe to rerun; after
    ``demo load``)."""
    settings = get_settings()
    from scoring.demo import activity as demo_scores

    # First, while there is no account at all: the demo staff made below are accounts too.
    password = in_transaction(lambda s: accounts.first_admin(session=s, username="admin"))
    loaded = in_transaction(
        lambda s: demo_scores.load(
            session=s,
            today=today(settings.tz),
            now=utcnow(),
            tz=settings.tz,
            policy=workdays.policy_from(settings),
            rerating_days=settings.case_rerating_days,
        )
    )
    typer.echo(
        f"demo activity: {loaded.ratings} ratings, {loaded.responses} survey responses, "
        f"{loaded.imports} monitoring imports, {loaded.cases} 差评 cases added"
    )
    if loaded.visits:
        typer.echo(f"{loaded.visits} 12345 回访 records added (minyi hotline indicators)")
    if loaded.staff:
        typer.echo(
            f"{loaded.staff} demo staff accounts (the cases' 承办人) added without a console "
            "password; give one with `minyi --as admin user reset NAME`"
        )
    if password:
        typer.echo(
            "console account 'admin' created; sign in at /console with this one-time "
            f"password (shown only now):\n{password}"
        )
