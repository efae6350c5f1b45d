"""Logs carry no citizen's text, chat id, username or phone number.

Our own log lines name an update by its id and an exception by its type and its frames
(:func:`describe`), never by its message: an exception's message can quote what a citizen
typed, or a domain error's parameters. aiogram's loggers (``aiogram.*``) write chat ids in
flood-control and migration errors and exception messages after failed updates; the filter
:class:`AiogramRecords`, put on them by :func:`install` where logging is configured (``minyi
serve``), masks every long number but the update's and the bot's id, any number named as a
chat's or user's, ``@usernames`` but the bot's, bot tokens and phone numbers, and keeps of
an exception its type and frames. The sender logs a refused call through :func:`summary`,
which masks the same way.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

from surveys.core.masking import mask_text

AIOGRAM = "aiogram"
# aiogram's own loggers (aiogram.loggers) and the modules that log under their own name.
AIOGRAM_LOGGERS = (
    "aiogram",
    "aiogram.dispatcher",
    "aiogram.event",
    "aiogram.middlewares",
    "aiogram.webhook",
    "aiogram.scene",
    "aiogram.client.session.middlewares.request_logging",
    "aiogram.utils.chat_action",
)
MASK = "***"
# A bot token (its secret half is a credential), wherever an error quotes a URL.
_BOT_TOKEN = re.compile(r"[0-9]{3,}:[A-Za-z0-9_-]{30,}")
# A number named as a chat's or user's, however short ("in chat 1300", "chat_id=42",
# "'user_id': 7"); the bot's own id ("bot id=…") is not one of them.
_NAMED_ID = re.compile(
    r"""(?i)(?<![A-Za-z])((?:chat|user|sender)(?:[ _]?id)?['"]?\s*[=:]?\s*['"]?)-?[0-9]+"""
)
# A chat or user id: five digits or more, a group's negative; update and bot ids and the
# decimals of a number (``Sleep for 1.000000 seconds``) stay.
_LONG_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_])(?<![0-9]\.)(?<!pdate id=)(?<!bot id=)(?<!bot id = )-?[0-9]{5,}(?![0-9])"
)
# A public username (``@name``, also a channel's chat id); the bot's own ("bot @name") stays.
# Not the local part of an e-mail address, which mask_text shortens itself.
_USERNAME = re.compile(r"(?<![\w.%+@-])(?<!bot )@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w.-]*\.[A-Za-z])")


def mask_ids(text: str) -> str:
    """``text`` with chat and user ids, usernames, bot tokens and phone numbers masked."""
    text = _BOT_TOKEN.sub(MASK, text)
    text = _NAMED_ID.sub(lambda m: m.group(1) + MASK, text)
    text = _USERNAME.sub(MASK, text)
    return mask_text(_LONG_NUMBER.sub(MASK, text))


def summary(exc: BaseException) -> str:
    """The exception's type; for aiogram's and Telegram's own errors (whose text comes from
    Telegram, not from a citizen) its message too, with ids masked."""
    name = type(exc).__name__
    if _is_aiogram_error(exc):
        return f"{name}: {mask_ids(str(exc))}"
    return name


def _message(exc: BaseException) -> str:
    """What aiogram's ``"%s: %s", type(e).__name__, e`` shows of ``e``: aiogram's and
    Telegram's own text with ids masked; of any other exception its type only."""
    return mask_ids(str(exc)) if _is_aiogram_error(exc) else type(exc).__name__


def _is_aiogram_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of aiogram's errors; without importing aiogram (a process with
    no bot never loads it, and then no exception can be one of its)."""
    exceptions = sys.modules.get("aiogram.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.AiogramError)


def describe(exc: BaseException) -> str:
    """The traceback of ``exc`` and of its causes: frames (file, line, code) and each
    exception's :func:`summary`; no message, no local values."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{summary(current)}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n\nwhile handling or caused by:\n".join(reversed(parts))


class AiogramRecords(logging.Filter):
    """Masks the records of aiogram's loggers (it keeps every record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != AIOGRAM and not record.name.startswith(AIOGRAM + "."):
            return True
        if getattr(record, "minyi_masked", False):
            return True
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_message(a) if isinstance(a, BaseException) else a for a in args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format: keep what it said, masked
            message = f"{record.msg} {args!r}"
        record.msg, record.args = mask_ids(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = describe(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_ids(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_ids(record.stack_info)
        record.minyi_masked = True
        return True


_FILTER = AiogramRecords()


def install() -> None:
    """Put the filter on aiogram's loggers, and on the root handlers for any other aiogram
    logger; installing twice changes nothing."""
    names = set(AIOGRAM_LOGGERS) | {
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.startswith(AIOGRAM + ".")
    }
    for name in sorted(names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def uninstall() -> None:
    """Take the filter off again (for tests)."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.removeFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        handler.removeFilter(_FILTER)
