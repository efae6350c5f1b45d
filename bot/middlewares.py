"""Per-update infrastructure: one DB transaction, the respondent, the translator (in the
citizen's language and care mode), and the :class:`ChatContext` handed to handlers as their
one argument about the update."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import Chat, TelegramObject, Update, User

from bot.outbox import Notify, Outbox
from surveys.cases import workdays
from surveys.core import metrics
from surveys.core.clock import today as today_in
from surveys.core.db import AsyncSession, SessionMaker, unit_of_work
from surveys.core.i18n import Translator, locale_for
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Respondent

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
CHANNEL = "telegram"
KNOWN_RESPONDENTS = 100_000


class DbSessionMiddleware(BaseMiddleware):
    """One transaction per update, committed after the handler; replays are dropped.

    The update id is claimed in the same transaction as the answer it carries, so a
    redelivered update stores nothing twice. What the handler sends is queued in the outbox
    in that transaction too; ``notify`` wakes the sender once it has committed.
    """

    def __init__(
        self,
        sessionmaker: SessionMaker,
        secret: bytes,
        notify: Notify = lambda chat_id=None: None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.secret = secret
        self.notify = notify
        # Respondent rows are never deleted, so a committed pseudonym -> id stays true. The
        # row itself is read on every update: the citizen's choices (/lang, /care) may have
        # changed in another worker.
        self._known: dict[str, int] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        async with unit_of_work(self.sessionmaker) as session:
            key = f"tg:{data['bot'].id}:{event.update_id}"
            if not await respondents.claim_event(session=session, key=key):
                log.info("update %s already handled; dropped", event.update_id)
                metrics.UPDATES.labels("replay").inc()
                return None
            if user is not None and not user.is_bot:
                data["respondent"] = await self._respondent(session, user)
            chat_id = chat.id if chat is not None else user.id if user is not None else 0
            # What the handler queues is written in one statement, before the commit.
            outbox = data["outbox"] = Outbox(session, chat_id, buffered=True)
            data["session"] = session
            result = await handler(event, data)
            await outbox.flush()
        metrics.UPDATES.labels("handled").inc()
        if "respondent" in data:
            self._remember(data["respondent"])
        await outbox.committed()
        if outbox.queued:
            self.notify(*outbox.chats) if len(outbox.chats) == 1 else self.notify()
        return result

    async def _respondent(self, session: AsyncSession, user: User) -> Respondent:
        name = respondents.pseudonym(self.secret, CHANNEL, user.id)
        known = self._known.get(name)
        if known is not None:
            return await respondents.load_respondent(session=session, respondent_id=known)
        return await respondents.get_or_create_respondent(
            session=session, secret=self.secret, channel=CHANNEL, external_id=user.id
        )

    def _remember(self, respondent: Respondent) -> None:
        if len(self._known) >= KNOWN_RESPONDENTS:
            self._known.clear()
        self._known[respondent.pseudonym] = pk(respondent)


class TranslatorMiddleware(BaseMiddleware):
    """Chinese first: the language the citizen chose with /lang, else zh_Hans unless their
    Telegram language has its own catalogue; plain wording in care mode (/care)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["t"] = translator_for(data.get("respondent"), data.get("event_from_user"))
        return await handler(event, data)


def translator_for(respondent: Respondent | None, user: User | None) -> Translator:
    """The translator for one citizen: their choices first, then Telegram's language."""
    language_code = user.language_code if user else None
    if respondent is None:
        return Translator(locale_for(language_code))
    chosen = respondents.preferences_of(respondent, language_code)
    return Translator(chosen.locale, care=chosen.care)


@dataclass(frozen=True, slots=True)
class ChatContext:
    """Everything a handler needs about the update from a citizen, as one argument ``ctx``.

    ``respondent`` is the citizen's pseudonymous key (its id and keyed pseudonym), never
    the Telegram user; ``chat_id`` is where to write back. Bot API calls are queued in
    ``outbox``, in ``session``'s transaction, and sent once it has committed.
    """

    session: AsyncSession
    settings: Settings
    t: Translator
    respondent: Respondent
    chat_id: int
    language_code: str | None
    state: FSMContext
    outbox: Outbox

    @property
    def care(self) -> bool:
        """Care mode (关怀模式): plain wording (``t`` does it), one option per row, no time
        limits on what the citizen is asked to confirm."""
        return self.t.care

    def today(self) -> date:
        """Today in the configured time zone."""
        return today_in(self.settings.tz)

    def policy(self) -> workdays.DeadlinePolicy:
        """The configured deadlines of follow-up cases."""
        return workdays.policy_from(self.settings)


class ChatContextMiddleware(BaseMiddleware):
    """Builds ``ctx`` for updates from a citizen (a respondent) in a chat with a state.

    Runs inside :class:`DbSessionMiddleware` and :class:`TranslatorMiddleware`, whose
    session, respondent, outbox and translator it gathers.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        respondent: Respondent | None = data.get("respondent")
        state: FSMContext | None = data.get("state")
        if respondent is not None and state is not None:
            user: User = data["event_from_user"]
            chat: Chat | None = data.get("event_chat")
            data["ctx"] = ChatContext(
                session=data["session"],
                settings=data["settings"],
                t=data["t"],
                respondent=respondent,
                chat_id=chat.id if chat is not None else user.id,
                language_code=user.language_code,
                state=state,
                outbox=data["outbox"],
            )
        return await handler(event, data)
