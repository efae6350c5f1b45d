"""The integrations' writes: 办件 events and rating batches pushed over the API.

Each push is one flow (see :mod:`surveys.flows.registry`): the token's permission is
checked, the services store what is good, and one audit row per request records counts,
never the rows themselves (no comments, no citizens).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.core.models import pk
from surveys.flows.registry import Adapter, flow
from surveys.haochaping import feedback, service_events
from surveys.haochaping.models import RatingSource, ServiceEvent

API_ONLY = frozenset({Adapter.api})


@flow("service_event.push", perm=Perm.push, adapters=API_ONLY)
async def push_service_event(
    *, session: AsyncSession, actor: Actor, item: service_events.ServiceEventIn
) -> tuple[ServiceEvent, bool]:
    """Store a finished 办件 once per unit and 办件编号; the event and whether it is new."""
    event, created = await service_events.receive_event(session=session, item=item, actor=actor)
    await audit.record(
        session=session,
        actor=actor,
        action="service_event.push",
        target=event.case_no,
        event_id=pk(event),
        created=created,
    )
    return event, created


@flow("ratings.push", perm=Perm.push, adapters=API_ONLY)
async def push_ratings(
    *,
    session: AsyncSession,
    actor: Actor,
    rows: Sequence[dict[str, object]],
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    policy: workdays.DeadlinePolicy,
) -> feedback.Received:
    """Store one rating or a batch: bad rows are reported by index, good rows are kept."""
    received = await feedback.receive_ratings(
        session=session, rows=rows, source=RatingSource.api, actor=actor, tz=tz, now=now,
        grace_days=grace_days, policy=policy,
    )  # fmt: skip
    result = received.result
    await audit.record(
        session=session,
        actor=actor,
        action="ratings.push",
        rows=len(rows),
        created=len(result.created),
        duplicates=len(result.duplicates),
        refused=len({error.row for error in result.errors}),
        cases_opened=len(received.opened),
    )
    return received
