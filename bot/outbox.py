"""What a handler sends, queued in its update's transaction (the durable outbox).

A handler never calls Telegram itself: it queues Bot API calls for its chat here, and they
are committed with the answer they report. The sender (:mod:`bot.sender`) makes the calls
afterwards, in order per chat and within Telegram's limits. An edit may name a message that
is itself still queued, by the :class:`Ref` that queueing it returned.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from surveys.core.db import AsyncSession
from surveys.core.models import utcnow
from surveys.delivery import outbox

if TYPE_CHECKING:
    from aiogram.types import InlineKeyboardMarkup

SEND = "sendMessage"
EDIT_TEXT = "editMessageText"
EDIT_MARKUP = "editMessageReplyMarkup"
ANSWER_CALLBACK = "answerCallbackQuery"


@dataclass(frozen=True, slots=True)
class Ref:
    """A message by the outbox row that sends it, usable before it has been sent."""

    outbox_id: int


Target = int | Ref  # a Telegram message id, or a queued message


def markup_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    """The Bot API's JSON of a keyboard, as stored in the outbox."""
    if markup is None:
        return None
    return markup.model_dump(mode="json", exclude_none=True)


class Outbox:
    """Bot API calls to one chat, queued in ``session``'s transaction.

    ``after_commit`` holds what must wait until the answer is stored (the bot's own
    scratch state); the middleware runs it once the transaction has committed.
    """

    def __init__(self, session: AsyncSession, chat_id: int) -> None:
        self.session = session
        self.chat_id = chat_id
        self._after: list[Callable[[], object]] = []
        self.queued = 0
        # Scratch state this update has set, visible before it is stored after the commit.
        self.scratch: dict[str, Any] = {}

    async def _queue(
        self,
        method: str,
        payload: dict[str, Any],
        *,
        ref: Ref | None = None,
        purpose: str = "reply",
        case_id: int | None = None,
        chat_id: int | None = None,
    ) -> Ref:
        self.queued += 1
        row = await outbox.enqueue(
            self.session,
            chat_id=self.chat_id if chat_id is None else chat_id,
            method=method,
            payload={k: v for k, v in payload.items() if v is not None},
            purpose=purpose,
            ref_id=ref.outbox_id if ref is not None else None,
            case_id=case_id,
            now=utcnow(),
        )
        return Ref(row)

    async def send(
        self,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
        *,
        purpose: str = "reply",
        case_id: int | None = None,
        chat_id: int | None = None,
    ) -> Ref:
        """A new message (to this chat unless ``chat_id`` names another)."""
        payload = {"text": text, "reply_markup": markup_json(reply_markup)}
        return await self._queue(SEND, payload, purpose=purpose, case_id=case_id, chat_id=chat_id)

    async def edit_text(
        self,
        target: Target,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
        *,
        purpose: str = "reply",
    ) -> None:
        """Replace a message's text (and keyboard: none unless given)."""
        payload = {"text": text, "reply_markup": markup_json(reply_markup)}
        await self._edit(EDIT_TEXT, target, payload, purpose)

    async def edit_markup(
        self,
        target: Target,
        reply_markup: InlineKeyboardMarkup | None = None,
        *,
        purpose: str = "reply",
    ) -> None:
        """Replace a message's buttons (take them off unless ``reply_markup`` is given)."""
        payload = {"reply_markup": markup_json(reply_markup)}
        await self._edit(EDIT_MARKUP, target, payload, purpose)

    async def _edit(
        self, method: str, target: Target, payload: dict[str, Any], purpose: str
    ) -> None:
        if isinstance(target, Ref):
            await self._queue(method, payload, ref=target, purpose=purpose)
        else:
            await self._queue(method, {**payload, "message_id": target}, purpose=purpose)

    async def answer(
        self,
        query_id: str,
        text: str | None = None,
        *,
        show_alert: bool = False,
        purpose: str = "reply",
    ) -> None:
        """Answer a pressed button (once; one too old by the time it is sent is let go)."""
        payload = {"callback_query_id": query_id, "text": text, "show_alert": show_alert or None}
        await self._queue(ANSWER_CALLBACK, payload, purpose=purpose)

    def after_commit(self, call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self._after.append(partial(call, *args, **kwargs))

    async def committed(self) -> None:
        """Run what waited for the commit."""
        for call in self._after:
            result = call()
            if inspect.isawaitable(result):
                await result
        self._after.clear()
