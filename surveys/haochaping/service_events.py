"""Finished 办件 pushed by service systems, so the citizen can be invited to rate them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.core.exceptions import DomainError, UnknownUnit
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.haochaping.models import ServiceEvent
from surveys.questionnaire.links import EVENT_PREFIX, LINK_TOKEN_MAX, MAX_PAYLOAD

LINK_TOKEN_MIN = 8
LINK_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class LinkTokenTaken(DomainError):
    """The link token is on another 办件 (of this unit or another: the answer never says)."""

    key = N_("error.link_token_taken")
    status_code = 409


class ServiceEventIn(BaseModel):
    """One finished 办件 as a service system sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    case_no: str = Field(min_length=1, max_length=64)  # 办件编号
    item_code: str = Field(min_length=1, max_length=64)  # 事项编码
    item_name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=32)
    window: str | None = Field(default=None, min_length=1, max_length=32)  # stripped first
    # Accepted so existing payloads pass, never stored: minyi keeps nothing about staff
    # (PIPL §6, collect the minimum).
    staff: str | None = Field(default=None, max_length=64, exclude=True)
    channel: int = Field(ge=1, le=7)  # GB/T 39046 pf code
    finished_at: datetime
    # The citizen opens t.me/<bot>?start=r_<link_token>: Telegram's 64 characters at most.
    link_token: str = Field(
        description="the receipt's link: t.me/<bot>?start=r_<link_token>",
        json_schema_extra={
            "minLength": LINK_TOKEN_MIN,
            "maxLength": LINK_TOKEN_MAX,
            "pattern": LINK_TOKEN.pattern,
        },
    )

    @field_validator("link_token")
    @classmethod
    def _fits_a_deep_link(cls, value: str) -> str:
        if not LINK_TOKEN_MIN <= len(value) <= LINK_TOKEN_MAX or not LINK_TOKEN.match(value):
            raise ValueError(
                f"link_token must be {LINK_TOKEN_MIN}-{LINK_TOKEN_MAX} characters of A-Z, a-z, "
                f"0-9, '_' and '-' (got {len(value)}): the receipt's deep link "
                f"{EVENT_PREFIX}<link_token> must fit Telegram's {MAX_PAYLOAD} characters"
            )
        return value

    @field_validator("finished_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "finished_at needs a time zone offset, e.g. 2026-11-23T10:00:00+08:00"
            )
        return value


async def get_event(*, session: AsyncSession, unit_id: int, case_no: str) -> ServiceEvent | None:
    """The unit's 办件 of that 办件编号, if pushed (办件编号 are unique per unit)."""
    statement = select(ServiceEvent).where(
        ServiceEvent.unit_id == unit_id, ServiceEvent.case_no == case_no
    )
    return (await session.exec(statement)).first()


async def get_event_by_link_token(
    *, session: AsyncSession, link_token: str
) -> ServiceEvent | None:
    """The 办件 a receipt or SMS deep link points to, if any."""
    statement = select(ServiceEvent).where(ServiceEvent.link_token == link_token)
    return (await session.exec(statement)).first()


async def _unit(session: AsyncSession, code: str, actor: Actor) -> Unit:
    # A unit the token may not push for is answered as one that does not exist.
    unit = (await session.exec(select(Unit).where(Unit.code == code))).first()
    if unit is None or not unit.active or not actor.sees(unit.id):
        raise UnknownUnit(code=code)
    return unit


async def receive_event(
    *, session: AsyncSession, item: ServiceEventIn, actor: Actor
) -> tuple[ServiceEvent, bool]:
    """Store a finished 办件 once per unit and 办件编号; the event and whether it is new.

    Another unit's 办件 of the same 办件编号 is no clash: this unit gets its own. Two pushes
    of one new 办件 at the same moment store it once: the one that loses the insert answers
    as a repeat push does (the stored event, not new).
    """
    actor.require(Perm.push)
    unit = await _unit(session, item.unit, actor)
    existing = await _stored(session, unit_id=pk(unit), item=item)
    if existing is not None:
        return existing, False
    event = ServiceEvent(
        case_no=item.case_no,
        item_code=item.item_code,
        item_name=item.item_name,
        unit_id=pk(unit),
        window_code=item.window,
        channel=item.channel,
        finished_at=item.finished_at.astimezone(UTC),
        link_token=item.link_token,
        token_id=actor.token_id,
    )
    try:
        # Another push may have stored the same 办件 (or link token) since the checks
        # above (on PostgreSQL the insert waits for that transaction to end): only this
        # insert is undone, and the other push's row answers.
        async with session.begin_nested():
            session.add(event)
    except IntegrityError:
        existing = await _stored(session, unit_id=pk(unit), item=item)
        if existing is not None:
            return existing, False
        raise
    return event, True


async def _stored(
    session: AsyncSession, *, unit_id: int, item: ServiceEventIn
) -> ServiceEvent | None:
    """The unit's stored event of this 办件, or None; :class:`LinkTokenTaken` when the link
    token belongs to another 办件.

    The link token is looked up once and checked against the 办件: on PostgreSQL another
    push of the same 办件 may commit between two lookups, and its token is then no clash.
    """
    existing = await get_event(session=session, unit_id=unit_id, case_no=item.case_no)
    if existing is not None:
        return existing
    holder = await get_event_by_link_token(session=session, link_token=item.link_token)
    if holder is None:
        return None
    if holder.unit_id == unit_id and holder.case_no == item.case_no:
        return holder
    raise LinkTokenTaken()
