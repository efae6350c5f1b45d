"""Finished 办件 pushed by service systems, so the citizen can be invited to rate them."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.core.exceptions import DomainError, UnknownUnit
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.haochaping.models import ServiceEvent

LINK_TOKEN = r"^[A-Za-z0-9_-]{8,64}$"


class WrongUnit(DomainError):
    """The token is bound to another unit, or the 办件 is already filed under another unit."""

    key = N_("error.wrong_unit")
    status_code = 403

    def __init__(self, *, unit: str) -> None:
        super().__init__(unit=unit)


class LinkTokenTaken(DomainError):
    key = N_("error.link_token_taken")
    status_code = 409


class ServiceEventIn(BaseModel):
    """One finished 办件 as a service system sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    case_no: str = Field(min_length=1, max_length=64)  # 办件编号
    item_code: str = Field(min_length=1, max_length=64)  # 事项编码
    item_name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=32)
    window: str | None = Field(default=None, max_length=32)
    # Accepted so existing payloads pass, never stored: minyi keeps nothing about staff
    # (PIPL §6, collect the minimum).
    staff: str | None = Field(default=None, max_length=64, exclude=True)
    channel: int = Field(ge=1, le=7)  # GB/T 39046 pf code
    finished_at: datetime
    link_token: str = Field(pattern=LINK_TOKEN)

    @field_validator("finished_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "finished_at needs a time zone offset, e.g. 2026-11-23T10:00:00+08:00"
            )
        return value


async def get_event(*, session: AsyncSession, case_no: str) -> ServiceEvent | None:
    """The 办件 of that 办件编号, if pushed."""
    statement = select(ServiceEvent).where(ServiceEvent.case_no == case_no)
    return (await session.exec(statement)).first()


async def get_event_by_link_token(
    *, session: AsyncSession, link_token: str
) -> ServiceEvent | None:
    """The 办件 a receipt or SMS deep link points to, if any."""
    statement = select(ServiceEvent).where(ServiceEvent.link_token == link_token)
    return (await session.exec(statement)).first()


async def _unit(session: AsyncSession, code: str) -> Unit:
    unit = (await session.exec(select(Unit).where(Unit.code == code))).first()
    if unit is None or not unit.active:
        raise UnknownUnit(code=code)
    return unit


async def receive_event(
    *, session: AsyncSession, item: ServiceEventIn, actor: Actor
) -> tuple[ServiceEvent, bool]:
    """Store a finished 办件 once per 办件编号; returns the event and whether it is new."""
    actor.require(Perm.push)
    unit = await _unit(session, item.unit)
    if not actor.sees(unit.id):
        raise WrongUnit(unit=item.unit)
    existing = await get_event(session=session, case_no=item.case_no)
    if existing is not None:
        # A retry returns the stored event, but never one filed under another unit.
        if existing.unit_id != unit.id:
            raise WrongUnit(unit=item.unit)
        return existing, False
    if await get_event_by_link_token(session=session, link_token=item.link_token) is not None:
        raise LinkTokenTaken()
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
    session.add(event)
    await session.flush()
    return event, True
