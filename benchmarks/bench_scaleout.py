"""Webhook answers per second on PostgreSQL + Redis: ``minyi serve --workers 1`` against
``--workers 2``, and how long a citizen waits for the bot's reply.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scaleout.py [--citizens 50] [--repeats 3]

Per run (``--repeats`` runs of each worker count, alternating 1 and 2 workers):

* a fresh database in a throwaway PostgreSQL cluster (``scripts/postgres.sh``, a new folder
  under /tmp, a free port) and an emptied throwaway Redis (``scripts/redis.sh``);
  ``minyi db upgrade`` and ``minyi demo load`` into it;
* the fake Bot API server of the tests (:class:`tests.fakes.telegram.FakeTelegram`) in this
  process, answering each call ``--api-latency-ms`` after it arrives (the fake has no delay of
  its own: a subclass here sleeps before handling the request);
* ``minyi serve --workers N`` (real processes) with ``BOT_MODE=webhook``, ``WEBHOOK_URL``
  pointing at itself, ``WEBHOOK_SECRET``, ``TELEGRAM_API_URL`` at the fake, and
  ``SEND_PER_SECOND=1000``, ``CHAT_PER_SECOND=1000``, ``CHAT_BURST=100`` so that Telegram's
  limits (30/s, 1/s per chat) do not cap the figure;
* ``--citizens`` simulated citizens at once, each answering the demo survey to the end by
  POSTing updates straight to ``/telegram/webhook`` with the secret header (the ``/start``
  deep link, then callback queries for the buttons of the bot's newest message in the fake's
  chat, ticking one or two options of multiple-choice questions before 完成, and the free-text
  answer typed). A citizen waits for the bot's reply before the next update: that wait, from
  the POST to the reply arriving at the fake, is the latency measured. When a citizen is done
  a new one takes its place, ``--rounds`` times.

At the end of each run the answers stored in PostgreSQL must equal the answers given and the
completed responses the citizens that finished; otherwise the benchmark fails (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import redis
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.callbacks import Act, AnswerCb  # noqa: E402
from surveys.core.clock import today  # noqa: E402
from surveys.core.i18n import Translator  # noqa: E402
from surveys.core.periods import half_year  # noqa: E402
from surveys.core.settings import Settings  # noqa: E402
from tests import servers  # noqa: E402
from tests.fakes.telegram import CallbackQuery, FakeMessage, FakeTelegram  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MINYI = str(Path(sys.executable).with_name("minyi"))
TOKEN = "123456:TEST"
BOT_ID = int(TOKEN.split(":")[0])
WEBHOOK_SECRET = "bench-scaleout_Secret-7"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_KEY = "bench-scaleout-secret-key"
UNIT = "kundulun"
FREE_TEXT = "希望进一步简化线上办理流程，减少重复提交材料。"
MAX_STEPS = 80  # updates per citizen; the demo survey needs about 20
REPLY_TIMEOUT = 60.0
TARGET_RATIO = 1.6
FIRST_CITIZEN = 20_000_001
CLK_TCK = os.sysconf("SC_CLK_TCK")
THANKS = Translator()("survey.thanks")

log = logging.getLogger("bench_scaleout")


# --- the fake Bot API, with latency and per-chat reply watchers ------------------------------


@dataclass
class Watch:
    """What a citizen waits for in its chat, and when it arrived (perf_counter)."""

    matches: Callable[[FakeMessage, bool], bool]
    arrived: asyncio.Future[float]


class Fake(FakeTelegram):
    """The tests' fake Bot API server; each call is answered ``latency`` seconds after it
    arrives, and a citizen waiting for a reply is told the moment it is recorded (no polling
    of the whole state by 50 waiters)."""

    def __init__(self, latency: float) -> None:
        super().__init__(TOKEN)
        self.latency = latency
        self.watches: dict[int, Watch] = {}

    async def _handle_api(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        return await super()._handle_api(request)

    def _add_bot_message(self, chat: Any, *args: Any, **kwargs: Any) -> FakeMessage:
        message = super()._add_bot_message(chat, *args, **kwargs)
        self._seen(message, new=True)
        return message

    def _apply_edit(self, message: FakeMessage, *args: Any, **kwargs: Any) -> None:
        super()._apply_edit(message, *args, **kwargs)
        self._seen(message, new=False)

    def _seen(self, message: FakeMessage, *, new: bool) -> None:
        watch = self.watches.get(message.chat_id)
        if watch is not None and not watch.arrived.done() and watch.matches(message, new):
            watch.arrived.set_result(time.perf_counter())

    def expect(self, chat_id: int, matches: Callable[[FakeMessage, bool], bool]) -> Watch:
        watch = Watch(matches, asyncio.get_running_loop().create_future())
        self.watches[chat_id] = watch
        return watch

    def register_query(self, query_id: str, user_id: int, message_id: int, data: str) -> None:
        """So that the bot's answerCallbackQuery for an update POSTed here is accepted."""
        self.callback_queries[query_id] = CallbackQuery(
            query_id, user_id, user_id, message_id, data, self.mark()
        )


# --- citizens ------------------------------------------------------------------------------


@dataclass
class Tally:
    updates: int = 0
    starts: int = 0
    ticks: int = 0
    answers: int = 0
    citizens: int = 0
    latencies: list[float] = field(default_factory=list)  # POST -> reply, seconds
    handled: list[float] = field(default_factory=list)  # POST -> 200 answer, seconds
    first: float = 0.0
    last: float = 0.0

    def add(self, other: Tally) -> None:
        for name in ("updates", "starts", "ticks", "answers", "citizens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies += other.latencies
        self.handled += other.handled


def new_question(message: FakeMessage, new: bool) -> bool:
    """The bot's next step: a new message with buttons, or the thank-you at the end."""
    return new and bool(message.buttons or message.text == THANKS)


class Driver:
    """POSTs updates to the webhook as Telegram would, and waits for the bot's replies."""

    def __init__(self, fake: Fake, http: aiohttp.ClientSession, url: str, survey: str) -> None:
        self.fake = fake
        self.http = http
        self.url = url
        self.survey = survey
        self.update_ids = itertools.count(700_000_001)
        self.user_message_ids = itertools.count(1_000_001)
        self.query_ids = itertools.count(9_000_000_000_000_000_001)

    async def post(self, tally: Tally, user_id: int, body: dict[str, Any], watch: Watch) -> None:
        update = {"update_id": next(self.update_ids), **body}
        began = time.perf_counter()
        if not tally.first:
            tally.first = began
        async with self.http.post(
            self.url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        ) as response:
            text = await response.text()
        handled = time.perf_counter()
        if response.status != 200:
            raise RuntimeError(f"webhook answered {response.status} for citizen {user_id}: {text}")
        try:
            arrived = await asyncio.wait_for(asyncio.shield(watch.arrived), REPLY_TIMEOUT)
        except TimeoutError:
            report = "\n".join(m.describe() for m in self.fake.messages(user_id)[-5:])
            raise RuntimeError(
                f"no reply for citizen {user_id} within {REPLY_TIMEOUT:g}s to {body}\n{report}"
            ) from None
        tally.updates += 1
        tally.handled.append(handled - began)
        tally.latencies.append(arrived - began)
        tally.last = max(tally.last, arrived)

    async def citizen(self, tally: Tally, user_id: int) -> None:
        user = self.fake.user(user_id, first_name="市民", started=True)
        rng = random.Random(user_id)
        text = f"/start s_{self.survey}_{UNIT}"
        await self.say(tally, user_id, user.to_json(), user.chat_json(), text, command=6)
        tally.starts += 1
        for _ in range(MAX_STEPS):
            message = self.fake.messages(user_id)[-1]
            buttons = [(data, AnswerCb.unpack(data)) for _, data in message.buttons if data]
            if not buttons:
                if message.text != THANKS:
                    raise RuntimeError(f"citizen {user_id} stuck at {message.describe()}")
                tally.citizens += 1
                return
            picks = [data for data, cb in buttons if cb.k is Act.pick]
            done = [data for data, cb in buttons if cb.k is Act.done]
            if done:  # multiple choice: tick one or two options, then 完成
                for data in rng.sample(picks, k=min(len(picks), rng.choice((1, 2)))):
                    await self.press(tally, user.to_json(), message, data, tick=True)
                    tally.ticks += 1
                await self.press(tally, user.to_json(), message, done[0], tick=False)
            elif picks:
                await self.press(tally, user.to_json(), message, rng.choice(picks), tick=False)
            else:  # free text: only a skip button is offered
                await self.say(tally, user_id, user.to_json(), user.chat_json(), FREE_TEXT)
            tally.answers += 1
        raise RuntimeError(f"citizen {user_id} did not finish in {MAX_STEPS} updates")

    async def say(
        self,
        tally: Tally,
        user_id: int,
        sender: dict[str, Any],
        chat: dict[str, Any],
        text: str,
        command: int = 0,
    ) -> None:
        message: dict[str, Any] = {
            "message_id": next(self.user_message_ids),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command}]
        watch = self.fake.expect(user_id, new_question)
        await self.post(tally, user_id, {"message": message}, watch)

    async def press(
        self, tally: Tally, sender: dict[str, Any], message: FakeMessage, data: str, *, tick: bool
    ) -> None:
        """A button press; a tick's reply is the edit of the question, an answer's the next
        question."""
        user_id = int(sender["id"])
        query_id = str(next(self.query_ids))
        self.fake.register_query(query_id, user_id, message.message_id, data)
        target = message.message_id

        def edited(m: FakeMessage, new: bool) -> bool:
            return not new and m.message_id == target

        watch = self.fake.expect(user_id, edited if tick else new_question)
        body = {
            "callback_query": {
                "id": query_id,
                "from": sender,
                "message": message.to_json(),
                "chat_instance": str(-(user_id * 7919 + BOT_ID)),
                "data": data,
            }
        }
        await self.post(tally, user_id, body, watch)


async def drive(driver: Driver, concurrency: int, rounds: int, first_user: int) -> Tally:
    """``concurrency`` citizens at once; each slot runs ``rounds`` citizens one after another."""
    users = itertools.count(first_user)
    tallies = [Tally() for _ in range(concurrency)]

    async def slot(tally: Tally) -> None:
        for _ in range(rounds):
            await driver.citizen(tally, next(users))

    await asyncio.gather(*(slot(t) for t in tallies))
    total = Tally()
    for t in tallies:
        total.add(t)
    total.first = min(t.first for t in tallies)
    total.last = max(t.last for t in tallies)
    return total


# --- processes and their CPU time ------------------------------------------------------------


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of a process (and of its reaped children); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def worker_processes(master: int) -> list[int]:
    """uvicorn's worker processes: the master's children but multiprocessing's helpers."""
    workers = []
    for pid in children_of(master):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                workers.append(pid)
    return workers


def socket_ports(pid: int) -> set[int]:
    """Local TCP ports of a process's sockets (from /proc/<pid>/fd and /proc/net/tcp)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[9] in inodes:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


@dataclass
class Stack:
    """The throwaway PostgreSQL and Redis of the whole benchmark."""

    root: Path
    cluster: servers.Cluster | None = None
    redis_server: servers.RedisServer | None = None

    @property
    def pg_dir(self) -> str:
        return str(self.root / "pg")

    @property
    def redis_dir(self) -> str:
        return str(self.root / "redis")

    def start(self, *, durable: bool, max_connections: int) -> None:
        self.cluster = servers.start_postgres(self.pg_dir)
        # The test cluster allows 50 connections; two workers may open more (pools of the
        # app, the sender's bookkeeping and the leadership). With --durable, commits wait
        # for the disk again (the test cluster runs with fsync and synchronous_commit off).
        with self.cluster.admin() as connection:
            connection.execute(f"ALTER SYSTEM SET max_connections = {int(max_connections)}")
            if durable:
                for name in ("fsync", "synchronous_commit", "full_page_writes"):
                    connection.execute(f"ALTER SYSTEM SET {name} = on")
        servers.stop_postgres(self.pg_dir)
        result = servers.run_script(
            servers.POSTGRES_SCRIPT, "start", self.pg_dir, str(self.cluster.port)
        )
        if result.returncode != 0:
            raise servers.ServerError(servers.script_output(result))
        self.redis_server = servers.start_redis(self.redis_dir)

    def stop(self) -> None:
        errors = []
        for stop, folder in (
            (servers.stop_redis, self.redis_dir),
            (servers.stop_postgres, self.pg_dir),
        ):
            try:
                stop(folder)
            except Exception as exc:  # keep stopping the other one
                errors.append(str(exc))
        if errors:
            print("cleanup:", *errors, sep="\n", file=sys.stderr)

    def postmaster(self) -> int:
        return int((Path(self.pg_dir) / "data" / "postmaster.pid").read_text().split()[0])

    def redis_pid(self) -> int:
        return int((Path(self.redis_dir) / "redis.pid").read_text().strip())

    def setting(self, name: str) -> str:
        assert self.cluster is not None
        with self.cluster.admin() as connection:
            row = connection.execute(f"SHOW {name}").fetchone()
        return str(row[0]) if row else "?"


@dataclass
class Cpu:
    """CPU seconds per part, over a window."""

    workers: list[float]
    master: float
    postgres: float
    redis: float
    bench: float  # this process: the fake Bot API server and the citizens

    @property
    def total(self) -> float:
        return sum(self.workers) + self.master + self.postgres + self.redis + self.bench


class CpuMeter:
    def __init__(self, stack: Stack, master: int, workers: list[int]) -> None:
        self.stack = stack
        self.master = master
        self.workers = workers
        self.postmaster = stack.postmaster()
        self.redis = stack.redis_pid()

    def read(self) -> Cpu:
        postgres = cpu_seconds(self.postmaster, children=True) + sum(
            cpu_seconds(pid) for pid in children_of(self.postmaster)
        )
        return Cpu(
            workers=[cpu_seconds(pid) for pid in self.workers],
            master=cpu_seconds(self.master),
            postgres=postgres,
            redis=cpu_seconds(self.redis),
            bench=time.process_time(),
        )

    @staticmethod
    def delta(before: Cpu, after: Cpu) -> Cpu:
        return Cpu(
            workers=[b - a for a, b in zip(before.workers, after.workers, strict=True)],
            master=after.master - before.master,
            postgres=after.postgres - before.postgres,
            redis=after.redis - before.redis,
            bench=after.bench - before.bench,
        )


class Minyi:
    """``minyi serve --workers N`` on a fresh database, and its commands."""

    def __init__(self, stack: Stack, workdir: Path, fake: Fake, args: argparse.Namespace):
        assert stack.cluster is not None
        assert stack.redis_server is not None
        self.stack = stack
        self.workdir = workdir
        self.database = f"bench_{uuid.uuid4().hex[:12]}"
        stack.cluster.create_database(self.database)
        self.database_url = stack.cluster.url(self.database)
        stack.redis_server.flush()
        self.port = servers.free_port()
        self.log_path = workdir / "minyi.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_SECRET", "WEBHOOK_URL")
        }
        self.env.update(
            DATA_DIR=str(workdir),
            DATABASE_URL=self.database_url,
            REDIS_URL=stack.redis_server.url,
            SECRET_KEY=SECRET_KEY,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=fake.base_url,
            BOT_MODE="webhook",
            API_HOST="127.0.0.1",
            API_PORT=str(self.port),
            WEBHOOK_URL=self.base_url,
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            LOG_LEVEL=args.log_level,
            # Telegram's limits (30/s overall, 1/s per chat) would cap the figure.
            SEND_PER_SECOND="1000",
            CHAT_PER_SECOND="1000",
            CHAT_BURST="100",
        )
        if args.outbox_poll_seconds is not None:
            self.env["OUTBOX_POLL_SECONDS"] = str(args.outbox_poll_seconds)
        self.process: asyncio.subprocess.Process | None = None
        self.workers: list[int] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def cli(self, *args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            MINYI,
            *args,
            env=self.env,
            cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"minyi {' '.join(args)} failed:\n{output.decode()}")

    async def serve(self, fake: Fake, workers: int) -> None:
        calls_before = len(fake.calls)
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                MINYI,
                "serve",
                "--workers",
                str(workers),
                env=self.env,
                cwd=self.workdir,
                stdout=log_file,
                stderr=log_file,
            )
        process = self.process
        deadline = time.monotonic() + 120

        def webhooks_set() -> int:
            return sum(1 for c in fake.calls[calls_before:] if c.method.lower() == "setwebhook")

        async with aiohttp.ClientSession() as http:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"minyi serve exited:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"minyi serve did not come up in 120 s:\n{self.log()}")
                ready = webhooks_set() >= workers and self.advisory_locks() >= 2
                if ready:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{self.base_url}/healthz") as response:
                            if response.status == 200:
                                break
                await asyncio.sleep(0.2)
        # One worker is `minyi serve` itself; more are uvicorn's children of it.
        self.workers = worker_processes(process.pid) if workers > 1 else [process.pid]
        if len(self.workers) < workers:
            raise RuntimeError(f"expected {workers} worker processes, saw {self.workers}")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(servers.psycopg_url(self.database_url)) as connection:
            return list(connection.execute(sql).fetchall())

    def advisory_locks(self) -> int:
        """Held advisory locks: the sender's and the jobs' once a worker holds each."""
        rows = self.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return int(rows[0][0])

    def sender_worker(self) -> int | None:
        """The worker whose connection holds an advisory lock (the sender and the jobs are
        taken by whichever worker gets there first; usually one holds both)."""
        rows = self.query(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted"
        )
        ports = {int(r[0]) for r in rows if r[0] is not None}
        holders = [w for w in self.workers if socket_ports(w) & ports]
        return holders[0] if len(holders) == 1 else None

    def connections(self) -> int:
        rows = self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        return int(rows[0][0])

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        workers = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            for pid in [process.pid, *workers]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await process.wait()
        for pid in workers:  # a worker left behind by a killed master
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def drop(self) -> None:
        assert self.stack.cluster is not None
        self.stack.cluster.drop_database(self.database)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# --- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    workers: int
    seconds: float
    tally: Tally
    cpu: Cpu
    stored_answers: int
    completed: int
    sender_worker: int | None
    worker_pids: list[int]
    peak_connections: int
    log_errors: list[str]

    @property
    def answer_rate(self) -> float:
        return self.tally.answers / self.seconds

    @property
    def update_rate(self) -> float:
        return self.tally.updates / self.seconds

    def p(self, q: float) -> float:
        return 1000 * percentile(self.tally.latencies, q)

    def handled(self, q: float) -> float:
        return 1000 * percentile(self.tally.handled, q)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def survey_code() -> str:
    period, _, _ = half_year(today(Settings(_env_file=None).tz))  # type: ignore[call-arg]
    return f"szzf-{period.lower()}"


async def sample_connections(minyi: Minyi, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            peak[0] = max(peak[0], await asyncio.to_thread(minyi.connections))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def one_run(
    stack: Stack, root: Path, workers: int, index: int, args: argparse.Namespace
) -> Run:
    workdir = root / f"w{workers}-run{index}"
    workdir.mkdir()
    fake = Fake(args.api_latency_ms / 1000)
    await fake.start()
    minyi = Minyi(stack, workdir, fake, args)
    try:
        await minyi.cli("db", "upgrade")
        await minyi.cli("demo", "load")
        await minyi.serve(fake, workers)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            driver = Driver(fake, http, f"{minyi.base_url}/telegram/webhook", survey_code())
            first = FIRST_CITIZEN + 1_000_000 * (2 * index + workers)
            warm = (
                await drive(driver, args.warmup_citizens, 1, first)
                if args.warmup_citizens
                else Tally()
            )
            assert minyi.process is not None
            master = minyi.process.pid if workers > 1 else 0  # 0: no separate master
            meter = CpuMeter(stack, master, minyi.workers)
            peak = [0]
            stop_sampling = asyncio.Event()
            sampler = asyncio.create_task(sample_connections(minyi, peak, stop_sampling))
            before = meter.read()
            timed = await drive(driver, args.citizens, args.rounds, first + 100_000)
            after = meter.read()
            stop_sampling.set()
            await sampler
        sender = minyi.sender_worker()
        stored = int(minyi.query("SELECT count(*) FROM answer")[0][0])
        completed = int(
            minyi.query("SELECT count(*) FROM response WHERE status = 'completed'")[0][0]
        )
        await minyi.stop()
        log_text = minyi.log()
        errors = [
            line for line in log_text.splitlines() if "Traceback" in line or " ERROR " in line
        ]
        given = warm.answers + timed.answers
        finished = warm.citizens + timed.citizens
        if stored != given or completed != finished:
            raise AssertionError(
                f"{workers} worker(s), run {index}: PostgreSQL holds {stored} answers and "
                f"{completed} completed responses, but {given} answers were given by "
                f"{finished} citizens who finished; log {minyi.log_path}"
            )
        return Run(
            workers=workers,
            seconds=timed.last - timed.first,
            tally=timed,
            cpu=CpuMeter.delta(before, after),
            stored_answers=stored,
            completed=completed,
            sender_worker=sender,
            worker_pids=minyi.workers,
            peak_connections=peak[0],
            log_errors=errors,
        )
    finally:
        await minyi.stop()
        await fake.stop()
        with contextlib.suppress(Exception):
            minyi.drop()


# --- the report ----------------------------------------------------------------------------


def machine() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def show_run(run: Run, index: int, repeats: int) -> None:
    t = run.tally
    print(
        f"run {index}/{repeats}, {run.workers} worker(s): {t.answers} answers "
        f"({t.updates} updates) in {run.seconds:.2f} s = {run.answer_rate:.1f} answers/s "
        f"({run.update_rate:.1f} updates/s); update->reply p50 {run.p(50):.0f} ms, "
        f"p99 {run.p(99):.0f} ms (webhook answered: p50 {run.handled(50):.0f} ms, "
        f"p99 {run.handled(99):.0f} ms)"
    )
    wall = run.seconds
    cpu = run.cpu
    parts = []
    for pid, seconds in zip(run.worker_pids, cpu.workers, strict=True):
        tag = " (sender+jobs)" if pid == run.sender_worker else ""
        parts.append(f"worker {pid}{tag} {100 * seconds / wall:.0f}%")
    parts += [
        f"PostgreSQL {100 * cpu.postgres / wall:.0f}%",
        f"Redis {100 * cpu.redis / wall:.0f}%",
        f"fake API + citizens {100 * cpu.bench / wall:.0f}%",
    ]
    if run.workers > 1:
        parts.append(f"uvicorn master {100 * cpu.master / wall:.0f}%")
    print(
        f"    CPU (100% = one core): {', '.join(parts)}; total {100 * cpu.total / wall:.0f}% "
        f"of {100 * (os.cpu_count() or 1)}%; workers "
        f"{1000 * sum(cpu.workers) / max(t.updates, 1):.1f} ms, PostgreSQL "
        f"{1000 * cpu.postgres / max(t.updates, 1):.1f} ms per update"
    )
    print(
        f"    stored: {run.stored_answers} answers, {run.completed} completed responses "
        f"(warm-up included) = given; peak {run.peak_connections} PostgreSQL connections; "
        f"{len(run.log_errors)} error lines in minyi's log"
    )
    for line in run.log_errors[:3]:
        print(f"      {line[:300]}")


def summarise(runs: dict[int, list[Run]], args: argparse.Namespace) -> bool:
    print()
    print(f"median of {args.repeats} run(s), {args.citizens} citizens at once:")
    rates: dict[int, float] = {}
    for workers, group in runs.items():
        rates[workers] = statistics.median(r.answer_rate for r in group)
        updates = statistics.median(r.update_rate for r in group)
        p50 = statistics.median(r.p(50) for r in group)
        p99 = statistics.median(r.p(99) for r in group)
        cpu = statistics.median(100 * r.cpu.total / r.seconds for r in group)
        print(
            f"  {workers} worker{'s' if workers > 1 else ' '}  {rates[workers]:6.1f} answers/s "
            f"({updates:.1f} updates/s)  update->reply p50 {p50:5.0f} ms  p99 {p99:5.0f} ms  "
            f"(machine CPU {cpu:.0f}% of {100 * (os.cpu_count() or 1)}%)"
        )
    ratio = rates[2] / rates[1]
    met = ratio >= TARGET_RATIO
    print(
        f"  ratio 2 workers / 1 worker = {ratio:.2f}  (target >= {TARGET_RATIO}: "
        f"{'met' if met else 'NOT met'})"
    )
    return met


async def measure(args: argparse.Namespace, stack: Stack, root: Path) -> dict[int, list[Run]]:
    runs: dict[int, list[Run]] = {1: [], 2: []}
    for index in range(1, args.repeats + 1):
        for workers in (1, 2):
            run = await one_run(stack, root, workers, index, args)
            show_run(run, index, args.repeats)
            runs[workers].append(run)
    return runs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--citizens", type=int, default=50, help="citizens answering at once")
    parser.add_argument(
        "--rounds", type=int, default=2, help="citizens answering one after another per slot"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per worker count")
    parser.add_argument(
        "--warmup-citizens", type=int, default=4, help="untimed citizens first in each run"
    )
    parser.add_argument(
        "--api-latency-ms",
        type=float,
        default=50.0,
        help="the fake Bot API answers each call this long after it arrives; default 50",
    )
    parser.add_argument(
        "--outbox-poll-seconds",
        type=float,
        default=None,
        help="OUTBOX_POLL_SECONDS for minyi (default: minyi's own, 1 s)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="PostgreSQL with fsync, synchronous_commit and full_page_writes on "
        "(the throwaway cluster has them off)",
    )
    parser.add_argument(
        "--max-connections", type=int, default=200, help="PostgreSQL max_connections"
    )
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL for minyi")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"minyi scale-out benchmark, {datetime.now(UTC).date().isoformat()}; {machine()}")
    print(
        f"workload: {args.citizens} citizens at once x {args.rounds} round(s), demo survey "
        f"to the end through POST /telegram/webhook; Bot API latency "
        f"{args.api_latency_ms:g} ms (added by the benchmark: the fake has no delay option)"
    )
    print(
        "minyi: BOT_MODE=webhook, SEND_PER_SECOND=1000 CHAT_PER_SECOND=1000 CHAT_BURST=100 "
        "(Telegram's 30/s and 1/s per chat do not cap the figure), LOG_LEVEL="
        f"{args.log_level}, OUTBOX_POLL_SECONDS="
        f"{args.outbox_poll_seconds if args.outbox_poll_seconds is not None else 'default (1)'}"
    )
    print(f"load average before: {load_average()}")
    root = Path(tempfile.mkdtemp(prefix="minyi-scaleout-", dir="/tmp"))
    os.chmod(root, 0o755)  # the cluster runs as `postgres` when this is root
    stack = Stack(root)
    ok = False
    try:
        stack.start(durable=args.durable, max_connections=args.max_connections)
        print(
            f"PostgreSQL {stack.setting('server_version')} (fsync={stack.setting('fsync')}, "
            f"synchronous_commit={stack.setting('synchronous_commit')}, max_connections="
            f"{stack.setting('max_connections')}), Redis {redis_version(stack)}, throwaway "
            f"servers in {root}"
        )
        runs = asyncio.run(measure(args, stack, root))
        met = summarise(runs, args)
        print(f"machine: {machine()}; load average now {load_average()}")
        ok = True
        return 0 if met else 3
    finally:
        stack.stop()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:  # keep minyi's logs of the failed run
            for folder in (stack.pg_dir, stack.redis_dir):
                shutil.rmtree(folder, ignore_errors=True)
            print(f"servers stopped; minyi's logs kept in {root}", file=sys.stderr)


def redis_version(stack: Stack) -> str:
    assert stack.redis_server is not None
    with redis.Redis(host=servers.HOST, port=stack.redis_server.port) as client:
        return str(client.info("server").get("redis_version", "?"))


if __name__ == "__main__":
    sys.exit(main())
