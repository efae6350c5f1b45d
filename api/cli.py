"""The ``minyi`` command line: serve, migrate, load units and surveys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys import (
    catalog,
    conversation,
    demo,
    feedback,
    migrate,
    respondents,
    tokens,
    units,
    workdays,
)
from surveys.clock import today
from surveys.db import create_sessionmaker, engine_from_settings, unit_of_work
from surveys.definitions import parse_definition
from surveys.exceptions import DomainError, InvalidFile
from surveys.i18n import Translator
from surveys.models import utcnow
from surveys.settings import Settings, get_settings

T = TypeVar("T")

app = typer.Typer(
    help="minyi 民意: surveys and 好差评 for the 数字政府 evaluation.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
units_app = typer.Typer(help="Evaluated units (考评对象).", no_args_is_help=True)
survey_app = typer.Typer(help="Survey definitions (YAML).", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(survey_app, name="survey")
privacy_app = typer.Typer(help="Personal data.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)
import_app = typer.Typer(help="Imports from other systems.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(token_app, name="token")
app.add_typer(demo_app, name="demo")
app.add_typer(privacy_app, name="privacy")

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: all of it is stored, or none."""
    settings = get_settings()

    async def run() -> T:
        engine = engine_from_settings(settings)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc
    except DomainError as exc:
        _refuse(exc)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the database schema (DATABASE_URL)."""
    migrate.upgrade(get_settings().db_url, revision)
    typer.echo(f"database at {revision}")


@units_app.command("load")
def units_load(file: FileArg) -> None:
    """Load units from a CSV file (code,name,kind[,active]); all rows or none."""
    parsed = _parse(lambda: units.parse_units_csv(file.read_text("utf-8"), source=str(file)))
    created, updated = _in_transaction(lambda s: units.upsert_units(session=s, units=parsed))
    typer.echo(f"{created} unit(s) created, {updated} updated")


@survey_app.command("load")
def survey_load(file: FileArg) -> None:
    """Load a survey YAML file; a changed survey becomes a new version."""
    definition = _parse(lambda: parse_definition(file.read_text("utf-8"), source=str(file)))
    result = _in_transaction(
        lambda s: catalog.load_survey(session=s, definition=definition, source=str(file))
    )
    state = "new version" if result.created else "unchanged, still version"
    typer.echo(f"{definition.code}: {state} {result.version.version}")


@survey_app.command("list")
def survey_list() -> None:
    """Surveys with their current version, period and response counts."""
    summaries = _in_transaction(lambda s: catalog.list_surveys(session=s))
    if not summaries:
        typer.echo("no surveys yet; load one with `minyi survey load FILE.yaml`")
    for s in summaries:
        typer.echo(
            f"{s.code}\tv{s.version}\t{s.period}\t{s.opens_on}..{s.closes_on}\t"
            f"{s.completed} completed / {s.responses} started\t{s.title}"
        )


@survey_app.command("link")
def survey_link(
    code: str, unit: Annotated[str | None, typer.Option(help="Unit code to fix")] = None
) -> None:
    """Print the /start payload (deep link) for a poster or QR code."""
    payload = conversation.deep_link_payload(code, unit)
    if len(payload) > conversation.MAX_PAYLOAD:
        typer.secho(
            f"the link payload {payload!r} has {len(payload)} characters; Telegram allows "
            f"{conversation.MAX_PAYLOAD}: use shorter survey or unit codes",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    try:
        conversation.parse_deep_link(payload)
    except DomainError as exc:
        _refuse(exc)
    typer.echo(f"https://t.me/<bot username>?start={payload}")


@demo_app.command("load")
def demo_load() -> None:
    """Load the demo units and the demo survey for the current half-year (safe to rerun)."""
    units_load(demo.UNITS_CSV)
    definition = demo.demo_survey(today(get_settings().tz))
    result = _in_transaction(
        lambda s: catalog.load_survey(session=s, definition=definition, source="demo survey")
    )
    state = "new version" if result.created else "unchanged, still version"
    typer.echo(f"{definition.code}: {state} {result.version.version}")


@privacy_app.command("purge")
def privacy_purge() -> None:
    """Delete chat ids unused for IDENTITY_RETENTION_DAYS (default 730); answers stay."""
    days = get_settings().identity_retention_days
    deleted = _in_transaction(
        lambda s: respondents.purge_stale_identities(session=s, now=utcnow(), days=days)
    )
    typer.echo(f"{deleted} identity row(s) older than {days} days deleted")


@token_app.command("create")
def token_create(
    name: str,
    unit: Annotated[str | None, typer.Option(help="Bind the token to one unit code")] = None,
) -> None:
    """Create an API token for an integration; the secret is printed once, stored hashed."""

    async def create(session: AsyncSession) -> str:
        bound = await units.get_unit_or_raise(session=session, code=unit) if unit else None
        _, raw = await tokens.create_token(session=session, name=name, unit=bound)
        return raw

    raw = _in_transaction(create)
    typer.echo(f"token {name!r} created; keep it now, it is not shown again:\n{raw}")


@token_app.command("list")
def token_list() -> None:
    """Tokens with their unit and state (never their secrets)."""
    for token in _in_transaction(lambda s: tokens.list_tokens(session=s)):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        typer.echo(f"{token.name}\tunit={token.unit_id or 'all'}\t{state}")


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token by name."""
    _in_transaction(lambda s: tokens.revoke_token(session=s, name=name))
    typer.echo(f"token {name!r} revoked")


@import_app.command("ratings")
def import_ratings(file: FileArg) -> None:
    """Import 好差评 ratings from .csv or .xlsx: every row is stored, or none."""
    settings = get_settings()
    received = _in_transaction(
        lambda s: feedback.import_ratings_file(
            session=s,
            path=file,
            tz=settings.tz,
            now=utcnow(),
            grace_days=settings.rating_grace_days,
            policy=workdays.DeadlinePolicy(
                contact_days=settings.case_contact_days, rectify_days=settings.case_rectify_days
            ),
        )
    )
    result = received.result
    typer.echo(
        f"{len(result.created)} rating(s) imported, {len(result.duplicates)} already imported "
        f"(skipped), {len(received.opened)} 差评 follow-up case(s) opened"
    )


@app.command()
def serve() -> None:
    """Run the API and, when BOT_TOKEN is set, the Telegram bot in the same process."""
    from api.server import serve as run

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(settings))


def _refuse(exc: DomainError) -> NoReturn:
    typer.secho(Translator()(exc.key, **exc.params), fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from exc


def _parse(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc


def main() -> None:
    app()


def settings_for_cli() -> Settings:
    return get_settings()
