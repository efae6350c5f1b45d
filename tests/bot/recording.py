"""A Bot API that records every call in memory, and a citizen who talks to the dispatcher.

In the spirit of aiogram's own ``tests/mocked_bot.py``: :class:`RecordingSession` is a
``BaseSession`` that keeps each :class:`TelegramMethod` it is asked to call, in order, and
answers it as Telegram would: a sent or edited :class:`Message` (with an id, remembered per
chat so later edits and button presses see it), ``True`` for calls that return a flag, and
the bot itself for ``getMe``. Editing a message the bot never sent fails as it does on
Telegram, with a 400 "message to edit not found".
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)

from bot.sender import Sender

M = TypeVar("M", bound=TelegramMethod[Any])
TOKEN = "42:TEST"
BOT_USER = User(id=42, is_bot=True, first_name="民意", username="minyi_test_bot")
NOW = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


class RecordingSession(BaseSession):
    """Records each Bot API call and returns a plausible result for it."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: deque[TelegramMethod[Any]] = deque()
        self.messages: dict[tuple[int, int], Message] = {}
        self._message_ids = itertools.count(1)
        self.closed = False

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        self.requests.append(method)
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, SendMessage):
            return self._send(bot, method)
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            return self._edit(bot, method)
        if method.__returning__ is bool:
            return True
        raise NotImplementedError(f"{method.__api_method__} has no recorded answer")

    def _send(self, bot: Bot, method: SendMessage) -> Message:
        chat_id = int(method.chat_id)
        message = Message(
            message_id=next(self._message_ids),
            date=NOW,
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            text=method.text,
            reply_markup=cast(InlineKeyboardMarkup | None, method.reply_markup),
        ).as_(bot)
        self.messages[chat_id, message.message_id] = message
        return message

    def _edit(self, bot: Bot, method: EditMessageText | EditMessageReplyMarkup) -> Message:
        key = (int(method.chat_id or 0), method.message_id or 0)
        old = self.messages.get(key)
        if old is None:
            raise TelegramBadRequest(method, "Bad Request: message to edit not found")
        # As on Telegram, an edit without a keyboard leaves the message without buttons.
        changes: dict[str, Any] = {
            "reply_markup": method.reply_markup,
            "edit_date": int(NOW.timestamp()),
        }
        if isinstance(method, EditMessageText):
            changes["text"] = method.text
        message = Message.model_validate(
            {**old.model_dump(exclude_none=True), **changes}, context={"bot": bot}
        )
        self.messages[key] = message
        return message

    async def close(self) -> None:
        self.closed = True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("these tests download nothing")
        yield b""  # pragma: no cover - makes this an async generator

    # --- reading what was recorded ------------------------------------------------------

    def calls(self, kind: type[M]) -> list[M]:
        """Every recorded call of one method, oldest first."""
        return [call for call in self.requests if isinstance(call, kind)]

    def chat(self, chat_id: int) -> list[Message]:
        """The bot's messages in one chat as they look now (edits applied), oldest first."""
        return sorted(
            (m for (chat, _), m in self.messages.items() if chat == chat_id),
            key=lambda m: m.message_id,
        )


class RecordingBot(Bot):
    """A bot with a fixed identity whose every call lands in a :class:`RecordingSession`."""

    session: RecordingSession

    def __init__(self) -> None:
        super().__init__(TOKEN, session=RecordingSession())
        self._me = BOT_USER


def buttons(message: Message) -> list[InlineKeyboardButton]:
    markup = message.reply_markup
    return [] if markup is None else [b for row in markup.inline_keyboard for b in row]


def labels(message: Message) -> list[str]:
    return [b.text for b in buttons(message)]


@dataclass
class Citizen:
    """One Telegram user in a private chat, whose messages and presses go to the dispatcher."""

    dp: Dispatcher
    bot: RecordingBot
    sender: Sender  # drains what each update queued, as the server's sender does
    user_id: int
    update_ids: Iterator[int]  # shared by every citizen of a test, as on one bot
    language_code: str | None = "zh-hans"
    updates: list[Update] = field(default_factory=list)

    @property
    def user(self) -> User:
        return User(
            id=self.user_id, is_bot=False, first_name="市民", language_code=self.language_code
        )

    @property
    def session(self) -> RecordingSession:
        return self.bot.session

    def mark(self) -> int:
        """How many calls were recorded so far: ``since(mark)`` gives the ones after."""
        return len(self.session.requests)

    def since(self, mark: int) -> list[TelegramMethod[Any]]:
        return list(self.session.requests)[mark:]

    def texts_since(self, mark: int) -> list[str]:
        """The texts the bot sent to this chat after ``mark``."""
        return [
            call.text
            for call in self.since(mark)
            if isinstance(call, SendMessage) and call.chat_id == self.user_id
        ]

    def messages(self) -> list[Message]:
        return self.session.chat(self.user_id)

    def prompt(self) -> Message:
        """The bot's newest message in this chat that still has buttons."""
        for message in reversed(self.messages()):
            if buttons(message):
                return message
        raise AssertionError("no message with buttons")

    async def feed(self, update: Update) -> Any:
        """Hand the update to the dispatcher, then send what it queued."""
        self.updates.append(update)
        result = await self.dp.feed_update(self.bot, update)
        await self.sender.drain()
        return result

    async def say(self, text: str) -> Any:
        entities = None
        if text.startswith("/"):
            command = text.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        message = Message(
            message_id=next(self.update_ids) + 100_000,
            date=NOW,
            chat=Chat(id=self.user_id, type="private"),
            from_user=self.user,
            text=text,
            entities=entities,
        )
        return await self.feed(self._update(message=message))

    async def press(self, label: str, message: Message | None = None) -> Any:
        """Press the button labelled ``label`` under ``message`` (by default the prompt)."""
        message = message or self.prompt()
        for button in buttons(message):
            if button.text == label:
                assert button.callback_data is not None
                return await self.click(message, button.callback_data)
        raise AssertionError(f"no button {label!r} in {labels(message)}")

    async def click(self, message: Message, data: str) -> Any:
        """A callback query with any ``data``, as if pressed under ``message``."""
        query = CallbackQuery(
            id=f"q{self.user_id}-{len(self.updates)}",
            from_user=self.user,
            chat_instance=f"ci{self.user_id}",
            message=message,
            data=data,
        )
        return await self.feed(self._update(callback_query=query))

    def _update(self, **event: Any) -> Update:
        update = Update(update_id=next(self.update_ids), **event)
        return Update.model_validate(update.model_dump(), context={"bot": self.bot})
