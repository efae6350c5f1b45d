"""Answers per second through the real minyi bot, against a bare aiogram + SQLite baseline.

Run from the repository root::

    .venv/bin/python benchmarks/bench_answers.py [--answers N] [--concurrency C]

Both sides run in this process, in the same run, on SQLite files made by
:func:`surveys.db.create_engine` (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``), and every
update is committed before the next one of the same worker is fed.

* **minyi**: the Dispatcher of :func:`bot.main.build_dispatcher` with the demo units and the
  demo survey. Simulated citizens send ``/start s_<survey>_kundulun``, then click the answer
  buttons found in the ``reply_markup`` the bot really sent (ticking options of multiple-choice
  questions before 完成) and type the free-text answer.
* **baseline**: a bare ``Dispatcher`` whose one ``callback_query`` handler inserts one row and
  commits, then answers the callback. It is fed as many updates as the minyi run.

Bot API calls never leave the process: :class:`LocalSession` serialises each request like the
HTTP session would, and returns a well-formed result parsed by aiogram's own response check.
``--api-latency-ms`` makes each call wait like a network round trip, and ``--concurrency``
keeps several citizens answering at once, as polling does with one task per update.
"""

from __future__ import annotations

import argparse
import asyncio
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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Update
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


@dataclass
class Tally:
    updates: int = 0
    starts: int = 0
    toggles: int = 0
    answers: int = 0
    citizens: int = 0


class Feeder:
    """Builds updates as polling does (parsed with the bot as context) and dispatches them."""

    def __init__(
        self, dp: Dispatcher, bot: Bot, session: LocalSession, sender: Sender | None = None
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.session = session
        self.sender = sender
        self.update_ids = itertools.count(1)
        self.tally = Tally()

    async def feed(self, body: dict[str, Any]) -> None:
        raw = {"update_id": next(self.update_ids), **body}
        update = Update.model_validate(raw, context={"bot": self.bot})
        self.tally.updates += 1
        if await self.dp.feed_update(self.bot, update) is UNHANDLED:
            raise RuntimeError(f"update not handled: {raw}")
        if self.sender is not None:  # minyi queues its replies: they are sent before the next
            await self.sender.drain()


def citizen_user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "市民", "language_code": "zh-hans"}


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "市民"}


@dataclass(frozen=True)
class Button:
    data: str
    action: AnswerCb


class Citizen:
    """One citizen answering the demo survey from a deep link, reading the bot's keyboards."""

    def __init__(self, feeder: Feeder, user_id: int, survey_code: str) -> None:
        self.feeder = feeder
        self.user_id = user_id
        self.survey_code = survey_code
        self.user = citizen_user(user_id)
        self.rng = random.Random(user_id)

    async def complete_survey(self) -> None:
        await self.send_text(f"/start s_{self.survey_code}_{UNIT}", command_length=6)
        self.feeder.tally.starts += 1
        for _ in range(MAX_STEPS):
            buttons = self.buttons()
            if not buttons:
                self.feeder.tally.citizens += 1
                return
            await self.answer(buttons)
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

    async def answer(self, buttons: list[Button]) -> None:
        picks = [b for b in buttons if b.action.k is Act.pick]
        done = [b for b in buttons if b.action.k is Act.done]
        if done:  # multiple choice: tick one or two options, then 完成
            for button in self.rng.sample(picks, k=min(len(picks), self.rng.choice((1, 2)))):
                await self.click(button)
                self.feeder.tally.toggles += 1
            await self.click(done[0])
        elif picks:
            await self.click(self.rng.choice(picks))
        else:  # free text: only a skip button is offered
            await self.send_text(FREE_TEXT)
        self.feeder.tally.answers += 1

    async def click(self, button: Button) -> None:
        message = self.feeder.session.last_sent(self.user_id)
        await self.feeder.feed(
            {
                "callback_query": {
                    "id": f"{self.user_id}-{self.feeder.tally.updates}",
                    "from": self.user,
                    "chat_instance": f"ci{self.user_id}",
                    "message": message,  # never mutated: edits store a new dict
                    "data": button.data,
                }
            }
        )

    async def send_text(self, text: str, command_length: int = 0) -> None:
        message: dict[str, Any] = {
            "message_id": self.feeder.session.chat(self.user_id).new_id(),
            "date": int(time.time()),
            "chat": private_chat(self.user_id),
            "from": self.user,
            "text": text,
        }
        if command_length:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command_length}]
        await self.feeder.feed({"message": message})


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
    updates: int
    answers: int
    rows: int
    tally: Tally

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


class StatementCounter:
    """Counts the SQL statements an engine sends."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: object) -> None:
        self.count += 1


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
    try:
        sessionmaker = create_sessionmaker(engine)
        survey_code = await load_demo(sessionmaker, today_in(settings.tz))
        sender = Sender(bot, sessionmaker, settings)
        dp = build_dispatcher(settings, sessionmaker, sender.wake)
        try:
            await dp.emit_startup(bot=bot, dispatcher=dp)
            startup_calls = sum(session.calls.values())
            feeder = Feeder(dp, bot, session, sender)
            citizens = itertools.count(FIRST_CITIZEN)
            statements = StatementCounter(engine)

            async def one_citizen() -> bool:
                if feeder.tally.answers >= target_answers:
                    return False
                await Citizen(feeder, next(citizens), survey_code).complete_survey()
                return True

            with Profiling(profile), Stopwatch() as watch:
                await run_workers(load.concurrency, one_citizen)
            sent = statements.count
            await dp.emit_shutdown(bot=bot, dispatcher=dp)
        finally:
            release_routers(dp)
        answers, completed = await count_minyi(sessionmaker)
    finally:
        await bot.session.close()
        await engine.dispose()
    tally = feeder.tally
    check_minyi_chats(session, tally)
    if answers != tally.answers or completed != tally.citizens:
        raise AssertionError(
            f"minyi stored {answers} answers / {completed} completed responses, "
            f"but {tally.answers} answer updates were sent by {tally.citizens} citizens"
        )
    calls = sum(session.calls.values()) - startup_calls
    return Measured(
        watch.seconds, watch.cpu, calls, sent, tally.updates, tally.answers, answers, tally
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
    """Every citizen's chat ends with the thank-you message, so no update failed quietly."""
    thanks = Translator()("survey.thanks")
    finished = sum(
        1
        for chat_id in session.chats
        if (last := session.last_sent(chat_id)) is not None and last["text"] == thanks
    )
    if finished != tally.citizens or len(session.chats) != tally.citizens:
        raise AssertionError(f"{finished} of {len(session.chats)} chats ended with the thanks")


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
        feeder = Feeder(dp, bot, session)
        numbers = iter(range(updates))
        statements = StatementCounter(engine)

        async def one_click() -> bool:
            n = next(numbers, None)
            if n is None:
                return False
            user_id = FIRST_CITIZEN + n % users
            await feeder.feed(
                {
                    "callback_query": {
                        "id": f"{user_id}-{n}",
                        "from": citizen_user(user_id),
                        "chat_instance": f"ci{user_id}",
                        "message": baseline_message(user_id, n + 1),
                        "data": f"a:1:2:p:{n % 5}",
                    }
                }
            )
            return True

        with Stopwatch() as watch:
            await run_workers(load.concurrency, one_click)
        sent = statements.count
        async with sessionmaker() as db:
            rows = int((await db.exec(select(func.count()).select_from(Click))).one())
    finally:
        await engine.dispose()
    if rows != updates or feeder.tally.updates != updates:
        raise AssertionError(f"baseline stored {rows} rows for {updates} updates")
    if session.calls["answerCallbackQuery"] != updates:
        raise AssertionError("baseline did not answer every callback")
    calls = sum(session.calls.values())
    return Measured(watch.seconds, watch.cpu, calls, sent, updates, updates, rows, feeder.tally)


# --- the run -------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def show(label: str, m: Measured) -> str:
    extra = f", {m.answer_rate:5.1f} answers/s" if m.answers != m.updates else ""
    return (
        f"{label:<8} {m.updates:5d} updates in {m.seconds:6.2f} s = {m.rate:6.1f} updates/s "
        f"(CPU {m.cpu_ms:5.2f} ms/update{extra})"
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


async def measure(args: argparse.Namespace, root: Path) -> tuple[list[Measured], list[Measured]]:
    warm = root / "warmup"
    warm.mkdir()
    load = Load(args.concurrency, args.api_latency_ms / 1000)
    warm_minyi = await run_minyi(warm, args.warmup_answers, load)
    await run_baseline(warm, warm_minyi.updates, warm_minyi.tally.citizens, load)
    print(f"warm-up: {warm_minyi.updates} updates each side (not timed)")
    minyi_runs: list[Measured] = []
    baseline_runs: list[Measured] = []
    for i in range(args.repeats):
        workdir = root / f"run{i + 1}"
        workdir.mkdir()
        m = await run_minyi(workdir, args.answers, load)
        b = await run_baseline(workdir, m.updates, m.tally.citizens, load)
        print(f"run {i + 1}/{args.repeats}  {show('minyi', m)}")
        print(f"         {show('baseline', b)}")
        minyi_runs.append(m)
        baseline_runs.append(b)
    return minyi_runs, baseline_runs


def per_update(m: Measured) -> str:
    return (
        f"{m.statements / m.updates:.1f} SQL statements + 1 commit and "
        f"{m.api_calls / m.updates:.2f} Bot API calls per update"
    )


def report(args: argparse.Namespace, minyi_runs: list[Measured], bases: list[Measured]) -> bool:
    minyi_rate = statistics.median(m.rate for m in minyi_runs)
    minyi_answer_rate = statistics.median(m.answer_rate for m in minyi_runs)
    base_rate = statistics.median(b.rate for b in bases)
    ratio = minyi_rate / base_rate
    minyi_cpu = statistics.median(m.cpu_ms for m in minyi_runs)
    base_cpu = statistics.median(b.cpu_ms for b in bases)
    last, last_base = minyi_runs[-1], bases[-1]
    met = ratio >= TARGET_RATIO
    print()
    print(f"median of {args.repeats} runs:")
    print(
        f"  minyi     {minyi_rate:7.1f} updates/s  ({minyi_answer_rate:.1f} answers/s, "
        f"CPU {minyi_cpu:.2f} ms/update, {per_update(last)})"
    )
    print(
        f"  baseline  {base_rate:7.1f} updates/s  (CPU {base_cpu:.2f} ms/update, "
        f"{per_update(last_base)})"
    )
    print(
        f"  ratio minyi/baseline = {ratio:.3f}  (target >= {TARGET_RATIO}: "
        f"{'met' if met else 'NOT met'}); by CPU time {base_cpu / minyi_cpu:.3f}"
    )
    print(
        f"rows: minyi stored {last.rows} answers = {last.answers} answer updates sent "
        f"({last.tally.citizens} completed responses); baseline stored {last_base.rows} rows "
        f"= {last_base.updates} updates"
    )
    print(f"machine: {machine()}; load average now {load_average()}")
    return met


def profile_minyi(args: argparse.Namespace, root: Path) -> None:
    """One more minyi run under cProfile; prints the top functions by own and total time."""
    profiler = cProfile.Profile()
    workdir = root / "profile"
    workdir.mkdir()
    load = Load(args.concurrency, args.api_latency_ms / 1000)
    measured = asyncio.run(run_minyi(workdir, args.answers, load, profiler))
    print(f"\nprofiled: {show('minyi', measured)} (slower under the profiler)")
    print("main-thread time by package (own time; epoll/queue waits are the DB thread's work):")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for package, seconds in by_package(stats).most_common(args.top):
        print(f"  {seconds:7.3f} s  {1000 * seconds / measured.updates:6.2f} ms/update  {package}")
    stats.strip_dirs().sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    if args.profile_out:
        profiler.dump_stats(args.profile_out)


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--answers",
        type=int,
        default=400,
        help="answers to send per timed minyi run (citizens finish their survey; default 400)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (median)")
    parser.add_argument("--warmup-answers", type=int, default=50, help="untimed first run")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="updates in flight at once (citizens answering in parallel); default 1",
    )
    parser.add_argument(
        "--api-latency-ms",
        type=float,
        default=0.0,
        help="make every Bot API call wait this long, like a network round trip; default 0",
    )
    parser.add_argument("--profile", action="store_true", help="also profile one minyi run")
    parser.add_argument("--profile-out", help="write the cProfile stats to this file")
    parser.add_argument("--top", type=int, default=30, help="functions shown when profiling")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"minyi answer benchmark, {datetime.now(UTC).date().isoformat()}; {machine()}")
    print(
        f"workload: about {args.answers} answers per minyi run, concurrency {args.concurrency}, "
        f"Bot API latency {args.api_latency_ms:g} ms"
    )
    print(f"load average before: {load_average()} (other processes on the machine skew wall time)")
    with tempfile.TemporaryDirectory(prefix="minyi-bench-") as tmp:
        root = Path(tmp)
        minyi_runs, base_runs = asyncio.run(measure(args, root))
        m = minyi_runs[-1].tally
        print(
            f"per run: {m.citizens} citizens, {m.updates} updates = {m.starts} /start + "
            f"{m.answers} answers + {m.toggles} option ticks"
        )
        report(args, minyi_runs, base_runs)
        if args.profile:
            profile_minyi(args, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
