"""Outbox throughput at Telegram's limits: the real sender against the fake Bot API server.

Run from the repository root::

    .venv/bin/python benchmarks/bench_outbox.py [--messages 10000] [--chats 2000]

* **minyi**: ``--messages`` sendMessage calls queued with :func:`surveys.delivery.outbox.enqueue`
  on a migrated SQLite file (round robin over ``--chats`` chats, each text unique), then
  drained by :meth:`bot.sender.Sender.run` (it takes the sender's lease on the file) through
  aiogram's HTTP session to :class:`tests.fakes.telegram.FakeTelegram` enforcing Telegram's
  flood limits (``Limits()``: 30 messages/s overall, 1/s per chat with a burst of 3) and
  answering ``--rate-429`` of the calls 429 with ``retry_after`` ``--retry-after``.
* **baseline**: the same number of sendMessage calls, to the same chats in the same order,
  made directly with aiogram and only an ``AsyncLimiter(30, 1)``, each chat's messages one
  after the other (one task per chat); a 429 is waited for (``retry_after``) and sent again.
  A fresh fake server with the same limits and faults.

The backlog is all queued before the sender starts (like a broadcast), so queue-to-delivery
latency mostly measures the wait for its turn at 30/s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiolimiter import AsyncLimiter
from sqlmodel import col, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.outbox import SEND  # noqa: E402
from bot.sender import Sender  # noqa: E402
from surveys.core import migrate  # noqa: E402
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work  # noqa: E402
from surveys.core.models import utcnow  # noqa: E402
from surveys.core.settings import Settings  # noqa: E402
from surveys.delivery import outbox  # noqa: E402
from surveys.delivery.models import OutboxMessage, OutboxStatus  # noqa: E402
from tests.fakes.telegram import FakeTelegram, Limits  # noqa: E402

TOKEN = "123456:TEST"
FIRST_CHAT = 1_000_001
TARGET_RATE = 27.0  # of Telegram's 30 messages/s


@dataclass
class Measured:
    label: str
    queued: int
    seconds: float  # first call to last delivery
    delivered: int  # distinct messages the fake holds
    duplicates: int  # messages delivered more than once
    out_of_order: int  # chats whose messages arrived out of queue order
    violations: int
    violation_kinds: str  # which limits, e.g. "global 1"
    early_retries: int
    faults_429: int
    peak_per_second: int
    latencies: list[float]  # queue to delivery, seconds (minyi only)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.queued - self.delivered


def text_of(n: int) -> str:
    return f"bench message {n}"


def chat_of(n: int, chats: int) -> int:
    return FIRST_CHAT + n % chats


def account(tg: FakeTelegram, args: argparse.Namespace) -> tuple[int, int, int]:
    """(distinct messages delivered, messages delivered more than once, chats out of order)."""
    seen: Counter[str] = Counter()
    out_of_order = 0
    for c in range(args.chats):
        texts = tg.delivered(FIRST_CHAT + c)
        seen.update(texts)
        order = [int(t.rsplit(" ", 1)[1]) for t in dict.fromkeys(texts)]
        out_of_order += order != sorted(order)
    return len(seen), sum(1 for count in seen.values() if count > 1), out_of_order


def fake(args: argparse.Namespace) -> FakeTelegram:
    tg = FakeTelegram(TOKEN, limits=Limits())
    for c in range(args.chats):
        tg.user(FIRST_CHAT + c, started=True)
    return tg


def make_bot(tg: FakeTelegram) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    return Bot(TOKEN, session=session)


async def run_minyi(args: argparse.Namespace, workdir: Path) -> Measured:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=workdir,
        database_url=f"sqlite+aiosqlite:///{(workdir / 'minyi.db').as_posix()}",
        redis_url=None,
        secret_key="benchmark-secret-key",
        bot_token=TOKEN,
    )
    await asyncio.to_thread(migrate.upgrade, settings.db_url)  # Alembic runs its own loop
    engine = create_engine(settings.db_url)
    sessionmaker = create_sessionmaker(engine)
    for start in range(0, args.messages, 1000):
        async with unit_of_work(sessionmaker) as session:
            for n in range(start, min(start + 1000, args.messages)):
                await outbox.enqueue(
                    session,
                    chat_id=chat_of(n, args.chats),
                    method=SEND,
                    payload={"text": text_of(n)},
                    now=utcnow(),
                )
    tg = fake(args)
    await tg.start()
    tg.inject_faults(rate_429=args.rate_429, retry_after=args.retry_after, seed=args.seed)
    bot = make_bot(tg)
    sender = Sender(bot, sessionmaker, settings)
    deadline = time.monotonic() + args.messages / 20 + 120
    began, started = time.monotonic(), utcnow()
    task = asyncio.create_task(sender.run())
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            async with sessionmaker() as session:
                waiting = (
                    await session.exec(
                        select(func.count()).where(
                            col(OutboxMessage.status).in_(
                                (OutboxStatus.pending, OutboxStatus.sending)
                            )
                        )
                    )
                ).one()
            if not waiting:
                break
        ended = time.monotonic()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.session.close()
    async with sessionmaker() as session:
        rows = (await session.exec(select(OutboxMessage.created_at, OutboxMessage.sent_at))).all()
    await engine.dispose()
    times = [(made, sent) for made, sent in rows if sent is not None]
    latencies = [(sent - made).total_seconds() for made, sent in times]
    if times:  # to the last delivery, not to the poll that saw it
        last = max(sent for _, sent in times)
        first = started.replace(tzinfo=None) if last.tzinfo is None else started
        ended = began + (last - first).total_seconds()
    delivered, duplicates, out_of_order = account(tg, args)
    measured = Measured(
        "minyi",
        args.messages,
        ended - began,
        delivered,
        duplicates,
        out_of_order,
        len(tg.violations),
        kinds(tg),
        len(tg.early_retries),
        tg.fault_counts["429"],
        tg.sends_per_second(),
        latencies,
    )
    await tg.stop()
    return measured


async def run_baseline(args: argparse.Namespace) -> Measured:
    tg = fake(args)
    await tg.start()
    tg.inject_faults(rate_429=args.rate_429, retry_after=args.retry_after, seed=args.seed)
    bot = make_bot(tg)
    limiter = AsyncLimiter(30, 1)
    latencies: list[float] = []

    async def send(n: int, queued: float) -> None:
        while True:
            await limiter.acquire()
            try:
                await bot.send_message(chat_of(n, args.chats), text_of(n))
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
                continue
            latencies.append(time.monotonic() - queued)
            return

    async def chat(c: int, queued: float) -> None:
        # One chat's messages one after the other: concurrent calls to a chat that was
        # answered 429 only push its retry-until time further out.
        for n in range(c, args.messages, args.chats):
            await send(n, queued)

    began = time.monotonic()
    await asyncio.gather(*(chat(c, began) for c in range(args.chats)))
    ended = time.monotonic()
    await bot.session.close()
    delivered, duplicates, out_of_order = account(tg, args)
    measured = Measured(
        "baseline",
        args.messages,
        ended - began,
        delivered,
        duplicates,
        out_of_order,
        len(tg.violations),
        kinds(tg),
        len(tg.early_retries),
        tg.fault_counts["429"],
        tg.sends_per_second(),
        latencies,
    )
    await tg.stop()
    return measured


def kinds(tg: FakeTelegram) -> str:
    counted = Counter(violation.limit for violation in tg.violations)
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counted.items())) or "none"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def show(m: Measured) -> str:
    return (
        f"  {m.label:<8} {m.delivered:6d} delivered in {m.seconds:7.1f} s = {m.rate:5.1f} msg/s; "
        f"latency p50 {percentile(m.latencies, 0.5):6.1f} s, "
        f"p99 {percentile(m.latencies, 0.99):6.1f} s; "
        f"peak {m.peak_per_second} in 1 s\n"
        f"           lost {m.lost}, duplicates {m.duplicates}, chats out of order "
        f"{m.out_of_order}, violations {m.violations} ({m.violation_kinds}), "
        f"early retries {m.early_retries}, "
        f"injected 429s {m.faults_429}"
    )


def machine() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000, help="messages queued")
    parser.add_argument("--chats", type=int, default=2_000, help="chats they go to")
    parser.add_argument("--rate-429", type=float, default=0.1, help="share answered 429")
    parser.add_argument("--retry-after", type=int, default=1, help="retry_after of those 429s")
    parser.add_argument("--seed", type=int, default=7, help="seed of the injected faults")
    parser.add_argument("--no-baseline", action="store_true", help="measure minyi only")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace, root: Path) -> tuple[Measured, Measured | None]:
    minyi = await run_minyi(args, root)
    baseline = None if args.no_baseline else await run_baseline(args)
    return minyi, baseline


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print(f"minyi outbox benchmark, {datetime.now(UTC).date().isoformat()}; {machine()}")
    print(
        f"workload: {args.messages} messages to {args.chats} chats, Limits() enforced, "
        f"{args.rate_429:.0%} answered 429 (retry_after {args.retry_after} s)"
    )
    print(f"load average before: {load_average()} (other processes on the machine skew wall time)")
    with tempfile.TemporaryDirectory(prefix="minyi-bench-outbox-") as tmp:
        minyi, baseline = asyncio.run(measure(args, Path(tmp)))
    print(show(minyi))
    met = minyi.rate >= TARGET_RATE
    print(
        f"  sustained {minyi.rate:.1f} msg/s (target >= {TARGET_RATE:g} of 30: "
        f"{'met' if met else 'NOT met'})"
    )
    if baseline is not None:
        print(show(baseline))
        ratio = minyi.rate / baseline.rate if baseline.rate else float("nan")
        print(f"  ratio minyi/baseline = {ratio:.3f}")
    clean = minyi.lost == 0 and minyi.duplicates == 0 and minyi.violations == 0
    clean = clean and minyi.early_retries == 0 and minyi.out_of_order == 0
    verdict = "nothing lost, repeated, out of order or over a limit" if clean else "PROBLEMS above"
    print(f"  minyi: {verdict}")
    print(f"machine: {machine()}; load average now {load_average()}")
    return 0 if clean else 3


if __name__ == "__main__":
    sys.exit(main())
