"""The audit log: who did what, when, from which address (sign-ins, case work, exports…).

Entries name staff accounts and tokens, never citizens; details hold ids, not free text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import AuditEvent


def actor_label(actor: Actor) -> str:
    return f"token:{actor.name}" if actor.kind == "token" else actor.name


async def record(
    *,
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: str | None = None,
    now: datetime | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor_label(actor)[:80],
        role=actor.role.value,
        action=action,
        target=target,
        address=(actor.address or None) and actor.address[:64],
        detail=detail,
    )
    if now is not None:
        event.at = now
    session.add(event)
    await session.flush()
    return event


async def record_anonymous(
    *, session: AsyncSession, name: str, action: str, address: str | None, **detail: Any
) -> AuditEvent:
    """An event with no signed-in actor yet, e.g. a failed sign-in."""
    event = AuditEvent(
        actor=name[:80], role="-", action=action, address=address and address[:64], detail=detail
    )
    session.add(event)
    await session.flush()
    return event


async def list_events(
    *,
    session: AsyncSession,
    actor: Actor,
    who: str | None = None,
    action: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """Newest first; the audit log is for administrators."""
    actor.require(Perm.manage)
    statement = select(AuditEvent)
    if who:
        statement = statement.where(AuditEvent.actor == who)
    if action:
        statement = statement.where(col(AuditEvent.action).startswith(action))
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    page = statement.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)
    return list((await session.exec(page)).all()), int(total)
