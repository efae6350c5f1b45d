"""The fake Telegram server, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiohttp import web

from tests.fakes.telegram import (
    BOT_BLOCKED,
    BUTTON_DATA_INVALID,
    CANT_INITIATE,
    CHAT_ID_EMPTY,
    CHAT_NOT_FOUND,
    INVALID_LANGUAGE_CODE,
    MESSAGE_NOT_MODIFIED,
    MESSAGE_TEXT_EMPTY,
    MESSAGE_TO_DELETE_NOT_FOUND,
    MESSAGE_TO_EDIT_NOT_FOUND,
    MESSAGE_TOO_LONG,
    NOT_FOUND,
    OTHER_GET_UPDATES,
    QUERY_ID_INVALID,
    REPLY_MARKUP_NOT_JSON,
    TEXT_MUST_BE_NON_EMPTY,
    UNAUTHORIZED,
    WEBHOOK_ACTIVE,
    EarlyRetry,
    FakeTelegram,
    FakeUser,
    Limits,
    Violation,
)

TOKEN = "123456:TEST"
REPO = Path(__file__).resolve().parents[2]


class RawSendMessage(TelegramMethod[Message]):
    """sendMessage with reply_markup passed through verbatim, to send broken JSON."""

    __returning__: ClassVar[type] = Message
    __api_method__: ClassVar[str] = "sendMessage"

    chat_id: int
    text: str
    reply_markup: str


class NoSuchMethod(TelegramMethod[bool]):
    __returning__: ClassVar[type] = bool
    __api_method__: ClassVar[str] = "noSuchMethod"


def make_bot(
    tg: FakeTelegram, token: str = TOKEN, default: DefaultBotProperties | None = None
) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    return Bot(token, session=session, default=default)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(tg)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
def alice(tg: FakeTelegram) -> FakeUser:
    return tg.user(1001, first_name="Alice", username="alice", started=True)


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons
        ]
    )


# ------------------------------------------------------------------------------- basics


async def test_get_me_describes_the_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456
    assert me.is_bot
    assert me.username == tg.bot_username
    assert me.can_join_groups is True
    assert me.supports_inline_queries is False


async def test_send_message_with_inline_keyboard_round_trips(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    markup = keyboard(("满意", "rate:5"), ("不满意", "rate:1"))

    sent = await bot.send_message(alice.id, "请评价本次服务", reply_markup=markup)

    assert sent.message_id == 1
    assert sent.chat.id == alice.id
    assert sent.chat.type == "private"
    assert sent.from_user is not None
    assert sent.from_user.id == 123456
    assert sent.text == "请评价本次服务"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == markup.model_dump()
    recorded = tg.last_message(alice)
    assert recorded.text == "请评价本次服务"
    assert tg.buttons(recorded) == [("满意", "rate:5"), ("不满意", "rate:1")]
    assert recorded.reply_markup == markup.model_dump(exclude_none=True)
    assert tg.errors == []


async def test_html_parse_mode_strips_tags_into_entities(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "<b>你好</b>, 😀 <i>x</i>", parse_mode="HTML")

    assert sent.text == "你好, 😀 x"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("italic", 7, 1),
    ]
    assert tg.last_message(alice).current.source_text == "<b>你好</b>, 😀 <i>x</i>"


async def test_method_names_are_case_insensitive_and_get_json_bodies_work(
    tg: FakeTelegram, alice: FakeUser
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(tg.api_url("GETME")) as response:
            assert response.status == 200
            assert (await response.json())["result"]["id"] == 123456
        async with http.get(
            tg.api_url("sendmessage"), params={"chat_id": str(alice.id), "text": "q"}
        ) as response:
            assert (await response.json())["result"]["text"] == "q"
        body: dict[str, Any] = {
            "chat_id": alice.id,
            "text": "json",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        }
        async with http.post(tg.api_url("sendMessage"), json=body) as response:
            result = (await response.json())["result"]

    assert result["reply_markup"] == body["reply_markup"]
    assert [m.text for m in tg.messages(alice)] == ["q", "json"]


# ------------------------------------------------------------------------------- updates


async def test_user_text_is_delivered_with_bot_command_entity(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = tg.send_text(alice, "/start survey_42")

    updates = await bot.get_updates()

    assert [u.update_id for u in updates] == [sent["update_id"]]
    message = updates[0].message
    assert message is not None
    assert message.text == "/start survey_42"
    assert message.from_user is not None
    assert message.from_user.language_code == "zh-hans"
    assert message.entities is not None
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 6)]


async def test_get_updates_offset_confirms_and_replay_redelivers(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    first = tg.send_text(alice, "one")["update_id"]
    second = tg.send_text(alice, "two")["update_id"]

    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    # Not confirmed yet: returned again.
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == []
    # Confirmed updates are gone for good, even without an offset.
    assert await bot.get_updates() == []

    tg.replay(first)
    replayed = await bot.get_updates(offset=second + 1)
    assert [u.update_id for u in replayed] == [first]
    assert replayed[0].message is not None
    assert replayed[0].message.text == "one"
    assert await bot.get_updates(offset=first + 1) == []


async def test_get_updates_limit_and_negative_offset(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    ids = [tg.send_text(alice, str(n))["update_id"] for n in range(5)]

    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=-2)] == ids[3:]
    assert [u.update_id for u in await bot.get_updates()] == ids[3:]


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()

    tg.send_text(alice, "hi")
    updates = await asyncio.wait_for(poll, 5)

    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["hi"]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()

    assert await bot.get_updates(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 3


async def test_a_second_long_poll_terminates_the_first(tg: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=1))

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 5)
    assert await second == []
    assert [e.description for e in tg.errors] == [OTHER_GET_UPDATES]


async def test_allowed_updates_filter_is_remembered(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])

    skipped = tg.send_text(alice, "ignored")

    assert await bot.get_updates() == []
    assert tg.skipped_updates == [skipped]


# ------------------------------------------------------------------------------- buttons


async def test_click_produces_callback_query_and_answer_is_recorded(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "评价?", reply_markup=keyboard(("好", "rate:5")))

    click = alice.click(sent.message_id, "rate:5")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None
    assert query.data == "rate:5"
    assert query.from_user.id == alice.id
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup is not None
    assert sent.reply_markup is not None
    assert query.message.reply_markup.model_dump() == sent.reply_markup.model_dump()

    assert tg.unanswered_callback_queries() == [tg.callback_queries[query.id]]
    await bot.answer_callback_query(query.id, text="谢谢", show_alert=True)
    answer = await tg.wait_for_callback_answer(click, timeout=1)
    assert (answer.text, answer.show_alert) == ("谢谢", True)
    assert tg.unanswered_callback_queries() == []

    with pytest.raises(TelegramBadRequest) as error:
        await bot.answer_callback_query(query.id)
    assert error.value.message == QUERY_ID_INVALID


async def test_click_refuses_missing_buttons_unless_forced(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "q", reply_markup=keyboard(("A", "a")))
    tg.send_text(alice, "plain")

    with pytest.raises(AssertionError, match="no button with callback_data 'stale'"):
        tg.click(alice, sent.message_id, "stale")
    with pytest.raises(AssertionError, match="no bot message #2"):
        tg.click(alice, 2, "a")

    update = tg.click(alice, sent.message_id, "stale", force=True)
    assert update["callback_query"]["data"] == "stale"
    pressed = alice.press(sent.message_id, "A")
    assert pressed["callback_query"]["data"] == "a"


async def test_answer_unknown_callback_query_is_refused(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.answer_callback_query("12345")

    assert error.value.message == QUERY_ID_INVALID
    assert tg.errors[-1].method == "answerCallbackQuery"


async def test_callback_data_over_64_bytes_is_refused(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    await bot.send_message(alice.id, "ok", reply_markup=keyboard(("x", "d" * 64)))

    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(alice.id, "too long", reply_markup=keyboard(("x", "d" * 65)))

    assert error.value.message == BUTTON_DATA_INVALID
    # 22 three-byte characters: 66 bytes although only 22 characters.
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "中文", reply_markup=keyboard(("x", "满" * 22)))
    assert [m.text for m in tg.messages(alice)] == ["ok"]


async def test_invalid_reply_markup_json_is_refused(bot: Bot, alice: FakeUser) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot(RawSendMessage(chat_id=alice.id, text="x", reply_markup="{not json"))

    assert error.value.message == REPLY_MARKUP_NOT_JSON


# ------------------------------------------------------------------------------- errors


async def test_send_message_errors(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    cases: list[tuple[int | str, str, str]] = [
        (999, "hi", CHAT_NOT_FOUND),
        ("", "hi", CHAT_ID_EMPTY),
        (alice.id, "", MESSAGE_TEXT_EMPTY),
        (alice.id, "  \n ", TEXT_MUST_BE_NON_EMPTY),
        (alice.id, "x" * 4097, MESSAGE_TOO_LONG),
    ]
    for chat_id, text, description in cases:
        with pytest.raises(TelegramBadRequest) as error:
            await bot.send_message(chat_id, text)
        assert error.value.message == description

    await bot.send_message(alice.id, "x" * 4096)
    assert [e.description for e in tg.errors] == [case[2] for case in cases]


async def test_bad_html_is_refused_like_telegram(bot: Bot, alice: FakeUser) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(alice.id, "1 < 2", parse_mode="HTML")

    assert error.value.message == (
        'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'
    )


async def test_unescaped_markdown_v2_is_refused_like_telegram(bot: Bot, alice: FakeUser) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(alice.id, "满意度 4.5", parse_mode="MarkdownV2")

    assert error.value.message == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
        "with the preceding '\\'"
    )


async def test_wrong_token_is_unauthorized(tg: FakeTelegram) -> None:
    intruder = make_bot(tg, token="654321:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError) as error:
            await intruder.get_me()
    finally:
        await intruder.session.close()

    assert error.value.message == UNAUTHORIZED
    assert tg.errors[-1].error_code == 401


async def test_unknown_method_is_not_found(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramNotFound) as error:
        await bot(NoSuchMethod())

    assert error.value.message == NOT_FOUND


async def test_users_must_start_the_bot_and_can_block_it(tg: FakeTelegram, bot: Bot) -> None:
    bob = tg.user(2002)
    with pytest.raises(TelegramForbiddenError) as error:
        await bot.send_message(bob.id, "hello?")
    assert error.value.message == CANT_INITIATE

    bob.send_text("/start")
    await bot.send_message(bob.id, "hello")
    blocked = tg.block(bob)
    with pytest.raises(TelegramForbiddenError) as error:
        await bot.send_message(bob.id, "still there?")
    assert error.value.message == BOT_BLOCKED
    assert blocked["my_chat_member"]["new_chat_member"]["status"] == "kicked"


async def test_injected_failures_reach_the_bot_but_not_errors(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    tg.fail_next("sendMessage", error_code=429, retry_after=3)

    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(alice.id, "x")
    assert error.value.retry_after == 3
    await bot.send_message(alice.id, "x")
    tg.assert_no_errors()


# ------------------------------------------------------------------------------- edits


async def test_edit_message_text_records_history_and_drops_omitted_keyboard(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "问题 1", reply_markup=keyboard(("A", "a")))

    edited = await bot.edit_message_text("问题 1 ✓", chat_id=alice.id, message_id=sent.message_id)

    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    assert edited.reply_markup is None
    message = tg.message(alice, sent.message_id)
    assert [v.text for v in message.versions] == ["问题 1", "问题 1 ✓"]
    assert [v.method for v in message.edits] == ["editMessageText"]
    assert message.buttons == []

    markup = keyboard(("B", "b"))
    await bot.edit_message_reply_markup(
        chat_id=alice.id, message_id=sent.message_id, reply_markup=markup
    )
    assert tg.buttons(message) == [("B", "b")]
    assert message.text == "问题 1 ✓"


async def test_edit_errors(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    markup = keyboard(("A", "a"))
    sent = await bot.send_message(alice.id, "same", reply_markup=markup)

    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_text("x", chat_id=alice.id, message_id=99)
    assert error.value.message == MESSAGE_TO_EDIT_NOT_FOUND

    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_text(
            "same", chat_id=alice.id, message_id=sent.message_id, reply_markup=markup
        )
    assert error.value.message == MESSAGE_NOT_MODIFIED

    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_reply_markup(
            chat_id=alice.id, message_id=sent.message_id, reply_markup=markup
        )
    assert error.value.message == MESSAGE_NOT_MODIFIED

    user_message = tg.send_text(alice, "mine")["message"]["message_id"]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=user_message)


async def test_deleted_messages_cannot_be_edited_or_deleted_again(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "bye")

    assert await bot.delete_message(alice.id, sent.message_id)

    with pytest.raises(TelegramBadRequest) as error:
        await bot.delete_message(alice.id, sent.message_id)
    assert error.value.message == MESSAGE_TO_DELETE_NOT_FOUND
    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_text("x", chat_id=alice.id, message_id=sent.message_id)
    assert error.value.message == MESSAGE_TO_EDIT_NOT_FOUND
    assert tg.messages(alice) == []
    assert tg.messages(alice, include_deleted=True)[0].deleted


# ------------------------------------------------------------------------------- webhook


async def test_webhook_blocks_get_updates_until_deleted(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    assert await bot.set_webhook("https://bot.example/hook", secret_token="s3cr3t")
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example/hook"

    with pytest.raises(TelegramConflictError) as error:
        await bot.get_updates()
    assert error.value.message == WEBHOOK_ACTIVE
    assert tg.webhook is not None
    assert tg.webhook.secret_token == "s3cr3t"

    assert await bot.delete_webhook()
    tg.send_text(alice, "after")
    assert len(await bot.get_updates()) == 1
    assert (await bot.get_webhook_info()).url == ""


async def test_webhook_delivers_updates_and_runs_the_reply(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update))
        reply = {"method": "sendMessage", "chat_id": alice.id, "text": "pong"}
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="tok")
        update = tg.send_text(alice, "ping")
        reply = await tg.wait_for_message(alice, "pong", timeout=5)
        await bot.delete_webhook()
    finally:
        await runner.cleanup()

    assert received == [("tok", update)]
    assert reply.text == "pong"
    assert tg.pending_updates == []


# ------------------------------------------------------------------------------- commands


async def test_commands_are_stored_per_scope_and_language(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    commands = [
        BotCommand(command="start", description="开始"),
        BotCommand(command="help", description="帮助"),
    ]
    await bot.set_my_commands(commands, language_code="zh")
    await bot.set_my_commands(commands[:1], scope=BotCommandScopeChat(chat_id=alice.id))

    def dump(items: list[BotCommand]) -> list[dict[str, Any]]:
        return [item.model_dump() for item in items]

    assert dump(await bot.get_my_commands(language_code="zh")) == dump(commands)
    assert await bot.get_my_commands() == []
    scoped = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=alice.id))
    assert dump(scoped) == dump(commands[:1])
    assert tg.commands(language_code="zh") == [
        {"command": "start", "description": "开始"},
        {"command": "help", "description": "帮助"},
    ]
    assert tg.commands({"type": "chat", "chat_id": alice.id}) == [
        {"command": "start", "description": "开始"}
    ]

    with pytest.raises(TelegramBadRequest) as error:
        await bot.set_my_commands(commands, language_code="zh-hans")
    assert error.value.message == INVALID_LANGUAGE_CODE
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


# ------------------------------------------------------------------------------- helpers


async def test_wait_for_message_reports_what_was_received(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    tg.send_text(alice, "/start")
    await bot.send_message(alice.id, "欢迎", reply_markup=keyboard(("开始", "go")))

    found = await tg.wait_for_message(alice, "欢迎", timeout=1)
    assert found.buttons == [("开始", "go")]

    with pytest.raises(AssertionError) as error:
        await tg.wait_for_message(alice, "再见", timeout=0.2)
    report = str(error.value)
    assert "'再见'" in report
    assert "'欢迎'" in report
    assert "'/start'" in report


async def test_wait_for_message_wakes_up_on_arrival(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    alice.send_text("hi")

    async def reply_later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(alice.id, "later")

    task = asyncio.create_task(reply_later())
    message = await alice.wait_for_message(lambda m: m.text == "later", timeout=3)
    await task
    assert message.message_id == 2


async def test_documents_are_recorded(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    data = "问题,满意度\n1,5\n".encode()

    sent = await bot.send_document(
        alice.id, BufferedInputFile(data, filename="export.csv"), caption="导出"
    )

    assert sent.document is not None
    assert sent.document.file_name == "export.csv"
    assert sent.caption == "导出"
    recorded = tg.last_message(alice)
    assert recorded.document_data == data


async def test_runs_as_a_standalone_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.telegram",
        "--port",
        "0",
        "--token",
        TOKEN,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        base_url = line.split(" at ")[1].split()[0]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base_url}/bot{TOKEN}/getMe") as response,
        ):
            assert (await response.json())["result"]["username"] == "minyi_test_bot"
    finally:
        process.terminate()
        await process.wait()


# ------------------------------------------------------------------------------- dispatcher


def survey_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        markup = keyboard(("满意", "rate:5"), ("不满意", "rate:1"))
        await message.answer(f"欢迎 <b>{command.args}</b>", reply_markup=markup)

    @router.callback_query(F.data.startswith("rate:"))
    async def rate(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.answer("已记录")
        await query.message.edit_text(f"评分: {query.data}")

    return router


async def test_a_polling_dispatcher_talks_to_the_fake(tg: FakeTelegram, alice: FakeUser) -> None:
    bot = make_bot(tg, default=DefaultBotProperties(parse_mode="HTML"))
    dispatcher = Dispatcher()
    dispatcher.include_router(survey_router())
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        alice.send_text("/start hall_7")
        welcome = await alice.wait_for_message("欢迎")
        assert welcome.text == "欢迎 hall_7"
        assert welcome.entities == [{"offset": 3, "length": 6, "type": "bold"}]

        click = alice.press(welcome, "满意")
        answer = await tg.wait_for_callback_answer(click)
        edited = await tg.wait_for_edit(alice, welcome, "评分")
        await tg.settle()
    finally:
        await dispatcher.stop_polling()
        await polling

    assert answer.text == "已记录"
    assert edited.text == "评分: rate:5"
    assert edited.buttons == []
    assert tg.pending_updates == []
    tg.assert_no_errors()


async def test_a_restarted_bot_gets_replayed_updates(tg: FakeTelegram, alice: FakeUser) -> None:
    seen: list[int] = []

    async def record(message: Message, event_update: Update) -> None:
        seen.append(event_update.update_id)

    async def run_bot_until_handled(count: int) -> None:
        bot = make_bot(tg)
        dispatcher = Dispatcher()
        dispatcher.message.register(record)
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        try:
            await tg.wait_until(lambda: len(seen) == count, message=f"{count} updates handled")
            await tg.settle()
        finally:
            await dispatcher.stop_polling()
            await polling

    update = alice.send_text("hello")
    await run_bot_until_handled(1)
    tg.replay(update)
    await run_bot_until_handled(2)

    assert seen == [update["update_id"], update["update_id"]]
    tg.assert_no_errors()


# ------------------------------------------------------------------------------- flood limits


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


LimitedFactory = Callable[..., AbstractAsyncContextManager[tuple[FakeTelegram, Bot]]]


@pytest.fixture
def limited() -> LimitedFactory:
    """``async with limited(limits, clock) as (tg, bot)``: a fake with flood limits."""

    @contextlib.asynccontextmanager
    async def start(
        limits: Limits | None = None, clock: ManualClock | None = None
    ) -> AsyncIterator[tuple[FakeTelegram, Bot]]:
        options: dict[str, Any] = {"limits": limits}
        if clock is not None:
            options["clock"] = clock
        async with FakeTelegram(token=TOKEN, **options) as fake:
            bot = make_bot(fake)
            try:
                yield fake, bot
            finally:
                await bot.session.close()

    return start


async def post(tg: FakeTelegram, method: str, **args: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(tg.api_url(method), json=args) as response,
    ):
        return response.status, await response.json()


async def test_the_default_server_has_no_limits_or_faults(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await asyncio.gather(*(bot.send_message(alice.id, f"m{n}") for n in range(40)))
    for message in sent:
        await bot.edit_message_text("edited", chat_id=alice.id, message_id=message.message_id)

    assert len(tg.messages(alice)) == 40
    assert tg.limits is None
    assert tg.violations == []
    assert tg.early_retries == []
    assert tg.fault_counts == {"429": 0, "500": 0, "502": 0, "drop": 0}
    tg.assert_no_errors()


def test_limits_are_a_frozen_dataclass_with_telegram_defaults() -> None:
    limits = Limits()

    assert (limits.per_second, limits.chat_per_second) == (30, 1)
    assert (limits.chat_burst, limits.group_per_minute) == (3, 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.per_second = 100  # type: ignore[misc]
    with pytest.raises(ValueError, match="positive"):
        Limits(per_second=0)


async def test_a_burst_over_the_chat_limit_gets_429_and_a_violation(
    limited: LimitedFactory,
) -> None:
    clock = ManualClock()
    async with limited(Limits(chat_per_second=0.25, chat_burst=3), clock) as (tg, bot):
        alice = tg.user(1001, started=True)
        for n in range(4):  # the burst plus one token of slack
            await bot.send_message(alice.id, f"m{n}")

        status, body = await post(tg, "sendMessage", chat_id=alice.id, text="over")

        assert status == 429
        assert body == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 4",
            "parameters": {"retry_after": 4},
        }
        assert tg.violations == [Violation("sendMessage", alice.id, 1000.0, "chat", 4)]
        assert tg.delivered(alice) == ["m0", "m1", "m2", "m3"]
        assert tg.errors == []

        clock.advance(4)
        await bot.send_message(alice.id, "after waiting")
        assert tg.delivered(alice)[-1] == "after waiting"
        assert tg.early_retries == []


async def test_a_client_that_waits_retry_after_retries_on_time(
    limited: LimitedFactory,
) -> None:
    async with limited(Limits(chat_per_second=1, chat_burst=0)) as (tg, bot):
        patient, impatient = tg.user(1, started=True), tg.user(2, started=True)

        async def send(chat_id: int, text: str, *, wait: bool) -> None:
            while True:
                try:
                    await bot.send_message(chat_id, text)
                    return
                except TelegramRetryAfter as error:
                    if wait:
                        await asyncio.sleep(error.retry_after)
                    wait = True  # the impatient client retries once at once

        for user in (patient, impatient):
            await bot.send_message(user.id, "first")
        await asyncio.gather(
            send(patient.id, "second", wait=True), send(impatient.id, "second", wait=False)
        )

        assert tg.delivered(patient) == tg.delivered(impatient) == ["first", "second"]
        assert [v.chat_id for v in tg.violations] == [patient.id, impatient.id]
        assert [(r.method, r.chat_id) for r in tg.early_retries] == [("sendMessage", impatient.id)]
        assert isinstance(tg.early_retries[0], EarlyRetry)
        assert 0 < tg.early_retries[0].early <= 1
        # the early retry was refused, not counted as a violation nor performed
        assert [call.status for call in tg.calls_to(impatient)] == [200, 429, 429, 200]


async def test_the_global_limit_covers_sends_and_edits_only(limited: LimitedFactory) -> None:
    clock = ManualClock()
    async with limited(Limits(per_second=2, chat_burst=10), clock) as (tg, bot):
        users = [tg.user(n, started=True) for n in range(1, 5)]
        sent = [await bot.send_message(user.id, "hi") for user in users[:3]]

        with pytest.raises(TelegramRetryAfter) as error:
            await bot.send_message(users[3].id, "hi")
        assert error.value.retry_after == 1
        with pytest.raises(TelegramRetryAfter):
            await bot.edit_message_text("edit", chat_id=users[0].id, message_id=1)
        assert [(v.method, v.limit) for v in tg.violations] == [
            ("sendMessage", "global"),
            ("editMessageText", "global"),
        ]
        # unlimited methods go through while the global bucket is empty
        await bot.get_me()
        update = users[1].click(sent[1].message_id, "x", force=True)
        await bot.answer_callback_query(update["callback_query"]["id"])

        clock.advance(1)  # two tokens: one edit, one send
        await bot.edit_message_text("edit", chat_id=users[0].id, message_id=1)
        await bot.send_message(users[3].id, "hi")
        assert tg.delivered(users[3]) == ["hi"]
        assert tg.message(users[0], 1).text == "edit"
        assert len(tg.violations) == 2


async def test_the_group_limit_is_per_minute(limited: LimitedFactory) -> None:
    clock = ManualClock()
    async with limited(Limits(group_per_minute=3, chat_burst=0), clock) as (tg, bot):
        group = tg.group(-100123, title="Staff")
        sent = [await bot.send_message(group, f"g{n}") for n in range(3)]
        assert sent[0].chat.type == "supergroup"

        with pytest.raises(TelegramRetryAfter) as error:
            await bot.send_message(group, "g3")

        assert error.value.retry_after == 20  # one message per 60 / 3 seconds
        assert tg.violations[-1].limit == "group"
        clock.advance(20)
        await bot.send_message(group, "g3")
        assert tg.delivered(group) == ["g0", "g1", "g2", "g3"]


async def test_a_retry_before_retry_after_is_refused_and_recorded(
    limited: LimitedFactory,
) -> None:
    clock = ManualClock()
    async with limited(None, clock) as (tg, bot):
        alice = tg.user(1001, started=True)
        tg.inject_faults(rate_429=1.0, retry_after=5)
        with pytest.raises(TelegramRetryAfter) as error:
            await bot.send_message(alice.id, "x")
        assert error.value.retry_after == 5
        tg.clear_faults()

        clock.advance(2)
        with pytest.raises(TelegramRetryAfter) as error:
            await bot.send_message(alice.id, "x")
        assert error.value.retry_after == 3
        assert tg.early_retries == [EarlyRetry("sendMessage", alice.id, 3.0, 1002.0)]

        clock.advance(3)
        await bot.send_message(alice.id, "x")
        assert tg.delivered(alice) == ["x"]
        assert tg.fault_counts["429"] == 1
        assert tg.violations == []  # faults are not limit violations


# ------------------------------------------------------------------------------- random faults


async def outcomes(seed: int) -> tuple[list[int | str], dict[str, int], list[str]]:
    clock = ManualClock()
    async with FakeTelegram(token=TOKEN, clock=clock) as tg:
        alice = tg.user(1001, started=True)
        tg.inject_faults(rate_429=0.2, rate_5xx=0.2, rate_drop=0.2, seed=seed)
        results: list[int | str] = []
        async with aiohttp.ClientSession() as session:
            for n in range(30):
                clock.advance(2)  # past any retry_after
                url = tg.api_url("sendMessage")
                try:
                    async with session.post(url, json={"chat_id": alice.id, "text": n}) as r:
                        results.append(r.status)
                except aiohttp.ServerDisconnectedError:
                    results.append("dropped")
        return results, dict(tg.fault_counts), tg.delivered(alice)


async def test_seeded_faults_are_reproducible_and_not_performed() -> None:
    results, counts, delivered = await outcomes(seed=7)

    assert (results, counts, delivered) == await outcomes(seed=7)
    assert results != (await outcomes(seed=8))[0]
    assert {429, 200, "dropped"} <= set(results)
    assert {500, 502} & set(results)
    assert counts == {
        "429": results.count(429),
        "500": results.count(500),
        "502": results.count(502),
        "drop": results.count("dropped"),
    }
    assert delivered == [str(n) for n, result in enumerate(results) if result == 200]


async def test_faults_hit_only_the_listed_methods_until_cleared(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "before")
    tg.inject_faults(rate_5xx=1.0, methods=["sendMessage"])

    with pytest.raises(TelegramServerError):
        await bot.send_message(alice.id, "lost")
    await bot.edit_message_text("edited", chat_id=alice.id, message_id=sent.message_id)
    await bot.get_me()
    tg.clear_faults()
    await bot.send_message(alice.id, "after")

    assert tg.delivered(alice) == ["before", "after"]
    assert tg.fault_counts["500"] + tg.fault_counts["502"] == 1
    assert [call.injected for call in tg.calls_to(alice)] == [False, True, False, False]
    tg.assert_no_errors()


async def test_a_dropped_connection_raises_in_an_aiohttp_client(
    tg: FakeTelegram, alice: FakeUser
) -> None:
    tg.inject_faults(rate_drop=1.0)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(tg, "sendMessage", chat_id=alice.id, text="x")

    assert tg.delivered(alice) == []
    assert tg.fault_counts["drop"] == 1
    assert (tg.calls[-1].status, tg.calls[-1].injected) == (0, True)
    tg.clear_faults()
    assert (await post(tg, "sendMessage", chat_id=alice.id, text="x"))[0] == 200


# ------------------------------------------------------------------------------- accounting


async def test_blocked_chats_refuse_every_call_and_calls_are_counted(
    tg: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_message(alice.id, "hello")
    tg.block(alice)

    attempts = [
        bot.send_message(alice.id, "still there?"),
        bot.edit_message_text("x", chat_id=alice.id, message_id=sent.message_id),
        bot.delete_message(alice.id, sent.message_id),
        bot.send_chat_action(alice.id, "typing"),
    ]
    for attempt in attempts:
        with pytest.raises(TelegramForbiddenError) as error:
            await attempt
        assert error.value.message == BOT_BLOCKED

    assert len(tg.calls_to(alice)) == 5
    assert [call.status for call in tg.calls_to(alice.id)] == [200, 403, 403, 403, 403]
    alice.send_text("I'm back")
    await bot.send_message(alice.id, "welcome back")
    assert tg.delivered(alice) == ["hello", "welcome back"]


async def test_delivered_duplicates_and_sends_per_second(limited: LimitedFactory) -> None:
    clock = ManualClock()
    async with limited(Limits(chat_burst=0), clock) as (tg, bot):
        alice, bob = tg.user(1, started=True), tg.user(2, started=True)
        plan = [(0.0, alice, "a"), (0.1, bob, "x"), (0.9, bob, "x"), (1.0, alice, "a")]
        plan += [(1.05, alice, "b"), (3.0, alice, "a")]
        start = clock.now
        for at, user, text in plan:
            clock.now = start + at
            with contextlib.suppress(TelegramRetryAfter):
                await bot.send_message(user.id, text)
        first = tg.messages(alice)[0]
        await bot.edit_message_text("edited", chat_id=alice.id, message_id=first.message_id)

        # 1.05 s to alice was refused (chat limit): not delivered and not counted
        assert tg.delivered(alice) == ["a", "a", "a"]
        assert tg.delivered(bob) == ["x"]  # 0.9 s to bob was refused too
        assert tg.duplicates() == [(alice.id, "a"), (alice.id, "a")]
        assert tg.sends_per_second() == 2


async def test_windows_after_a_stall_of_the_servers_loop_are_not_measured(
    limited: LimitedFactory,
) -> None:
    clock = ManualClock()
    async with limited(Limits(per_second=100, chat_burst=100), clock) as (tg, bot):
        alice = tg.user(1, started=True)
        start = clock.now
        for at in (0.0, 0.1, 0.2, 5.0, 5.01, 5.02, 5.03, 8.0):
            clock.now = start + at
            await bot.send_message(alice.id, f"at {at}")
        assert tg.sends_per_second() == 4
        # The loop was held up from 4.5 s to 4.99 s: the four sends at 5 s came in then.
        tg.stalls.append((start + 4.5, start + 4.99))
        assert tg.sends_per_second() == 3
        assert (tg.unmeasured_sends(), tg.sends()) == (4, 8)


async def test_a_stall_of_the_servers_loop_is_recorded(tg: FakeTelegram) -> None:
    await asyncio.sleep(0.05)
    assert tg.stalls == []
    time.sleep(0.3)  # noqa: ASYNC251 - the stall under test
    await asyncio.sleep(0.05)
    assert len(tg.stalls) == 1
    begin, end = tg.stalls[0]
    assert end - begin >= 0.15
