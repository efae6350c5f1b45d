"""The audit log: who did what, when, from which address (sign-ins, case work, exports…).

Entries name staff accounts and tokens, never citizens; details hold ids, not free text.
The flows write it (this module); the audit-log page reads it through
:func:`surveys.accounts.queries.audit_page` and shows each row in staff words
(:mod:`surveys.accounts.audit_log`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor
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
