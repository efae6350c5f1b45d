"""The outbox: every message to a chat is a row, written in the transaction of the change it
reports, and sent later by the sender in order per chat.

A handler or job queues with :func:`enqueue`; the sender takes the head of each chat's queue
with :func:`claim` and records what Telegram said with :func:`settle`. Nothing here talks to
Telegram: the payload is the Bot API method's parameters, kept as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.sql import insert_ignore
from surveys.delivery.models import OutboxMessage, OutboxStatus, UnreachableChat

OPEN = (OutboxStatus.pending, OutboxStatus.sending)
# The last lines to a citizen who asked to be forgotten: deleted as soon as they are sent.
ERASURE = "erasure"
KEEP_DELIVERED = timedelta(days=7)


async def enqueue(
    session: AsyncSession,
    *,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    purpose: str = "reply",
    ref_id: int | None = None,
    case_id: int | None = None,
    now: datetime,
) -> int:
    """Queue one Bot API call to ``chat_id``; its id orders it after the chat's earlier ones."""
    result = await session.exec(
        sa.insert(OutboxMessage)
        .values(
            chat_id=chat_id,
            method=method,
            payload=payload,
            purpose=purpose,
            ref_id=ref_id,
            case_id=case_id,
            status=OutboxStatus.pending,
            attempts=0,
            not_before=now,
            created_at=now,
        )
        .returning(col(OutboxMessage.id))
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message the sender now holds: where, what, and the message an edit changes."""

    id: int
    chat_id: int
    method: str
    payload: dict[str, Any]
    ref_id: int | None
    target_message_id: int | None  # the message_id of ``ref_id`` once that was sent
    attempts: int
    purpose: str


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    skip_chats: frozenset[int] = frozenset(),
) -> list[Claimed]:
    """Take up to ``limit`` messages, each the oldest open one of its chat and due by ``now``.

    A message stays claimed until ``now + lease``; one still claimed after that (its sender
    died between sending and recording it) is claimed again, so after a crash a chat can see
    at most one message twice. Messages to chats that blocked the bot are settled unsent.
    """
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.pending,
            col(OutboxMessage.chat_id).in_(select(UnreachableChat.chat_id)),
        )
        .values(status=OutboxStatus.unreachable, outcome="403")
    )
    heads = (
        select(func.min(OutboxMessage.id).label("head"))
        .where(col(OutboxMessage.status).in_(OPEN))
        .group_by(col(OutboxMessage.chat_id))
        .subquery()
    )
    target = aliased(OutboxMessage)
    query = (
        select(OutboxMessage, target.message_id)
        .join(heads, col(OutboxMessage.id) == heads.c.head)
        .outerjoin(target, col(target.id) == col(OutboxMessage.ref_id))
        .where(
            col(OutboxMessage.not_before) <= now,
            sa.or_(
                col(OutboxMessage.status) == OutboxStatus.pending,
                col(OutboxMessage.lease_until) < now,
            ),
        )
        .order_by(col(OutboxMessage.not_before), col(OutboxMessage.id))
    )
    if skip_chats:
        query = query.where(col(OutboxMessage.chat_id).not_in(skip_chats))
    rows = (await session.exec(query.limit(limit))).all()
    if not rows:
        return []
    ids = [row.id for row, _ in rows]
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(status=OutboxStatus.sending, lease_until=now + lease)
    )
    return [
        Claimed(
            id=int(row.id),  # type: ignore[arg-type]
            chat_id=row.chat_id,
            method=row.method,
            payload=dict(row.payload),
            ref_id=row.ref_id,
            target_message_id=message_id,
            attempts=row.attempts,
            purpose=row.purpose,
        )
        for row, message_id in rows
    ]


async def release_claims(session: AsyncSession) -> int:
    """Put back what a sender had claimed and not settled (it died, or this is a restart)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.sending)
        .values(status=OutboxStatus.pending, lease_until=None)
        .execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount)


class Result(StrEnum):
    """What became of one try, as the sender saw it."""

    sent = "sent"  # taken; ``message_id`` when it made a message
    moot = "moot"  # nothing to do any more (query too old, message gone or unchanged)
    later = "later"  # try again at ``not_before`` (429, 5xx, network)
    failed = "failed"  # refused or out of tries: kept for admins
    unreachable = "unreachable"  # 403: the chat blocked the bot


async def settle(
    session: AsyncSession,
    *,
    message_id: int,
    result: Result,
    now: datetime,
    outcome: str | None = None,
    sent_message_id: int | None = None,
    not_before: datetime | None = None,
    count_attempt: bool = True,
    forget: bool = False,
) -> None:
    """Record one try of a claimed message; ``forget``: delete it once done instead."""
    values: dict[str, Any] = {"outcome": outcome, "lease_until": None}
    if result in (Result.sent, Result.moot) and forget:
        await session.exec(delete(OutboxMessage).where(col(OutboxMessage.id) == message_id))
        return
    if result in (Result.sent, Result.moot):
        values.update(status=OutboxStatus.sent, sent_at=now, message_id=sent_message_id)
    elif result is Result.later:
        values.update(status=OutboxStatus.pending, not_before=not_before or now)
    elif result is Result.failed:
        values.update(status=OutboxStatus.failed)
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    if result is Result.unreachable:
        chat = (
            await session.exec(select(OutboxMessage.chat_id).where(OutboxMessage.id == message_id))
        ).one()
        await insert_ignore(session, UnreachableChat, chat_id=chat, since=now)
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.chat_id) == chat, col(OutboxMessage.status).in_(OPEN))
            .values(status=OutboxStatus.unreachable, outcome=outcome, lease_until=None)
        )
        return
    await session.exec(
        update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(**values)
    )


async def reachable_again(session: AsyncSession, *, chat_id: int) -> None:
    """The chat wrote to the bot again: messages may go to it once more."""
    await session.exec(delete(UnreachableChat).where(col(UnreachableChat.chat_id) == chat_id))


async def forget_chat(session: AsyncSession, *, chat_id: int) -> None:
    """Erasure: every queued or kept message to this chat goes."""
    await session.exec(delete(OutboxMessage).where(col(OutboxMessage.chat_id) == chat_id))
    await reachable_again(session, chat_id=chat_id)


async def prune(session: AsyncSession, *, now: datetime) -> int:
    """Delivered messages older than a week go (failed and unreachable ones stay for admins)."""
    result = await session.exec(
        delete(OutboxMessage).where(
            col(OutboxMessage.status) == OutboxStatus.sent,
            col(OutboxMessage.created_at) < now - KEEP_DELIVERED,
        )
    )
    return int(result.rowcount)


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest waiting message becomes due (None when nothing waits)."""
    found = (
        await session.exec(
            select(func.min(OutboxMessage.not_before)).where(
                col(OutboxMessage.status) == OutboxStatus.pending
            )
        )
    ).one()
    # SQLite's MIN() hands back the stored text without its zone: it is UTC.
    return found.replace(tzinfo=UTC) if found is not None and found.tzinfo is None else found


@dataclass(frozen=True, slots=True)
class Depth:
    """The outbox at a glance, for metrics and the admin page."""

    waiting: int
    oldest_age_seconds: float
    failed: int
    unreachable: int


async def depth(session: AsyncSession, *, now: datetime) -> Depth:
    rows = (
        await session.exec(
            select(
                OutboxMessage.status,
                func.count(),
                func.min(OutboxMessage.created_at),
            ).group_by(col(OutboxMessage.status))
        )
    ).all()
    by_status = {status: (count, oldest) for status, count, oldest in rows}
    waiting = sum(by_status.get(s, (0, None))[0] for s in OPEN)
    oldest = [by_status[s][1] for s in OPEN if s in by_status and by_status[s][1] is not None]
    age = 0.0
    if oldest:
        first = min(oldest)
        if first.tzinfo is None:  # SQLite's MIN(): UTC without its zone
            first = first.replace(tzinfo=UTC)
        age = max(0.0, (now - first).total_seconds())
    return Depth(
        waiting=waiting,
        oldest_age_seconds=age,
        failed=by_status.get(OutboxStatus.failed, (0, None))[0],
        unreachable=by_status.get(OutboxStatus.unreachable, (0, None))[0],
    )


async def undeliverable_cases(session: AsyncSession, *, case_ids: list[int]) -> set[int]:
    """Of ``case_ids``, those whose message to the citizen could not be delivered (无法送达)."""
    if not case_ids:
        return set()
    found = await session.exec(
        select(OutboxMessage.case_id).where(
            col(OutboxMessage.case_id).in_(case_ids),
            col(OutboxMessage.status).in_((OutboxStatus.unreachable, OutboxStatus.failed)),
        )
    )
    return {int(case_id) for case_id in found.all() if case_id is not None}
