"""``minyi survey …``: survey definitions (YAML) and their deep links."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import FileArg, cli_actor, in_transaction, parse, reading_actor, refuse
from surveys.core.clock import today
from surveys.core.db import AsyncSession
from surveys.core.exceptions import DomainError
from surveys.core.settings import get_settings
from surveys.core.text import decode_office_text
from surveys.flows import surveys as flows
from surveys.questionnaire import catalog, conversation, definitions, links
from surveys.questionnaire.models import SurveyVersion

app = typer.Typer(help="Survey definitions (YAML).", no_args_is_help=True)


@app.command("load")
def survey_load(file: FileArg) -> None:
    """Load a survey YAML file; a changed survey becomes a new version."""
    parse(lambda: definitions.check_file_size(file, str(file)))  # before reading it at all
    text = parse(lambda: decode_office_text(file.read_bytes(), str(file)))

    async def load(session: AsyncSession) -> catalog.LoadResult:
        actor = await cli_actor(session)
        return await flows.load_yaml(session=session, actor=actor, text=text, source=str(file))

    result = in_transaction(load)
    state = "new version" if result.created else "unchanged, still version"
    typer.echo(f"{catalog.definition_of(result.version).code}: {state} {result.version.version}")


@app.command("publish")
def survey_publish(code: str) -> None:
    """Offer the survey from today: a future opening becomes today, a close is undone."""

    async def publish(session: AsyncSession) -> SurveyVersion:
        actor = await cli_actor(session)
        on = today(get_settings().tz)
        return await flows.publish(session=session, actor=actor, code=code, today=on)

    version = in_transaction(publish)
    typer.echo(f"{code}: version {version.version} open {version.opens_on}..{version.closes_on}")


@app.command("close")
def survey_close(code: str) -> None:
    """Stop offering the survey now; answers already given stay and count."""

    async def close(session: AsyncSession) -> SurveyVersion:
        return await flows.close(session=session, actor=await cli_actor(session), code=code)

    version = in_transaction(close)
    typer.echo(f"{code}: version {version.version} closed")


@app.command("list")
def survey_list() -> None:
    """Surveys with their current version, period and response counts."""

    async def summaries_of(session: AsyncSession) -> list[catalog.SurveySummary]:
        await reading_actor(session)
        return await catalog.list_surveys(session=session)

    summaries = in_transaction(summaries_of)
    if not summaries:
        typer.echo("no surveys yet; load one with `minyi survey load FILE.yaml`")
    for s in summaries:
        typer.echo(
            f"{s.code}\tv{s.version}\t{s.period}\t{s.opens_on}..{s.closes_on}\t"
            f"{s.completed} completed / {s.responses} started\t{s.title}"
        )


@app.command("link")
def survey_link(
    code: str, unit: Annotated[str | None, typer.Option(help="Unit code to fix")] = None
) -> None:
    """Print the survey's links for a poster or QR code: the web chat's (at PUBLIC_BASE_URL)
    and the Telegram bot's deep link."""
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
        refuse(exc)
    typer.echo(get_settings().base_url() + links.web_path(payload))
    typer.echo(f"https://t.me/<bot username>?start={payload}")
