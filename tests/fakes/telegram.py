"""A fake Telegram Bot API server for end-to-end tests.

It speaks the real Bot API over HTTP (``{base}/bot{token}/{method}``), so the real aiogram bot
talks to it through ``AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))``. Error
descriptions, text parsing (HTML, MarkdownV2, Markdown) and getUpdates offset semantics follow
the official server (tdlib/telegram-bot-api).

Standalone, for manual testing::

    python -m tests.fakes.telegram --port 8081 --token 123456:TEST
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
WATCH_TICK: Final = 0.02  # how often the server checks that its own loop is on time
STALL: Final = 0.1  # a wake-up this much late is a stall of the server's loop
AFTER_STALL: Final = 1.0  # what arrived in a stall is handled in the second after it
T = TypeVar("T")

DEFAULT_TOKEN: Final = "123456:TEST"
MAX_MESSAGE_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
LONG_POLL_MAX_TIMEOUT: Final = 50

UNAUTHORIZED: Final = "Unauthorized"
NOT_FOUND: Final = "Not Found"
CHAT_ID_EMPTY: Final = "Bad Request: chat_id is empty"
CHAT_NOT_FOUND: Final = "Bad Request: chat not found"
MESSAGE_TEXT_EMPTY: Final = "Bad Request: message text is empty"
TEXT_MUST_BE_NON_EMPTY: Final = "Bad Request: text must be non-empty"
MESSAGE_TOO_LONG: Final = "Bad Request: message is too long"
EDITED_MESSAGE_TOO_LONG: Final = "Bad Request: MESSAGE_TOO_LONG"
CAPTION_TOO_LONG: Final = "Bad Request: message caption is too long"
MESSAGE_TO_EDIT_NOT_FOUND: Final = "Bad Request: message to edit not found"
MESSAGE_CANT_BE_EDITED: Final = "Bad Request: message can't be edited"
MESSAGE_TO_DELETE_NOT_FOUND: Final = "Bad Request: message to delete not found"
MESSAGE_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_ID_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
BUTTON_DATA_INVALID: Final = "Bad Request: BUTTON_DATA_INVALID"
REPLY_MARKUP_NOT_JSON: Final = "Bad Request: can't parse reply keyboard markup JSON object"
TEXT_BUTTONS_UNALLOWED: Final = (
    "Bad Request: can't parse inline keyboard button: "
    "Text buttons are unallowed in the inline keyboard"
)
INVALID_LANGUAGE_CODE: Final = "Bad Request: invalid language code specified"
BOT_BLOCKED: Final = "Forbidden: bot was blocked by the user"
CANT_INITIATE: Final = "Forbidden: bot can't initiate conversation with a user"
WEBHOOK_ACTIVE: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
OTHER_GET_UPDATES: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
TERMINATED_BY_SET_WEBHOOK: Final = "Conflict: terminated by setWebhook request"

# Methods that create a message: they count against the chat's and the global flood limits.
MESSAGE_METHODS: Final = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "sendvideo",
        "sendaudio",
        "sendvoice",
        "sendvideonote",
        "sendanimation",
        "sendsticker",
        "sendlocation",
        "sendvenue",
        "sendcontact",
        "sendpoll",
        "senddice",
        "sendinvoice",
        "sendmediagroup",
        "sendpaidmedia",
        "copymessage",
        "copymessages",
        "forwardmessage",
        "forwardmessages",
    }
)
# Methods that change a message: they count against the global flood limit only.
EDIT_METHODS: Final = frozenset(
    {"editmessagetext", "editmessagereplymarkup", "editmessagecaption", "editmessagemedia"}
)

UPDATE_TYPES: Final = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "purchased_paid_media",
)
# Telegram leaves these out unless they are asked for explicitly.
DEFAULT_ALLOWED_UPDATES: Final = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


class BotApiError(Exception):
    """A call Telegram refuses; rendered as its ``{"ok": false, ...}`` answer."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(message: str) -> BotApiError:
    """A 400 answer; ``message`` is the part after ``Bad Request: ``."""
    return BotApiError(400, f"Bad Request: {message}")


def _error(description: str) -> BotApiError:
    code = {"Bad Request": 400, "Forbidden": 403, "Conflict": 409}[description.split(":")[0]]
    return BotApiError(code, description)


def _now() -> int:
    return int(time.time())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


_INTEGER: Final = re.compile(r"-?\d+")


def _to_integer(raw: str) -> int:
    """Parse like Telegram: leading digits count, anything else is 0."""
    match = _INTEGER.match(raw.strip())
    return int(match.group()) if match else 0


# --------------------------------------------------------------------------- request arguments


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


class Params:
    """Call arguments as the Bot API sees them: all strings, where empty means absent."""

    def __init__(
        self, args: Mapping[str, str], files: Mapping[str, UploadedFile] | None = None
    ) -> None:
        self.args = dict(args)
        self.files = dict(files or {})

    def get(self, name: str) -> str:
        return self.args.get(name, "")

    def integer(self, name: str, default: int = 0) -> int:
        raw = self.get(name)
        return _to_integer(raw) if raw else default

    def flag(self, name: str) -> bool:
        return self.get(name).strip().lower() in {"true", "yes", "1"}

    def parse_json(self, name: str, error: str) -> Any:
        """The decoded JSON value of ``name``, None when absent; ``error`` if it is not JSON."""
        raw = self.get(name)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request(error) from None


def _arg_string(value: Any) -> str:
    # Telegram flattens JSON bodies the same way: top-level values become strings.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return _dumps(value)


def _json_body_args(raw: bytes) -> dict[str, str]:
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {str(key): _arg_string(value) for key, value in body.items() if value is not None}


def _multipart_args(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser().parsebytes(header + body)
    args: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = _part_payload(part)
        if part.get_filename():
            files[name] = payload
        else:
            args[name] = payload.decode()
    return args, files


def _part_payload(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


async def _read_params(request: web.Request) -> Params:
    args = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body and request.content_type == "application/json":
        args.update(_json_body_args(await request.read()))
    elif request.can_read_body and request.content_type in _FORM_TYPES:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = UploadedFile(value.filename, value.content_type, value.file.read())
            else:
                args[name] = value if isinstance(value, str) else bytes(value).decode()
    return Params(args, files)


def _reply_args(content_type: str, body: bytes) -> dict[str, str]:
    """Arguments of a method call returned in a webhook response body."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        return _json_body_args(body)
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    if media_type == "multipart/form-data":
        return _multipart_args(content_type, body)[0]
    return {}


# --------------------------------------------------------------------------- text formatting


@dataclass
class FormattedText:
    """Text after entity parsing, with its entities (offsets in UTF-16 code units)."""

    text: str
    entities: list[JSON] = field(default_factory=list)


def _entities_error(message: str) -> BotApiError:
    return bad_request(f"can't parse entities: {message}")


_SPACE_BYTES: Final = frozenset(b" \t\r\n\v\0")
_DIGITS: Final = frozenset(b"0123456789")
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_LETTERS: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_TOKEN: Final = _LETTERS | _DIGITS | frozenset(b".-")
_NAMED_HTML_ENTITIES: Final = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": 34}


def _byte_at(data: bytes, index: int) -> int:
    return data[index] if index < len(data) else 0


def _numeric_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    end = pos + 2
    hexadecimal = _byte_at(src, end) == ord("x")
    end += hexadecimal
    allowed = _HEX_DIGITS if hexadecimal else _DIGITS
    start = end
    while _byte_at(src, end) in allowed and _byte_at(src, end):
        end += 1
    code = int(src[start:end], 16 if hexadecimal else 10) if end > start else 0
    if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
        return 0, pos
    return code, end


def _decode_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    """Decode ``&...;`` at ``pos`` like Telegram: (code point or 0, position after it)."""
    if _byte_at(src, pos + 1) == ord("#"):
        code, end = _numeric_html_entity(src, pos)
    else:
        end = pos + 1
        while _byte_at(src, end) in _LETTERS:
            end += 1
        code = _NAMED_HTML_ENTITIES.get(src[pos + 1 : end], 0)
    if not code:
        return 0, pos
    return code, end + (_byte_at(src, end) == ord(";"))


class _Scanner:
    """A cursor over UTF-8 input writing parsed text and tracking its UTF-16 length."""

    def __init__(self, text: str) -> None:
        self.src = text.encode()
        self.pos = 0
        self.out = bytearray()
        self.utf16 = 0
        self.entities: list[JSON] = []

    def at(self, offset: int = 0) -> int:
        return _byte_at(self.src, self.pos + offset)

    def emit(self, byte: int) -> None:
        if byte & 0xC0 != 0x80:
            self.utf16 += 2 if byte >= 0xF0 else 1
        self.out.append(byte)
        self.pos += 1

    def emit_char(self, code: int) -> None:
        self.out += chr(code).encode()
        self.utf16 += 2 if code > 0xFFFF else 1

    def add_entity(self, kind: str, offset: int, **extra: Any) -> None:
        length = self.utf16 - offset
        if length > 0:
            self.entities.append({"offset": offset, "length": length, "type": kind, **extra})

    def skip_spaces(self) -> None:
        while self.at() != 0 and self.at() in _SPACE_BYTES:
            self.pos += 1

    def pre_language(self) -> str:
        """After an opening triple backtick: read the language and skip one new line."""
        end = self.pos
        while self.at(end - self.pos) not in _SPACE_BYTES and self.at(end - self.pos) != 0x60:
            end += 1
        language = ""
        if end != self.pos and end < len(self.src) and _byte_at(self.src, end) != 0x60:
            language = self.src[self.pos : end].decode(errors="replace")
            self.pos = end
        if self.at() in (0x0A, 0x0D):
            pair = self.at(1) in (0x0A, 0x0D) and self.at(1) != self.at()
            self.pos += 2 if pair else 1
        return language

    def result(self) -> FormattedText:
        entities = [
            {key: value for key, value in entity.items() if not key.startswith("_")}
            for entity in sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        ]
        return FormattedText(self.out.decode(errors="replace"), entities)


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int
    out_pos: int


_HTML_TAGS: Final = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji"}
    | {"tg-time", "span", "pre", "code", "blockquote"}
)
_SIMPLE_HTML_ENTITIES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


def _html_argument(tag: str, attribute: str, value: str, current: str) -> str:
    if (tag, attribute) in {("a", "href"), ("tg-emoji", "emoji-id")}:
        return value
    if (tag, attribute) == ("code", "class") and value.startswith("language-"):
        return value.removeprefix("language-")
    if (tag, attribute) == ("span", "class") and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if (tag, attribute) == ("blockquote", "expandable"):
        return "1"
    return current


class _HtmlParser(_Scanner):
    """Telegram's HTML parse mode, ported from tdlib's ``parse_html``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.open: list[_OpenTag] = []

    def parse(self) -> FormattedText:
        while self.pos < len(self.src):
            byte = self.at()
            if byte == ord("&") and self._html_entity():
                continue
            if byte != ord("<"):
                self.emit(byte)
            elif self.at(1) == ord("/"):
                self._end_tag()
            else:
                self._start_tag()
        if self.open:
            name = self.open[-1].name
            raise _entities_error(f'Can\'t find end tag corresponding to start tag "{name}"')
        return self.result()

    def _html_entity(self) -> bool:
        code, end = _decode_html_entity(self.src, self.pos)
        if not code:
            return False
        self.emit_char(code)
        self.pos = end
        return True

    def _start_tag(self) -> None:
        begin = self.pos
        self.pos += 1
        while self.at() not in _SPACE_BYTES and self.at() != ord(">"):
            self.pos += 1
        if self.at() == 0:
            raise _entities_error(f"Unclosed start tag at byte offset {begin}")
        name = self.src[begin + 1 : self.pos].decode(errors="replace").lower()
        if name not in _HTML_TAGS:
            raise _entities_error(f'Unsupported start tag "{name}" at byte offset {begin}')
        argument = self._attributes(name, begin)
        if name == "span" and argument != "spoiler":
            raise _entities_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
            )
        self.pos += 1
        self.open.append(_OpenTag(name, argument, self.utf16, len(self.out)))

    def _attributes(self, tag: str, begin: int) -> str:
        argument = ""
        while self.at() != ord(">"):
            self.skip_spaces()
            if self.at() == ord(">"):
                break
            attribute = self._attribute_name(tag, begin)
            self.skip_spaces()
            if self.at() != ord("="):
                if self.at() == 0:
                    raise _entities_error(f'Unclosed start tag "{tag}" at byte offset {begin}')
                argument = _html_argument(tag, attribute, "", argument)
                continue
            self.pos += 1
            self.skip_spaces()
            if self.at() == 0:
                raise _entities_error(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value = self._attribute_value()
            if self.at() == 0:
                raise _entities_error(f"Unclosed start tag at byte offset {begin}")
            argument = _html_argument(tag, attribute, value, argument)
        return argument

    def _attribute_name(self, tag: str, begin: int) -> str:
        start = self.pos
        while self.at() not in _SPACE_BYTES and self.at() not in b"=>/\"'":
            self.pos += 1
        if self.pos == start:
            raise _entities_error(
                f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
            )
        return self.src[start : self.pos].decode(errors="replace")

    def _attribute_value(self) -> str:
        quote = self.at()
        if quote not in b"\"'":
            start = self.pos
            while self.at() in _NAME_TOKEN:
                self.pos += 1
            if self.at() not in _SPACE_BYTES and self.at() != ord(">"):
                raise _entities_error(f"Unexpected end of name token at byte offset {start}")
            return self.src[start : self.pos].decode().lower()
        self.pos += 1
        value = bytearray()
        while self.at() not in (quote, 0):
            code, end = _decode_html_entity(self.src, self.pos) if self.at() == 38 else (0, 0)
            if code:
                value += chr(code).encode()
                self.pos = end
            else:
                value.append(self.at())
                self.pos += 1
        self.pos += self.at() == quote
        return value.decode(errors="replace")

    def _end_tag(self) -> None:
        begin = self.pos
        if not self.open:
            raise _entities_error(f"Unexpected end tag at byte offset {begin}")
        self.pos += 1
        while self.at() not in _SPACE_BYTES and self.at() != ord(">"):
            self.pos += 1
        end_name = self.src[begin + 2 : self.pos].decode(errors="replace").lower()
        self.skip_spaces()
        if self.at() != ord(">"):
            raise _entities_error(f"Unclosed end tag at byte offset {begin}")
        tag = self.open[-1]
        if end_name and end_name != tag.name:
            raise _entities_error(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        self.pos += 1
        self.open.pop()
        if self.utf16 > tag.offset:
            self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        simple = _SIMPLE_HTML_ENTITIES.get(tag.name)
        if simple is not None:
            self.add_entity(simple, tag.offset)
        elif tag.name == "a":
            url = tag.argument or self.out[tag.out_pos :].decode(errors="replace")
            if url:
                self.add_entity("text_link", tag.offset, url=url)
        elif tag.name == "tg-emoji":
            if _to_integer(tag.argument) == 0:
                raise _entities_error("Invalid custom emoji identifier specified")
            self.add_entity("custom_emoji", tag.offset, custom_emoji_id=tag.argument)
        elif tag.name == "blockquote":
            self.add_entity("expandable_blockquote" if tag.argument else "blockquote", tag.offset)
        elif tag.name in ("pre", "code"):
            self._close_code(tag)

    def _close_code(self, tag: _OpenTag) -> None:
        # <pre><code class="language-x">...</code></pre> makes one pre entity with a language.
        last = self.entities[-1] if self.entities else None
        same = last is not None and (last["offset"], last["length"]) == (
            tag.offset,
            self.utf16 - tag.offset,
        )
        if last is not None and same and tag.name == "pre" and last.get("_language"):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
        elif last is not None and same and tag.name == "code" and last["type"] == "pre":
            if tag.argument:
                last["language"] = tag.argument
        elif tag.name == "code" and tag.argument:
            self.add_entity("code", tag.offset, _language=tag.argument)
        else:
            self.add_entity(tag.name, tag.offset)


@dataclass
class _OpenEntity:
    kind: str
    argument: str
    offset: int
    byte_offset: int
    out_pos: int


_MDV2_RESERVED: Final = frozenset(b"_*[]()~`>#+-=|{}.!\n")
_MDV2_CLOSERS: Final = {
    "bold": b"*",
    "italic": b"_",
    "underline": b"__",
    "strikethrough": b"~",
    "spoiler": b"||",
    "code": b"`",
    "pre": b"```",
    "text_link": b"]",
    "custom_emoji": b"]",
    "blockquote": b"",
}
_TDLIB_TYPE_NAMES: Final = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}


def _reserved_error(byte: int) -> BotApiError:
    return _entities_error(
        f"Character '{chr(byte)}' is reserved and must be escaped with the preceding '\\'"
    )


class _MarkdownV2Parser(_Scanner):
    """Telegram's MarkdownV2 parse mode, ported from tdlib's ``parse_markdown_v2``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.open: list[_OpenEntity] = []
        self.quote_open = False
        self.can_quote = True

    def parse(self) -> FormattedText:
        while self.pos < len(self.src):
            byte = self.at()
            if byte == ord("\\") and 0 < self.at(1) <= 126:
                self._escaped()
            elif byte not in self._reserved():
                if byte & 0xC0 != 0x80 and byte != ord("\r"):
                    self.can_quote = False
                self.emit(byte)
            elif self._is_end(byte):
                self._end_entity(byte)
            else:
                self._begin_entity(byte)
        self._finish()
        return self.result()

    def _reserved(self) -> frozenset[int]:
        if self.open and self.open[-1].kind in ("code", "pre"):
            return frozenset(b"`")
        return _MDV2_RESERVED

    def _escaped(self) -> None:
        self.pos += 1
        byte = self.at()
        if byte != ord("\r"):
            self.can_quote = byte == ord("\n")
        self.emit(byte)

    def _is_end(self, byte: int) -> bool:
        if not self.open:
            return False
        if self.quote_open and byte == ord("\n") and self.at(1) != ord(">"):
            return True
        kind = self.open[-1].kind
        if kind == "italic":
            return byte == ord("_") and self.at(1) != ord("_")
        closer = _MDV2_CLOSERS[kind]
        return bool(closer) and self.src.startswith(closer, self.pos)

    def _begin_entity(self, byte: int) -> None:
        start = self.pos
        if byte == ord("\n"):
            self.emit(byte)
            self.can_quote = True
            return
        if byte == ord(">"):
            if not self.can_quote:
                raise _reserved_error(byte)
            self.pos += 1
            if not self.quote_open:
                self.quote_open = True
                self.open.append(_OpenEntity("blockquote", "", self.utf16, start, len(self.out)))
            return
        kind, argument = self._opener(byte)
        self.open.append(_OpenEntity(kind, argument, self.utf16, start, len(self.out)))

    def _opener(self, byte: int) -> tuple[str, str]:
        doubled = self.at(1) == byte
        simple = {ord("*"): "bold", ord("~"): "strikethrough", ord("["): "text_link"}
        if byte in simple:
            self.pos += 1
            return simple[byte], ""
        if byte == ord("_"):
            self.pos += 2 if doubled else 1
            return ("underline" if doubled else "italic"), ""
        if byte == ord("|") and doubled:
            self.pos += 2
            return "spoiler", ""
        if byte == ord("!") and self.at(1) == ord("["):
            self.pos += 2
            return "custom_emoji", ""
        if byte == ord("`") and doubled and self.at(2) == ord("`"):
            self.pos += 3
            return "pre", self.pre_language()
        if byte == ord("`"):
            self.pos += 1
            return "code", ""
        raise _reserved_error(byte)

    def _end_entity(self, byte: int) -> None:
        entity = self.open[-1]
        if entity.kind == "blockquote":
            self._end_quote(entity)
            return
        if byte == ord("\n"):
            raise self._unclosed(entity)
        self.pos += len(_MDV2_CLOSERS[entity.kind])
        extra: JSON = {}
        if entity.kind == "text_link":
            extra["url"] = self._link_url(entity)
        elif entity.kind == "custom_emoji":
            extra["custom_emoji_id"] = self._emoji_id()
        elif entity.kind == "pre" and entity.argument:
            extra["language"] = entity.argument
        self.open.pop()
        if entity.kind != "text_link" or extra["url"]:
            self.add_entity(entity.kind, entity.offset, **extra)

    def _end_quote(self, entity: _OpenEntity) -> None:
        self.emit(ord("\n"))
        self.can_quote = True
        self.quote_open = False
        self.open.pop()
        self.add_entity("blockquote", entity.offset)

    def _unclosed(self, entity: _OpenEntity) -> BotApiError:
        name = _TDLIB_TYPE_NAMES[entity.kind]
        if entity.kind == "pre" and entity.argument:
            name = "PreCode"
        return _entities_error(
            f"Can't find end of {name} entity at byte offset {entity.byte_offset}"
        )

    def _bracket_url(self) -> str | None:
        """Read ``(url)`` right after ``]``; None when there is no parenthesis."""
        if self.at() != ord("("):
            return None
        self.pos += 1
        begin = self.pos
        url = bytearray()
        while self.pos < len(self.src) and self.at() != ord(")"):
            if self.at() == ord("\\") and 0 < self.at(1) <= 126:
                self.pos += 1
            url.append(self.at())
            self.pos += 1
        if self.at() != ord(")"):
            raise _entities_error(f"Can't find end of a URL at byte offset {begin}")
        self.pos += 1
        return url.decode(errors="replace")

    def _link_url(self, entity: _OpenEntity) -> str:
        url = self._bracket_url()
        if url is None:
            return self.out[entity.out_pos :].decode(errors="replace")
        return url

    def _emoji_id(self) -> str:
        url = self._bracket_url()
        if url is None:
            raise _entities_error("The entity must contain a tg://emoji or tg://time URL")
        match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
        if match is None:
            raise _entities_error("Invalid tg://emoji or tg://time URL specified")
        return match.group(1)

    def _finish(self) -> None:
        if self.quote_open and self.open and self.open[-1].kind == "blockquote":
            entity = self.open.pop()
            self.quote_open = False
            self.add_entity("blockquote", entity.offset)
        if self.open:
            raise self._unclosed(self.open[-1])


class _MarkdownParser(_Scanner):
    """Telegram's legacy Markdown parse mode, ported from tdlib's ``parse_markdown``."""

    def parse(self) -> FormattedText:
        while self.pos < len(self.src):
            byte = self.at()
            if byte == ord("\\") and self.at(1) in b"_*`[":
                self.pos += 1
                self.emit(self.at())
            elif byte in b"_*`[":
                self._entity(byte)
            else:
                self.emit(byte)
        return self.result()

    def _entity(self, byte: int) -> None:
        begin = self.pos
        end_byte = ord("]") if byte == ord("[") else byte
        self.pos += 1
        is_pre = byte == ord("`") and self.at() == ord("`") and self.at(1) == ord("`")
        language = ""
        if is_pre:
            self.pos += 2
            language = self.pre_language()
        offset = self.utf16
        while self.pos < len(self.src) and not self._at_end(end_byte, is_pre):
            self.emit(self.at())
        if self.pos >= len(self.src):
            raise _entities_error(f"Can't find end of the entity starting at byte offset {begin}")
        if self.utf16 != offset:
            self._add(byte, offset, begin, is_pre, language)
        self.pos += 3 if is_pre else 1

    def _at_end(self, end_byte: int, is_pre: bool) -> bool:
        if is_pre:
            return self.src.startswith(b"```", self.pos)
        return self.at() == end_byte

    def _add(self, byte: int, offset: int, begin: int, is_pre: bool, language: str) -> None:
        if byte == ord("["):
            url = self.src[begin + 1 : self.pos].decode(errors="replace")
            if self.at(1) == ord("("):
                end = self.src.find(b")", self.pos)
                end = len(self.src) if end < 0 else end
                url = self.src[self.pos + 2 : end].decode(errors="replace")
                self.pos = end
            if url:
                self.add_entity("text_link", offset, url=url)
        elif is_pre:
            self.add_entity("pre", offset, **({"language": language} if language else {}))
        else:
            kind = {ord("_"): "italic", ord("*"): "bold", ord("`"): "code"}[byte]
            self.add_entity(kind, offset)


_PARSERS: Final[dict[str, Callable[[str], _HtmlParser | _MarkdownV2Parser | _MarkdownParser]]] = {
    "html": _HtmlParser,
    "markdownv2": _MarkdownV2Parser,
    "markdown": _MarkdownParser,
}


def parse_text(text: str, parse_mode: str = "", entities: str = "") -> FormattedText:
    """Parse ``text`` with a Bot API ``parse_mode`` (or explicit JSON ``entities``)."""
    if len(text.encode()) > 1 << 15:
        raise bad_request("text is too long")
    mode = parse_mode.lower()
    if text and mode and mode != "none":
        parser = _PARSERS.get(mode)
        if parser is None:
            raise bad_request("unsupported parse_mode")
        return parser(text).parse()
    return FormattedText(text, _explicit_entities(entities))


def _explicit_entities(raw: str) -> list[JSON]:
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        raise bad_request("can't parse entities JSON object") from None
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, dict)]


def trim_text(formatted: FormattedText) -> FormattedText:
    """Trim the way Telegram stores messages; all-blank text is refused."""
    text = formatted.text.rstrip()
    if not text.strip():
        raise _error(TEXT_MUST_BE_NON_EMPTY)
    limit = _utf16_len(text)
    entities = [
        {**entity, "length": min(entity["length"], limit - entity["offset"])}
        for entity in formatted.entities
        if entity["offset"] < limit
    ]
    first_entity = min((entity["offset"] for entity in entities), default=limit)
    lead = 0
    while lead < first_entity and text[lead] in " \n":
        lead += 1
    for entity in entities:
        entity["offset"] -= lead
    return FormattedText(text[lead:], entities)


_BOT_COMMAND: Final = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def detect_entities(text: str) -> list[JSON]:
    """Entities Telegram adds to a user's plain text; only ``bot_command`` is detected."""
    return [
        {
            "offset": _utf16_len(text[: match.start()]),
            "length": _utf16_len(match.group()),
            "type": "bot_command",
        }
        for match in _BOT_COMMAND.finditer(text)
    ]


# --------------------------------------------------------------------------- reply markup

_INLINE_ACTIONS: Final = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
_INLINE_BUTTON_EXTRAS: Final = ("style", "icon_custom_emoji_id")
_ROW_ERRORS: Final = {
    "keyboard": 'field "keyboard" must be an Array of Arrays',
    "inline_keyboard": 'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of '
    "Arrays",
}


def _string_field(obj: Mapping[str, Any], name: str, prefix: str, *, required: bool) -> str:
    if name not in obj:
        if required:
            raise bad_request(f'{prefix}Can\'t find field "{name}"')
        return ""
    value = obj[name]
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise bad_request(f'{prefix}Field "{name}" must be of type String')


def _inline_button(button: Any) -> JSON | None:
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise bad_request(prefix + "InlineKeyboardButton must be an Object")
    text = _string_field(button, "text", prefix, required=True)
    action = next((name for name in _INLINE_ACTIONS if _has_action(button, name, prefix)), None)
    if action is None:
        raise _error(TEXT_BUTTONS_UNALLOWED)
    if not text:
        return None
    value = button[action]
    if action in ("url", "callback_data"):
        value = _string_field(button, action, prefix, required=True)
    normalized: JSON = {"text": text, action: value}
    normalized.update({key: button[key] for key in _INLINE_BUTTON_EXTRAS if key in button})
    return normalized


def _has_action(button: Mapping[str, Any], name: str, prefix: str) -> bool:
    if name in ("url", "callback_data"):
        return bool(_string_field(button, name, prefix, required=False))
    return name in button


def _keyboard_button(button: Any) -> JSON | None:
    prefix = "can't parse keyboard button: "
    if isinstance(button, str):
        return {"text": button} if button else None
    if not isinstance(button, dict):
        raise bad_request(prefix + "KeyboardButton must be a String or an Object")
    text = _string_field(button, "text", prefix, required=True)
    return {**button, "text": text} if text else None


def _button_rows(
    markup: Mapping[str, Any], name: str, parse_button: Callable[[Any], JSON | None]
) -> list[list[JSON]]:
    rows = markup.get(name)
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise bad_request(f'field "{name}" must be of type Array')
    result: list[list[JSON]] = []
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(_ROW_ERRORS[name])
        buttons = [parsed for parsed in map(parse_button, row) if parsed is not None]
        if buttons:
            result.append(buttons)
    return result


def parse_reply_markup(raw: str) -> JSON | None:
    """Validate a ``reply_markup`` argument like Telegram; returns it normalized or None."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise _error(REPLY_MARKUP_NOT_JSON) from None
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    keyboard = _button_rows(value, "keyboard", _keyboard_button)
    inline_keyboard = _button_rows(value, "inline_keyboard", _inline_button)
    if keyboard:
        return {**value, "keyboard": keyboard}
    if inline_keyboard:
        return {"inline_keyboard": inline_keyboard}
    if value.get("remove_keyboard") or value.get("hide_keyboard"):
        return {key: value[key] for key in ("remove_keyboard", "selective") if key in value}
    if value.get("force_reply"):
        return dict(value)
    return None


def _check_url(url: str) -> None:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme.lower() in ("tg", "ton"):
        return
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in url:
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def check_inline_keyboard(markup: JSON | None) -> None:
    """The checks Telegram's servers apply to inline buttons after local parsing."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA_BYTES:
                raise _error(BUTTON_DATA_INVALID)
            if "url" in button:
                _check_url(str(button["url"]))


# --------------------------------------------------------------------------- recorded state


@dataclass(eq=False)
class FakeUser:
    """A simulated user talking to the bot in a private chat (chat id == user id)."""

    telegram: FakeTelegram = field(repr=False)
    id: int
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "zh-hans"
    is_premium: bool = False
    started: bool = False
    blocked: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        data.update({key: value for key, value in optional.items() if value})
        if self.is_premium:
            data["is_premium"] = True
        return data

    def chat_json(self) -> JSON:
        data: JSON = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        data["type"] = "private"
        return data

    def send_text(self, text: str, *, entities: list[JSON] | None = None) -> JSON:
        return self.telegram.send_text(self, text, entities=entities)

    def click(
        self, message: FakeMessage | int, callback_data: str, *, force: bool = False
    ) -> JSON:
        return self.telegram.click(self, message, callback_data, force=force)

    def press(self, message: FakeMessage | int, button_text: str) -> JSON:
        return self.telegram.press(self, message, button_text)

    def messages(self) -> list[FakeMessage]:
        return self.telegram.messages(self)

    def last_message(self) -> FakeMessage:
        return self.telegram.last_message(self)

    async def wait_for_message(
        self,
        match: str | Callable[[FakeMessage], bool] | None = None,
        *,
        timeout: float = 10.0,
        since: int | None = None,
        include_edits: bool = False,
    ) -> FakeMessage:
        return await self.telegram.wait_for_message(
            self, match, timeout=timeout, since=since, include_edits=include_edits
        )


@dataclass
class MessageVersion:
    """One state of a message: the original or one edit."""

    text: str | None
    entities: list[JSON]
    reply_markup: JSON | None
    date: int
    seq: int
    method: str
    source_text: str | None = None
    parse_mode: str | None = None


@dataclass(eq=False)
class FakeMessage:
    """A message in a chat; ``versions[0]`` is as sent, later versions are edits."""

    message_id: int
    chat: JSON
    sender: JSON
    date: int
    seq: int
    from_bot: bool
    versions: list[MessageVersion]
    keyboard: JSON | None = None
    document: JSON | None = None
    document_data: bytes | None = None
    reply_to: FakeMessage | None = None
    deleted: bool = False
    deleted_seq: int | None = None

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def current(self) -> MessageVersion:
        return self.versions[-1]

    @property
    def text(self) -> str | None:
        return self.current.text

    @property
    def entities(self) -> list[JSON]:
        return self.current.entities

    @property
    def reply_markup(self) -> JSON | None:
        """The inline keyboard attached to the message, as Telegram echoes it."""
        return self.current.reply_markup

    @property
    def edits(self) -> list[MessageVersion]:
        return self.versions[1:]

    @property
    def edit_date(self) -> int | None:
        return self.current.date if self.edits else None

    @property
    def last_change_seq(self) -> int:
        return max(self.current.seq, self.deleted_seq or 0)

    @property
    def button_rows(self) -> list[list[tuple[str, str | None]]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(button["text"], button.get("callback_data")) for button in row] for row in rows]

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline buttons as (text, callback_data); callback_data is None for other kinds."""
        return [button for row in self.button_rows for button in row]

    @property
    def keyboard_buttons(self) -> list[str]:
        """Texts of the reply keyboard sent with this message."""
        rows = (self.keyboard or {}).get("keyboard", [])
        return [button["text"] for row in rows for button in row]

    def to_json(self, *, with_reply: bool = True) -> JSON:
        data: JSON = {
            "message_id": self.message_id,
            "from": dict(self.sender),
            "chat": dict(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        if self.document is not None:
            data["document"] = dict(self.document)
        text_key, entities_key = (
            ("caption", "caption_entities") if self.document else ("text", "entities")
        )
        if self.text is not None:
            data[text_key] = self.text
        if self.entities:
            data[entities_key] = [dict(entity) for entity in self.entities]
        if self.reply_markup is not None:
            data["reply_markup"] = json.loads(_dumps(self.reply_markup))
        return data

    def describe(self) -> str:
        author = "bot" if self.from_bot else "user"
        notes = " (deleted)" if self.deleted else ""
        notes += f" (edited {len(self.edits)}x)" if self.edits else ""
        buttons = f" buttons={self.buttons}" if self.buttons else ""
        head = f"#{self.message_id} {author} seq={self.last_change_seq}{notes}"
        return f"{head}: {self.text!r}{buttons}"


@dataclass(frozen=True)
class CallbackAnswer:
    """The bot's answerCallbackQuery for one query."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    seq: int


@dataclass(eq=False)
class CallbackQuery:
    """A button press by a simulated user."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    seq: int
    update_id: int = 0
    answer: CallbackAnswer | None = None


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request and the answer given.

    ``injected``: not performed, answered by ``fail_next``, ``inject_faults``, a flood limit
    or a too-early retry instead (status 0 and an empty response: the connection was dropped).
    """

    method: str
    params: Mapping[str, str]
    status: int
    response: JSON
    via_webhook: bool = False
    injected: bool = False


@dataclass(frozen=True)
class ApiError:
    """An error answer the bot received (injected failures are not listed)."""

    method: str
    error_code: int
    description: str
    params: Mapping[str, str]

    def __str__(self) -> str:
        return f"{self.method} -> {self.error_code} {self.description} {dict(self.params)}"


@dataclass(frozen=True)
class CommandsChange:
    """A setMyCommands or deleteMyCommands call that went through."""

    method: str
    commands: list[JSON]
    scope: JSON
    language_code: str


@dataclass
class Webhook:
    """The webhook set with setWebhook."""

    url: str
    secret_token: str
    max_connections: int = 40
    deliveries: int = 0
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Chat:
    user: FakeUser
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    next_message_id: int = 1
    last_user_seq: int = 0
    info: JSON | None = None  # a group chat's Chat object; None for a private chat

    def chat_json(self) -> JSON:
        return dict(self.info) if self.info is not None else self.user.chat_json()


@dataclass
class _Pending:
    update: JSON
    replayed: bool = False
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _LongPoll:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    conflict: str | None = None


@dataclass
class _Injected:
    error: BotApiError
    times: int


@dataclass(frozen=True)
class _Described:
    result: Any
    description: str


# -------------------------------------------------------------------- flood limits and faults


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits; ``FakeTelegram(limits=Limits())`` enforces them.

    Message-creating calls (``MESSAGE_METHODS``) take a token from their chat's bucket
    (capacity ``chat_burst + 1``, refilled at ``chat_per_second``; for a group chat, i.e. a
    negative chat id, capacity ``group_per_minute`` refilled at ``group_per_minute / 60`` per
    second) and from the global bucket (capacity ``per_second + 1``, refilled at
    ``per_second``). Edits (``EDIT_METHODS``) take from the global bucket only; other methods
    are not limited.
    """

    per_second: float = 30
    chat_per_second: float = 1
    chat_burst: int = 3
    group_per_minute: int = 20

    def __post_init__(self) -> None:
        if min(self.per_second, self.chat_per_second, self.group_per_minute) <= 0:
            raise ValueError("flood limits must be positive")
        if self.chat_burst < 0:
            raise ValueError("chat_burst cannot be negative")


@dataclass(frozen=True)
class Violation:
    """A call refused with 429 because it was over a flood limit (it was not performed)."""

    method: str
    chat_id: int | None
    time: float  # on the server's clock (FakeTelegram.clock)
    limit: str  # "global", "chat" or "group"
    retry_after: int


@dataclass(frozen=True)
class EarlyRetry:
    """A call to a chat before the retry_after of an earlier 429 for that chat had passed."""

    method: str
    chat_id: int
    early: float  # seconds before the chat's retry-until time
    time: float  # on the server's clock


@dataclass
class _Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def wait(self, now: float) -> float:
        """Refill up to ``now``; seconds until a token is available (0 when one is)."""
        self.tokens = min(self.capacity, self.tokens + max(now - self.stamp, 0.0) * self.rate)
        self.stamp = max(self.stamp, now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate


@dataclass
class _Faults:
    rate_429: float
    retry_after: int
    rate_5xx: float
    rate_drop: float
    methods: frozenset[str]
    rng: random.Random


class _Dropped(Exception):
    """The call's connection is to be dropped without an answer."""


_RETRY_TOLERANCE: Final = 0.001  # seconds; a retry this close to retry-until is on time


def _retry_after(wait: float) -> int:
    return max(1, math.ceil(wait - 1e-9))


def _chat_key(params: Params) -> int | None:
    raw = params.get("chat_id").strip()
    if not raw or raw.startswith("@"):
        return None
    return _to_integer(raw)


_Handler = Callable[[Params], Awaitable[Any]]
_NO_WEBHOOK_REPLY: Final = frozenset({"deletewebhook", "setwebhook", "close", "logout"})
_ACCEPTED_METHODS: Final = (
    "sendChatAction",
    "setChatMenuButton",
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setMyDefaultAdministratorRights",
    "close",
    "logOut",
)


def _matcher(match: str | Callable[[FakeMessage], bool] | None) -> Callable[[FakeMessage], bool]:
    if match is None:
        return lambda message: True
    if isinstance(match, str):
        return lambda message: match in (message.text or "")
    return match


def _describe_match(match: str | Callable[[FakeMessage], bool] | None) -> str:
    if match is None:
        return "anything"
    if isinstance(match, str):
        return f"text containing {match!r}"
    return getattr(match, "__name__", repr(match))


# --------------------------------------------------------------------------- the server


class FakeTelegram:
    """A fake Bot API server plus the simulated users on the other side of the chats."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = "Minyi Test Bot",
        bot_username: str = "minyi_test_bot",
        first_update_id: int = 1,
        webhook_retry_delay: float = 0.5,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``limits`` turns on Telegram's flood limits (off by default); ``clock`` is the
        monotonic clock they, ``violations``, ``early_retries`` and ``sends_per_second`` use."""
        bot_id, separator, _ = token.partition(":")
        if not separator or not bot_id.isdigit():
            raise ValueError("a bot token looks like '<bot id>:<secret>'")
        self.token = token
        self.bot_id = int(bot_id)
        self.host = host
        self.port = port
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.webhook_retry_delay = webhook_retry_delay
        self.users: dict[int, FakeUser] = {}
        self.calls: list[ApiCall] = []
        self.errors: list[ApiError] = []
        self.updates: list[JSON] = []
        self.skipped_updates: list[JSON] = []
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.commands_changes: list[CommandsChange] = []
        self.webhook: Webhook | None = None
        self.limits = limits
        self.clock = clock
        self.violations: list[Violation] = []
        self.early_retries: list[EarlyRetry] = []
        self.fault_counts: dict[str, int] = {"429": 0, "500": 0, "502": 0, "drop": 0}
        self._faults: _Faults | None = None
        self._buckets: dict[tuple[str, int | None], _Bucket] = {}
        self._retry_until: dict[int, float] = {}
        self._send_times: list[float] = []
        # Moments this server's own event loop was held up (shared with the test's tasks, a
        # garbage collection, a busy machine): what arrived meanwhile is only seen after.
        self.stalls: list[tuple[float, float]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._chats: dict[int, _Chat] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._queue: list[_Pending] = []
        self._all_updates: dict[int, JSON] = {}
        self._next_update_id = first_update_id
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._seq = 0
        self._allowed_updates = DEFAULT_ALLOWED_UPDATES
        self._long_poll: _LongPoll | None = None
        self._changed = asyncio.Event()
        self._webhook_wake = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        # Telegram keeps its webhook connections open; False opens one per delivery, so that
        # several server processes behind one port each get some (set before the webhook).
        self.webhook_keeps_connections = True
        self._injected: dict[str, list[_Injected]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._last_activity = time.monotonic()
        self._methods: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
        }
        for name in _ACCEPTED_METHODS:
            self._methods[name.lower()] = self._accept
        self.app = self._make_app()

    # ----------------------------------------------------------------- lifecycle

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/_fake/state", self._handle_state)
        app.router.add_post("/_fake/send_text", self._handle_send_text)
        app.router.add_post("/_fake/click", self._handle_click)
        return app

    async def start(self) -> Self:
        """Listen on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("the fake Telegram server is already running")
        self._closing = False
        # handler_cancellation: a long poll whose client went away must not linger.
        runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        if self.clock is time.monotonic:
            self._watcher = asyncio.create_task(self._watch_loop())
        return self

    async def _watch_loop(self) -> None:
        """Record each moment the loop woke more than ``STALL`` seconds late."""
        while True:
            due = time.monotonic() + WATCH_TICK
            await asyncio.sleep(WATCH_TICK)
            woke = time.monotonic()
            if woke - due > STALL:
                self.stalls.append((due, woke))

    async def stop(self) -> None:
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._long_poll is not None:
            self._long_poll.wake.set()
        await self._stop_webhook_worker()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What to give ``TelegramAPIServer.from_base``."""
        return f"http://{self.host}:{self.port}"

    def api_url(self, method: str) -> str:
        return f"{self.base_url}/bot{self.token}/{method}"

    # ----------------------------------------------------------------- HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        params = await _read_params(request)
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            error = BotApiError(401, UNAUTHORIZED)
            status, body = 401, error.to_json()
            self._record(method, params, status, body, request=request)
        else:
            try:
                status, body = await self._call(method, params, request=request)
            except _Dropped:
                return self._drop(request)
        return web.json_response(body, status=status, dumps=_dumps)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        # Abort the connection: the client sees it closed with no answer. aiohttp ignores
        # the response it then fails to write.
        transport = request.transport
        if transport is not None:
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            else:
                transport.close()
        return web.Response(status=500)

    async def _call(
        self,
        method: str,
        params: Params,
        *,
        request: web.Request | None = None,
        via_webhook: bool = False,
    ) -> tuple[int, JSON]:
        name = method.lower()
        if name != "getupdates":
            self._last_activity = time.monotonic()
        try:
            refused = self._refuse(method, name, params)
        except _Dropped:
            self.calls.append(ApiCall(method, params.args, 0, {}, via_webhook, True))
            raise
        if refused is not None:
            body = refused.to_json()
            self.calls.append(
                ApiCall(method, params.args, refused.error_code, body, via_webhook, True)
            )
            return refused.error_code, body
        if name in MESSAGE_METHODS:
            self._send_times.append(self.clock())
        handler = self._methods.get(name)
        try:
            if handler is None:
                raise BotApiError(404, NOT_FOUND)
            result = await handler(params)
        except BotApiError as error:
            status, body = error.error_code, error.to_json()
        else:
            status, body = 200, self._ok(result)
        self._record(method, params, status, body, request=request, via_webhook=via_webhook)
        return status, body

    @staticmethod
    def _ok(result: Any) -> JSON:
        if isinstance(result, _Described):
            return {"ok": True, "result": result.result, "description": result.description}
        return {"ok": True, "result": result}

    def _record(
        self,
        method: str,
        params: Params,
        status: int,
        body: JSON,
        *,
        request: web.Request | None = None,
        via_webhook: bool = False,
    ) -> None:
        self.calls.append(ApiCall(method, params.args, status, body, via_webhook))
        if status == 200:
            return
        # An answer to a client that already hung up was never seen by the bot.
        transport = request.transport if request is not None else None
        if request is None or (transport is not None and not transport.is_closing()):
            self.errors.append(ApiError(method, status, str(body["description"]), params.args))
        self._notify()

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (not listed in ``errors``)."""
        defaults = {
            403: BOT_BLOCKED,
            429: f"Too Many Requests: retry after {retry_after or 1}",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }
        text = description or defaults.get(error_code, "Bad Request: injected failure")
        parameters = {"retry_after": retry_after or 1} if error_code == 429 else None
        error = BotApiError(error_code, text, parameters)
        self._injected.setdefault(method.lower(), []).append(_Injected(error, times))

    def _refuse(self, method: str, name: str, params: Params) -> BotApiError | None:
        """The answer to give instead of performing the call, if any.

        In order: a retry before the chat's retry_after passed, a ``fail_next`` failure, an
        ``inject_faults`` fault (raises _Dropped for a dropped connection), a flood limit.
        """
        chat_id = _chat_key(params)
        now = self.clock()
        early = self._early_retry(method, chat_id, now)
        if early is not None:
            return early
        injected = self._take_injected(name)
        if injected is not None:
            return injected
        fault = self._fault(name, chat_id, now)
        if fault is not None:
            return fault
        return self._over_limit(method, name, chat_id, now)

    @staticmethod
    def _too_many_requests(retry_after: int) -> BotApiError:
        return BotApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    def _throttle(self, chat_id: int | None, now: float, retry_after: int) -> BotApiError:
        """A 429 answer; the chat must then wait ``retry_after`` seconds."""
        if chat_id is not None:
            until = now + retry_after
            self._retry_until[chat_id] = max(self._retry_until.get(chat_id, until), until)
        return self._too_many_requests(retry_after)

    def _early_retry(self, method: str, chat_id: int | None, now: float) -> BotApiError | None:
        until = self._retry_until.get(chat_id) if chat_id is not None else None
        if chat_id is None or until is None:
            return None
        if now >= until - _RETRY_TOLERANCE:
            del self._retry_until[chat_id]
            return None
        self.early_retries.append(EarlyRetry(method, chat_id, until - now, now))
        return self._throttle(chat_id, now, _retry_after(until - now))

    def inject_faults(
        self,
        rate_429: float = 0.0,
        retry_after: int = 1,
        rate_5xx: float = 0.0,
        rate_drop: float = 0.0,
        methods: Iterable[str] | None = None,
        seed: int = 0,
    ) -> None:
        """Make calls of ``methods`` fail at random, reproducibly for a given ``seed``.

        Each call (by default of ``MESSAGE_METHODS`` and ``EDIT_METHODS``) is, with these
        probabilities, answered 429 with ``retry_after``, answered 500 or 502, or has its
        connection dropped without an answer; none of these is performed. Counted in
        ``fault_counts``, listed in ``calls`` with ``injected=True``, not in ``errors``.
        """
        rates = (rate_429, rate_5xx, rate_drop)
        if min(rates) < 0 or sum(rates) > 1:
            raise ValueError("fault rates must be probabilities adding up to at most 1")
        if retry_after < 1:
            raise ValueError("retry_after must be at least 1")
        names = MESSAGE_METHODS | EDIT_METHODS if methods is None else methods
        self._faults = _Faults(
            rate_429,
            retry_after,
            rate_5xx,
            rate_drop,
            frozenset(name.lower() for name in names),
            random.Random(seed),
        )

    def clear_faults(self) -> None:
        """Stop injecting random faults (``fault_counts`` is kept)."""
        self._faults = None

    def _fault(self, name: str, chat_id: int | None, now: float) -> BotApiError | None:
        faults = self._faults
        if faults is None or name not in faults.methods:
            return None
        draw = faults.rng.random()
        if draw < faults.rate_429:
            self.fault_counts["429"] += 1
            return self._throttle(chat_id, now, faults.retry_after)
        draw -= faults.rate_429
        if draw < faults.rate_5xx:
            code = 500 if faults.rng.random() < 0.5 else 502
            self.fault_counts[str(code)] += 1
            description = "Internal Server Error" if code == 500 else "Bad Gateway"
            return BotApiError(code, description)
        if draw - faults.rate_5xx < faults.rate_drop:
            self.fault_counts["drop"] += 1
            raise _Dropped
        return None

    def _bucket(self, kind: str, chat_id: int | None, now: float) -> _Bucket:
        bucket = self._buckets.get((kind, chat_id))
        if bucket is None:
            limits = self.limits
            assert limits is not None
            capacity, rate = {
                "global": (limits.per_second + 1, limits.per_second),
                "chat": (limits.chat_burst + 1, limits.chat_per_second),
                "group": (limits.group_per_minute, limits.group_per_minute / 60),
            }[kind]
            bucket = _Bucket(capacity, rate, capacity, now)
            self._buckets[kind, chat_id] = bucket
        return bucket

    def _over_limit(
        self, method: str, name: str, chat_id: int | None, now: float
    ) -> BotApiError | None:
        if self.limits is None or name not in MESSAGE_METHODS | EDIT_METHODS:
            return None
        buckets = []
        if name in MESSAGE_METHODS and chat_id is not None:
            kind = "group" if chat_id < 0 else "chat"
            buckets.append((kind, self._bucket(kind, chat_id, now)))
        buckets.append(("global", self._bucket("global", None, now)))
        waits = [(bucket.wait(now), kind) for kind, bucket in buckets]
        wait, kind = max(waits, key=lambda item: item[0])
        if wait > 0:
            retry_after = _retry_after(wait)
            self.violations.append(Violation(method, chat_id, now, kind, retry_after))
            return self._throttle(chat_id, now, retry_after)
        for _, bucket in buckets:
            bucket.tokens -= 1
        return None

    def _take_injected(self, name: str) -> BotApiError | None:
        queue = self._injected.get(name)
        if not queue:
            return None
        injected = queue[0]
        injected.times -= 1
        if injected.times <= 0:
            queue.pop(0)
        return injected.error

    # ----------------------------------------------------------------- bookkeeping

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def mark(self) -> int:
        """The current event sequence number, for ``since=`` in the wait helpers."""
        return self._seq

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def bot_user_json(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ----------------------------------------------------------------- updates

    def enqueue(self, payload: JSON) -> JSON:
        """Queue a raw update such as ``{"message": {...}}``; the update_id is assigned here."""
        update: JSON = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        self.updates.append(update)
        self._all_updates[update["update_id"]] = update
        kind = next((key for key in payload if key in UPDATE_TYPES), None)
        if kind not in self._allowed_updates:
            self.skipped_updates.append(update)
        else:
            self._queue.append(_Pending(update))
            self._updates_arrived()
        self._last_activity = time.monotonic()
        self._notify()
        return update

    def replay(self, update: int | JSON) -> JSON:
        """Deliver an update again with the same update_id, as after a crash.

        The replayed update ignores offset confirmations until it has been delivered again.
        """
        update_id = update if isinstance(update, int) else int(update["update_id"])
        original = self._all_updates.get(update_id)
        if original is None:
            raise AssertionError(f"update {update_id} was never created")
        pending = next((item for item in self._queue if item.update_id == update_id), None)
        if pending is None:
            ids = [item.update_id for item in self._queue]
            self._queue.insert(bisect.bisect(ids, update_id), _Pending(original, replayed=True))
        else:
            pending.replayed, pending.delivered = True, False
        self._updates_arrived()
        self._notify()
        return original

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot."""
        return [pending.update for pending in self._queue]

    def _updates_arrived(self) -> None:
        if self._long_poll is not None:
            self._long_poll.wake.set()
        self._webhook_wake.set()

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._queue = self._queue[offset:]
        elif 0 < offset <= self._next_update_id:
            self._queue = [
                pending
                for pending in self._queue
                if pending.update_id >= offset or (pending.replayed and not pending.delivered)
            ]

    def _take(self, limit: int) -> list[JSON]:
        batch = self._queue[:limit]
        for pending in batch:
            pending.delivered = True
        return [pending.update for pending in batch]

    def _set_allowed_updates(self, raw: str) -> None:
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            return
        names = {name.lower() for name in value} & set(UPDATE_TYPES)
        self._allowed_updates = frozenset(names) if names else DEFAULT_ALLOWED_UPDATES

    async def _get_updates(self, params: Params) -> list[JSON]:
        if self.webhook is not None:
            raise _error(WEBHOOK_ACTIVE)
        limit = _clamp(params.integer("limit", 100), 1, 100)
        timeout = _clamp(params.integer("timeout"), 0, LONG_POLL_MAX_TIMEOUT)
        self._set_allowed_updates(params.get("allowed_updates"))
        self._confirm(params.integer("offset"))
        self._notify()
        batch = self._take(limit)
        if batch or timeout == 0 or self._closing:
            return batch
        return await self._long_poll_for(limit, timeout)

    async def _long_poll_for(self, limit: int, timeout: int) -> list[JSON]:
        self._abort_long_poll(OTHER_GET_UPDATES)
        poll = _LongPoll()
        self._long_poll = poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while not self._closing and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.wake.wait(), deadline - loop.time())
                poll.wake.clear()
                if poll.conflict is not None:
                    raise _error(poll.conflict)
                batch = self._take(limit)
                if batch:
                    return batch
            return []
        finally:
            if self._long_poll is poll:
                self._long_poll = None

    def _abort_long_poll(self, conflict: str) -> None:
        if self._long_poll is not None:
            self._long_poll.conflict = conflict
            self._long_poll.wake.set()
            self._long_poll = None

    # ----------------------------------------------------------------- webhook

    async def _set_webhook(self, params: Params) -> _Described:
        url = params.get("url")
        if not url:
            return await self._delete_webhook(params)
        secret = params.get("secret_token")
        drop = params.flag("drop_pending_updates")
        self._set_allowed_updates(params.get("allowed_updates"))
        current = self.webhook
        if current is not None and (current.url, current.secret_token, drop) == (
            url,
            secret,
            False,
        ):
            return _Described(True, "Webhook is already set")
        _check_webhook(url, secret)
        self._abort_long_poll(TERMINATED_BY_SET_WEBHOOK)
        if drop:
            self._queue.clear()
        await self._stop_webhook_worker()
        max_connections = _clamp(params.integer("max_connections", 40), 1, 100)
        self.webhook = Webhook(url, secret, max_connections)
        self._webhook_task = asyncio.create_task(self._webhook_worker(self.webhook))
        self._notify()
        return _Described(True, "Webhook was set")

    async def _delete_webhook(self, params: Params) -> _Described:
        if params.flag("drop_pending_updates"):
            self._queue.clear()
        if self.webhook is None:
            return _Described(True, "Webhook is already deleted")
        await self._stop_webhook_worker()
        self.webhook = None
        self._notify()
        return _Described(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: Params) -> JSON:
        hook = self.webhook
        info: JSON = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if hook is not None and hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
        if self._allowed_updates != DEFAULT_ALLOWED_UPDATES:
            info["allowed_updates"] = [
                name for name in UPDATE_TYPES if name in self._allowed_updates
            ]
        return info

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _webhook_worker(self, hook: Webhook) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10),
                json_serialize=_dumps,
                connector=aiohttp.TCPConnector(force_close=not self.webhook_keeps_connections),
            )
        while True:
            if not self._queue:
                self._webhook_wake.clear()
                await self._webhook_wake.wait()
                continue
            pending = self._queue[0]
            pending.delivered = True
            if await self._deliver(hook, pending.update):
                with contextlib.suppress(ValueError):
                    self._queue.remove(pending)
                self._notify()
            else:
                await asyncio.sleep(self.webhook_retry_delay)

    async def _deliver(self, hook: Webhook, update: JSON) -> bool:
        assert self._http is not None
        headers = (
            {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        )
        try:
            async with self._http.post(hook.url, json=update, headers=headers) as response:
                body = await response.read()
                status, reason = response.status, response.reason
                content_type = response.headers.get("Content-Type", "")
        except (aiohttp.ClientError, TimeoutError) as error:
            self._webhook_failed(hook, f"Connection failed: {type(error).__name__}: {error}")
            return False
        if not 200 <= status <= 299:
            self._webhook_failed(hook, f"Wrong response from the webhook: {status} {reason}")
            return False
        hook.deliveries += 1
        args = _reply_args(content_type, body)
        method = args.pop("method", "")
        # Like Telegram: a method in the webhook response is executed, except these.
        if (
            method
            and method.lower() not in _NO_WEBHOOK_REPLY
            and not method.lower().startswith("get")
        ):
            with contextlib.suppress(_Dropped):
                await self._call(method, Params(args), via_webhook=True)
        return True

    def _webhook_failed(self, hook: Webhook, message: str) -> None:
        hook.last_error_date = _now()
        hook.last_error_message = message
        self._notify()

    # ----------------------------------------------------------------- chats and users

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        is_premium: bool = False,
        started: bool = False,
    ) -> FakeUser:
        """The user ``user_id``, created on first use (later keyword arguments are ignored).

        A user who never wrote to the bot cannot be messaged; pass ``started=True`` or have
        them send something first.
        """
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        if user_id <= 0 or user_id == self.bot_id:
            raise ValueError(f"{user_id} cannot be a user id")
        user = FakeUser(
            self, user_id, first_name, last_name, username, language_code, is_premium, started
        )
        self.users[user_id] = user
        self._chats[user_id] = _Chat(user)
        return user

    def group(self, chat_id: int, *, title: str = "Test group") -> int:
        """A group chat with the bot in it (``chat_id`` < 0), created on first use.

        The bot can send to it; an id starting with -100 makes it a supergroup.
        """
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if chat_id not in self._chats:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            placeholder = FakeUser(self, chat_id, first_name=title, started=True)
            info: JSON = {"id": chat_id, "title": title, "type": kind}
            self._chats[chat_id] = _Chat(placeholder, info=info)
        return chat_id

    def _resolve_user(self, user: FakeUser | int) -> FakeUser:
        return user if isinstance(user, FakeUser) else self.user(user)

    def _helper_chat(self, chat: FakeUser | int) -> _Chat:
        chat_id = chat.id if isinstance(chat, FakeUser) else chat
        state = self._chats.get(chat_id)
        if state is None:
            raise AssertionError(f"no chat {chat_id}; known chats: {sorted(self._chats)}")
        return state

    def _api_chat(self, raw: str) -> _Chat:
        if not raw:
            raise _error(CHAT_ID_EMPTY)
        state = None if raw.startswith("@") else self._chats.get(_to_integer(raw))
        if state is None:
            raise _error(CHAT_NOT_FOUND)
        return state

    @staticmethod
    def _check_not_blocked(chat: _Chat) -> None:
        if chat.user.blocked:
            raise _error(BOT_BLOCKED)

    def _check_can_send(self, chat: _Chat) -> None:
        self._check_not_blocked(chat)
        if not chat.user.started:
            raise _error(CANT_INITIATE)

    def block(self, user: FakeUser | int) -> JSON:
        """The user blocks the bot; returns the my_chat_member update Telegram sends.

        Every later call to the chat (send, edit, delete, chat action) gets 403 BOT_BLOCKED
        until ``unblock`` or the user writes again.
        """
        blocker = self._resolve_user(user)
        blocker.blocked = True
        return self.enqueue({"my_chat_member": self._member_change(blocker, "member", "kicked")})

    def unblock(self, user: FakeUser | int) -> JSON:
        unblocker = self._resolve_user(user)
        unblocker.blocked = False
        return self.enqueue({"my_chat_member": self._member_change(unblocker, "kicked", "member")})

    def _member_change(self, user: FakeUser, old: str, new: str) -> JSON:
        new_member: JSON = {"user": self.bot_user_json(), "status": new}
        if new == "kicked":
            new_member["until_date"] = 0
        return {
            "chat": user.chat_json(),
            "from": user.to_json(),
            "date": _now(),
            "old_chat_member": {"user": self.bot_user_json(), "status": old},
            "new_chat_member": new_member,
        }

    # ----------------------------------------------------------------- user actions

    def send_text(
        self, user: FakeUser | int, text: str, *, entities: list[JSON] | None = None
    ) -> JSON:
        """The user sends ``text``; commands get their ``bot_command`` entity like on Telegram."""
        sender = self._resolve_user(user)
        if sender.blocked:
            self.unblock(sender)
        sender.started = True
        chat = self._chats[sender.id]
        seq = self._next_seq()
        version = MessageVersion(
            text,
            detect_entities(text) if entities is None else entities,
            None,
            _now(),
            seq,
            "user",
        )
        message = FakeMessage(
            chat.next_message_id,
            sender.chat_json(),
            sender.to_json(),
            _now(),
            seq,
            False,
            [version],
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        chat.last_user_seq = seq
        return self.enqueue({"message": message.to_json()})

    def click(
        self,
        user: FakeUser | int,
        message: FakeMessage | int,
        callback_data: str,
        *,
        force: bool = False,
    ) -> JSON:
        """The user presses the inline button carrying ``callback_data``.

        Raises AssertionError when the message is not the bot's or has no such button
        (deleted, or edited away) unless ``force`` is set, to simulate stale buttons.
        """
        clicker = self._resolve_user(user)
        chat = self._chats[clicker.id]
        target = self._clickable(chat, message, callback_data, force=force)
        seq = self._next_seq()
        chat.last_user_seq = seq
        query = CallbackQuery(
            str(next(self._query_ids)),
            clicker.id,
            clicker.id,
            target.message_id,
            callback_data,
            seq,
        )
        self.callback_queries[query.id] = query
        update = self.enqueue(
            {
                "callback_query": {
                    "id": query.id,
                    "from": clicker.to_json(),
                    "message": target.to_json(),
                    "chat_instance": str(-(clicker.id * 7919 + self.bot_id)),
                    "data": callback_data,
                }
            }
        )
        query.update_id = int(update["update_id"])
        return update

    def press(self, user: FakeUser | int, message: FakeMessage | int, button_text: str) -> JSON:
        """Click the inline button labelled ``button_text``."""
        chat = self._chats[self._resolve_user(user).id]
        target = self._clickable(chat, message, None, force=False)
        data = next((data for text, data in target.buttons if text == button_text), None)
        if data is None:
            raise AssertionError(
                f"message #{target.message_id} has no callback button {button_text!r}; "
                f"its buttons: {target.buttons}"
            )
        return self.click(user, target, data)

    def _clickable(
        self, chat: _Chat, message: FakeMessage | int, data: str | None, *, force: bool
    ) -> FakeMessage:
        message_id = message if isinstance(message, int) else message.message_id
        target = chat.messages.get(message_id)
        if target is None or not target.from_bot:
            raise AssertionError(
                f"chat {chat.user.id} has no bot message #{message_id}\n" + self._chat_report(chat)
            )
        if force:
            return target
        if target.deleted:
            raise AssertionError(f"message #{message_id} was deleted; use force=True to click it")
        if data is not None and data not in [button for _, button in target.buttons]:
            raise AssertionError(
                f"message #{message_id} has no button with callback_data {data!r}; "
                f"its buttons: {target.buttons} (use force=True to click a stale button)"
            )
        return target

    # ----------------------------------------------------------------- Bot API methods

    async def _get_me(self, params: Params) -> JSON:
        return {
            **self.bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _accept(self, params: Params) -> bool:
        if params.args.get("chat_id") is not None:
            self._check_not_blocked(self._api_chat(params.get("chat_id")))
        return True

    @staticmethod
    def _input_text(params: Params, name: str = "text") -> FormattedText:
        entities_name = "entities" if name == "text" else "caption_entities"
        return parse_text(params.get(name), params.get("parse_mode"), params.get(entities_name))

    def _reply_target(self, chat: _Chat, params: Params) -> FakeMessage | None:
        reply = params.parse_json("reply_parameters", "can't parse reply parameters JSON object")
        message_id = params.integer("reply_to_message_id")
        allow_missing = params.flag("allow_sending_without_reply")
        if isinstance(reply, dict):
            message_id = _to_integer(str(reply.get("message_id", 0)))
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        if message_id <= 0:
            return None
        target = chat.messages.get(message_id)
        if (target is None or target.deleted) and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    def _add_bot_message(
        self,
        chat: _Chat,
        params: Params,
        text: FormattedText | None,
        markup: JSON | None,
        **extra: Any,
    ) -> FakeMessage:
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        keyboard = markup if markup is not None and inline is None else None
        seq = self._next_seq()
        source = params.get("text") or params.get("caption") or None
        version = MessageVersion(
            text.text if text else None,
            text.entities if text else [],
            inline,
            _now(),
            seq,
            "sendDocument" if "document" in extra else "sendMessage",
            source,
            params.get("parse_mode") or None,
        )
        message = FakeMessage(
            chat.next_message_id,
            chat.chat_json(),
            self.bot_user_json(),
            _now(),
            seq,
            True,
            [version],
            keyboard=keyboard,
            **extra,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        self._notify()
        return message

    async def _send_message(self, params: Params) -> JSON:
        if not params.get("text"):
            raise _error(MESSAGE_TEXT_EMPTY)
        formatted = self._input_text(params)
        markup = parse_reply_markup(params.get("reply_markup"))
        chat = self._api_chat(params.get("chat_id"))
        reply_to = self._reply_target(chat, params)
        text = trim_text(formatted)
        if len(text.text) > MAX_MESSAGE_LENGTH:
            raise _error(MESSAGE_TOO_LONG)
        check_inline_keyboard(markup)
        self._check_can_send(chat)
        return self._add_bot_message(chat, params, text, markup, reply_to=reply_to).to_json()

    def _document(self, params: Params) -> tuple[JSON, bytes | None]:
        reference = params.get("document")
        upload = params.files.get("document")
        if reference.startswith("attach://"):
            upload = params.files.get(reference.removeprefix("attach://"))
        elif reference:
            return {"file_id": reference, "file_unique_id": reference[-16:]}, None
        if upload is None:
            raise bad_request("there is no document in the request")
        number = next(self._file_ids)
        document: JSON = {
            "file_name": upload.filename,
            "mime_type": upload.content_type,
            "file_id": f"BQACAgIAAxkDAAI{number:08d}",
            "file_unique_id": f"AgAD{number:08d}",
            "file_size": len(upload.data),
        }
        return document, upload.data

    async def _send_document(self, params: Params) -> JSON:
        document, data = self._document(params)
        caption = self._input_text(params, "caption")
        markup = parse_reply_markup(params.get("reply_markup"))
        chat = self._api_chat(params.get("chat_id"))
        reply_to = self._reply_target(chat, params)
        text = trim_text(caption) if caption.text.strip() else None
        if text is not None and len(text.text) > MAX_CAPTION_LENGTH:
            raise _error(CAPTION_TOO_LONG)
        check_inline_keyboard(markup)
        self._check_can_send(chat)
        message = self._add_bot_message(
            chat, params, text, markup, document=document, document_data=data, reply_to=reply_to
        )
        return message.to_json()

    def _message_to_edit(self, params: Params) -> FakeMessage:
        chat_id = params.get("chat_id")
        message_id = max(params.integer("message_id"), 0)
        if not chat_id and message_id == 0:
            if not params.get("inline_message_id"):
                raise bad_request("message identifier is not specified")
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._api_chat(chat_id)
        self._check_not_blocked(chat)
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise _error(MESSAGE_TO_EDIT_NOT_FOUND)
        if not message.from_bot:
            raise _error(MESSAGE_CANT_BE_EDITED)
        return message

    @staticmethod
    def _inline_markup(markup: JSON | None) -> JSON | None:
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        check_inline_keyboard(markup)
        return markup

    def _apply_edit(
        self,
        message: FakeMessage,
        params: Params,
        method: str,
        text: FormattedText | None,
        markup: JSON | None,
    ) -> None:
        current = message.current
        new_text = text.text if text is not None else current.text
        new_entities = text.entities if text is not None else current.entities
        if (new_text, new_entities, markup) == (
            current.text,
            current.entities,
            current.reply_markup,
        ):
            raise _error(MESSAGE_NOT_MODIFIED)
        source = params.get("text") or current.source_text
        parse_mode = params.get("parse_mode") or None if text is not None else current.parse_mode
        version = MessageVersion(
            new_text, new_entities, markup, _now(), self._next_seq(), method, source, parse_mode
        )
        message.versions.append(version)
        self._notify()

    async def _edit_message_text(self, params: Params) -> JSON:
        if not params.get("text"):
            raise _error(MESSAGE_TEXT_EMPTY)
        formatted = self._input_text(params)
        markup = parse_reply_markup(params.get("reply_markup"))
        message = self._message_to_edit(params)
        if message.document is not None:
            raise bad_request("there is no text in the message to edit")
        text = trim_text(formatted)
        if len(text.text) > MAX_MESSAGE_LENGTH:
            raise _error(EDITED_MESSAGE_TOO_LONG)
        # Without reply_markup Telegram removes the inline keyboard.
        self._apply_edit(message, params, "editMessageText", text, self._inline_markup(markup))
        return message.to_json()

    async def _edit_message_reply_markup(self, params: Params) -> JSON:
        markup = parse_reply_markup(params.get("reply_markup"))
        message = self._message_to_edit(params)
        inline = self._inline_markup(markup)
        self._apply_edit(message, params, "editMessageReplyMarkup", None, inline)
        return message.to_json()

    def _delete(self, chat: _Chat, message_id: int) -> bool:
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            return False
        message.deleted = True
        message.deleted_seq = self._next_seq()
        self._notify()
        return True

    async def _delete_message(self, params: Params) -> bool:
        if not params.get("chat_id"):
            raise bad_request("chat identifier is not specified")
        message_id = max(params.integer("message_id"), 0)
        if message_id == 0:
            raise bad_request("message identifier is not specified")
        chat = self._api_chat(params.get("chat_id"))
        self._check_not_blocked(chat)
        if not self._delete(chat, message_id):
            raise _error(MESSAGE_TO_DELETE_NOT_FOUND)
        return True

    async def _delete_messages(self, params: Params) -> bool:
        ids = params.parse_json("message_ids", "can't parse message_ids JSON object")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        chat = self._api_chat(params.get("chat_id"))
        self._check_not_blocked(chat)
        for message_id in ids:
            self._delete(chat, _to_integer(str(message_id)))
        return True

    async def _answer_callback_query(self, params: Params) -> bool:
        query = self.callback_queries.get(params.get("callback_query_id"))
        if query is None or query.answer is not None:
            raise _error(QUERY_ID_INVALID)
        answer = CallbackAnswer(
            query.id,
            params.get("text") or None,
            params.flag("show_alert"),
            params.get("url") or None,
            _clamp(params.integer("cache_time"), 0, 30 * 24 * 3600),
            self._next_seq(),
        )
        query.answer = answer
        self.callback_answers.append(answer)
        self._notify()
        return True

    # ----------------------------------------------------------------- commands

    def _command_scope(self, params: Params) -> tuple[JSON, str]:
        value = params.parse_json("scope", "can't parse BotCommandScope JSON object")
        scope = {"type": "default"} if value is None else self._validate_scope(value)
        return scope, json.dumps(scope, sort_keys=True)

    def _validate_scope(self, value: Any) -> JSON:
        prefix = "can't parse BotCommandScope: "
        if not isinstance(value, dict):
            raise bad_request(prefix + "BotCommandScope must be an Object")
        kind = _string_field(value, "type", prefix, required=True)
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return {"type": kind}
        if kind not in ("chat", "chat_administrators", "chat_member"):
            raise bad_request(prefix + "Unsupported type specified")
        chat_id = _string_field(value, "chat_id", prefix, required=True)
        if not chat_id:
            raise bad_request(prefix + "Empty chat_id specified")
        scope: JSON = {"type": kind, "chat_id": self._api_chat(chat_id).user.id}
        if kind == "chat_member":
            scope["user_id"] = _to_integer(_string_field(value, "user_id", prefix, required=True))
        if kind != "chat":
            raise bad_request("can't use specified scope in private chats")
        return scope

    @staticmethod
    def _language(params: Params) -> str:
        language = params.get("language_code")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _error(INVALID_LANGUAGE_CODE)
        return language

    @staticmethod
    def _commands_arg(params: Params) -> list[JSON]:
        value = params.parse_json("commands", "can't parse commands JSON object")
        if value is None:
            return []
        if not isinstance(value, list):
            raise bad_request("expected an Array of BotCommand")
        prefix = "can't parse BotCommand: "
        commands = []
        for item in value:
            if not isinstance(item, dict):
                raise bad_request(prefix + "expected an Object")
            command = _string_field(item, "command", prefix, required=True)
            description = _string_field(item, "description", prefix, required=True)
            commands.append({"command": command, "description": description})
        return commands

    @staticmethod
    def _validate_commands(commands: list[JSON]) -> list[JSON]:
        result = []
        for item in commands:
            command = item["command"].strip().removeprefix("/")
            description = item["description"].strip()
            if not command:
                raise bad_request("command must be non-empty")
            if len(command) > 32:
                raise bad_request("command length must not exceed 32")
            if not description:
                raise bad_request("command description must be non-empty")
            if len(description) > 256:
                raise bad_request("command description length must not exceed 256")
            result.append({"command": command, "description": description})
        if any(not re.fullmatch(r"[a-z0-9_]+", item["command"]) for item in result):
            raise bad_request("BOT_COMMAND_INVALID")
        return result

    async def _set_my_commands(self, params: Params) -> bool:
        commands = self._commands_arg(params)
        scope, key = self._command_scope(params)
        language = self._language(params)
        commands = self._validate_commands(commands)
        if commands:
            self._commands[(key, language)] = commands
        else:
            self._commands.pop((key, language), None)
        self.commands_changes.append(CommandsChange("setMyCommands", commands, scope, language))
        self._notify()
        return True

    async def _get_my_commands(self, params: Params) -> list[JSON]:
        _, key = self._command_scope(params)
        return [dict(command) for command in self._commands.get((key, self._language(params)), [])]

    async def _delete_my_commands(self, params: Params) -> bool:
        scope, key = self._command_scope(params)
        language = self._language(params)
        self._commands.pop((key, language), None)
        self.commands_changes.append(CommandsChange("deleteMyCommands", [], scope, language))
        self._notify()
        return True

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """Commands currently set for exactly this scope and language (like getMyCommands)."""
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return [dict(command) for command in self._commands.get((key, language_code), [])]

    # ----------------------------------------------------------------- accessors

    def history(self, chat: FakeUser | int) -> list[FakeMessage]:
        """Every message of the chat, the user's and the bot's, deleted ones included."""
        return list(self._helper_chat(chat).messages.values())

    def messages(
        self, chat: FakeUser | int, *, include_deleted: bool = False
    ) -> list[FakeMessage]:
        """Messages the bot sent to the chat, oldest first."""
        return [
            message
            for message in self._helper_chat(chat).messages.values()
            if message.from_bot and (include_deleted or not message.deleted)
        ]

    def last_message(self, chat: FakeUser | int) -> FakeMessage:
        """The bot's latest message still in the chat."""
        messages = self.messages(chat)
        if not messages:
            raise AssertionError(
                "the bot sent no message to this chat\n"
                + self._chat_report(self._helper_chat(chat))
            )
        return messages[-1]

    def message(self, chat: FakeUser | int, message_id: int) -> FakeMessage:
        state = self._helper_chat(chat)
        if message_id not in state.messages:
            raise AssertionError(f"no message #{message_id}\n" + self._chat_report(state))
        return state.messages[message_id]

    def delivered(self, chat: FakeUser | int) -> list[str]:
        """Texts (captions for documents, "" for none) of the bot's messages to ``chat``, in
        the order they arrived, as sent (later edits and deletions do not change them)."""
        return [
            message.versions[0].text or "" for message in self.messages(chat, include_deleted=True)
        ]

    def duplicates(self) -> list[tuple[int, str]]:
        """(chat id, text) for every bot message whose text repeats the chat's previous one."""
        found: list[tuple[int, str]] = []
        for chat_id in self._chats:
            texts = self.delivered(chat_id)
            found += [
                (chat_id, text) for before, text in itertools.pairwise(texts) if before == text
            ]
        return found

    def sends_per_second(self) -> int:
        """The most message-creating calls performed in any 1 s window (on ``clock``) that
        this server saw as they came.

        Performed means passed to the method: calls refused by a flood limit or a fault are not
        counted, calls the method then refused (a blocked chat, say) are. A window within
        ``AFTER_STALL`` seconds of a stall of this server's own loop (``stalls``) is not a
        measurement of the client: what arrived during the stall is handled at once after
        it, so the client's pace cannot be told there (``unmeasured_sends`` counts them).
        """
        times = sorted(self._send_times)
        most = start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 1.0:
                start += 1
            if not self._near_stall(times[start], moment):
                most = max(most, end - start + 1)
        return most

    def unmeasured_sends(self) -> int:
        """How many performed sends fall within ``AFTER_STALL`` seconds of a stall."""
        return sum(self._near_stall(moment, moment) for moment in self._send_times)

    def sends(self) -> int:
        """How many message-creating calls were performed."""
        return len(self._send_times)

    def _near_stall(self, first: float, last: float) -> bool:
        return any(begin <= last and first <= end + AFTER_STALL for begin, end in self.stalls)

    def calls_to(self, chat: FakeUser | int) -> list[ApiCall]:
        """Every recorded call whose chat_id is ``chat``, refused ones included."""
        chat_id = chat.id if isinstance(chat, FakeUser) else chat
        return [call for call in self.calls if _chat_key(Params(call.params)) == chat_id]

    @staticmethod
    def buttons(message: FakeMessage) -> list[tuple[str, str | None]]:
        """Inline buttons of ``message`` as (text, callback_data)."""
        return message.buttons

    def unanswered_callback_queries(self) -> list[CallbackQuery]:
        return [query for query in self.callback_queries.values() if query.answer is None]

    def assert_no_errors(self) -> None:
        """Fail if the bot received any error answer."""
        if self.errors:
            raise AssertionError(self._errors_report().strip())

    def snapshot(self) -> JSON:
        """Everything recorded, as JSON (also served at ``GET /_fake/state``)."""
        return {
            "bot": self.bot_user_json(),
            "webhook": self.webhook.url if self.webhook else None,
            "pending_updates": self.pending_updates,
            "chats": {
                str(chat_id): [
                    {**message.to_json(), "deleted": message.deleted, "edits": len(message.edits)}
                    for message in state.messages.values()
                ]
                for chat_id, state in self._chats.items()
            },
            "callback_answers": [vars(answer) for answer in self.callback_answers],
            "errors": [str(error) for error in self.errors],
        }

    # ----------------------------------------------------------------- waiting

    async def _wait(
        self, probe: Callable[[], T | None], timeout: float, describe: Callable[[], str]
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = probe()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(describe())
            # Re-check now and then too: a condition may depend on state outside the fake.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    async def wait_for_message(
        self,
        chat: FakeUser | int,
        match: str | Callable[[FakeMessage], bool] | None = None,
        *,
        timeout: float = 10.0,
        since: int | None = None,
        include_edits: bool = False,
    ) -> FakeMessage:
        """The first bot message in ``chat`` sent after ``since`` that matches.

        ``match`` is a substring of the text or a predicate. ``since`` defaults to the chat's
        last user action (send_text/click), so it waits for the bot's reply to that; with
        ``include_edits`` a message edited after ``since`` counts too.
        """
        state = self._helper_chat(chat)
        mark = state.last_user_seq if since is None else since
        predicate = _matcher(match)

        def probe() -> FakeMessage | None:
            for message in state.messages.values():
                changed = message.current.seq if include_edits else message.seq
                visible = message.from_bot and not message.deleted
                if visible and changed > mark and predicate(message):
                    return message
            return None

        def describe() -> str:
            scope = "sent or edited" if include_edits else "sent"
            return (
                f"no bot message {scope} in chat {state.user.id} after seq {mark} matched "
                f"{_describe_match(match)} within {timeout}s\n" + self._chat_report(state)
            )

        return await self._wait(probe, timeout, describe)

    async def wait_for_edit(
        self,
        chat: FakeUser | int,
        message: FakeMessage | int,
        match: str | Callable[[FakeMessage], bool] | None = None,
        *,
        timeout: float = 10.0,
        since: int | None = None,
    ) -> FakeMessage:
        """Wait until the bot edits ``message`` (after ``since``) and it matches."""
        state = self._helper_chat(chat)
        message_id = message if isinstance(message, int) else message.message_id
        target = self.message(chat, message_id)
        mark = state.last_user_seq if since is None else since
        predicate = _matcher(match)

        def probe() -> FakeMessage | None:
            edited = bool(target.edits) and target.current.seq > mark
            return target if edited and predicate(target) else None

        def describe() -> str:
            return (
                f"message #{message_id} in chat {state.user.id} was not edited after seq {mark} "
                f"to match {_describe_match(match)} within {timeout}s\n" + self._chat_report(state)
            )

        return await self._wait(probe, timeout, describe)

    async def wait_for_callback_answer(
        self, query: str | JSON, *, timeout: float = 10.0
    ) -> CallbackAnswer:
        """Wait for the bot's answerCallbackQuery; ``query`` is an id or the click() update."""
        query_id = query if isinstance(query, str) else str(query["callback_query"]["id"])
        record = self.callback_queries.get(query_id)
        if record is None:
            raise AssertionError(f"no callback query {query_id!r} was created by click()")

        def describe() -> str:
            return (
                f"callback query {query_id} (data {record.data!r} on message "
                f"#{record.message_id}) was not answered within {timeout}s\n"
                + self._chat_report(self._chats[record.chat_id])
            )

        return await self._wait(lambda: record.answer, timeout, describe)

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, message: str = ""
    ) -> None:
        """Wait until ``condition()`` holds, re-checking whenever the fake's state changes."""

        def describe() -> str:
            return (
                f"{message or 'condition'} did not hold within {timeout}s" + self._errors_report()
            )

        await self._wait(lambda: True if condition() else None, timeout, describe)

    async def settle(self, *, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Wait until every update is confirmed and no API call came for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue or time.monotonic() - self._last_activity < quiet:
            if loop.time() >= deadline:
                raise AssertionError(
                    f"the bot did not settle within {timeout}s: {len(self._queue)} updates "
                    f"unconfirmed, last activity {time.monotonic() - self._last_activity:.2f}s ago"
                )
            await asyncio.sleep(0.02)

    def _chat_report(self, state: _Chat) -> str:
        lines = [f"Chat {state.user.id} history:"]
        lines += [f"  {message.describe()}" for message in state.messages.values()] or [
            "  (empty)"
        ]
        calls = [f"{call.method}:{call.status}" for call in self.calls[-12:]]
        lines.append(f"Last API calls: {', '.join(calls) or '(none)'}")
        return "\n".join(lines) + self._errors_report()

    def _errors_report(self) -> str:
        if not self.errors:
            return ""
        return "\nAPI errors returned to the bot:\n" + "\n".join(f"  {e}" for e in self.errors)

    # ----------------------------------------------------------------- control endpoints

    async def _handle_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot(), dumps=_dumps)

    async def _handle_send_text(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            user = self.user(int(body["user_id"]), started=True)
            update = self.send_text(user, str(body["text"]))
        except (KeyError, TypeError, ValueError) as error:
            return web.json_response({"error": repr(error)}, status=400)
        return web.json_response(update, dumps=_dumps)

    async def _handle_click(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            update = self.click(
                int(body["user_id"]),
                int(body["message_id"]),
                str(body["callback_data"]),
                force=bool(body.get("force", False)),
            )
        except (KeyError, TypeError, ValueError, AssertionError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(update, dumps=_dumps)


def _check_webhook(url: str, secret: str) -> None:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid webhook URL specified")
    if len(secret) > 256:
        raise bad_request("secret token is too long")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", secret):
        raise bad_request("secret token contains unallowed characters")


async def _serve(host: str, port: int, token: str) -> None:
    async with FakeTelegram(token, host=host, port=port) as telegram:
        print(f"Fake Telegram Bot API at {telegram.base_url} (token {telegram.token})", flush=True)
        print(
            f"  POST {telegram.base_url}/_fake/send_text "
            '{"user_id": 1, "text": "/start"}; GET /_fake/state',
            flush=True,
        )
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
