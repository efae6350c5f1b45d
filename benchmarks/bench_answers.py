"""Answers per second through the real minyi bot, against a bare aiogram + SQLite baseline.

Run from the repository root::

    .venv/bin/python benchmarks/bench_answers.py [--answers N] [--concurrency 8,32,128]

Both sides run in this process, in the same run, on SQLite files made by
:func:`surveys.db.create_engine` (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``), and every
update is committed before the next one of the same citizen is fed.

* **minyi**: the Dispatcher of :func:`bot.main.build_dispatcher` with the demo units and the
  demo survey, and the outbox sender running as it does in production (its own loop, woken
  when an update has queued something). Simulated citizens send
  ``/start s_<survey>_kundulun``, then click the answer buttons found in the
  ``reply_markup`` the bot really sent (ticking options of multiple-choice questions before
  完成) and type the free-text answer; each waits for the bot's calls of one update to reach
  the Bot API before sending the next.
* **baseline**: a bare ``Dispatcher`` whose one ``callback_query`` handler inserts one row and
  commits, then answers the callback. It is fed as many updates as the minyi run.

Bot API calls never leave the process: :class:`LocalSession` serialises each request like the
HTTP session would, and returns a well-formed result parsed by aiogram's own response check.
``--api-latency-ms`` makes each call wait like a network round trip, and ``--concurrency``
keeps several citizens answering at once, as polling does with one task per update; several
levels (``8,32,128``) are measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import json
import logging
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, cast

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, TelegramObject, Update
from sqlalchemy import BigInteger, Integer, String, event, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlmodel import select

from bot.callbacks import Act, AnswerCb
from bot.main import build_dispatcher
from bot.sender import Sender
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.core import migrate
from surveys.core.clock import today as today_in
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from surveys.questionnaire.models import Answer, Response, ResponseStatus

BOT_TOKEN = "123456:TEST"
BOT_ID = 123456
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "minyi",
    "username": "minyi_bench_bot",
}
UNIT = "kundulun"
FIRST_CITIZEN = 10_000_001
MAX_STEPS = 60  # per citizen; the demo survey needs at most ~20 updates
FREE_TEXT = "希望进一步简化线上办理流程，减少重复提交材料。"
TARGET_RATIO = 0.5


# --- The Bot API, answered in-process ------------------------------------------------------


@dataclass
class ChatLog:
    """What the bot has shown in one chat: every message by id, and the newest one it sent."""

    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_sent: int | None = None
    next_id: int = 1
    # Bot API calls for this chat that reached the session, and when the last one did;
    # calls the chat's updates have queued so far, and who waits for them.
    arrived: int = 0
    arrived_at: float = 0.0
    expected: int = 0
    waiter: asyncio.Future[float] | None = None

    def new_id(self) -> int:
        message_id = self.next_id
        self.next_id += 1
        return message_id


class LocalSession(BaseSession):
    """A Bot API that lives in memory.

    Requests are serialised exactly as :class:`AiohttpSession` builds its form fields, and
    results are parsed by :meth:`BaseSession.check_response`, so both directions cost what
    they cost in production, minus the network.
    """

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency  # seconds each call waits, to stand in for the network
        self.chats: dict[int, ChatLog] = {}
        self.calls: Counter[str] = Counter()

    def chat(self, chat_id: int) -> ChatLog:
        log_ = self.chats.get(chat_id)
        if log_ is None:
            log_ = self.chats[chat_id] = ChatLog()
        return log_

    def last_sent(self, chat_id: int) -> dict[str, Any] | None:
        chat = self.chat(chat_id)
        return None if chat.last_sent is None else chat.messages[chat.last_sent]

    async def replies(self, chat_id: int, calls: int, timeout: float) -> float | None:
        """Wait until ``calls`` more Bot API calls for this chat have reached the session;
        when the last of them did (``perf_counter``), or None after ``timeout`` seconds."""
        chat = self.chat(chat_id)
        chat.expected += calls
        if chat.arrived >= chat.expected:
            return chat.arrived_at
        chat.waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(chat.waiter, timeout)
        except TimeoutError:
            return None
        finally:
            chat.waiter = None

    def _arrived(self, fields: dict[str, Any]) -> None:
        if "chat_id" in fields:
            chat_id = int(fields["chat_id"])
        elif "callback_query_id" in fields:  # the driver's query ids start with the user id
            chat_id = int(str(fields["callback_query_id"]).split("-", 1)[0])
        else:
            return
        chat = self.chat(chat_id)
        chat.arrived += 1
        chat.arrived_at = time.perf_counter()
        waiter = chat.waiter
        if waiter is not None and not waiter.done() and chat.arrived >= chat.expected:
            waiter.set_result(chat.arrived_at)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = method.__api_method__
        self.calls[name] += 1
        files: dict[str, Any] = {}
        fields = {
            key: self.prepare_value(value, bot=bot, files=files)
            for key, value in method.model_dump(warnings=False).items()
        }
        status, body = self._answer(name, {k: v for k, v in fields.items() if v})
        self._arrived(fields)
        content = self.json_dumps(body)
        if self.latency:
            await asyncio.sleep(self.latency)
        response = self.check_response(bot=bot, method=method, status_code=status, content=content)
        return cast(TelegramType, response.result)

    def _answer(self, name: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if name == "sendMessage":
            return 200, {"ok": True, "result": self._send(fields)}
        if name in ("editMessageText", "editMessageReplyMarkup"):
            edited = self._edit(name, fields)
            if edited is None:
                return 400, {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message to edit not found",
                }
            return 200, {"ok": True, "result": edited}
        if name == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        return 200, {"ok": True, "result": True}

    def _send(self, fields: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(fields["chat_id"])
        chat = self.chat(chat_id)
        message: dict[str, Any] = {
            "message_id": chat.new_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "市民"},
            "from": BOT_USER,
            "text": fields["text"],
        }
        if "reply_markup" in fields:
            message["reply_markup"] = json.loads(fields["reply_markup"])
        chat.messages[message["message_id"]] = message
        chat.last_sent = message["message_id"]
        return message

    def _edit(self, name: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        chat = self.chat(int(fields["chat_id"]))
        old = chat.messages.get(int(fields["message_id"]))
        if old is None:
            return None
        # Like Telegram: an edit without reply_markup leaves the message without buttons.
        message = {k: v for k, v in old.items() if k != "reply_markup"}
        message["edit_date"] = int(time.time())
        if name == "editMessageText":
            message["text"] = fields["text"]
        if "reply_markup" in fields:
            message["reply_markup"] = json.loads(fields["reply_markup"])
        chat.messages[message["message_id"]] = message
        return message

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the benchmark downloads nothing")
        yield b""  # pragma: no cover - makes this an async generator


# --- Feeding updates -----------------------------------------------------------------------


REPLY_TIMEOUT = 60.0  # seconds a citizen waits for the bot's calls of one update


@dataclass
class Tally:
    updates: int = 0
    starts: int = 0
    toggles: int = 0
    answers: int = 0  # answer updates that were handled (their answer stored)
    citizens: int = 0  # citizens who started
    finished: int = 0  # citizens who reached the thank-you message
    failures: int = 0  # updates that raised, or that the error handlers had to answer
    unanswered: int = 0  # updates whose calls did not reach the Bot API in time
    latencies: list[float] = field(default_factory=list)  # update fed -> its last call seen

    @property
    def stranded(self) -> int:
        return self.citizens - self.finished


@dataclass
class Seen:
    """What the dispatcher did with the update being fed (seen from inside it)."""

    queued: int = 0  # Bot API calls the handler queued in its committed transaction
    failed: bool = False


_SEEN: ContextVar[Seen | None] = ContextVar("bench_seen", default=None)


class QueuedCalls(BaseMiddleware):
    """The innermost outer middleware: how many calls the update's handler queued."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        seen, outbox = _SEEN.get(), data.get("outbox")
        if seen is not None and outbox is not None:
            seen.queued = outbox.queued
        return result


class FailureSeen(logging.Handler):
    """``bot.errors`` logs each update its error handlers answer: that update failed."""

    def emit(self, record: logging.LogRecord) -> None:
        seen = _SEEN.get()
        if seen is not None:
            seen.failed = True


class Fed(Enum):
    """What became of one update fed to the dispatcher."""

    replied = "replied"  # handled, and its calls reached the Bot API
    late = "late"  # handled (stored), but its calls did not reach the Bot API in time
    failed = "failed"  # raised, or answered by the error handlers: nothing stored

    @property
    def stored(self) -> bool:
        return self is not Fed.failed


class Feeder:
    """Builds updates as polling does (parsed with the bot as context), dispatches them, and
    waits until the Bot API calls they caused have reached the session.

    ``queued``: how many calls an update causes, from what the dispatcher did; minyi's come
    from its outbox, sent by the sender's own loop, the baseline's one is made inline.
    """

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session: LocalSession,
        queued: Callable[[Seen], int] = lambda seen: seen.queued,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.session = session
        self.queued = queued
        self.update_ids = itertools.count(1)
        self.tally = Tally()

    async def feed(self, chat_id: int, body: dict[str, Any]) -> Fed:
        raw = {"update_id": next(self.update_ids), **body}
        update = Update.model_validate(raw, context={"bot": self.bot})
        self.tally.updates += 1
        seen = Seen()
        token = _SEEN.set(seen)
        fed = time.perf_counter()
        try:
            handled = await self.dp.feed_update(self.bot, update)
        except Exception as exc:
            logging.getLogger(__name__).warning("update failed: %s", type(exc).__name__)
            seen.failed = True
        else:
            if handled is UNHANDLED:
                raise RuntimeError(f"update not handled: {raw}")
        finally:
            _SEEN.reset(token)
        if seen.failed:
            self.tally.failures += 1
            return Fed.failed
        arrived = await self.session.replies(chat_id, self.queued(seen), REPLY_TIMEOUT)
        if arrived is None:
            self.tally.unanswered += 1
            return Fed.late
        self.tally.latencies.append(max(0.0, arrived - fed))
        return Fed.replied


def citizen_user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "市民", "language_code": "zh-hans"}


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "市民"}


@dataclass(frozen=True)
class Button:
    data: str
    action: AnswerCb


class Citizen:
    """One citizen answering the demo survey from a deep link, reading the bot's keyboards.
    A citizen whose update failed or went unanswered stops there (stranded)."""

    def __init__(self, feeder: Feeder, user_id: int, survey_code: str) -> None:
        self.feeder = feeder
        self.user_id = user_id
        self.survey_code = survey_code
        self.user = citizen_user(user_id)
        self.rng = random.Random(user_id)

    async def complete_survey(self) -> None:
        tally = self.feeder.tally
        tally.citizens += 1
        tally.starts += 1
        start = await self.send_text(f"/start s_{self.survey_code}_{UNIT}", command_length=6)
        if start is not Fed.replied:
            return
        for _ in range(MAX_STEPS):
            buttons = self.buttons()
            if not buttons:
                tally.finished += 1
                return
            if not await self.answer(buttons):
                return
        raise RuntimeError(f"citizen {self.user_id} did not finish in {MAX_STEPS} steps")

    def buttons(self) -> list[Button]:
        """The answer buttons under the newest message the bot sent to this chat."""
        message = self.feeder.session.last_sent(self.user_id)
        if message is None or "reply_markup" not in message:
            return []
        rows = message["reply_markup"]["inline_keyboard"]
        return [
            Button(button["callback_data"], AnswerCb.unpack(button["callback_data"]))
            for row in rows
            for button in row
        ]

    async def answer(self, buttons: list[Button]) -> bool:
        """Answer the question on screen; False when the citizen is stuck."""
        picks = [b for b in buttons if b.action.k is Act.pick]
        done = [b for b in buttons if b.action.k is Act.done]
        if done:  # multiple choice: tick one or two options, then 完成
            for button in self.rng.sample(picks, k=min(len(picks), self.rng.choice((1, 2)))):
                if await self.click(button) is not Fed.replied:
                    return False
                self.feeder.tally.toggles += 1
            fed = await self.click(done[0])
        elif picks:
            fed = await self.click(self.rng.choice(picks))
        else:  # free text: only a skip button is offered
            fed = await self.send_text(FREE_TEXT)
        if fed.stored:
            self.feeder.tally.answers += 1
        return fed is Fed.replied

    async def click(self, button: Button) -> Fed:
        message = self.feeder.session.last_sent(self.user_id)
        return await self.feeder.feed(
            self.user_id,
            {
                "callback_query": {
                    "id": f"{self.user_id}-{self.feeder.tally.updates}",
                    "from": self.user,
                    "chat_instance": f"ci{self.user_id}",
                    "message": message,  # never mutated: edits store a new dict
                    "data": button.data,
                }
            },
        )

    async def send_text(self, text: str, command_length: int = 0) -> Fed:
        message: dict[str, Any] = {
            "message_id": self.feeder.session.chat(self.user_id).new_id(),
            "date": int(time.time()),
            "chat": private_chat(self.user_id),
            "from": self.user,
            "text": text,
        }
        if command_length:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command_length}]
        return await self.feeder.feed(self.user_id, {"message": message})


async def run_workers(concurrency: int, work: Callable[[], Awaitable[bool]]) -> None:
    """Run ``work`` in ``concurrency`` tasks until it returns False in each."""

    async def worker() -> None:
        while await work():
            pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- minyi ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu: float  # process CPU time, all threads: less sensitive than wall time to other load
    api_calls: int
    statements: int  # SQL statements sent, BEGIN included (COMMIT is a driver call)
    transactions: int  # BEGINs sent (the sender's bookkeeping included)
    updates: int
    answers: int
    rows: int
    tally: Tally
    stranded: int  # citizens (baseline: updates) left without the bot's answer
    # The statements sent, by engine ("update" or "sender") and text (profiled runs only).
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def answer_rate(self) -> float:
        return self.answers / self.seconds

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds per update."""
        return 1000 * self.cpu / self.updates

    @property
    def failures(self) -> int:
        return self.tally.failures


class StatementCounter:
    """Counts the SQL statements and the transactions (BEGINs) engines send; with
    ``detail``, also each statement's text, by the engine that sent it (the first one given
    is the updates', any other the sender's)."""

    def __init__(self, *engines: AsyncEngine, detail: bool = False) -> None:
        self.count = self.transactions = 0
        self.kinds: Counter[tuple[str, str]] = Counter()
        for n, engine in enumerate(engines):
            seen = self._seen
            if detail:
                seen = partial(self._detailed, "update" if n == 0 else "sender")
            event.listen(engine.sync_engine, "before_cursor_execute", seen)

    def _seen(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        self.count += 1
        if statement.startswith("BEGIN"):
            self.transactions += 1

    def _detailed(
        self, who: str, conn: object, cursor: object, statement: str, *a: object
    ) -> None:
        self._seen(conn, cursor, statement)
        self.kinds[who, " ".join(statement.split())[:110]] += 1


class Stopwatch:
    """Wall time and process CPU time of a block."""

    def __init__(self) -> None:
        self.seconds = self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def bench_settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{(data_dir / 'minyi.db').as_posix()}",
        redis_url=None,
        secret_key="benchmark-secret-key",
        bot_token=BOT_TOKEN,
        # The local session enforces no Telegram limits: the dispatcher is what is measured.
        send_per_second=1e6,
        chat_per_second=1e6,
        chat_burst=1000,
    )


async def load_demo(sessionmaker: SessionMaker, day: date) -> str:
    """The demo units and survey, loaded through the services; returns the survey code."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="demo units")
    definition = demo.demo_survey(day)
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
        await catalog.load_survey(session=session, definition=definition, source="demo survey")
    return definition.code


async def count_minyi(sessionmaker: SessionMaker) -> tuple[int, int]:
    """(stored answers, completed responses)."""
    async with sessionmaker() as session:
        answers = (await session.exec(select(func.count()).select_from(Answer))).one()
        completed = (
            await session.exec(
                select(func.count())
                .select_from(Response)
                .where(Response.status == ResponseStatus.completed)
            )
        ).one()
    return int(answers), int(completed)


@dataclass(frozen=True)
class Load:
    concurrency: int = 1  # updates in flight at once
    api_latency: float = 0.0  # seconds per Bot API call


async def run_minyi(
    workdir: Path, target_answers: int, load: Load, profile: cProfile.Profile | None = None
) -> Measured:
    settings = bench_settings(workdir)
    await asyncio.to_thread(migrate.upgrade, settings.db_url)  # Alembic runs its own loop
    engine = create_engine(settings.db_url)
    session = LocalSession(load.api_latency)
    bot = Bot(BOT_TOKEN, session=session)
    failed = FailureSeen()
    logging.getLogger("bot.errors").addHandler(failed)
    try:
        sessionmaker = create_sessionmaker(engine)
        survey_code = await load_demo(sessionmaker, today_in(settings.tz))
        sender = Sender(bot, sessionmaker, settings)
        dp = build_dispatcher(settings, sessionmaker, sender.wake)
        dp.update.outer_middleware(QueuedCalls())
        try:
            await dp.emit_startup(bot=bot, dispatcher=dp)
            startup_calls = sum(session.calls.values())
            feeder = Feeder(dp, bot, session)
            citizens = itertools.count(FIRST_CITIZEN)
            statements = StatementCounter(
                engine, sender.books.kw["bind"], detail=profile is not None
            )

            async def one_citizen() -> bool:
                if feeder.tally.answers >= target_answers:
                    return False
                await Citizen(feeder, next(citizens), survey_code).complete_survey()
                return True

            # The sender runs as in production: its own loop, woken by what updates queue.
            sending = asyncio.create_task(sender.run())
            try:
                with Profiling(profile), Stopwatch() as watch:
                    await run_workers(load.concurrency, one_citizen)
            finally:
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            sent, transactions = statements.count, statements.transactions
            await dp.emit_shutdown(bot=bot, dispatcher=dp)
        finally:
            release_routers(dp)
        answers, completed = await count_minyi(sessionmaker)
    finally:
        logging.getLogger("bot.errors").removeHandler(failed)
        await bot.session.close()
        await engine.dispose()
    tally = feeder.tally
    check_minyi_chats(session, tally)
    if answers != tally.answers or completed != tally.finished:
        raise AssertionError(
            f"minyi stored {answers} answers / {completed} completed responses, "
            f"but {tally.answers} answer updates were handled and {tally.finished} citizens "
            "were thanked"
        )
    calls = sum(session.calls.values()) - startup_calls
    return Measured(
        watch.seconds,
        watch.cpu,
        calls,
        sent,
        transactions,
        tally.updates,
        tally.answers,
        answers,
        tally,
        tally.stranded,
        statements.kinds,
    )


class Profiling:
    """Turn a profiler on for a block, if there is one."""

    def __init__(self, profile: cProfile.Profile | None) -> None:
        self.profile = profile

    def __enter__(self) -> None:
        if self.profile is not None:
            self.profile.enable()

    def __exit__(self, *exc: object) -> None:
        if self.profile is not None:
            self.profile.disable()


def release_routers(dp: Dispatcher) -> None:
    """Detach the bot's routers so the next run can call ``build_dispatcher`` again.

    The routers are module-level objects and aiogram lets a router have one parent, so a
    second ``build_dispatcher`` in one process raises "Router is already attached".
    """
    for router in list(dp.sub_routers):
        router._parent_router = None
    dp.sub_routers.clear()


def check_minyi_chats(session: LocalSession, tally: Tally) -> None:
    """The chats that end with the thank-you message are those of the citizens counted as
    finished (the others are stranded, and counted so), so no update failed quietly."""
    thanks = Translator()("survey.thanks")
    finished = sum(
        1
        for chat_id in session.chats
        if (last := session.last_sent(chat_id)) is not None and last["text"] == thanks
    )
    late = tally.unanswered > 0  # a citizen who gave up may be thanked after all
    wrong = finished < tally.finished if late else finished != tally.finished
    if wrong or len(session.chats) != tally.citizens:
        raise AssertionError(
            f"{finished} of {len(session.chats)} chats ended with the thanks, but "
            f"{tally.finished} of {tally.citizens} citizens were counted as finished"
        )


# --- baseline ------------------------------------------------------------------------------


class BaselineBase(DeclarativeBase):
    pass


class Click(BaselineBase):
    __tablename__ = "click"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[str] = mapped_column(String(64))
    clicked_at: Mapped[int] = mapped_column(Integer)


async def store_click(query: CallbackQuery, sessionmaker: SessionMaker) -> None:
    async with sessionmaker() as session:
        session.add(Click(user_id=query.from_user.id, data=query.data or "", clicked_at=0))
        await session.commit()
    await query.answer()


def baseline_dispatcher(sessionmaker: SessionMaker) -> Dispatcher:
    """A bare Dispatcher: default storage and isolation, one callback_query handler."""
    router = Router(name="baseline")
    router.callback_query.register(store_click)
    dp = Dispatcher(sessionmaker=sessionmaker)
    dp.include_router(router)
    return dp


BASELINE_MESSAGE_TEXT = "总体来看，您对在包头办理政务服务的满意程度如何？"


def baseline_message(user_id: int, message_id: int) -> dict[str, Any]:
    """A question with five buttons, like the ones minyi sends, to carry the callback."""
    keyboard = [[{"text": f"选项{i}", "callback_data": f"a:1:2:p:{i}"}] for i in range(5)]
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": private_chat(user_id),
        "from": BOT_USER,
        "text": BASELINE_MESSAGE_TEXT,
        "reply_markup": {"inline_keyboard": keyboard},
    }


async def run_baseline(workdir: Path, updates: int, users: int, load: Load) -> Measured:
    engine = create_engine(f"sqlite+aiosqlite:///{(workdir / 'baseline.db').as_posix()}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(BaselineBase.metadata.create_all)
        sessionmaker = create_sessionmaker(engine)
        session = LocalSession(load.api_latency)
        bot = Bot(BOT_TOKEN, session=session)
        dp = baseline_dispatcher(sessionmaker)
        feeder = Feeder(dp, bot, session, queued=lambda _seen: 1)  # the callback's answer
        numbers = iter(range(updates))
        statements = StatementCounter(engine)

        async def one_click() -> bool:
            n = next(numbers, None)
            if n is None:
                return False
            user_id = FIRST_CITIZEN + n % users
            await feeder.feed(
                user_id,
                {
                    "callback_query": {
                        "id": f"{user_id}-{n}",
                        "from": citizen_user(user_id),
                        "chat_instance": f"ci{user_id}",
                        "message": baseline_message(user_id, n + 1),
                        "data": f"a:1:2:p:{n % 5}",
                    }
                },
            )
            return True

        with Stopwatch() as watch:
            await run_workers(load.concurrency, one_click)
        sent, transactions = statements.count, statements.transactions
        async with sessionmaker() as db:
            rows = int((await db.exec(select(func.count()).select_from(Click))).one())
    finally:
        await engine.dispose()
    tally = feeder.tally
    handled = updates - tally.failures
    if rows != handled or tally.updates != updates:
        raise AssertionError(f"baseline stored {rows} rows for {handled} updates handled")
    if session.calls["answerCallbackQuery"] != handled:
        raise AssertionError("baseline did not answer every callback it handled")
    calls = sum(session.calls.values())
    return Measured(
        watch.seconds,
        watch.cpu,
        calls,
        sent,
        transactions,
        updates,
        updates,
        rows,
        tally,
        tally.failures + tally.unanswered,
    )


# --- the run -------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def show(label: str, m: Measured) -> str:
    extra = f", {m.answer_rate:5.1f} answers/s" if m.answers != m.updates else ""
    trouble = f", {m.failures} failed, {m.stranded} stranded" if m.failures or m.stranded else ""
    return (
        f"{label:<8} {m.updates:5d} updates in {m.seconds:6.2f} s = {m.rate:6.1f} updates/s "
        f"(CPU {m.cpu_ms:5.2f} ms/update{extra}{trouble})"
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


@dataclass
class Level:
    """The runs of both sides at one concurrency."""

    concurrency: int
    minyi: list[Measured] = field(default_factory=list)
    baseline: list[Measured] = field(default_factory=list)


async def measure(args: argparse.Namespace, root: Path) -> list[Level]:
    latency = args.api_latency_ms / 1000
    warm = root / "warmup"
    warm.mkdir()
    first = Load(args.concurrency[0], latency)
    warm_minyi = await run_minyi(warm, args.warmup_answers, first)
    await run_baseline(warm, warm_minyi.updates, warm_minyi.tally.citizens, first)
    print(f"warm-up: {warm_minyi.updates} updates each side (not timed)")
    levels: list[Level] = []
    for concurrency in args.concurrency:
        level = Level(concurrency)
        load = Load(concurrency, latency)
        for i in range(args.repeats):
            workdir = root / f"c{concurrency}-run{i + 1}"
            workdir.mkdir()
            m = await run_minyi(workdir, args.answers, load)
            b = await run_baseline(workdir, m.updates, m.tally.citizens, load)
            print(f"concurrency {concurrency:3d}, run {i + 1}/{args.repeats}  {show('minyi', m)}")
            print(f"{'':27}{show('baseline', b)}")
            level.minyi.append(m)
            level.baseline.append(b)
        levels.append(level)
    return levels


def per_update(m: Measured) -> str:
    return (
        f"{m.statements / m.updates:.1f} SQL statements in {m.transactions / m.updates:.2f} "
        f"transactions and {m.api_calls / m.updates:.2f} Bot API calls per update"
    )


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass(frozen=True)
class Row:
    """One side at one level: medians of the runs, latencies of all of them pooled."""

    rate: float
    p50_ms: float
    p99_ms: float
    failures: int
    stranded: int
    cpu_ms: float
    transactions: float

    @classmethod
    def of(cls, runs: list[Measured]) -> Row:
        latencies = [x for m in runs for x in m.tally.latencies]
        return cls(
            rate=statistics.median(m.rate for m in runs),
            p50_ms=1000 * percentile(latencies, 0.50),
            p99_ms=1000 * percentile(latencies, 0.99),
            failures=sum(m.failures for m in runs),
            stranded=sum(m.stranded for m in runs),
            cpu_ms=statistics.median(m.cpu_ms for m in runs),
            transactions=statistics.median(m.transactions / m.updates for m in runs),
        )

    def line(self, label: str) -> str:
        return (
            f"  {label:<9}{self.rate:9.1f}{self.p50_ms:9.0f}{self.p99_ms:9.0f}"
            f"{self.failures:9d}{self.stranded:9d}{self.cpu_ms:10.2f}{self.transactions:9.2f}"
        )


HEADER = (
    f"  {'':<9}{'updates/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failures':>9}{'stranded':>9}"
    f"{'CPU ms/u':>10}{'txn/u':>9}"
)


def report(args: argparse.Namespace, levels: list[Level]) -> bool:
    """Per level: minyi beside the baseline and their ratio; then how minyi scales. True when
    every level had no failure and no stranded citizen, and throughput held up at the highest
    concurrency (no lower than at any lower level)."""
    print()
    print(
        f"medians of {args.repeats} runs per level (p50/p99: update fed -> its last Bot API "
        f"call, all runs pooled; Bot API latency {args.api_latency_ms:g} ms):"
    )
    rows: dict[int, Row] = {}
    clean = True
    for level in levels:
        mine, base = Row.of(level.minyi), Row.of(level.baseline)
        rows[level.concurrency] = mine
        clean = clean and not (mine.failures or mine.stranded)
        print(f"concurrency {level.concurrency}:")
        print(HEADER)
        print(mine.line("minyi"))
        print(base.line("baseline"))
        print(
            f"  ratio minyi/baseline = {mine.rate / base.rate:.3f} by updates/s "
            f"(target >= {TARGET_RATIO}), {base.cpu_ms / mine.cpu_ms:.3f} by CPU time; "
            f"{per_update(level.minyi[-1])}"
        )
    top = max(rows)
    lower = [c for c in rows if c < top]
    holds = all(rows[top].rate >= rows[c].rate for c in lower)
    if lower:
        scaling = ", ".join(f"{rows[top].rate / rows[c].rate:.2f}x at {c}" for c in lower)
        print(
            f"minyi at concurrency {top}: {scaling} (updates/s); CPU per update "
            + ", ".join(f"{rows[top].cpu_ms / rows[c].cpu_ms:.2f}x at {c}" for c in lower)
        )
    met = clean and holds
    print(
        f"target (0 failures, 0 stranded, updates/s at {top} no lower than below): "
        f"{'met' if met else 'NOT met'}"
    )
    last = levels[-1]
    m, b = last.minyi[-1], last.baseline[-1]
    print(
        f"rows (last run): minyi stored {m.rows} answers = {m.answers} answer updates handled "
        f"({m.tally.finished} of {m.tally.citizens} citizens thanked); baseline stored "
        f"{b.rows} rows for {b.updates} updates"
    )
    print(f"machine: {machine()}; load average now {load_average()}")
    return met


def profile_minyi(args: argparse.Namespace, root: Path, concurrency: int) -> None:
    """One more minyi run under cProfile; prints the top functions by own and total time."""
    profiler = cProfile.Profile()
    workdir = root / f"profile-c{concurrency}"
    workdir.mkdir()
    load = Load(concurrency, args.api_latency_ms / 1000)
    measured = asyncio.run(run_minyi(workdir, args.answers, load, profiler))
    print(
        f"\nprofiled at concurrency {concurrency}: {show('minyi', measured)} "
        "(slower under the profiler)"
    )
    print(f"  {per_update(measured)}")
    print("SQL statements per update, by engine (the update's own, the sender's):")
    for (who, text), count in sorted(measured.kinds.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {count / measured.updates:5.2f}  {who:6}  {text}")
    print("main-thread time by package (own time; epoll/queue waits are the DB thread's work):")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for package, seconds in by_package(stats).most_common(args.top):
        print(f"  {seconds:7.3f} s  {1000 * seconds / measured.updates:6.2f} ms/update  {package}")
    stats.strip_dirs().sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    if args.profile_out:
        path = Path(args.profile_out)
        if len(args.concurrency) > 1:
            path = path.with_name(f"{path.stem}-c{concurrency}{path.suffix}")
        profiler.dump_stats(path)


def by_package(stats: pstats.Stats) -> Counter[str]:
    """Own time per top-level package (or per builtin), to see which layer the time goes to."""
    repo = str(Path(__file__).resolve().parents[1]) + os.sep
    totals: Counter[str] = Counter()
    rows: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(stats, "stats", {})
    for (filename, _line, name), row in rows.items():
        if "site-packages" + os.sep in filename:
            key = filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0]
        elif filename.startswith(repo):
            key = "minyi:" + filename[len(repo) :].split(os.sep, 1)[0]
        elif filename == "~":
            key = name
        else:
            key = "stdlib:" + Path(filename).stem
        totals[key] += row[2]
    return totals


def levels_arg(text: str) -> list[int]:
    """``8,32,128`` -> [8, 32, 128]."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels are whole numbers >= 1")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--answers",
        type=int,
        default=400,
        help="answers to send per timed minyi run (citizens finish their survey, and each of "
        "the concurrent citizens answers a whole survey; default 400)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per side and level (median)"
    )
    parser.add_argument("--warmup-answers", type=int, default=50, help="untimed first run")
    parser.add_argument(
        "--concurrency",
        type=levels_arg,
        default=[1],
        help="updates in flight at once (citizens answering in parallel), or several levels "
        "measured in turn: 8,32,128; default 1",
    )
    parser.add_argument(
        "--api-latency-ms",
        type=float,
        default=0.0,
        help="make every Bot API call wait this long, like a network round trip; default 0",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one minyi run at each level"
    )
    parser.add_argument("--profile-out", help="write the cProfile stats to this file")
    parser.add_argument("--top", type=int, default=30, help="functions shown when profiling")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"minyi answer benchmark, {datetime.now(UTC).date().isoformat()}; {machine()}")
    levels_text = ", ".join(str(c) for c in args.concurrency)
    print(
        f"workload: about {args.answers} answers per minyi run, concurrency {levels_text}, "
        f"Bot API latency {args.api_latency_ms:g} ms"
    )
    print(f"load average before: {load_average()} (other processes on the machine skew wall time)")
    with tempfile.TemporaryDirectory(prefix="minyi-bench-") as tmp:
        root = Path(tmp)
        levels = asyncio.run(measure(args, root))
        m = levels[-1].minyi[-1].tally
        print(
            f"per run at concurrency {levels[-1].concurrency}: {m.citizens} citizens, "
            f"{m.updates} updates = {m.starts} /start + {m.answers} answers + {m.toggles} "
            "option ticks"
        )
        report(args, levels)
        if args.profile:
            for concurrency in args.concurrency:
                profile_minyi(args, root, concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
