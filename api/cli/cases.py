"""``minyi case …``: 差评 follow-up cases (domain.md §3)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli.common import cli_actor, fail, in_transaction, reading_actor
from surveys.accounts import units
from surveys.accounts.access import Actor
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.clock import local_minutes, today
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.haochaping.models import Rating

app = typer.Typer(help="差评 follow-up cases (domain.md §3).", no_args_is_help=True)


def _state(text: str) -> CaseState:  # noqa: RET503 (fail exits)
    """A case state by its Chinese name (核实中) or its code (verifying)."""
    for state in CaseState:
        if text in (state.value, state.name):
            return state
    names = ", ".join(f"{s.value} ({s.name})" for s in CaseState)
    fail(f"unknown case state {text!r}: use one of {names}")


async def _case(session: AsyncSession, case_id: int, actor: Actor | None) -> FollowUpCase:
    """The case, if there is one the actor may see: another unit's case is as if missing."""
    case = await session.get(FollowUpCase, case_id)
    if case is None or (actor is not None and not actor.sees(case.unit_id)):
        fail(f"no case #{case_id}; `minyi case list` shows them")
    return case


def _case_line(case: FollowUpCase, unit: Unit, day: date) -> str:
    overdue = "OVERDUE" if cases.is_overdue(case, day) else "on time"
    escalated = "\tescalated" if case.escalated_at is not None else ""
    return (
        f"#{case.id}\t{unit.code}\t{CaseState(case.state).value}\t"
        f"{cases.masked_reference(case)}\tcontact by {case.contact_due}\t"
        f"rectify by {case.rectify_due}\t{overdue}{escalated}"
    )


@app.command("list")
def case_list(
    unit: Annotated[str | None, typer.Option(help="Only this unit's cases")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only cases in this state, e.g. 待核实")
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only cases past their deadline")] = False,
) -> None:
    """Cases: id, unit, state, masked citizen reference, deadlines, overdue or not."""
    wanted = _state(state) if state is not None else None
    day = today(get_settings().tz)

    async def rows(session: AsyncSession) -> list[str]:
        actor = await reading_actor(session)
        statement = select(FollowUpCase, Unit).join(
            Unit, col(FollowUpCase.unit_id) == col(Unit.id)
        )
        if unit is not None:
            found = await units.get_unit_or_raise(session=session, code=unit)
            if actor is not None:
                actor.require_unit(found.id, unit=unit)
            statement = statement.where(FollowUpCase.unit_id == found.id)
        if actor is not None and actor.units is not None:
            statement = statement.where(col(FollowUpCase.unit_id).in_(actor.units))
        if wanted is not None:
            statement = statement.where(FollowUpCase.state == wanted.value)
        found_rows = (await session.exec(statement.order_by(col(FollowUpCase.id)))).all()
        return [
            _case_line(case, row_unit, day)
            for case, row_unit in found_rows
            if not overdue or cases.is_overdue(case, day)
        ]

    lines = in_transaction(rows)
    if not lines:
        typer.echo("no cases")
    for line in lines:
        typer.echo(line)


def _event_line(event: CaseEvent, tz: ZoneInfo) -> str:
    move = f"{event.from_state or ''}→{event.to_state}" if event.to_state else ""
    delivered = ""
    if event.kind == "reply":
        delivered = (
            f" (delivered {local_minutes(event.delivered_at, tz)})" if event.delivered_at else ""
        )
        delivered = delivered or " (not yet delivered)"
    note = f"\t{event.note}" if event.note else ""
    at = local_minutes(event.at, tz) or "-"
    return f"  {at}\t{event.actor}\t{event.kind}{delivered}\t{move}{note}"


@app.command("show")
def case_show(case_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """A case's details and timeline (the citizen only by a masked reference)."""
    tz = get_settings().tz
    day = today(tz)

    async def details(session: AsyncSession) -> list[str]:
        case = await _case(session, case_id, await reading_actor(session))
        unit = await session.get(Unit, case.unit_id)
        rating = await session.get(Rating, case.rating_id)
        events = await cases.timeline(session=session, case=case)
        lines = [
            f"case #{case.id}\t{CaseState(case.state).value}\t{cases.masked_reference(case)}",
            f"unit: {unit.code} {unit.name}" if unit else f"unit: #{case.unit_id}",
            f"opened: {local_minutes(case.opened_at, tz) or '-'}",
            f"contact by: {case.contact_due}\trectify by: {case.rectify_due}\t"
            + ("OVERDUE" if cases.is_overdue(case, day) else "on time"),
        ]
        if case.escalated_at is not None:
            lines.append(f"escalated: {local_minutes(case.escalated_at, tz) or '-'}")
        if case.closed_at is not None:
            lines.append(f"closed: {local_minutes(case.closed_at, tz) or '-'}")
        if case.rerating:
            lines.append(f"re-rating: {case.rerating}")
        if rating is not None:
            what = " ".join(
                part
                for part in (
                    rating.item_name or rating.item_code,
                    f"window {rating.window_code}" if rating.window_code else None,
                )
                if part
            )
            rated = local_minutes(rating.rated_at, tz) or "-"
            lines.append(
                f"rating: {rating.level}\tchannel {rating.channel}\t{rated}"
                + (f"\t{what}" if what else "")
            )
            if rating.reasons:
                lines.append(f"reasons: {'、'.join(rating.reasons)}")
            if rating.comment:
                lines.append(f"comment: {rating.comment}")
        allowed = cases.TRANSITIONS[CaseState(case.state)] - cases.CITIZEN_MOVES
        next_states = " / ".join(s.value for s in CaseState if s in allowed)
        lines.append(f"next: {next_states or '-'}")
        lines.append("timeline:")
        lines.extend(_event_line(event, tz) for event in events)
        return lines

    for line in in_transaction(details):
        typer.echo(line)


@app.command("move")
def case_move(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    state: Annotated[str, typer.Argument(metavar="STATE", help="e.g. 核实中 or verifying")],
    note: Annotated[str | None, typer.Option(help="Required for 不属实 and 申诉中")] = None,
) -> None:
    """Move a case to its next state as the acting account, recording when and the note."""
    to = _state(state)

    async def move(session: AsyncSession) -> str:
        actor = await cli_actor(session)
        case = await _case(session, case_id, actor)
        frm = CaseState(case.state).value
        await cases.act(session=session, actor=actor, case=case, to=to, note=note)
        return f"case #{case_id}: {frm} → {to.value}"

    typer.echo(in_transaction(move))


@app.command("reply")
def case_reply(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT")],
) -> None:
    """Reply to the citizen of a case; the bot relays it without showing who they are."""

    async def reply(session: AsyncSession) -> None:
        actor = await cli_actor(session)
        case = await _case(session, case_id, actor)
        await cases.reply_as(session=session, actor=actor, case=case, text=text, person=None)

    in_transaction(reply)
    typer.echo(f"case #{case_id}: reply stored; the bot relays it to the citizen")


@app.command("escalate")
def case_escalate() -> None:
    """Mark newly overdue cases 督办 (once per case) and list them."""
    settings = get_settings()
    day = today(settings.tz)

    async def escalate(session: AsyncSession) -> list[str]:
        await cli_actor(session)
        done = await cases.escalate_overdue(session=session, today=day, now=utcnow())
        found = {u.id: u for u in (await session.exec(select(Unit))).all()}
        return [_case_line(case, found[case.unit_id], day) for case in done]

    lines = in_transaction(escalate)
    typer.echo(f"{len(lines)} overdue case(s) escalated on {day}")
    for line in lines:
        typer.echo(line)
