"""The ``minyi`` command line: serve, migrate, load units and surveys."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar
from xml.sax.saxutils import escape

import segno
import typer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.cli_common import _fail, _in_transaction, _parse, _refuse
from scoring.demo import survey as demo
from surveys.accounts import accounts, staff, tokens, units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core import migrate
from surveys.core.clock import today
from surveys.core.exceptions import DomainError
from surveys.core.models import utcnow
from surveys.core.settings import Settings, get_settings
from surveys.haochaping import feedback
from surveys.haochaping.models import Rating
from surveys.questionnaire import catalog, conversation, links, respondents
from surveys.questionnaire.definitions import parse_definition

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
staff_app = typer.Typer(
    help="Staff of the units and their bot notifications.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")
app.add_typer(import_app, name="import")
app.add_typer(token_app, name="token")
app.add_typer(demo_app, name="demo")
app.add_typer(privacy_app, name="privacy")
case_app = typer.Typer(help="差评 follow-up cases (domain.md §3).", no_args_is_help=True)
calendar_app = typer.Typer(
    help="Working-day overrides from State Council notices (domain.md §4).", no_args_is_help=True
)
app.add_typer(case_app, name="case")
app.add_typer(calendar_app, name="calendar")

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


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


@demo_app.command("activity")
def demo_activity() -> None:
    """Demo ratings, answers, monitoring imports and 差评 cases for both halves of the demo
    year, and a first console account ``admin`` (safe to rerun; after ``demo load``)."""
    settings = get_settings()
    from scoring.demo import activity as demo_scores

    loaded = _in_transaction(
        lambda s: demo_scores.load(
            session=s,
            today=today(settings.tz),
            now=utcnow(),
            tz=settings.tz,
            policy=workdays.policy_from(settings),
        )
    )
    typer.echo(
        f"demo activity: {loaded.ratings} ratings, {loaded.responses} survey responses, "
        f"{loaded.imports} monitoring imports, {loaded.cases} 差评 cases added"
    )
    password = _in_transaction(lambda s: accounts.first_admin(session=s, username="admin"))
    if password:
        typer.echo(
            "console account 'admin' created; sign in at /console with this one-time "
            f"password (shown only now):\n{password}"
        )


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
            policy=workdays.policy_from(settings),
        )
    )
    result = received.result
    typer.echo(
        f"{len(result.created)} rating(s) imported, {len(result.duplicates)} already imported "
        f"(skipped), {len(received.opened)} 差评 follow-up case(s) opened"
    )


# 好差评 window posters -------------------------------------------------------------------

POSTER_CAPTION = "扫码评价本窗口服务（好差评）"
POSTER_FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")


@dataclass(frozen=True)
class Poster:
    unit_code: str
    unit_name: str
    window: str
    item: str | None
    url: str


def poster_svg(poster: Poster, qr: segno.QRCode) -> str:
    """A printable A-series-shaped SVG: unit name, the QR code, the caption and the link."""
    scale, border, width, top = 10, 4, 640, 150
    side, _ = qr.symbol_size(scale=scale, border=border)
    height = top + side + 170
    code = qr.svg_inline(scale=scale, border=border, dark="#000", light="#fff")
    code = code.replace("<svg ", f'<svg x="{(width - side) // 2}" y="{top}" ', 1)
    window = f"窗口 {poster.window}" + (f" · 事项 {poster.item}" if poster.item else "")
    lines = [
        (60, 34, "bold", poster.unit_name),
        (110, 26, "normal", window),
        (top + side + 60, 30, "bold", POSTER_CAPTION),
        (top + side + 105, 16, "normal", "非常满意 · 满意 · 基本满意 · 不满意 · 非常不满意"),
        (top + side + 145, 12, "normal", poster.url),
    ]
    texts = "\n".join(
        f'  <text x="{width // 2}" y="{y}" font-size="{size}" font-weight="{weight}" '
        f'text-anchor="middle">{escape(text)}</text>'
        for y, size, weight, text in lines
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{POSTER_FONT}">\n'
        f"  <title>{escape(poster.unit_name)} {escape(window)}：{POSTER_CAPTION}</title>\n"
        f'  <rect width="{width}" height="{height}" fill="#fff"/>\n'
        f"  {code}\n{texts}\n</svg>\n"
    )


@app.command("qr")
def qr_poster(
    unit: Annotated[str, typer.Option(help="Unit code (must be loaded)")],
    window: Annotated[str, typer.Option(help="Window code, e.g. A03")],
    item: Annotated[str | None, typer.Option(help="事项 code the window serves")] = None,
    out: Annotated[
        Path | None, typer.Option(help="FILE.svg (full poster) or FILE.png (QR code only)")
    ] = None,
    bot_username: Annotated[
        str | None, typer.Option(envvar="BOT_USERNAME", help="The bot's @username, without @")
    ] = None,
) -> None:
    """Write a window's 好差评 poster: a QR code opening the rating of that window.

    An .svg holds the whole poster (unit name, window, QR code, caption); a .png holds the QR
    code alone, and the caption to print beside it is shown on the terminal.
    """
    try:
        payload = links.window_payload(unit, window, item)
    except ValueError as exc:
        _fail(str(exc))
    if bot_username is None:
        _fail("give --bot-username NAME (or set BOT_USERNAME): the QR code holds the bot's link")
    name = bot_username.removeprefix("@")
    if not BOT_USERNAME.match(name):
        _fail(f"{bot_username!r} is not a Telegram username (5-32 of A-Z, a-z, 0-9 and '_')")
    target = out or Path(f"qr-{unit}-{window}" + (f"-{item}" if item else "") + ".svg")
    kind = target.suffix.lower().lstrip(".")
    if kind not in ("svg", "png"):
        _fail(f"{target}: write a .svg poster or a .png QR code")
    found = _in_transaction(lambda s: units.get_unit_or_raise(session=s, code=unit))
    poster = Poster(unit, found.name, window, item, f"https://t.me/{name}?start={payload}")
    qr = segno.make_qr(poster.url, error="m")
    if kind == "svg":
        target.write_text(poster_svg(poster, qr), "utf-8")
    else:
        qr.save(str(target), kind="png", scale=10, border=4)
    typer.echo(f"{target}: {poster.url}")
    if kind == "png":
        typer.echo(f"print beside the code: {found.name} 窗口 {window}  {POSTER_CAPTION}")


# 差评 follow-up cases --------------------------------------------------------------------


class Role(StrEnum):
    staff = "staff"
    supervisor = "supervisor"
    admin = "admin"


ActorOption = Annotated[str, typer.Option(help="Your staff username, recorded on the case")]


def _state(text: str) -> CaseState:  # noqa: RET503 (_fail exits)
    """A case state by its Chinese name (核实中) or its code (verifying)."""
    for state in CaseState:
        if text in (state.value, state.name):
            return state
    names = ", ".join(f"{s.value} ({s.name})" for s in CaseState)
    _fail(f"unknown case state {text!r}: use one of {names}")


def _actor(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or name in (cases.SYSTEM, cases.CITIZEN):
        _fail(f"--actor must be your staff username (1-64 characters), got {name!r}")
    return name


async def _case(session: AsyncSession, case_id: int) -> FollowUpCase:
    case = await session.get(FollowUpCase, case_id)
    if case is None:
        _fail(f"no case #{case_id}; `minyi case list` shows them")
    return case


def _local(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(get_settings().tz):%Y-%m-%d %H:%M}"


def _case_line(case: FollowUpCase, unit: Unit, day: date) -> str:
    overdue = "OVERDUE" if cases.is_overdue(case, day) else "on time"
    escalated = "\tescalated" if case.escalated_at is not None else ""
    return (
        f"#{case.id}\t{unit.code}\t{CaseState(case.state).value}\t"
        f"{cases.masked_reference(case)}\tcontact by {case.contact_due}\t"
        f"rectify by {case.rectify_due}\t{overdue}{escalated}"
    )


@case_app.command("list")
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
        statement = select(FollowUpCase, Unit).join(
            Unit, col(FollowUpCase.unit_id) == col(Unit.id)
        )
        if unit is not None:
            found = await units.get_unit_or_raise(session=session, code=unit)
            statement = statement.where(FollowUpCase.unit_id == found.id)
        if wanted is not None:
            statement = statement.where(FollowUpCase.state == wanted.value)
        found_rows = (await session.exec(statement.order_by(col(FollowUpCase.id)))).all()
        return [
            _case_line(case, row_unit, day)
            for case, row_unit in found_rows
            if not overdue or cases.is_overdue(case, day)
        ]

    lines = _in_transaction(rows)
    if not lines:
        typer.echo("no cases")
    for line in lines:
        typer.echo(line)


def _event_line(event: CaseEvent) -> str:
    move = f"{event.from_state or ''}→{event.to_state}" if event.to_state else ""
    delivered = ""
    if event.kind == "reply":
        delivered = f" (delivered {_local(event.delivered_at)})" if event.delivered_at else ""
        delivered = delivered or " (not yet delivered)"
    note = f"\t{event.note}" if event.note else ""
    return f"  {_local(event.at)}\t{event.actor}\t{event.kind}{delivered}\t{move}{note}"


@case_app.command("show")
def case_show(case_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """A case's details and timeline (the citizen only by a masked reference)."""
    day = today(get_settings().tz)

    async def details(session: AsyncSession) -> list[str]:
        case = await _case(session, case_id)
        unit = await session.get(Unit, case.unit_id)
        rating = await session.get(Rating, case.rating_id)
        events = await cases.timeline(session=session, case=case)
        lines = [
            f"case #{case.id}\t{CaseState(case.state).value}\t{cases.masked_reference(case)}",
            f"unit: {unit.code} {unit.name}" if unit else f"unit: #{case.unit_id}",
            f"opened: {_local(case.opened_at)}",
            f"contact by: {case.contact_due}\trectify by: {case.rectify_due}\t"
            + ("OVERDUE" if cases.is_overdue(case, day) else "on time"),
        ]
        if case.escalated_at is not None:
            lines.append(f"escalated: {_local(case.escalated_at)}")
        if case.closed_at is not None:
            lines.append(f"closed: {_local(case.closed_at)}")
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
            lines.append(
                f"rating: {rating.level}\tchannel {rating.channel}\t{_local(rating.rated_at)}"
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
        lines.extend(_event_line(event) for event in events)
        return lines

    for line in _in_transaction(details):
        typer.echo(line)


@case_app.command("move")
def case_move(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    state: Annotated[str, typer.Argument(metavar="STATE", help="e.g. 核实中 or verifying")],
    actor: ActorOption,
    role: Annotated[Role, typer.Option(help="Appeal decisions need supervisor or admin")],
    note: Annotated[str | None, typer.Option(help="Required for 不属实 and 申诉中")] = None,
) -> None:
    """Move a case to its next state, recording who, when and the note."""
    to, name = _state(state), _actor(actor)

    async def move(session: AsyncSession) -> str:
        case = await _case(session, case_id)
        frm = CaseState(case.state).value
        await cases.transition(
            session=session, case=case, to=to, actor=name, actor_role=role.value, note=note
        )
        return f"case #{case_id}: {frm} → {to.value}"

    typer.echo(_in_transaction(move))


@case_app.command("reply")
def case_reply(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT")],
    actor: ActorOption,
) -> None:
    """Reply to the citizen of a case; the bot relays it without showing who they are."""
    name = _actor(actor)

    async def reply(session: AsyncSession) -> None:
        await cases.add_reply(
            session=session, case=await _case(session, case_id), actor=name, text=text
        )

    _in_transaction(reply)
    typer.echo(f"case #{case_id}: reply stored; the bot relays it to the citizen")


@case_app.command("escalate")
def case_escalate() -> None:
    """Mark newly overdue cases 督办 (once per case) and list them."""
    settings = get_settings()
    day = today(settings.tz)

    async def escalate(session: AsyncSession) -> list[str]:
        done = await cases.escalate_overdue(session=session, today=day, now=utcnow())
        found = {u.id: u for u in (await session.exec(select(Unit))).all()}
        return [_case_line(case, found[case.unit_id], day) for case in done]

    lines = _in_transaction(escalate)
    typer.echo(f"{len(lines)} overdue case(s) escalated on {day}")
    for line in lines:
        typer.echo(line)


# Working-day calendar --------------------------------------------------------------------

WEEKDAYS = "一二三四五六日"


@calendar_app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")],
    workday: Annotated[
        bool, typer.Option("--workday/--holiday", help="上班 (incl. 调休) or 休息 (法定节假日)")
    ],
    source: Annotated[str, typer.Option(help="The notice, e.g. 国办发明电〔2026〕N号")],
) -> None:
    """Set whether DATE is a working day, replacing an earlier setting of that day."""
    try:
        plain = date.fromisoformat(day)
    except ValueError:
        _fail(f"DATE must look like 2027-01-01, got {day!r}")

    async def store(session: AsyncSession) -> None:
        await workdays.set_override(session=session, day=plain, workday=workday, source=source)

    try:
        _in_transaction(store)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"{plain} 周{WEEKDAYS[plain.weekday()]}: {'上班' if workday else '休息'}")
    if not workdays.WorkCalendar().covers(plain.year):
        typer.echo(
            f"note: chinesecalendar has no {plain.year}; with an override in it, every other "
            f"day of {plain.year} counts Monday-Friday, so enter every day the notice names"
        )


@calendar_app.command("list")
def calendar_list(year: Annotated[int | None, typer.Option(help="Only this year")] = None) -> None:
    """Stored overrides by day: date, weekday, 上班/休息, source."""
    rows = _in_transaction(lambda s: workdays.list_overrides(session=s, year=year))
    if not rows:
        typer.echo("no overrides")
    for row in rows:
        kind = "上班" if row.workday else "休息"
        typer.echo(f"{row.day}\t周{WEEKDAYS[row.day.weekday()]}\t{kind}\t{row.source}")


@staff_app.command("add")
def staff_add(
    username: str,
    role: Annotated[StaffRole, typer.Option(help="admin|supervisor|staff|viewer")],
    unit: Annotated[list[str] | None, typer.Option(help="Unit code (repeat for several)")] = None,
) -> None:
    """Add a staff member serving the given units."""
    _in_transaction(
        lambda s: staff.add_staff(session=s, username=username, role=role, unit_codes=unit or [])
    )
    typer.echo(f"staff {username!r} ({role.value}) added")


@staff_app.command("link-code")
def staff_link_code(username: str) -> None:
    """Print a one-time code; the staff member sends `/link CODE` to the bot (15 minutes)."""
    code = _in_transaction(
        lambda s: staff.issue_link_code(session=s, username=username, now=utcnow())
    )
    typer.echo(f"send this to the bot within 15 minutes:  /link {code}")


@app.command()
def serve() -> None:
    """Run the API and, when BOT_TOKEN is set, the Telegram bot in the same process."""
    from api.server import serve as run

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(settings))


def main() -> None:
    app()


def settings_for_cli() -> Settings:
    return get_settings()


def _register_extensions() -> None:
    # Scoring commands live beside their own package's adapter code.
    from api import cli_scoring

    cli_scoring.register(app=app, import_app=import_app)
    from api import cli_accounts

    cli_accounts.register(app=app, token_app=token_app)


_register_extensions()
