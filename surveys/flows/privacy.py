"""The flow that deletes personal contact data kept too long, audited.

The daily purge of the running server (``minyi serve``) is the system's own housekeeping,
not a staff action, and calls :func:`surveys.questionnaire.respondents.purge_stale_identities`
itself; a purge someone asks for is this flow.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core.models import utcnow
from surveys.flows.registry import Adapter, flow
from surveys.questionnaire import respondents


@flow("privacy.purge", perm=Perm.manage, adapters=frozenset({Adapter.cli}))
async def purge_identities(
    *, session: AsyncSession, actor: Actor, days: int, now: datetime | None = None
) -> int:
    """Delete the chat ids unused for ``days`` (the answers stay); how many were deleted.

    The audit row holds the count and the retention, never a chat id.
    """
    deleted = await respondents.purge_stale_identities(
        session=session, now=now or utcnow(), days=days
    )
    await audit.record(
        session=session, actor=actor, action="privacy.purge", deleted=deleted, days=days
    )
    return deleted
