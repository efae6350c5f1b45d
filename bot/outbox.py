"""What a handler sends, queued in its update's transaction (the durable outbox).

A handler never calls Telegram itself: it queues Bot API calls for its chat here, and they
are committed with the answer they report. The sender (:mod:`bot.sender`) makes the calls
afterwards, in order per chat and within Telegram's limits. An edit may name a message that
is itself still queued, by the :class:`Ref` that queueing it returned.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from surveys.core.db import AsyncSession
from surveys.core.models import utcnow
from surveys.delivery import outbox

if TYPE_CHECKING:
    from aiogram.types import InlineKeyboardMarkup

SEND = "sendMessage"
EDIT_TEXT = "editMessageText"
EDIT_MARKUP = "editMessageReplyMarkup"
ANSWER_CALLBACK = "answerCallbackQuery"


class Ref:
    """A message by the outbox row that sends it, usable before it has been sent (and, from
    a buffered :class:`Outbox`, before the row is written: its id is known once flushed)."""

    __slots__ = ("_id",)

    def __init__(self, outbox_id: int | None = None) -> None:
        self._id = outbox_id

    @property
    def written(self) -> bool:
        return self._id is not None

    @property
    def outbox_id(self) -> int:
        if self._id is None:
            raise RuntimeError("the message is not written yet: flush its outbox first")
        return self._id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ref):
            return NotImplemented
        return self is other or (self._id is not None and self._id == other._id)

    def __hash__(self) -> int:
        return hash(self._id) if self._id is not None else id(self)

    def __repr__(self) -> str:
        return f"Ref({self._id})"


Target = int | Ref  # a Telegram message id, or a queued message


def markup_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    """The Bot API's JSON of a keyboard, as stored in the outbox."""
    if markup is None:
        return None
    return markup.model_dump(mode="json", exclude_none=True)


class Notify(Protocol):
    """Wakes the sender: messages were queued (to ``chat_id``, when to one chat only)."""

    def __call__(self, chat_id: int | None = None) -> None: ...


class Outbox:
    """Bot API calls to one chat, queued in ``session``'s transaction.

    ``after_commit`` holds what must wait until the answer is stored (the bot's own
    scratch state); the middleware runs it once the transaction has committed.

    With ``buffered`` the calls are kept in memory and written together, in one statement,
    by :meth:`flush`, which must then run before the transaction commits (the update's
    middleware does); a call that names a message still in memory flushes it first. Code
    that reads or deletes outbox rows in the same transaction flushes first too.
    """

    def __init__(self, session: AsyncSession, chat_id: int, *, buffered: bool = False) -> None:
        self.session = session
        self.chat_id = chat_id
        self.buffered = buffered
        self._after: list[Callable[[], object]] = []
        self._pending: list[tuple[Ref, outbox.Queued]] = []
        self.queued = 0
        self.chats: set[int] = set()  # the chats queued to
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
        self.chats.add(self.chat_id if chat_id is None else chat_id)
        if ref is not None and not ref.written:
            await self.flush()  # the edit names the row of a message queued just now
        call = outbox.Queued(
            chat_id=self.chat_id if chat_id is None else chat_id,
            method=method,
            payload={k: v for k, v in payload.items() if v is not None},
            purpose=purpose,
            ref_id=ref.outbox_id if ref is not None else None,
            case_id=case_id,
        )
        made = Ref()
        self._pending.append((made, call))
        if not self.buffered:
            await self.flush()
        return made

    async def flush(self) -> None:
        """Write the calls kept in memory (one statement), in the order they were queued."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        ids = await outbox.enqueue_many(self.session, [call for _, call in pending], now=utcnow())
        for (made, _), outbox_id in zip(pending, ids, strict=True):
            made._id = outbox_id

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
