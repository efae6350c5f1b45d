"""Delivery under Telegram's real limits and faults: the real ``minyi serve`` against a fake
Bot API server that enforces the flood limits (``Limits()``: 30 messages/s overall, 1/s per
chat with a burst of 3) and answers 429, 403 and too-old callbacks.

The process gets Telegram's real pace back (the harness speeds chats up for the functional
tests). Citizens answer the demo survey concurrently, each in a task of its own that presses
what the bot shows and waits for the bot's answer to each press; their paths are random but
seeded by their user ids. One fake server and one process serve the whole module, each test
with citizens of its own (and its own counts of the fake's records).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from surveys.core.clock import today
from surveys.core.periods import half_year
from surveys.core.settings import Settings
from tests import servers
from tests.e2e.harness import (
    TOKEN,
    MinyiProcess,
    eventually,
    prompt_message,
    question_offering,
    question_text,
)
from tests.fakes.telegram import (
    QUERY_ID_INVALID,
    FakeMessage,
    FakeTelegram,
    FakeUser,
    Limits,
    Violation,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FINISHED = "感谢您的参与"
STEP_TIMEOUT = 60.0  # per press: 429 waits, 1 message/s per chat, a restart after kill -9
REPRESS_AFTER = 20.0  # a citizen whose press got no answer in this long presses again
UNITS = ("kundulun", "qingshan", "donghe", "jiuyuan", "shiguai", "guyang")
CHANNELS = {
    "hall": "政务服务大厅窗口",
    "app": "蒙速办APP",
    "web": "政府网站",
    "kiosk": "自助终端",
    "hotline": "12345政务服务便民热线",
}
LEVELS = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "neutral": "基本满意",
    "dissatisfied": "不满意",
}
REASONS = {"trips": "需要多次跑动", "slow": "办理时间长", "materials": "需要提交的材料多"}
TRIPS = {"zero": "0次（全程网上办理）", "one": "1次", "two": "2次", "three_plus": "3次及以上"}
AGES = {
    "under_30": "30岁以下",
    "age_30_44": "30—44岁",
    "age_45_59": "45—59岁",
    "age_60_plus": "60岁及以上",
}


def _survey_code() -> str:
    period, _, _ = half_year(today(Settings(_env_file=None).tz))  # type: ignore[call-arg]
    return f"szzf-{period.lower()}"


def _has_buttons(message: FakeMessage) -> bool:
    return bool(message.buttons)


# ------------------------------------------------------------------------------ citizens


@dataclass
class Citizen:
    """A citizen's path through the demo survey: what to press, and what is then stored.

    Each step is (kind, label): "tick" a multiple-choice option (the question is edited),
    "next" (the next question is sent), "end" (the thank-you message is sent).
    """

    user: FakeUser
    unit: str
    steps: list[tuple[str, str]] = field(default_factory=list)
    # question key -> ("choice" | "choices" | "number" | "skipped", expected value)
    expected: dict[str, tuple[str, Any]] = field(default_factory=dict)


def citizen(tg: FakeTelegram, user_id: int) -> Citizen:
    rng = random.Random(user_id)
    who = Citizen(tg.user(user_id), rng.choice(UNITS))
    steps, expected = who.steps, who.expected

    def level(key: str) -> str:
        code = rng.choice(sorted(LEVELS))
        steps.append(("next", LEVELS[code]))
        expected[key] = ("choice", code)
        return code

    def single(key: str, options: dict[str, str]) -> str:
        code = rng.choice(sorted(options))
        steps.append(("next", options[code]))
        expected[key] = ("choice", code)
        return code

    channels = rng.sample(sorted(CHANNELS), rng.randint(1, 2))
    steps += [("tick", CHANNELS[code]) for code in channels] + [("next", "完成")]
    expected["channels"] = ("choices", sorted(channels))
    if level("overall") == "dissatisfied":
        reason = rng.choice(sorted(REASONS))
        steps += [("tick", REASONS[reason]), ("next", "完成")]
        expected["dissatisfied_reasons"] = ("choices", [reason])
    if {"app", "web"} & set(channels):
        level("online_experience")
    if "hotline" in channels:
        level("hotline")
    single("trips", TRIPS)
    score = rng.randint(0, 10)
    steps.append(("next", str(score)))
    expected["recommend"] = ("number", score)
    level("city_governance")
    level("data_protection")
    if single("age_band", AGES) == "age_60_plus":
        level("elderly_services")
    steps.append(("end", "跳过"))
    expected["suggestion"] = ("skipped", True)
    return who


async def start(
    tg: FakeTelegram,
    who: Citizen,
    timeout: float = STEP_TIMEOUT,
    repressed: list[tuple[int, str]] | None = None,
) -> FakeMessage:
    """The citizen opens the survey by its link; returns the first question. With
    ``repressed`` given, a link left unanswered for ``REPRESS_AFTER`` s is sent once more."""
    link = f"/start s_{_survey_code()}_{who.unit}"
    tg.send_text(who.user, link)
    if repressed is not None:
        try:
            return await tg.wait_for_message(who.user, _has_buttons, timeout=REPRESS_AFTER)
        except AssertionError:
            repressed.append((who.user.id, link))
            tg.send_text(who.user, link)
    return await tg.wait_for_message(who.user, _has_buttons, timeout=timeout)


async def converse(
    tg: FakeTelegram,
    who: Citizen,
    timeout: float = STEP_TIMEOUT,
    repressed: list[tuple[int, str]] | None = None,
) -> None:
    """Answer the survey to the end, waiting for the bot's answer to each press.

    With ``repressed`` given, a press the bot has not answered after ``REPRESS_AFTER``
    seconds is pressed again once, as a citizen would, and listed there.
    """
    prompt = await start(tg, who, timeout, repressed)
    for kind, label in who.steps:
        if not prompt.buttons:
            # After kill -9 (or a link sent twice) the question may have been asked again and
            # the copy in hand closed: a citizen presses the newest question's button, once
            # it has come (the outbox sends it again after the restart).
            await tg.wait_until(
                lambda: any(m.buttons for m in tg.messages(who.user)),
                timeout=timeout,
                message="a question with buttons",
            )
            prompt = prompt_message(tg, who.user)
        if kind == "tick":
            wait = partial(tg.wait_for_edit, who.user, prompt)
        elif kind == "next":
            # After kill -9 the question pressed may come again (sent, not yet recorded as
            # sent): the next question is the next one with other text.
            asked = prompt.versions[0].text

            def following(message: FakeMessage, asked: str | None = asked) -> bool:
                return bool(message.buttons) and message.versions[0].text != asked

            wait = partial(tg.wait_for_message, who.user, following)
        else:
            wait = partial(tg.wait_for_message, who.user, FINISHED)
        if not any(text == label for text, _ in prompt.buttons):
            # The question in hand was answered and the next one is on its way (a busy
            # machine, a restart): the citizen presses once the question with it has come.
            prompt = await question_offering(tg, who.user, label, timeout)
        tg.press(who.user, prompt, label)
        if repressed is not None:
            try:
                prompt = await wait(timeout=REPRESS_AFTER)
                continue
            except AssertionError:
                # Pressed again only while the question still offers the button: once it is
                # closed (its answer shown), the press was handled and the next question is
                # on its way (a restart on a busy machine can take longer than REPRESS_AFTER).
                if any(text == label for text, _ in prompt.buttons):
                    repressed.append((who.user.id, label))
                    tg.press(who.user, prompt, label)
        prompt = await wait(timeout=timeout)


async def converse_all(
    tg: FakeTelegram,
    citizens: Iterable[Citizen],
    repressed: list[tuple[int, str]] | None = None,
) -> None:
    tasks = [asyncio.create_task(converse(tg, who, repressed=repressed)) for who in citizens]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


def stored(minyi: MinyiProcess, who: Citizen) -> dict[str, tuple[str, Any]]:
    """The citizen's stored answers, in the shape of :attr:`Citizen.expected`."""
    found: dict[str, tuple[str, Any]] = {}
    for key, (choice, choices, number, _text, skipped) in minyi.answers(who.user.id).items():
        kind = who.expected.get(key, ("?", None))[0]
        value: Any = (choice, choices, number, skipped)
        if kind == "choice":
            value = choice
        elif kind == "choices":
            value = sorted(json.loads(choices))
        elif kind == "number":
            value = number
        elif kind == "skipped":
            value = bool(skipped)
        found[key] = (kind, value)
    return found


def assert_finished_and_stored(tg: FakeTelegram, minyi: MinyiProcess, who: Citizen) -> None:
    delivered = tg.delivered(who.user)
    assert any(FINISHED in text for text in delivered), delivered
    assert stored(minyi, who) == who.expected, who.user.id
    assert minyi.responses(who.user.id) == [(who.unit, "completed")]


def duplicates_of(tg: FakeTelegram, citizens: Iterable[Citizen]) -> list[tuple[int, str]]:
    ids = {who.user.id for who in citizens}
    return [(chat, text) for chat, text in tg.duplicates() if chat in ids]


# ------------------------------------------------------------------------------ fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg() -> AsyncIterator[FakeTelegram]:
    """A fake server enforcing Telegram's flood limits."""
    async with FakeTelegram(TOKEN, limits=Limits()) as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    """``minyi serve`` with the demo data, sending at Telegram's real limits."""
    process = MinyiProcess(tmp_path_factory.mktemp("delivery"), tg.base_url)
    process.env.update(
        SEND_PER_SECOND="30", CHAT_PER_SECOND="1", CHAT_BURST="3", GROUP_PER_MINUTE="20"
    )
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.start(tg)
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()[-5000:]


# ------------------------------------------------------------------------------ tests


class TestThrottled:
    async def test_a_third_of_the_calls_answered_429_and_every_survey_still_ends(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        citizens = [citizen(tg, 50_001 + n) for n in range(20)]
        early, violations, faults = len(tg.early_retries), len(tg.violations), tg.fault_counts
        faults_before = faults["429"]
        tg.inject_faults(rate_429=0.3, retry_after=1, seed=20)
        try:
            await converse_all(tg, citizens)
        finally:
            tg.clear_faults()
        assert tg.fault_counts["429"] - faults_before > 50  # the faults did happen
        for who in citizens:
            assert_finished_and_stored(tg, minyi, who)
        assert tg.early_retries[early:] == []
        assert tg.violations[violations:] == []
        assert duplicates_of(tg, citizens) == []


@dataclass
class Run:
    citizens: list[Citizen]
    violations: list[Violation]


@pytest_asyncio.fixture(scope="class", loop_scope="module")
async def forty(tg: FakeTelegram, minyi: MinyiProcess) -> Run:
    """Forty citizens answering the survey at once, within the limits the fake enforces."""
    citizens = [citizen(tg, 51_001 + n) for n in range(40)]
    violations = len(tg.violations)
    await converse_all(tg, citizens)
    return Run(citizens, tg.violations[violations:])


class TestWithinLimits:
    async def test_forty_citizens_at_once_all_finish_and_no_call_is_over_a_limit(
        self, tg: FakeTelegram, minyi: MinyiProcess, forty: Run
    ) -> None:
        for who in forty.citizens:
            assert_finished_and_stored(tg, minyi, who)
        assert forty.violations == []
        assert duplicates_of(tg, forty.citizens) == []

    async def test_no_more_than_thirty_messages_in_any_second(
        self, tg: FakeTelegram, forty: Run
    ) -> None:
        # Counted where the fake server saw the calls as they came: after a stall of its own
        # loop (it shares the loop with the forty citizens) the calls that arrived meanwhile
        # are handled at once, so those seconds say nothing of minyi's pace.
        assert tg.sends_per_second() <= 30, tg.stalls
        assert tg.unmeasured_sends() <= tg.sends() // 2, tg.stalls


class TestBlockedChat:
    async def test_nothing_more_goes_to_a_chat_after_its_403_and_others_go_on(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        blocker, other = citizen(tg, 52_001), citizen(tg, 52_002)
        chat = blocker.user.id
        prompt = await start(tg, blocker)
        talking = asyncio.create_task(converse(tg, other))
        tg.block(blocker.user)
        # Pressing a button of the question still shown: the bot answers the press and
        # edits the question (403), then the answer is done and the next question queued.
        tg.press(blocker.user, prompt, CHANNELS["app"])
        await tg.wait_until(
            lambda: any(call.status == 403 for call in tg.calls_to(chat)),
            timeout=30,
            message="a 403 for the blocked chat",
        )
        tg.press(blocker.user, prompt, CHANNELS["web"])
        tg.press(blocker.user, prompt, "完成")
        await eventually(tg, lambda: list(minyi.answers(chat)), ["channels"])
        await eventually(
            tg,
            lambda: minyi.query(
                "SELECT COUNT(*) FROM outbox_message WHERE chat_id = ? "
                "AND status IN ('pending', 'sending')",
                chat,
            ),
            [(0,)],
        )
        await talking
        assert_finished_and_stored(tg, minyi, other)

        calls = tg.calls_to(chat)
        first_403 = next(n for n, call in enumerate(calls) if call.status == 403)
        assert [(c.method, c.status) for c in calls[first_403 + 1 :]] == []
        statuses = dict(
            minyi.query(
                "SELECT status, COUNT(*) FROM outbox_message WHERE chat_id = ? GROUP BY status",
                chat,
            )
        )
        assert statuses.get("unreachable", 0) >= 2, statuses  # the edits and the next question
        assert set(statuses) <= {"sent", "unreachable"}, statuses
        assert minyi.query("SELECT chat_id FROM unreachable_chat WHERE chat_id = ?", chat) == [
            (chat,)
        ]


class TestKilled:
    async def test_kill_9_during_fifty_conversations(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        """Ten conversations at a time, the process killed at a random moment of each ten and
        started again: each conversation sees one kill, so at most one message twice.

        A press being handled at the kill can be lost (see the next test): a citizen left
        without an answer for REPRESS_AFTER seconds presses again, as people do.
        """
        rng = random.Random(9)
        citizens = [citizen(tg, 53_001 + n) for n in range(50)]
        repressed: list[tuple[int, str]] = []
        for batch in range(5):
            group = citizens[batch * 10 : batch * 10 + 10]
            talking = asyncio.create_task(converse_all(tg, group, repressed))
            await asyncio.sleep(rng.uniform(0.5, 9.0))
            assert not talking.done(), "the ten conversations ended before the kill"
            await minyi.stop(crash=True)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await minyi.start(tg)
            await talking

        for who in citizens:
            assert_finished_and_stored(tg, minyi, who)
        respondents = [minyi.respondent_id(who.user.id) for who in citizens]
        twice = minyi.query(
            "SELECT r.respondent_id, a.question_key, COUNT(*) FROM answer a "
            "JOIN response r ON r.id = a.response_id "
            f"WHERE r.respondent_id IN ({', '.join('?' * len(respondents))}) "
            "GROUP BY r.respondent_id, a.question_key HAVING COUNT(*) > 1",
            *respondents,
        )
        assert twice == []
        per_chat = Counter(chat for chat, _ in duplicates_of(tg, citizens))
        pressed_again = Counter(chat for chat, _ in repressed)
        # At most one message twice from the kill; a citizen who pressed again (below) is
        # rightly asked the current question once more, which reads as a repeat too.
        assert all(n <= 1 + pressed_again[chat] for chat, n in per_chat.items()), (
            duplicates_of(tg, citizens),
            repressed,
        )
        # Lost presses: at most the one in hand at the kill, per conversation.
        assert all(n <= 1 for n in pressed_again.values()), repressed

    async def test_a_press_being_handled_at_kill_9_is_handled_after_the_restart(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        """The bot is killed while its handler holds the citizen's chat lock (on PostgreSQL
        + Redis a lock in Redis, which outlives the process): after the restart the press,
        fetched again, is handled within the chat lock's timeout (CHAT_LOCK_SECONDS, 10 s),
        not after the minute aiogram's own Redis lock would keep the chat."""
        who = citizen(tg, 53_101)
        prompt = await start(tg, who)
        await tg.settle(timeout=30)
        # The table the handler writes first locked: the bot takes the press and its
        # handler, inside the chat lock, waits for the table.
        with writes_held(minyi):
            update = tg.press(who.user, prompt, CHANNELS["kiosk"])

            def fetched() -> bool:
                return any(
                    call.method.lower() == "getupdates"
                    and any(
                        u.get("update_id") == update["update_id"]
                        for u in (call.response.get("result") or [])
                    )
                    for call in tg.calls
                )

            await tg.wait_until(fetched, timeout=10, message="the bot did not fetch the press")
            await asyncio.sleep(1.5)  # its handler waits for the lock ...
            # ... and the press is not confirmed to Telegram before it is stored.
            assert any(u["update_id"] == update["update_id"] for u in tg.pending_updates)
            await minyi.stop(crash=True)
        await minyi.start(tg)
        await tg.wait_for_edit(who.user, prompt, timeout=30)  # the tick, shown


@contextlib.contextmanager
def writes_held(minyi: MinyiProcess) -> Iterator[None]:
    """Hold off the bot's first write of an update (the claim of its id in inbound_event):
    SQLite's write lock, or on PostgreSQL an EXCLUSIVE lock on that table (reads go on)."""
    if minyi.database_url is None:
        lock = sqlite3.connect(minyi.data_dir / "minyi.db", timeout=10, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            yield
        finally:
            lock.close()
        return
    with psycopg.connect(servers.psycopg_url(minyi.database_url)) as connection:
        connection.execute("LOCK TABLE inbound_event IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()


class TestPressedWhileDown:
    async def test_a_press_while_the_bot_is_down_is_stored_and_the_next_question_comes(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        who = citizen(tg, 54_001)
        prompt = await start(tg, who)
        tg.press(who.user, prompt, CHANNELS["hall"])
        prompt = await tg.wait_for_edit(who.user, prompt, timeout=STEP_TIMEOUT)
        await tg.settle(timeout=30)
        await minyi.stop()
        update = tg.press(who.user, prompt, "完成")
        query_id = str(update["callback_query"]["id"])
        # By the time the bot is back, Telegram no longer takes an answer to the press.
        tg.fail_next("answerCallbackQuery", error_code=400, description=QUERY_ID_INVALID)
        await minyi.start(tg)

        following = await tg.wait_for_message(who.user, _has_buttons, timeout=STEP_TIMEOUT)
        assert question_text(following).startswith("总体来看")
        await eventually(tg, lambda: stored(minyi, who).get("channels"), ("choices", ["hall"]))
        await tg.settle(timeout=30)
        answers = [
            call
            for call in tg.calls
            if call.method == "answerCallbackQuery"
            and call.params.get("callback_query_id") == query_id
        ]
        assert [call.status for call in answers] == [400]  # tried once, then let go
        rows = minyi.query(
            "SELECT payload, status, outcome FROM outbox_message "
            "WHERE method = 'answerCallbackQuery'"
        )
        mine = [(status, outcome) for payload, status, outcome in rows if query_id in payload]
        assert mine == [("sent", "expired")]
