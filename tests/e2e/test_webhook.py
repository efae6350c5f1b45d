"""``minyi serve`` in webhook mode: the fake Telegram server POSTs updates to the real process."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from surveys.core.clock import today
from surveys.core.periods import half_year
from surveys.core.settings import Settings
from tests.e2e.harness import MINYI, TOKEN, MinyiProcess, eventually, press, say
from tests.fakes.telegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")

WEBHOOK_SECRET = "webhook-e2e_Secret-42"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_ID = int(TOKEN.split(":")[0])
# Update ids far above the fake's own counter, for updates POSTed by the tests themselves.
_direct_update_ids = itertools.count(900_000_001)
_bad_secret_users = itertools.count(5201)


def _survey_code() -> str:
    period, _, _ = half_year(today(Settings(_env_file=None).tz))  # type: ignore[call-arg]
    return f"szzf-{period.lower()}"


def _texts(tg: FakeTelegram, user: FakeUser) -> list[str]:
    return [m.text or "" for m in tg.messages(user)]


def _api_url(minyi: MinyiProcess) -> str:
    return f"http://127.0.0.1:{minyi.env['API_PORT']}"


def _webhook_url(minyi: MinyiProcess) -> str:
    return f"{_api_url(minyi)}/telegram/webhook"


async def _start_in_webhook_mode(minyi: MinyiProcess, tg: FakeTelegram) -> None:
    """Start ``minyi serve``; ready once the webhook is set and the API answers."""
    log = minyi.log_path.open("ab")
    minyi.process = await asyncio.create_subprocess_exec(
        MINYI, "serve", env=minyi.env, cwd=minyi.data_dir, stdout=log, stderr=log
    )
    log.close()
    process = minyi.process
    await tg.wait_until(
        lambda: tg.webhook is not None or process.returncode is not None,
        timeout=30,
        message=f"minyi did not set its webhook; log:\n{minyi.log()}",
    )
    assert process.returncode is None, f"minyi exited; log:\n{minyi.log()}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    async with httpx.AsyncClient(base_url=_api_url(minyi), timeout=5) as client:
        while True:
            assert process.returncode is None, f"minyi exited; log:\n{minyi.log()}"
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert loop.time() < deadline, f"minyi API did not come up; log:\n{minyi.log()}"
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    """The demo data, and ``minyi serve`` receiving updates through its webhook."""
    process = MinyiProcess(tmp_path_factory.mktemp("minyi-webhook"), tg.base_url)
    process.env["BOT_MODE"] = "webhook"
    process.env["WEBHOOK_URL"] = _api_url(process)
    process.env["WEBHOOK_SECRET"] = WEBHOOK_SECRET
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await _start_in_webhook_mode(process, tg)
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(minyi: MinyiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=_api_url(minyi), timeout=10) as client:
        yield client


def _start_update(user: FakeUser) -> dict[str, Any]:
    """A ``/start`` message as Telegram would POST it, with an id the fake never used."""
    return {
        "update_id": next(_direct_update_ids),
        "message": {
            "message_id": 1,
            "from": user.to_json(),
            "chat": user.chat_json(),
            "date": int(time.time()),
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


def _claimed(minyi: MinyiProcess, update: dict[str, Any]) -> bool:
    key = f"tg:{BOT_ID}:{update['update_id']}"
    return minyi.query("SELECT count(*) FROM inbound_event WHERE key = ?", key) != [(0,)]


def _sends_to(tg: FakeTelegram, user: FakeUser) -> list[str]:
    """Bot API calls that addressed the user's chat."""
    return [c.method for c in tg.calls if c.params.get("chat_id") == str(user.id)]


class TestSetWebhook:
    async def test_set_webhook_with_url_and_secret(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        assert tg.webhook is not None
        assert tg.webhook.url == _webhook_url(minyi)
        assert tg.webhook.secret_token == WEBHOOK_SECRET
        calls = [c for c in tg.calls if c.method.lower() == "setwebhook"]
        assert len(calls) == 1
        assert calls[0].status == 200
        assert calls[0].params["url"] == _webhook_url(minyi)
        assert calls[0].params["secret_token"] == WEBHOOK_SECRET
        allowed = json.loads(calls[0].params["allowed_updates"])
        assert {"message", "callback_query"} <= set(allowed)
        # Webhook mode never polls.
        assert not [c for c in tg.calls if c.method.lower() == "getupdates"]

    async def test_get_webhook_info_reports_it(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{tg.base_url}/bot{TOKEN}/getWebhookInfo")
        info = response.json()["result"]
        assert info["url"] == _webhook_url(minyi)
        assert "last_error_message" not in info


class TestThroughTheWebhook:
    async def test_start_sends_privacy_notice_and_survey_list(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        assert tg.webhook is not None
        deliveries = tg.webhook.deliveries
        user = tg.user(5001)
        await say(tg, user, "/start")
        texts = _texts(tg, user)
        assert texts[0].startswith("【隐私告知】")
        assert "/forget" in texts[0]
        assert texts[1] == "请选择要参与的调查："
        assert [label for label, _ in tg.last_message(user).buttons] == ["数字政府建设满意度调查"]
        assert tg.webhook.deliveries == deliveries + 1
        assert tg.webhook.last_error_message is None
        assert tg.pending_updates == []
        tg.assert_no_errors()

    async def test_button_press_stores_the_answer(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(5002)
        await say(tg, user, f"/start s_{_survey_code()}_kundulun")
        await press(tg, user, "蒙速办APP")
        await press(tg, user, "完成")
        await eventually(tg, lambda: list(minyi.answers(user.id)), ["channels"])
        await press(tg, user, "满意")
        await eventually(tg, lambda: list(minyi.answers(user.id)), ["channels", "overall"])
        answers = minyi.answers(user.id)
        assert json.loads(answers["channels"][1]) == ["app"]
        assert answers["overall"][0] == "satisfied"
        assert minyi.responses(user.id) == [("kundulun", "in_progress")]
        assert tg.unanswered_callback_queries() == []
        assert tg.webhook is not None
        assert tg.webhook.last_error_message is None
        tg.assert_no_errors()


class TestDirectPosts:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {SECRET_HEADER: ""},
            {SECRET_HEADER: "wrong-secret"},
            {SECRET_HEADER: WEBHOOK_SECRET.upper()},
            {SECRET_HEADER: WEBHOOK_SECRET + "x"},
        ],
        ids=["missing", "empty", "wrong", "wrong-case", "longer"],
    )
    async def test_a_bad_secret_is_refused_and_nothing_is_processed(
        self,
        tg: FakeTelegram,
        minyi: MinyiProcess,
        http: httpx.AsyncClient,
        headers: dict[str, str],
    ) -> None:
        user = tg.user(next(_bad_secret_users), started=True)
        update = _start_update(user)
        response = await http.post("/telegram/webhook", json=update, headers=headers)
        assert response.status_code == 401
        await tg.settle(quiet=0.5)
        assert _sends_to(tg, user) == []
        assert tg.messages(user) == []
        assert minyi.respondent_id(user.id) is None
        assert not _claimed(minyi, update)

    async def test_the_same_post_with_the_right_secret_is_processed(
        self, tg: FakeTelegram, minyi: MinyiProcess, http: httpx.AsyncClient
    ) -> None:
        """The control for the refusals above: a direct POST works when the secret is right."""
        user = tg.user(5101, started=True)
        update = _start_update(user)
        refused = await http.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: "nope"}
        )
        assert refused.status_code == 401
        response = await http.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        )
        assert response.status_code == 200
        await tg.wait_for_message(user, "请选择要参与的调查", since=0)
        assert _texts(tg, user)[0].startswith("【隐私告知】")
        await eventually(tg, lambda: _claimed(minyi, update), True)
        assert minyi.respondent_id(user.id) is not None
        tg.assert_no_errors()

    @pytest.mark.parametrize(
        "body",
        [
            b"this is not json",
            b"",
            b'{"update_id": ',
            b"[]",
            b'"just a string"',
            b'{"no_update_id": true}',
            b'{"update_id": "abc"}',
            b'{"update_id": 900000999, "message": {"text": "/start"}}',
            b"\xff\xfe not utf-8",
        ],
        ids=[
            "not-json",
            "empty",
            "truncated",
            "array",
            "string",
            "no-update-id",
            "bad-update-id",
            "bad-message",
            "not-utf8",
        ],
    )
    async def test_a_malformed_body_is_rejected_without_crashing(
        self,
        tg: FakeTelegram,
        minyi: MinyiProcess,
        http: httpx.AsyncClient,
        body: bytes,
    ) -> None:
        log_before = len(minyi.log())
        response = await http.post(
            "/telegram/webhook",
            content=body,
            headers={SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
        )
        new_log = minyi.log()[log_before:]
        assert 400 <= response.status_code < 500, (response.status_code, response.text, new_log)
        assert "Traceback" not in new_log, new_log
        assert minyi.process is not None
        assert minyi.process.returncode is None
        assert (await http.get("/healthz")).status_code == 200


async def test_still_works_after_the_direct_posts(
    tg: FakeTelegram, minyi: MinyiProcess, http: httpx.AsyncClient
) -> None:
    """After refusals and malformed bodies, Telegram's own deliveries still go through."""
    user = tg.user(5301)
    await say(tg, user, "/start")
    assert _texts(tg, user)[1] == "请选择要参与的调查："
    assert minyi.process is not None
    assert minyi.process.returncode is None
    assert tg.webhook is not None
    assert tg.webhook.last_error_message is None
    tg.assert_no_errors()
