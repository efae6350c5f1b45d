"""What administrators read about delivery: the outbox at a glance and the messages that
did not arrive (the console's 消息投递 page).

Only what a message was for, what became of it and its 差评 case are read: never the chat
id, never the payload (the text sent). Purposes and outcomes come as catalogue labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import load_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.core import metrics
from surveys.core.clock import local_minutes
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk
from surveys.delivery import outbox
from surveys.delivery.models import OutboxMessage, OutboxStatus

FAILED_LIMIT = 100
UNDELIVERED = (OutboxStatus.failed, OutboxStatus.unreachable)
SHOWN = ("id", "created_at", "status", "purpose", "outcome", "attempts", "case_id")

# What a message was for (``OutboxMessage.purpose``), as staff read it.
PURPOSES: dict[str, str] = {
    "survey": N_("delivery.purpose.survey"),
    "reminder": N_("delivery.purpose.reminder"),
    "relay": N_("delivery.purpose.relay"),
    "notice": N_("delivery.purpose.notice"),
    "invite": N_("delivery.purpose.invite"),
    "reply": N_("delivery.purpose.reply"),
    "erasure": N_("delivery.purpose.erasure"),
    "broadcast": N_("delivery.purpose.broadcast"),
}
# Telegram's answer (``OutboxMessage.outcome``, a short code), explained.
OUTCOMES: dict[str, str] = {
    "403": N_("delivery.outcome.blocked"),
    "429": N_("delivery.outcome.flood"),
    "5xx": N_("delivery.outcome.server"),
    "400": N_("delivery.outcome.refused"),
}


@dataclass(frozen=True)
class FailedMessage:
    """One message that did not arrive: no chat id, no text."""

    id: int
    at: str  # when it was queued, local time to the minute
    unreachable: bool  # the chat blocked the bot (else: given up after tries or refused)
    purpose: Msg
    outcome: str  # the short code, "" if none was recorded
    explained: Msg
    attempts: int
    case_id: int | None


@dataclass(frozen=True)
class DeliveryPage:
    waiting: int
    oldest: Msg | None  # how long the oldest waiting message has waited; None: none waits
    failed: int
    unreachable: int
    rows: list[FailedMessage]


def purpose_label(purpose: str) -> Msg:
    key = PURPOSES.get(purpose)
    return Msg(key) if key else Msg(N_("delivery.purpose.other"), {"code": purpose})


def outcome_label(outcome: str | None) -> Msg:
    if not outcome:
        return Msg(N_("delivery.outcome.none"))
    key = OUTCOMES.get("5xx" if outcome.startswith("5") else outcome)
    return Msg(key) if key else Msg(N_("delivery.outcome.other"))


def age_label(seconds: float) -> Msg:
    """A waiting time in its largest whole unit (``3 小时``)."""
    if seconds >= 86400:
        return Msg(N_("delivery.age.days"), {"n": int(seconds // 86400)})
    if seconds >= 3600:
        return Msg(N_("delivery.age.hours"), {"n": int(seconds // 3600)})
    if seconds >= 60:
        return Msg(N_("delivery.age.minutes"), {"n": int(seconds // 60)})
    return Msg(N_("delivery.age.seconds"), {"n": int(seconds)})


async def failed_messages(
    session: AsyncSession, *, limit: int = FAILED_LIMIT, tz: ZoneInfo
) -> list[FailedMessage]:
    """The newest ``limit`` failed or unreachable messages, newest first."""
    # Only what the page shows is loaded: the chat id and the payload stay in the database.
    shown = load_only(*(getattr(OutboxMessage, name) for name in SHOWN))
    statement = (
        select(OutboxMessage)
        .options(shown)
        .where(col(OutboxMessage.status).in_(UNDELIVERED))
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return [
        FailedMessage(
            id=pk(row),
            at=local_minutes(row.created_at, tz),
            unreachable=OutboxStatus(row.status) is OutboxStatus.unreachable,
            purpose=purpose_label(row.purpose),
            outcome=row.outcome or "",
            explained=outcome_label(row.outcome),
            attempts=row.attempts,
            case_id=row.case_id,
        )
        for row in (await session.exec(statement)).all()
    ]


async def delivery_page(
    session: AsyncSession, *, actor: Actor, now: datetime, tz: ZoneInfo
) -> DeliveryPage:
    """The outbox's depth and the last undelivered messages; for administrators only."""
    actor.require(Perm.manage)
    found = await outbox.depth(session, now=now)
    return DeliveryPage(
        waiting=found.waiting,
        oldest=age_label(found.oldest_age_seconds) if found.waiting else None,
        failed=found.failed,
        unreachable=found.unreachable,
        rows=await failed_messages(session, tz=tz),
    )


async def observe_outbox(session: AsyncSession, *, now: datetime) -> outbox.Depth:
    """Read the outbox's depth into the process's gauges (at each ``/metrics`` scrape)."""
    found = await outbox.depth(session, now=now)
    metrics.OUTBOX_WAITING.set(found.waiting)
    metrics.OUTBOX_OLDEST.set(found.oldest_age_seconds)
    metrics.OUTBOX_FAILED.set(found.failed)
    metrics.OUTBOX_UNREACHABLE.set(found.unreachable)
    return found
