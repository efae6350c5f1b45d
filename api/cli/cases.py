"""``minyi case …``: 差评 follow-up cases (domain.md §3).

What is shown comes from the case queries (masked there); a move, a reply, 督办, 承办人 and
saved views are the case flows, run as the acting account (``minyi --as NAME``), which
check, act and audit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from api.cli import case_closing
from api.cli.common import (
    SERVER_READER,
    acting,
    cli_actor,
    fail,
    in_transaction,
    reading_actor,
)
from surveys.accounts.access import Actor
from surveys.cases import exceptions as refusals
from surveys.cases import queries, views
from surveys.cases.models import CaseState
from surveys.core.clock import today
from surveys.core.db import AsyncSession
from surveys.core.exceptions import UnknownUnit
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.flows import cases as case_flows

app = typer.Typer(help="差评 follow-up cases (domain.md §3).", no_args_is_help=True)
LIST_PAGE = 500


def _state(text: str) -> CaseState:  # noqa: RET503 (fail exits)
    """A case state by its Chinese name (核实中) or its code (verifying)."""
    found = case_flows.parse_state(text)
    if found is not None:
        return found
    names = ", ".join(f"{s.value} ({s.name})" for s in CaseState)
    fail(f"unknown case state {text!r}: use one of {names}")


def _case_line(row: queries.QueueRow) -> str:
    overdue = "OVERDUE" if row.overdue else "on time"
    escalated = "\tescalated" if row.escalated else ""
    left = "-" if row.days_left is None else str(row.days_left)
    return (
        f"#{row.id}\t{row.unit_code}\t{row.state_label}\t{row.reference}\t"
        f"assignee {row.assignee or '-'}\tcontact by {row.contact_due}\t"
        f"rectify by {row.rectify_due}\tdays left {left}\t{overdue}{escalated}"
    )


@app.command("list")
def case_list(
    unit: Annotated[str | None, typer.Option(help="Only this unit's cases")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only cases in this state, e.g. 待核实")
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only cases past their deadline")] = False,
    search: Annotated[
        str | None,
        typer.Option("--search", "-q", help="办件编号, case number, 事项 or the citizen's text"),
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Only this 承办人's cases: a username, me, or none")
    ] = None,
) -> None:
    """Cases: id, unit, state, masked citizen reference, 承办人, deadlines, working days left
    (negative when overdue), overdue or not."""
    if search is not None and len(search) > refusals.SEARCH_MAX:
        fail(f"--search takes at most {refusals.SEARCH_MAX} characters")
    filters = queries.QueueFilters(
        unit_code=unit,
        state=_state(state) if state is not None else None,
        overdue=True if overdue else None,
        limit=LIST_PAGE,
        q=search or None,
        assignee=assignee or None,
    )
    day = today(get_settings().tz)

    async def rows(session: AsyncSession) -> list[str]:
        actor = await reading_actor(session) or SERVER_READER
        lines: list[str] = []
        while True:
            page = await queries.case_queue(
                session, actor, replace(filters, offset=len(lines)), day
            )
            if page.unknown_unit:  # none of the actor's units: as if it did not exist
                raise UnknownUnit(code=str(unit))
            if page.unknown_assignee:
                fail(f"no account {assignee!r} (me needs --as NAME)")
            lines.extend(_case_line(row) for row in page.rows)
            if not page.rows or len(lines) >= page.total:
                return lines

    lines = in_transaction(rows)
    if not lines:
        typer.echo("no cases")
    for line in lines:
        typer.echo(line)


def _event_line(event: queries.TimelineRow) -> str:
    move = f"{event.from_state or ''}→{event.to_state}" if event.to_state else ""
    delivered = ""
    if event.kind == "reply":
        delivered = (
            f" (delivered {event.delivered_at})" if event.delivered_at else " (not yet delivered)"
        )
    note = f"\t{event.note}" if event.note else ""
    return f"  {event.at or '-'}\t{event.actor}\t{event.kind}{delivered}\t{move}{note}"


def _detail_lines(case: queries.CaseDetail) -> list[str]:
    lines = [
        f"case #{case.id}\t{case.state_label}\t{case.reference}",
        f"unit: {case.unit_code} {case.unit_name}" if case.unit_code else f"unit: #{case.unit_id}",
        f"办件编号: {case.case_no or '-'}\tconsent to contact: {'yes' if case.consent else 'no'}",
        f"assignee: {case.assignee or '-'}",
        f"opened: {case.opened_at or '-'}",
        f"contact by: {case.contact_due}\trectify by: {case.rectify_due}\t"
        + ("OVERDUE" if case.overdue else "on time"),
    ]
    if case.escalated_at:
        lines.append(f"escalated: {case.escalated_at}")
    if case.closed_at:
        lines.append(f"closed: {case.closed_at}")
    if case.rerating:
        lines.append(f"re-rating: {case.rerating}")
    if case.level is not None:
        window = f"window {case.window_code}" if case.window_code else None
        what = " ".join(part for part in (case.item or case.item_code, window) if part)
        lines.append(
            f"rating: {case.level}\tchannel {case.channel}\t{case.rated_at or '-'}"
            + (f"\t{what}" if what else "")
        )
        if case.reasons:
            lines.append(f"reasons: {'、'.join(case.reasons)}")
        if case.comment:
            lines.append(f"comment: {case.comment}")  # masked by the query
    lines.append(f"next: {' / '.join(s.value for s in case.next_states) or '-'}")
    lines.append("timeline:")
    lines.extend(_event_line(event) for event in case.events)
    return lines


@app.command("show")
def case_show(case_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """A case's details and timeline (the citizen only by a masked reference)."""
    tz = get_settings().tz

    async def details(session: AsyncSession) -> list[str]:
        actor = await reading_actor(session) or SERVER_READER
        return _detail_lines(await queries.case_detail(session, actor, case_id, tz))

    for line in in_transaction(details):
        typer.echo(line)


@app.command("move")
def case_move(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    state: Annotated[str, typer.Argument(metavar="STATE", help="e.g. 核实中 or verifying")],
    note: Annotated[
        str | None, typer.Option(help="Required for 已反馈 (its 反馈), 不属实 and 申诉中")
    ] = None,
) -> None:
    """Move a case to its next state as the acting account, recording when and the note."""

    async def move(session: AsyncSession) -> str:
        done = await case_flows.transition(
            session=session, actor=await cli_actor(session), case_id=case_id, to=state, note=note
        )
        return f"case #{case_id}: {done.event.from_state} → {done.event.to_state}"

    typer.echo(in_transaction(move))


@app.command("reply")
def case_reply(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT")],
) -> None:
    """Reply to the citizen of a case; the bot relays it without showing who they are."""

    async def reply(session: AsyncSession) -> None:
        await case_flows.reply(
            session=session, actor=await cli_actor(session), case_id=case_id, text=text
        )

    in_transaction(reply)
    typer.echo(f"case #{case_id}: reply stored; the bot relays it to the citizen")


@app.command("escalate")
def case_escalate() -> None:
    """Mark newly overdue cases 督办 (once per case) and list them."""
    day = today(get_settings().tz)

    async def escalate(session: AsyncSession) -> list[str]:
        actor = await cli_actor(session)
        done = await case_flows.escalate(session=session, actor=actor, today=day, now=utcnow())
        rows = await queries.case_rows(session, actor, [case.id for case in done if case.id], day)
        return [_case_line(row) for row in rows]

    lines = in_transaction(escalate)
    typer.echo(f"{len(lines)} overdue case(s) escalated on {day}")
    for line in lines:
        typer.echo(line)


def _bulk_lines(result: case_flows.BulkResult, did: str) -> list[str]:
    t = Translator()
    lines = [f"{len(result.done)} case(s) {did}: {' '.join(f'#{i}' for i in result.done) or '-'}"]
    lines.extend(f"#{case_id} refused: {t(e.key, **e.params)}" for case_id, e in result.refused)
    return lines


@app.command("assign")
def case_assign(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    assignee: Annotated[str, typer.Argument(metavar="USER", help="a staff member of the unit")],
    reason: Annotated[str | None, typer.Option(help="Required when reassigning")] = None,
) -> None:
    """Make USER the case's 承办人 (supervisors and administrators)."""

    async def run(session: AsyncSession, actor: Actor) -> None:
        await case_flows.assign(
            session=session, actor=actor, case_id=case_id, assignee=assignee, reason=reason
        )

    acting(run)
    typer.echo(f"case #{case_id}: assigned to {assignee}")


@app.command("claim")
def case_claim(case_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Take an unassigned case of your unit (认领) as the acting account."""

    async def run(session: AsyncSession, actor: Actor) -> None:
        await case_flows.claim(session=session, actor=actor, case_id=case_id)

    acting(run)
    typer.echo(f"case #{case_id}: claimed")


@app.command("bulk-assign")
def case_bulk_assign(
    case_ids: Annotated[list[int], typer.Argument(metavar="ID...")],
    to: Annotated[str, typer.Option("--to", metavar="USER", help="the new 承办人")],
    reason: Annotated[str | None, typer.Option(help="Required for cases already assigned")] = None,
) -> None:
    """Assign several cases to USER; each is checked alone and refusals are listed."""

    async def run(session: AsyncSession, actor: Actor) -> case_flows.BulkResult:
        return await case_flows.bulk_assign(
            session=session, actor=actor, case_ids=case_ids, assignee=to, reason=reason
        )

    for line in _bulk_lines(acting(run), f"assigned to {to}"):
        typer.echo(line)


@app.command("bulk-escalate")
def case_bulk_escalate(
    case_ids: Annotated[list[int], typer.Argument(metavar="ID...")],
    note: Annotated[str | None, typer.Option(help="The 督办 opinion")] = None,
) -> None:
    """督办 of several cases (supervisors); each is checked alone and refusals are listed."""

    async def run(session: AsyncSession, actor: Actor) -> case_flows.BulkResult:
        return await case_flows.bulk_escalate(
            session=session, actor=actor, case_ids=case_ids, note=note
        )

    for line in _bulk_lines(acting(run), "escalated"):
        typer.echo(line)


view_app = typer.Typer(help="Saved queue views of the acting account.", no_args_is_help=True)
app.add_typer(view_app, name="view")


@view_app.command("save")
def view_save(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    query: Annotated[str, typer.Argument(metavar="QUERY", help="e.g. 'state=整改中&assignee=me'")],
) -> None:
    """Save a queue filter (the console's query string) under NAME."""

    async def run(session: AsyncSession, actor: Actor) -> str:
        view = await case_flows.view_save(session=session, actor=actor, name=name, query=query)
        return f"view {view.name!r} saved: {view.query}"

    typer.echo(acting(run))


@view_app.command("delete")
def view_delete(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Delete one of your saved views."""

    async def run(session: AsyncSession, actor: Actor) -> None:
        await case_flows.view_delete(session=session, actor=actor, name=name)

    acting(run)
    typer.echo(f"view {name!r} deleted")


@view_app.command("list")
def view_list() -> None:
    """Your saved views: name and filter."""

    async def run(session: AsyncSession, actor: Actor) -> list[str]:
        found = await views.list_views(session=session, actor=actor)
        return [f"{v.name}\t{v.query}" for v in found]

    lines = acting(run)
    typer.echo("\n".join(lines) if lines else "no views")


case_closing.register(app)  # 结案 and closing without 复评
