"""Respondents are pseudonyms; how to reach one lives in :class:`Identity` alone."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.models import utcnow
from surveys.core.sql import insert_ignore
from surveys.delivery import outbox
from surveys.questionnaire.models import Conversation, Identity, InboundEvent, Respondent


def pseudonym(secret: bytes, channel: str, external_id: str | int) -> str:
    """A keyed hash: stable per person, useless without the key."""
    return hmac.new(secret, f"{channel}:{external_id}".encode(), hashlib.sha256).hexdigest()


async def get_or_create_respondent(
    *, session: AsyncSession, secret: bytes, channel: str, external_id: str | int
) -> Respondent:
    """The respondent behind a channel's user id, created on first contact."""
    name = pseudonym(secret, channel, external_id)
    await insert_ignore(session, Respondent, pseudonym=name)
    result = await session.exec(select(Respondent).where(Respondent.pseudonym == name))
    return result.one()


async def remember_contact(
    *,
    session: AsyncSession,
    respondent: Respondent,
    channel: str,
    chat_id: int,
    language_code: str | None,
) -> None:
    """Keep the one thing needed to write back: the chat id (no names, no usernames).

    A chat that had blocked the bot and writes again can be sent to again.
    """
    await outbox.reachable_again(session, chat_id=chat_id)
    created = await insert_ignore(
        session,
        Identity,
        respondent_id=respondent.id,
        channel=channel,
        chat_id=chat_id,
        language_code=language_code,
        created_at=utcnow(),
        last_seen_at=utcnow(),
    )
    if not created:
        await session.exec(
            update(Identity)
            .where(col(Identity.respondent_id) == respondent.id)
            .values(chat_id=chat_id, language_code=language_code, last_seen_at=utcnow())
        )


async def purge_stale_identities(*, session: AsyncSession, now: datetime, days: int) -> int:
    """Delete contact data unused for ``days``; the anonymous answers stay."""
    cutoff = now - timedelta(days=days)
    result = await session.exec(delete(Identity).where(col(Identity.last_seen_at) < cutoff))
    return int(result.rowcount)


async def has_contact(*, session: AsyncSession, respondent: Respondent) -> bool:
    """Whether anything tells how to reach this person (a chat id)."""
    found = await session.exec(
        select(Identity.respondent_id).where(col(Identity.respondent_id) == respondent.id)
    )
    return found.first() is not None


async def forget_respondent(*, session: AsyncSession, respondent: Respondent) -> int:
    """Erase how to reach this person; the answers and ratings stay in the statistics under
    the pseudonym, so published scores do not change.

    On SQLite, run :func:`surveys.core.db.checkpoint` once this has committed, so the
    erased row leaves no copy in the write-ahead log. Messages queued to the person's chat
    go too.
    """
    chats = await session.exec(
        select(Identity.chat_id).where(col(Identity.respondent_id) == respondent.id)
    )
    for chat_id in chats.all():
        await outbox.forget_chat(session, chat_id=chat_id)
    result = await session.exec(
        delete(Identity).where(col(Identity.respondent_id) == respondent.id)
    )
    await session.exec(
        delete(Conversation).where(col(Conversation.respondent_id) == respondent.id)
    )
    return int(result.rowcount)


async def claim_event(*, session: AsyncSession, key: str) -> bool:
    """True the first time a key is seen in a committed transaction; False for replays."""
    return await insert_ignore(session, InboundEvent, key=key)


async def set_invite_consent(
    *, session: AsyncSession, respondent: Respondent, consent: bool, now: datetime
) -> bool:
    """Record (``consent``) or withdraw the citizen's consent to survey invitations.

    Only citizens whose consent is recorded are invited by a broadcast
    (:mod:`surveys.delivery.broadcasts`). False when there is no contact to set it on (the
    citizen never wrote, or used /forget: the consent goes with the chat id).
    """
    result = await session.exec(
        update(Identity)
        .where(col(Identity.respondent_id) == respondent.id)
        .values(invite_consent_at=now if consent else None)
        .execution_options(preserve_rowcount=True)
    )
    return bool(result.rowcount)


async def prune_events(*, session: AsyncSession, now: datetime, days: int = 7) -> int:
    """Forget the keys of inputs handled more than ``days`` ago (redeliveries come sooner)."""
    cutoff = now - timedelta(days=days)
    result = await session.exec(delete(InboundEvent).where(col(InboundEvent.received_at) < cutoff))
    return int(result.rowcount)
