"""Broadcasts of survey invitations: start, pause, resume. City-wide, so admin only (manage).

Each flow calls :mod:`surveys.delivery.broadcasts` and writes one audit row named after the
flow: the broadcast, its survey and period, the units by code; never a citizen or a chat id.
The invitations themselves are queued later by the sender's step, not by these flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core.models import pk, utcnow
from surveys.delivery import broadcasts
from surveys.delivery.broadcast_models import Broadcast
from surveys.flows.registry import Adapter, flow

CLI_ONLY = frozenset({Adapter.cli})


def _target(broadcast: Broadcast) -> str:
    return f"broadcast:{pk(broadcast)}"


@flow("broadcast.start", perm=Perm.manage, adapters=CLI_ONLY)
async def start(
    *,
    session: AsyncSession,
    actor: Actor,
    survey_code: str,
    unit_codes: Sequence[str] = (),
    today: date,
    now: datetime | None = None,
) -> Broadcast:
    """Start inviting the consenting linked citizens who have not answered ``survey_code``
    (only those known at ``unit_codes``, when given)."""
    broadcast = await broadcasts.start(
        session=session,
        survey_code=survey_code,
        unit_codes=unit_codes,
        created_by=audit.actor_label(actor),
        today=today,
        now=now or utcnow(),
    )
    codes = list(dict.fromkeys(c.strip() for c in unit_codes if c.strip()))
    await audit.record(
        session=session,
        actor=actor,
        action="broadcast.start",
        target=_target(broadcast),
        survey=broadcast.survey_code,
        period=broadcast.period,
        units=codes,
    )
    return broadcast


@flow("broadcast.pause", perm=Perm.manage, adapters=CLI_ONLY)
async def pause(*, session: AsyncSession, actor: Actor, broadcast_id: int) -> Broadcast:
    """Stop queueing further invitations of a broadcast until it is resumed."""
    broadcast = await broadcasts.pause(session=session, broadcast_id=broadcast_id)
    await audit.record(
        session=session,
        actor=actor,
        action="broadcast.pause",
        target=_target(broadcast),
        survey=broadcast.survey_code,
        queued=broadcast.queued,
    )
    return broadcast


@flow("broadcast.resume", perm=Perm.manage, adapters=CLI_ONLY)
async def resume(
    *, session: AsyncSession, actor: Actor, broadcast_id: int, today: date
) -> Broadcast:
    """Go on with a paused broadcast; nobody it already invited is invited again."""
    broadcast = await broadcasts.resume(session=session, broadcast_id=broadcast_id, today=today)
    await audit.record(
        session=session,
        actor=actor,
        action="broadcast.resume",
        target=_target(broadcast),
        survey=broadcast.survey_code,
        queued=broadcast.queued,
    )
    return broadcast
