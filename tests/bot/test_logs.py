"""Logs carry no citizen's text, chat id or phone number: a handler error is logged by its
type, update id and frames; aiogram's own records are masked (bot/log_privacy.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from bot import log_privacy
from bot.log_privacy import AiogramRecords, describe, mask_ids
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
