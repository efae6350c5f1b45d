"""The outbox: every message to a chat is a row, written in the transaction of the change it
reports, and sent later by the sender in order per chat.

A handler or job queues with :func:`enqueue`; the sender takes the head of each chat's queue
with :func:`claim` and records what Telegram said with :func:`settle`. Nothing here talks to
Telegram: the payload is the Bot API method's parameters, kept as given.

A sender that shares the database's one writer with the handlers (SQLite) looks with
:func:`due` in a read transaction, and takes a writer's turn only when it found something:
:func:`take` claims what was found, and :func:`settle_many` records many tries at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.sql import insert_ignore
from surveys.delivery import wakeups
from surveys.delivery.models import OutboxMessage, OutboxStatus, UnreachableChat

OPEN = (OutboxStatus.pending, OutboxStatus.sending)
# The last lines to a citizen who asked to be forgotten: deleted as soon as they are sent.
ERASURE = "erasure"
KEEP_DELIVERED = timedelta(days=7)


_T = OutboxMessage.__table__  # type: ignore[attr-defined]
# Built once: a statement made per call pays for its cache key every time.
_ENQUEUE = sa.insert(_T).returning(_T.c.id)


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
    call = Queued(chat_id, method, payload, purpose, ref_id, case_id)
    return (await enqueue_many(session, [call], now=now))[0]


@dataclass(frozen=True, slots=True)
class Queued:
    """One Bot API call to queue with :func:`enqueue_many` (as :func:`enqueue` takes it)."""

    chat_id: int
    method: str
    payload: dict[str, Any]
    purpose: str = "reply"
    ref_id: int | None = None
    case_id: int | None = None


async def enqueue_many(
    session: AsyncSession, calls: Sequence[Queued], *, now: datetime
) -> list[int]:
    """Queue several calls, in the order given, in one statement; their ids, in that order.

    Several rows go as one multi-row INSERT (SQLAlchemy's "insertmanyvalues"). The rows get
    their ids in the order of its VALUES (SQLite under its one writer, PostgreSQL from its
    sequence, which only grows), so the ids sorted are the calls' ids in order, whatever
    order RETURNING hands them back in.
    """
    if not calls:
        return []
    rows = [
        {
            "chat_id": call.chat_id,
            "method": call.method,
            "payload": call.payload,
            "purpose": call.purpose,
            "ref_id": call.ref_id,
            "case_id": call.case_id,
            "status": OutboxStatus.pending.value,
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "lease_until": None,
            "message_id": None,
            "outcome": None,
            "sent_at": None,
        }
        for call in calls
    ]
    connection = await session.connection()
    result = await connection.execute(_ENQUEUE, rows if len(rows) > 1 else rows[0])
    ids = sorted(int(row[0]) for row in result)
    if len(ids) != len(calls):
        raise RuntimeError(f"queued {len(calls)} calls but got {len(ids)} ids back")
    await wakeups.announce(session)  # the sender of whichever worker sends, at the commit
    return ids


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


_TARGET = _T.alias("target")
_HEADS = (
    sa.select(_T.c.chat_id, sa.func.min(_T.c.id).label("head"))
    .where(_T.c.status.in_([s.value for s in OPEN]))
    .group_by(_T.c.chat_id)
    .subquery("heads")
)
_FIELDS = (
    _T.c.id,
    _T.c.chat_id,
    _T.c.method,
    _T.c.payload,
    _T.c.ref_id,
    _TARGET.c.message_id.label("target_message_id"),
    _T.c.attempts,
    _T.c.purpose,
)
_UNREACHABLE = sa.select(UnreachableChat.__table__.c.chat_id)  # type: ignore[attr-defined]
# The oldest open message of each chat, when it is due (or its claim lapsed).
_DUE_HEADS = (
    sa.select(*_FIELDS)
    .join(_HEADS, _T.c.id == _HEADS.c.head)
    .outerjoin(_TARGET, _TARGET.c.id == _T.c.ref_id)
    .where(
        _T.c.not_before <= sa.bindparam("now"),
        _T.c.chat_id.not_in(_UNREACHABLE),
        _T.c.chat_id.not_in(sa.bindparam("skip", expanding=True)),
        sa.or_(
            _T.c.status == OutboxStatus.pending.value,
            _T.c.lease_until < sa.bindparam("now"),
        ),
    )
    .order_by(_T.c.not_before, _T.c.id)
    .limit(sa.bindparam("limit"))
)
# The open messages of the chats whose head is due (those _DUE_HEADS finds), oldest first:
# each chat's head and the run that follows it, in one statement.
_DUE_RUNS = (
    sa.select(*_FIELDS, _T.c.status, _T.c.not_before)
    .outerjoin(_TARGET, _TARGET.c.id == _T.c.ref_id)
    .where(
        _T.c.chat_id.in_(sa.select(_DUE_HEADS.subquery().c.chat_id)),
        _T.c.status.in_([s.value for s in OPEN]),
    )
    .order_by(_T.c.id)
)
# Claims those of the messages found that are still open (pending, or their claim lapsed).
_TAKE = (
    sa.update(_T)
    .where(
        _T.c.id.in_(sa.bindparam("ids", expanding=True)),
        sa.or_(
            _T.c.status == OutboxStatus.pending.value,
            sa.and_(
                _T.c.status == OutboxStatus.sending.value,
                _T.c.lease_until < sa.bindparam("now"),
            ),
        ),
    )
    .values(status=OutboxStatus.sending.value, lease_until=sa.bindparam("until"))
    .returning(_T.c.id)
)


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    skip_chats: frozenset[int] = frozenset(),
    sweep: bool = True,
    per_chat: int = 1,
) -> list[Claimed]:
    """Take the oldest open message of up to ``limit`` chats, each due by ``now``, and with
    ``per_chat`` > 1 the chat's next ones too while they are due (a run, in order).

    A message stays claimed until ``now + lease``; one still claimed after that (its sender
    died between sending and recording it) is claimed again. Messages to chats that blocked
    the bot are settled unsent. The result lists each chat's run together, oldest first.
    """
    if sweep:  # the sender sweeps now and then, not on every look
        await sweep_unreachable(session)
    found = await due(session, now=now, limit=limit, skip_chats=skip_chats, per_chat=per_chat)
    return await take(session, found, now=now, lease=lease)


async def due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    skip_chats: frozenset[int] = frozenset(),
    per_chat: int = 1,
) -> list[Claimed]:
    """What :func:`claim` would take, without taking it: reads only, so a read transaction
    (which waits for no writer) will do. Hand the result to :func:`take`."""
    params = {"now": now, "skip": sorted(skip_chats) or [0], "limit": limit}
    connection = await session.connection()
    if per_chat <= 1:
        return [_claimed(row) for row in await connection.execute(_DUE_HEADS, params)]
    runs: dict[int, list[Claimed]] = {}
    heads: dict[int, tuple[datetime, int]] = {}  # chat -> its head's (not_before, id)
    for row in await connection.execute(_DUE_RUNS, params):
        run = runs.get(row.chat_id)
        if run is None:  # the chat's oldest open message: its head, due
            runs[row.chat_id] = [_claimed(row)]
            heads[row.chat_id] = (_utc(row.not_before), int(row.id))
            continue
        if len(run) >= per_chat or run[-1] is _STOP:
            continue
        if row.status != OutboxStatus.pending or _utc(row.not_before) > now:
            run.append(_STOP)  # the run ends at the first message not due
            continue
        run.append(_claimed(row))
    # The chats in the order of their heads, as _DUE_HEADS takes them.
    chats = sorted(runs, key=heads.__getitem__)
    return [item for chat in chats for item in runs[chat] if item is not _STOP]


async def take(
    session: AsyncSession, found: Sequence[Claimed], *, now: datetime, lease: timedelta
) -> list[Claimed]:
    """Claim what :func:`due` found, in a write transaction, as far as it is still open (a
    message settled or deleted since is left out, and with it the rest of its chat's run).
    One statement; nothing at all when nothing was found."""
    if not found:
        return []
    connection = await session.connection()
    taken = {
        int(row.id)
        for row in await connection.execute(
            _TAKE, {"ids": [item.id for item in found], "now": now, "until": now + lease}
        )
    }
    kept: list[Claimed] = []
    broken: set[int] = set()  # chats whose run stopped at a message no longer open
    for item in found:
        if item.chat_id in broken or item.id not in taken:
            broken.add(item.chat_id)
            continue
        kept.append(item)
    if len(kept) < len(taken):  # taken after a gap in their run: put them back
        await unclaim(session, ids=sorted(taken - {item.id for item in kept}))
    return kept


async def sweep_unreachable(session: AsyncSession) -> None:
    """Settle unsent what waits for chats that blocked the bot."""
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.pending,
            col(OutboxMessage.chat_id).in_(select(UnreachableChat.chat_id)),
        )
        .values(status=OutboxStatus.unreachable, outcome="403")
    )


async def unreachable_waiting(session: AsyncSession) -> bool:
    """Whether :func:`sweep_unreachable` has anything to do (a read)."""
    found = await session.exec(
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.status) == OutboxStatus.pending,
            col(OutboxMessage.chat_id).in_(select(UnreachableChat.chat_id)),
        )
        .limit(1)
    )
    return found.first() is not None


def _utc(moment: datetime) -> datetime:
    """A stored time as UTC: SQLite hands times back without their zone (they are UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=int(row.id),
        chat_id=int(row.chat_id),
        method=row.method,
        payload=dict(row.payload),
        ref_id=row.ref_id,
        target_message_id=row.target_message_id,
        attempts=row.attempts,
        purpose=row.purpose,
    )


_STOP = Claimed(-1, 0, "", {}, None, None, 0, "")  # marks where a chat's run ended


async def unclaim(session: AsyncSession, *, ids: list[int]) -> None:
    """Put back claimed messages not tried (the run stopped before them)."""
    if ids:
        await session.exec(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id).in_(ids),
                col(OutboxMessage.status) == OutboxStatus.sending,
            )
            .values(status=OutboxStatus.pending, lease_until=None)
        )


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


@dataclass(frozen=True, slots=True)
class Try:
    """One try of a claimed message, as :func:`settle` takes it."""

    message_id: int
    result: Result
    now: datetime
    outcome: str | None = None
    sent_message_id: int | None = None
    not_before: datetime | None = None
    count_attempt: bool = True
    forget: bool = False


# A message taken or let go, one row of an executemany (bound names differ from columns).
_DONE = (
    sa.update(_T)
    .where(_T.c.id == sa.bindparam("done_id"))
    .values(
        status=OutboxStatus.sent.value,
        sent_at=sa.bindparam("done_at"),
        message_id=sa.bindparam("done_message_id"),
        outcome=sa.bindparam("done_outcome"),
        lease_until=None,
        attempts=_T.c.attempts + 1,
    )
)


async def settle_many(session: AsyncSession, tries: Sequence[Try]) -> None:
    """Record many tries as :func:`settle` does one by one; those that went (sent or moot)
    in one statement."""
    done = [
        t
        for t in tries
        if t.result in (Result.sent, Result.moot) and t.count_attempt and not t.forget
    ]
    if done:
        connection = await session.connection()
        await connection.execute(
            _DONE,
            [
                {
                    "done_id": t.message_id,
                    "done_at": t.now,
                    "done_message_id": t.sent_message_id,
                    "done_outcome": t.outcome,
                }
                for t in done
            ],
        )
    chosen = {id(t) for t in done}
    for t in tries:
        if id(t) not in chosen:
            await settle(
                session,
                message_id=t.message_id,
                result=t.result,
                now=t.now,
                outcome=t.outcome,
                sent_message_id=t.sent_message_id,
                not_before=t.not_before,
                count_attempt=t.count_attempt,
                forget=t.forget,
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
    return _utc(found) if found is not None else None


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
        first = _utc(min(oldest))
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
