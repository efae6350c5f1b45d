"""``minyi broadcast …``: survey invitations to the linked citizens who agreed to them.

Start, pause and resume are the broadcast flows, run as the acting account (``minyi --as
NAME``, an administrator); the running server's sender queues the invitations a few at a
time. ``status`` shows counts only, never who or a chat id.
"""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import cli_actor, in_transaction, reading_actor
from surveys.core.clock import local_minutes, today
from surveys.core.db import AsyncSession
from surveys.core.models import pk
from surveys.core.settings import get_settings
from surveys.delivery import broadcasts
from surveys.delivery.broadcast_models import Broadcast
from surveys.flows import broadcasts as broadcast_flows

app = typer.Typer(
    help="Survey invitations to linked citizens who agreed to them.", no_args_is_help=True
)
IdArg = Annotated[int, typer.Argument(metavar="ID", help="The broadcast's number")]


def _units(text: str | None) -> list[str]:
    return [code.strip() for code in (text or "").split(",") if code.strip()]


def _line(p: broadcasts.Progress) -> str:
    units = ",".join(p.unit_codes) if p.unit_codes else "all units"
    status = f"{p.status.value} ({p.reason})" if p.reason else p.status.value
    tz = get_settings().tz
    return (
        f"#{p.id}\t{p.survey_code}\t{p.period}\t{status}\t"
        f"eligible {p.eligible}\tqueued {p.queued}\tremaining {p.remaining}\t"
        f"{units}\tby {p.created_by} {local_minutes(p.created_at, tz)}"
    )


@app.command("start")
def broadcast_start(
    survey: Annotated[str, typer.Option("--survey", metavar="CODE", help="The survey's code")],
    units: Annotated[
        str | None,
        typer.Option(
            "--units",
            metavar="A,B",
            help="Only citizens with a rating, 办件 or response at these units",
        ),
    ] = None,
) -> None:
    """Invite every linked, consenting citizen who has not answered the survey this period."""
    tz = get_settings().tz

    async def start(session: AsyncSession) -> broadcasts.Progress:
        actor = await cli_actor(session)
        started = await broadcast_flows.start(
            session=session,
            actor=actor,
            survey_code=survey,
            unit_codes=_units(units),
            today=today(tz),
        )
        return await broadcasts.progress(session=session, broadcast_id=pk(started))

    done = in_transaction(start)
    typer.echo(
        f"broadcast #{done.id} started: {done.survey_code} {done.period}, "
        f"{done.eligible} citizen(s) to invite; the running server queues the invitations"
    )


@app.command("pause")
def broadcast_pause(broadcast_id: IdArg) -> None:
    """Stop queueing invitations (those already queued still go out)."""

    async def pause(session: AsyncSession) -> Broadcast:
        actor = await cli_actor(session)
        return await broadcast_flows.pause(session=session, actor=actor, broadcast_id=broadcast_id)

    paused = in_transaction(pause)
    typer.echo(f"broadcast #{broadcast_id} paused after {paused.queued} invitation(s)")


@app.command("resume")
def broadcast_resume(broadcast_id: IdArg) -> None:
    """Go on with a paused broadcast; nobody already invited by it is invited again."""
    tz = get_settings().tz

    async def resume(session: AsyncSession) -> Broadcast:
        actor = await cli_actor(session)
        return await broadcast_flows.resume(
            session=session, actor=actor, broadcast_id=broadcast_id, today=today(tz)
        )

    resumed = in_transaction(resume)
    typer.echo(f"broadcast #{broadcast_id} running again ({resumed.queued} invitation(s) so far)")


@app.command("status")
def broadcast_status(
    broadcast_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="One broadcast; default: the latest 50")
    ] = None,
) -> None:
    """Progress: eligible, queued, remaining, status (counts only)."""

    async def read(session: AsyncSession) -> list[broadcasts.Progress]:
        await reading_actor(session)
        if broadcast_id is not None:
            return [await broadcasts.progress(session=session, broadcast_id=broadcast_id)]
        return await broadcasts.list_progress(session=session)

    rows = in_transaction(read)
    if not rows:
        typer.echo("no broadcasts yet; start one with `minyi broadcast start --survey CODE`")
    for row in rows:
        typer.echo(_line(row))
