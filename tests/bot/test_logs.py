"""Logs carry no citizen's text, chat id, username or phone number: a handler error is
logged by its type, update id and frames; aiogram's own records (its real polling, update
and flood-control lines) and what the sender logs of a refused call are masked
(bot/log_privacy.py); the update's and the bot's ids stay."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import GetMe, GetUpdates, SendMessage, TelegramMethod
from aiogram.types import Message, Update, User
from aiogram.utils.backoff import BackoffConfig

from bot import log_privacy
from bot.log_privacy import AiogramRecords, describe, mask_ids, summary
from surveys.core.i18n import Translator
from surveys.questionnaire import conversation
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen

CHAT_ID = 918273645  # distinctive: found nowhere else in a log line
PHONE = "13912340008"
SECRET = "我家住在幸福小区七号楼"


@pytest.fixture
def masked_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as ``minyi serve`` configures it, captured at INFO."""
    log_privacy.install()
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        log_privacy.uninstall()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as a handler would write it, traceback included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def assert_private(text: str) -> None:
    for secret in (str(CHAT_ID), PHONE, SECRET, PHONE[-4:] + "在"):
        assert secret not in text, text


async def test_a_handler_error_logs_no_chat_id_and_no_text(
    masked_logs: pytest.LogCaptureFixture,
    citizen: Callable[[int], Citizen],
    demo: SurveyVersion,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(**kwargs: Any) -> None:
        raise RuntimeError(f"cannot read {kwargs['payload']!r} from chat {kwargs['chat_id']}")

    monkeypatch.setattr(conversation, "welcome", broken)
    me = citizen(CHAT_ID)
    mark = me.mark()

    await me.say(f"/start {SECRET}{PHONE}")

    assert me.texts_since(mark) == [Translator()("error.unexpected")]
    text = logged(masked_logs)
    update_id = me.updates[-1].update_id
    assert f"update {update_id} failed: RuntimeError" in text  # the update and the type
    assert "start.py" in text  # where it happened
    assert_private(text)


async def test_a_normal_update_logs_no_chat_id(
    masked_logs: pytest.LogCaptureFixture, citizen: Callable[[int], Citizen], demo: SurveyVersion
) -> None:
    me = citizen(CHAT_ID)
    await me.say(f"/start {SECRET}{PHONE}")
    await me.say(SECRET)

    assert masked_logs.records  # aiogram says each update was handled
    assert_private(logged(masked_logs))


def test_aiogram_flood_control_lines_lose_the_chat_id(
    masked_logs: pytest.LogCaptureFixture,
) -> None:
    error = TelegramRetryAfter(
        SendMessage(chat_id=CHAT_ID, text=SECRET), "Too Many Requests: retry after 3", 3
    )
    logging.getLogger("aiogram.event").error("Failed to make answer: %s: %s", "x", error)
    logging.getLogger("aiogram.dispatcher").warning("chat %d phone %s", CHAT_ID, PHONE)
    try:
        raise error
    except TelegramRetryAfter:
        logging.getLogger("aiogram.event").exception(
            "Cause exception while process update id=%d by bot id=%d", 7, 42
        )

    text = logged(masked_logs)
    assert "Flood control exceeded" in text
    assert "update id=7 by bot id=42" in text  # aiogram's own ids stay
    assert_private(text)


def test_the_filter_also_masks_a_child_logger_through_the_root_handler() -> None:
    record = logging.LogRecord(
        "aiogram.something.new", logging.INFO, __file__, 1, "chat %s", (-100123456789,), None
    )
    assert AiogramRecords().filter(record)
    assert record.getMessage() == "chat ***"


def test_a_description_names_the_type_and_frames_not_the_message() -> None:
    try:
        try:
            raise ValueError(SECRET)
        except ValueError as inner:
            raise KeyError(PHONE) from inner
    except KeyError as exc:
        text = describe(exc)
    assert "ValueError\n" in text
    assert "KeyError" in text
    assert "test_logs.py" in text
    assert SECRET not in text
    assert PHONE not in text
    assert mask_ids(f"chat {CHAT_ID}, 电话 {PHONE}") == "chat ***, 电话 ***"


# aiogram's own log lines, made by aiogram's real code: polling through a scripted Bot API
# session (a network failure, then updates whose answers Telegram refuses), and the errors
# the sender meets, read back as the sender logs them (summary) and as a traceback would.

TOKEN = "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"  # the bot's id is 1234567890
SHORT_CHAT = 1300  # early accounts have short ids: masked by name, not by length
USERNAME = "wang_citizen_88"
REFUSALS: dict[str, tuple[int, dict[str, Any]]] = {
    "flood": (429, {"description": "Too Many Requests: retry after 3", "retry_after": 3}),
    "blocked": (403, {"description": "Forbidden: bot was blocked by the user"}),
    "not_found": (400, {"description": "Bad Request: chat not found"}),
    "server": (502, {"description": "Bad Gateway"}),
    "migrated": (
        400,
        {"description": "Bad Request: group chat was upgraded", "migrate_to_chat_id": -10012345},
    ),
}


def refusal(kind: str) -> tuple[int, str]:
    status, fields = REFUSALS[kind]
    parameters = {k: v for k, v in fields.items() if k != "description"}
    body: dict[str, Any] = {
        "ok": False,
        "error_code": status,
        "description": fields["description"],
    }
    if parameters:
        body["parameters"] = parameters
    return status, json.dumps(body)


def update(update_id: int, chat_id: int, text: str = f"{SECRET} {PHONE}") -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 1764400000,
                "chat": {"id": chat_id, "type": "private", "username": USERNAME},
                "from": {
                    "id": chat_id,
                    "is_bot": False,
                    "first_name": "王",
                    "username": USERNAME,
                },
                "text": text,
            },
        }
    )


class ScriptedSession(BaseSession):
    """Answers getMe; getUpdates as scripted (an exception, updates, or wait to be stopped);
    every send with ``refused``, turned into aiogram's exception by aiogram's own check."""

    def __init__(self, updates: list[BaseException | list[Update]], refused: str) -> None:
        super().__init__()
        self.updates = updates
        self.refused = refused
        self.idle = asyncio.Event()

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        if isinstance(method, GetMe):
            return User(id=bot.id, is_bot=True, first_name="民意", username="minyi_test_bot")
        if isinstance(method, GetUpdates):
            if not self.updates:
                self.idle.set()
                await asyncio.Event().wait()  # until polling is stopped
            step = self.updates.pop(0)
            if isinstance(step, BaseException):
                raise step
            return step
        status, body = refusal(self.refused)
        return self.check_response(bot, method, status, body).result

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover

    async def close(self) -> None:
        return None


async def test_aiogram_polling_lines_keep_update_and_bot_ids_only(
    masked_logs: pytest.LogCaptureFixture,
) -> None:
    network = TelegramNetworkError(GetUpdates(), "Request timeout error")
    updates = [update(700001, CHAT_ID, "好"), update(700002, CHAT_ID), update(700003, SHORT_CHAT)]
    session = ScriptedSession([network, updates], refused="flood")
    bot = Bot(TOKEN, session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        if message.text != "好":
            await message.answer(f"收到：{message.text}")

    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            handle_as_tasks=False,
            backoff_config=BackoffConfig(min_delay=0.01, max_delay=0.05, factor=1.5, jitter=0),
        )
    )
    await asyncio.wait_for(session.idle.wait(), 5)
    await dispatcher.stop_polling()
    await polling

    text = logged(masked_logs)
    assert "Run polling for bot @minyi_test_bot id=1234567890" in text  # the bot's own
    assert (
        "Failed to fetch updates - TelegramNetworkError: HTTP Client says - Request timeout"
        in text
    )
    assert "Update id=700001 is handled. Duration" in text
    assert "ms by bot id=1234567890" in text
    for update_id in (700002, 700003):
        assert f"Cause exception while process update id={update_id} by bot id=1234567890" in text
    flood = "TelegramRetryAfter: Telegram server says - Flood control exceeded on method "
    # each in the line itself and again at the end of its traceback
    assert text.count(flood + "'SendMessage' in chat ***. Retry in 3 seconds.") == 4
    assert_private(text)
    for secret in (f"chat {SHORT_CHAT}", USERNAME, TOKEN.split(":")[1]):
        assert secret not in text, text


@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_what_the_sender_logs_of_a_refused_send_names_no_chat(kind: str) -> None:
    bot = Bot(TOKEN, session=ScriptedSession([], refused=kind))
    for chat in (CHAT_ID, SHORT_CHAT, f"@{USERNAME}"):
        with pytest.raises(TelegramAPIError) as caught:
            await bot.send_message(chat_id=chat, text=f"{SECRET} {PHONE}")

        line, trace = summary(caught.value), describe(caught.value)
        assert line.startswith(type(caught.value).__name__ + ": "), line
        assert REFUSALS[kind][1]["description"].split(":")[0] in line
        for text in (line, trace):
            assert_private(text)
            for secret in (f"chat {SHORT_CHAT}", USERNAME, "10012345"):
                assert secret not in text, text


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("Sleep for 1.000000 seconds and try again... (tryings = 0, bot id = 1234567890)", None),
        ("Connection established (tryings = 2, bot id = 1234567890)", None),
        ("Make request with method='SendMessage' by bot id=1234567890", None),
        ("Polling stopped for bot @minyi_test_bot id=1234567890 - '民意'", None),
        ("sent to chat_id=42, 'user_id': 7 and chat @wang_citizen_88", "sent to chat_id=***"),
        ("bot1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ/sendMessage", "bot***/sendMessage"),
        ("写信至 wang@qq.com", "写信至 w***@qq.com"),
    ],
)
def test_mask_ids_keeps_aiogram_bookkeeping_and_drops_the_rest(
    line: str, kept: str | None
) -> None:
    masked = mask_ids(line)

    if kept is None:
        assert masked == line
    else:
        assert masked.startswith(kept), masked
        assert [s for s in ("42", ": 7", USERNAME) if s in masked] == [], masked
