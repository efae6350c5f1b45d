"""The sender: drains the outbox to Telegram, in order per chat and within its limits.

- At most ``SEND_PER_SECOND`` calls overall (messages and edits), about
  ``CHAT_PER_SECOND`` messages per chat with a burst of ``CHAT_BURST``, and
  ``GROUP_PER_MINUTE`` per group: aiolimiter's leaky buckets, never sleeps of our own.
- Each chat's messages go one at a time, oldest first: question n+1 never overtakes the
  edit of question n.
- 429: the message waits ``retry_after`` (stored, so a restart waits too) and is sent again;
  when most recent calls are answered 429 the whole sender waits. Never dropped.
- 5xx and network errors: retried with exponential backoff and jitter, then kept as failed.
- 403: the chat blocked the bot: it is marked unreachable and nothing more is sent to it.
- A button answer too old, an edit of a message gone or unchanged: nothing left to do.

One worker at a time sends (:class:`surveys.delivery.leases.Leadership`): the limits hold
across workers, and when that worker dies another takes over within seconds.

Its bookkeeping takes turns with the handlers for the database's one writer (SQLite), so it
takes few: a look for due messages is a read, and a writer's turn is taken only to claim
what it found; the runs of many chats that end meanwhile are recorded in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict, deque
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import Message
from aiohttp import ClientError
from aiolimiter import AsyncLimiter

from bot.log_privacy import describe, summary
from bot.outbox import ANSWER_CALLBACK, EDIT_MARKUP, EDIT_TEXT, SEND
from surveys.core import db, metrics
from surveys.core.db import SessionMaker, read_only, unit_of_work
from surveys.core.exceptions import DatabaseBusy, DatabaseUnavailable
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.delivery import leases, outbox, wakeups
from surveys.delivery.outbox import Claimed, Result, Try

log = logging.getLogger(__name__)
METHODS: dict[str, type[TelegramMethod[Any]]] = {
    SEND: SendMessage,
    EDIT_TEXT: EditMessageText,
    EDIT_MARKUP: EditMessageReplyMarkup,
    ANSWER_CALLBACK: AnswerCallbackQuery,
}
MESSAGES = frozenset({SEND})  # what counts against a chat's own limit
UNLIMITED = frozenset({ANSWER_CALLBACK})  # what counts against no limit
LEASE = "sender"
SETTLE_TRIES = 8
# Calls leave evenly spaced a little under the rate: they do not arrive so. A stall on the
# way (the network, a busy server) bunches them, and a window of 1 s at the far end then
# holds the calls sent over 1 s plus the stall: 1.08 keeps a stall of 70 ms under the
# limit (measured: at 1.02, 33 calls in one second reached a loaded test server).
SPACING = 1.08
BUCKET = 2
Tried = tuple[Claimed, Result, dict[str, Any]]
Record = tuple[list[Tried], list[int]]  # a run's tries, and the claimed ids it put back
RUN = 20  # messages of one chat claimed at once, sent one after the other
LEAD_POLL_SECONDS = 2.0  # how often a worker that does not send asks to take over
MOOT = {
    "query is too old": "expired",
    "query id is invalid": "expired",
    "message is not modified": "unchanged",
    "message to edit not found": "gone",
    "message can't be edited": "gone",
}
KEEP_LIMITERS = 10_000
FLOOD_WINDOW = 10  # of the last this many calls ...
FLOOD_SHARE = 0.5  # ... this share answered 429 means Telegram throttles the whole bot


class Sender:
    def __init__(self, bot: Bot, sessionmaker: SessionMaker, settings: Settings) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.settings = settings
        # Calls evenly spaced, no burst over SEND_PER_SECOND in any second (a bucket of 30
        # would let 30 through at once after a quiet moment, then 30/s). A bucket of two,
        # not one: a call that starts late (the loop was busy) does not lose its slot, the
        # next one may follow sooner, so the lateness of each wake-up does not add up.
        self.overall = Slots(BUCKET, BUCKET * SPACING / settings.send_per_second)
        self._chats: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._busy: set[int] = set()
        self._behind: set[int] = set()  # busy chats with more queued since their run began
        self._passed = False  # the last look passed over busy chats
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Whether messages may wait that no look has seen yet (queued since, or held back
        # because their chat was busy); whether some wait for a retry time.
        self._dirty = True
        self._retrying = False
        self._recent: deque[bool] = deque(maxlen=FLOOD_WINDOW)
        self._paused_until = 0.0
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        engine = sessionmaker.kw["bind"]
        self.leadership = leases.Leadership(engine, LEASE)
        self.listener = wakeups.Listener(engine, self.wake)
        # Which messages were claimed and sent is bookkeeping: its commits need not wait for
        # the disk (a power cut can at worst send the last messages once more).
        self._books_engine = db.create_engine(
            engine.url.render_as_string(hide_password=False), bookkeeping=True
        )
        self.books = db.create_sessionmaker(self._books_engine)
        self._swept = 0.0
        # Runs' records waiting for the recorder, which writes all that wait in one go.
        self._unrecorded: list[tuple[Record, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None

    def wake(self, chat_id: int | None = None) -> None:
        """Something was queued (to ``chat_id``, when to one chat only): look now rather than
        at the next poll; for a chat whose run is in hand, when that run ends (a look before
        would pass the chat over and find nothing)."""
        if chat_id is not None and chat_id in self._busy:
            self._behind.add(chat_id)
            return
        self._dirty = True
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Send until cancelled; a worker without the lease waits for it. On PostgreSQL what
        other workers queue wakes this sender too (:mod:`surveys.delivery.wakeups`)."""
        listening = asyncio.create_task(self.listener.run())
        try:
            while True:
                try:
                    leading = await self._lead()
                except (DatabaseBusy, DatabaseUnavailable):
                    log.warning("outbox: the database is busy or cannot be reached")
                    leading = False
                if not leading:
                    await asyncio.sleep(LEAD_POLL_SECONDS)
                    continue
                # Cleared before looking, so a wake-up during the look is not lost.
                self._wake.clear()
                try:
                    claimed = await self.pump()
                except (DatabaseBusy, DatabaseUnavailable):
                    log.warning("outbox: database busy or unreachable; looking again shortly")
                    claimed = 0
                except Exception as exc:  # the database was away: try again
                    log.error("outbox round failed: %s\n%s", summary(exc), describe(exc))
                    claimed = 0
                if not claimed or not self._dirty:
                    # Nothing more known to wait: until woken (by the queueing, or by a run
                    # that ends with its chat behind), or the next poll for due retries.
                    await self._sleep(self.settings.outbox_poll_seconds)
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            await self.finish()

    async def drain(self, *, timeout: float = 30.0) -> None:
        """Send until nothing is left to send, waiting out retries (tests and benchmarks; the
        leadership is not asked for)."""
        deadline = time.monotonic() + timeout
        self._dirty = True
        self._swept = 0.0  # messages to chats that blocked the bot are settled at once
        while time.monotonic() < deadline:
            claimed = await self.pump() if self._dirty else 0
            if self._tasks:  # the chats in hand: the next look when one is done
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            if claimed or self._dirty:
                continue
            if not self._retrying:
                return
            async with read_only(self.books) as session:
                due = await outbox.next_due(session)
            if due is None:
                self._retrying = False
                return
            wait = (due - utcnow()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.01), deadline - time.monotonic(), 1.0))
            self._dirty = True
        raise TimeoutError("the outbox did not drain in time")

    async def finish(self) -> None:
        """Let the calls in hand end (graceful shutdown), then give the lease up."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        if self._recorder is not None and not self._recorder.done():
            await asyncio.wait({self._recorder}, timeout=10)
        await self.leadership.release()
        await self.close()

    async def close(self) -> None:
        """Close the bookkeeping connections (after :meth:`drain`; :meth:`run` does it)."""
        await self._books_engine.dispose()

    async def pump(self) -> int:
        """Claim the next due message of each idle chat and start sending them."""
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        free = self.settings.send_concurrency - len(self._tasks)
        if free <= 0:
            return 0
        sweep = time.monotonic() - self._swept >= 1.0
        self._dirty = False
        now = utcnow()
        # Looking is a read: it waits for no writer, and finding nothing takes no turn.
        async with read_only(self.books) as session:
            found = await outbox.due(
                session, now=now, limit=free, skip_chats=frozenset(self._busy), per_chat=RUN
            )
            stale = sweep and await outbox.unreachable_waiting(session)
        batch: list[Claimed] = []
        if found or stale:
            async with unit_of_work(self.books) as session:
                if stale:
                    await outbox.sweep_unreachable(session)
                batch = await outbox.take(session, found, now=now, lease=self.lease)
        if sweep:
            self._swept = time.monotonic()
        # Chats in hand were passed over: look again when one of their runs ends.
        self._passed = bool(self._busy)
        if len({item.chat_id for item in found}) >= free:  # the limit: more may be due
            self._dirty = True
        runs: dict[int, list[Claimed]] = {}
        for item in batch:
            runs.setdefault(item.chat_id, []).append(item)
        for chat_id, run in runs.items():
            self._busy.add(chat_id)
            task = asyncio.create_task(self._deliver(run))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(runs)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _lead(self) -> bool:
        """Whether this worker sends; on taking over, what the last sender had claimed and
        not settled (it died) is put back, to be sent again."""
        fresh = not self.leadership.held
        if not await self.leadership.hold():
            return False
        if fresh:
            async with unit_of_work(self.books) as session:
                await outbox.release_claims(session)
        return True

    # ------------------------------------------------------------------ one message

    async def _deliver(self, run: list[Claimed]) -> None:
        """Send one chat's run of messages in order, recording them as they go: after each
        new message (so a crash repeats at most one) and where the run ends. A 429, a 403
        or a retry ends the run; what was not tried is put back."""
        chat_id = run[0].chat_id
        in_run = {item.id for item in run}
        sent: dict[int, int] = {}  # outbox id -> Telegram message id, for edits in the run
        tried: list[Tried] = []
        try:
            for index, item in enumerate(run):
                if item.ref_id in in_run:
                    item = replace(item, target_message_id=sent.get(item.ref_id))
                result, details = await self._call(item)
                tried.append((item, result, details))
                if details.get("sent_message_id") is not None:
                    sent[item.id] = details["sent_message_id"]
                stop = result in (Result.later, Result.unreachable)
                if result is Result.later:
                    self._retrying = True
                last = index == len(run) - 1
                if stop or last or item.method in MESSAGES:
                    await self._record(tried, [r.id for r in run[index + 1 :]] if stop else [])
                    tried = []
                if stop:
                    break
        except Exception as exc:  # never lose the chat: its claim lapses and it is retried
            log.error(
                "outbox run of %d not recorded: %s\n%s", len(run), summary(exc), describe(exc)
            )
        finally:
            self._busy.discard(chat_id)
            if len(run) >= RUN or chat_id in self._behind or self._passed:  # more may wait
                self._behind.discard(chat_id)
                self._passed = False
                self._dirty = True
            if self._dirty:
                self._wake.set()

    async def _record(self, tried: list[Tried], rest: list[int]) -> None:
        """Record a run's tries (and put back ``rest``), returning once they are stored.

        The runs of other chats that end meanwhile are recorded in the same transaction: the
        recorder writes whatever waits, and what comes in while it writes goes next time.
        """
        done = asyncio.get_running_loop().create_future()
        self._unrecorded.append(((tried, rest), done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_waiting())
        await done

    async def _record_waiting(self) -> None:
        while self._unrecorded:
            waiting, self._unrecorded = self._unrecorded, []
            try:
                await self._write([record for record, _ in waiting])
            except Exception as exc:
                if len(waiting) == 1:
                    _settle(waiting[0][1], exc)
                    continue
                # One bad record must not cost the others theirs: each on its own.
                for record, done in waiting:
                    try:
                        await self._write([record])
                    except Exception as one:
                        _settle(done, one)
                    else:
                        _settle(done, None)
                continue
            for _, done in waiting:
                _settle(done, None)

    async def _write(self, records: list[Record]) -> None:
        """Record tries in one transaction. A database busy with a long write is waited
        for, since a message sent and not recorded would be sent again."""
        tries = [
            Try(
                message_id=item.id,
                result=result,
                forget=item.purpose == outbox.ERASURE,
                **details,
            )
            for tried, _ in records
            for item, result, details in tried
        ]
        rest = [message_id for _, ids in records for message_id in ids]
        for attempt in range(SETTLE_TRIES):
            try:
                async with unit_of_work(self.books) as session:
                    await outbox.settle_many(session, tries)
                    await outbox.unclaim(session, ids=rest)
                if any(t.forget for t in tries):
                    async with self.books() as session:  # no copy left in the WAL file
                        await db.checkpoint(session)
                return
            except DatabaseBusy:
                if attempt == SETTLE_TRIES - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    async def _call(self, item: Claimed) -> tuple[Result, dict[str, Any]]:
        now = utcnow
        params = dict(item.payload)
        if item.method != ANSWER_CALLBACK:
            params["chat_id"] = item.chat_id
        if item.ref_id is not None:
            if item.target_message_id is None:  # the message to edit was never sent
                return Result.moot, {"now": now(), "outcome": "no-target"}
            params["message_id"] = item.target_message_id
        method = METHODS[item.method].model_validate(params, context={"bot": self.bot})
        await self._limit(item)
        try:
            returned = await self.bot(method)
        except TelegramRetryAfter as exc:
            return self._refused(item, exc.retry_after)
        except TelegramForbiddenError:
            metrics.SENDS.labels(item.method, "403").inc()
            return Result.unreachable, {"now": now(), "outcome": "403"}
        except TelegramBadRequest as exc:
            reason = next((v for k, v in MOOT.items() if k in exc.message.lower()), None)
            if reason is not None:
                metrics.SENDS.labels(item.method, reason).inc()
                return Result.moot, {"now": now(), "outcome": reason}
            if "chat not found" in exc.message.lower():
                metrics.SENDS.labels(item.method, "403").inc()
                return Result.unreachable, {"now": now(), "outcome": "400-chat"}
            log.warning("outbox message %s refused: %s", item.id, summary(exc))
            metrics.SENDS.labels(item.method, "400").inc()
            return Result.failed, {"now": now(), "outcome": "400"}
        except (TelegramServerError, TelegramNetworkError, ClientError, TimeoutError) as exc:
            code = "5xx" if isinstance(exc, TelegramServerError) else "network"
            metrics.SENDS.labels(item.method, code).inc()
            self._flood(False, 0)
            return self._retry_later(item, code)
        self._flood(False, 0)
        metrics.SENDS.labels(item.method, "ok").inc()
        sent = returned.message_id if isinstance(returned, Message) else None
        return Result.sent, {"now": now(), "outcome": None, "sent_message_id": sent}

    def _refused(self, item: Claimed, retry_after: int) -> tuple[Result, dict[str, Any]]:
        """A 429: the message waits ``retry_after``; the call was not performed, so the slot
        it took is free for the next one."""
        metrics.RETRY_AFTER.inc()
        metrics.SENDS.labels(item.method, "429").inc()
        if item.method not in UNLIMITED:
            self.overall.give_back()
        self._flood(True, retry_after)
        now = utcnow()
        return Result.later, {
            "now": now,
            "outcome": "429",
            "not_before": now + timedelta(seconds=retry_after),
            "count_attempt": False,
        }

    def _retry_later(self, item: Claimed, code: str) -> tuple[Result, dict[str, Any]]:
        tries = item.attempts + 1
        if tries >= self.settings.send_max_attempts:
            log.warning("outbox message %s failed after %d tries (%s)", item.id, tries, code)
            return Result.failed, {"now": utcnow(), "outcome": code}
        cap = self.settings.send_backoff_max_seconds
        delay = min(cap, self.settings.send_backoff_seconds * 2**item.attempts)
        delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret
        return Result.later, {
            "now": utcnow(),
            "outcome": code,
            "not_before": utcnow() + timedelta(seconds=delay),
        }

    async def _limit(self, item: Claimed) -> None:
        if item.method in UNLIMITED:
            return
        if item.method in MESSAGES:
            await self._chat_limiter(item.chat_id).acquire()
        await self.overall.acquire()

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if chat_id < 0:  # a group
                limiter = AsyncLimiter(self.settings.group_per_minute, 60)
            else:
                burst = self.settings.chat_burst
                limiter = AsyncLimiter(burst, burst / self.settings.chat_per_second)
            self._chats[chat_id] = limiter
            if len(self._chats) > KEEP_LIMITERS:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return limiter

    def _flood(self, throttled: bool, retry_after: float) -> None:
        """Most recent calls throttled: Telegram limits the bot as a whole, so all wait."""
        self._recent.append(throttled)
        full = len(self._recent) == FLOOD_WINDOW
        if throttled and full and sum(self._recent) >= FLOOD_SHARE * FLOOD_WINDOW:
            self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
            self._recent.clear()


class Slots(AsyncLimiter):
    """aiolimiter's leaky bucket, and a slot given back for a call Telegram refused.

    A call answered 429 was not performed, and Telegram counts performed calls against its
    limits: with a tenth of the calls refused, keeping their slots would leave a tenth of the
    rate unused.
    """

    def give_back(self, amount: float = 1.0) -> None:
        self._leak()
        self._level = max(self._level - amount, 0.0)
        self._wake_next()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    """Tell a run waiting for its record how it went (unless it stopped waiting)."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
