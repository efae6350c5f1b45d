"""Respondents are pseudonyms; how to reach one lives in :class:`Identity` alone."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, not_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.exceptions import DomainError
from surveys.core.i18n import DEFAULT_LOCALE, N_, load_translations, locale_for
from surveys.core.models import pk, utcnow
from surveys.core.sql import insert_ignore
from surveys.delivery import outbox
from surveys.delivery.broadcast_models import Broadcast, BroadcastStatus
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


_EVENTS = InboundEvent.__table__  # type: ignore[attr-defined]
# Runs on every update: built once per dialect (a statement made per call pays for its
# cache key each time). psycopg reports rowcount -1 for ON CONFLICT unless asked to keep it.
_CLAIM = {
    name: module.insert(_EVENTS).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    for name, module in (("sqlite", sqlite), ("postgresql", postgresql))
}


async def claim_event(*, session: AsyncSession, key: str) -> bool:
    """True the first time a key is seen in a committed transaction; False for replays."""
    connection = await session.connection()
    claim = _CLAIM.get(connection.dialect.name)
    if claim is None:
        return await insert_ignore(session, InboundEvent, key=key)
    result = await connection.execute(claim, {"key": key})
    return bool(result.rowcount)


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


class UnknownLanguage(DomainError):
    """A language the catalogue does not have (a forged or outdated button)."""

    key = N_("error.unknown_language")


@dataclass(frozen=True, slots=True)
class Preferences:
    """How to write to a citizen: the catalogue locale and whether care mode is on."""

    locale: str = DEFAULT_LOCALE
    care: bool = False


DEFAULT_PREFERENCES = Preferences()


def preferences_of(respondent: Respondent, language_code: str | None) -> Preferences:
    """The citizen's own language choice, else their channel's language (``language_code``
    from Telegram, a browser's tag), and their care mode."""
    locale = respondent.language or locale_for(language_code)
    return Preferences(locale=locale, care=bool(respondent.care_mode))


async def load_respondent(*, session: AsyncSession, respondent_id: int) -> Respondent:
    """The respondent row, with the citizen's current choices (language, care mode)."""
    found = session.identity_map.get(identity_key(Respondent, respondent_id))
    if isinstance(found, Respondent):
        return found
    return (await session.exec(_RESPONDENT, params={"respondent_id": respondent_id})).one()


# Runs on every update: built once (a statement made per call pays for its cache key).
_RESPONDENT = select(Respondent).where(col(Respondent.id) == bindparam("respondent_id"))


async def set_language(
    *, session: AsyncSession, respondent: Respondent, locale: str | None
) -> Respondent:
    """Record the language the citizen chose (a catalogue locale such as ``en``), or None to
    follow their channel's language again. It outranks the channel's language everywhere,
    messages queued later included."""
    if locale is not None and locale not in load_translations():
        raise UnknownLanguage(code=locale)
    row = await load_respondent(session=session, respondent_id=pk(respondent))
    row.language = locale
    session.add(row)
    await session.flush()
    return row


async def set_care_mode(*, session: AsyncSession, respondent: Respondent, on: bool) -> Respondent:
    """Switch care mode (关怀模式: plain wording, one large button per row, no time limits)."""
    row = await load_respondent(session=session, respondent_id=pk(respondent))
    row.care_mode = on
    session.add(row)
    await session.flush()
    return row


async def chat_preferences(
    *, session: AsyncSession, chat_ids: Collection[int]
) -> dict[int, Preferences]:
    """How to write to each of these chats' citizens (chats of nobody known are left out)."""
    if not chat_ids:
        return {}
    rows = await session.exec(
        select(Identity.chat_id, Identity.language_code, Respondent)
        .join(Respondent, col(Respondent.id) == col(Identity.respondent_id))
        .where(col(Identity.chat_id).in_(set(chat_ids)))
    )
    return {chat_id: preferences_of(row, code) for chat_id, code, row in rows.all()}


async def invitee_preferences(*, session: AsyncSession) -> dict[int, Preferences]:
    """Respondent id → preferences, for the citizens who agreed to invitations and are not
    written to in the defaults (zh_Hans, no care mode); everyone else gets the defaults.
    Nobody while no broadcast is running (the query then stops at once)."""
    running = select(Broadcast.id).where(col(Broadcast.status) == BroadcastStatus.running)
    rows = await session.exec(
        select(Identity.language_code, Respondent)
        .join(Respondent, col(Respondent.id) == col(Identity.respondent_id))
        .where(
            running.exists(),
            col(Identity.invite_consent_at).is_not(None),
            or_(
                col(Respondent.language).is_not(None),
                col(Respondent.care_mode).is_(True),
                and_(
                    col(Identity.language_code).is_not(None),
                    not_(col(Identity.language_code).ilike("zh%")),
                ),
            ),
        )
    )
    found = {pk(row): preferences_of(row, code) for code, row in rows.all()}
    return {key: value for key, value in found.items() if value != DEFAULT_PREFERENCES}
