"""Leases: one worker at a time runs each scheduled job, whichever process that is.

A worker holds a job's lease until ``until`` and renews it while it runs; when it dies, the
lease lapses and another worker takes the job over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.sql import insert_ignore
from surveys.delivery.models import JobLease


async def acquire(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease on ``name`` for ``holder``; False while another holds it."""
    if await insert_ignore(session, JobLease, name=name, holder=holder, until=now + ttl):
        return True
    result = await session.exec(
        update(JobLease)
        .where(
            col(JobLease.name) == name,
            sa.or_(col(JobLease.holder) == holder, col(JobLease.until) < now),
        )
        .values(holder=holder, until=now + ttl)
        .execution_options(preserve_rowcount=True)
    )
    return bool(result.rowcount)


async def release(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give the lease up at shutdown, so another worker need not wait for it to lapse."""
    await session.exec(
        sa.delete(JobLease).where(col(JobLease.name) == name, col(JobLease.holder) == holder)
    )
