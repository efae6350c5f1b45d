"""A citizen scans a window's QR code and rates the service in chat (好差评)."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

from tests.e2e.harness import MinyiProcess, eventually, press, prompt_message, say
from tests.fakes.telegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
ADMIN = ("--as", "admin")  # the first account, added by the minyi fixture

RATING_COLUMNS = (
    "SELECT r.level, r.reasons, r.comment, r.contact_ok, r.window_code, r.item_code, "
    "r.channel, r.source, u.code FROM rating r JOIN unit u ON u.id = r.unit_id "
    "WHERE r.respondent_id = ?"
)


class TestWindowRating:
    async def test_a_bad_rating_asks_why_and_opens_a_case(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(7005001, username="citizen_5001", first_name="王5001")
        await say(tg, user, "/start w_spj_W03_11150200MB")
        texts = [m.text or "" for m in tg.messages(user)]
        assert texts[0].startswith("【隐私告知】")
        assert texts[1] == "《市审批服务局》窗口 W03 服务评价"
        levels = [label for label, _ in prompt_message(tg, user).buttons]
        assert levels == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]

        await press(tg, user, "非常不满意")
        assert (prompt_message(tg, user).text or "").startswith("请选择不满意的原因")
        await press(tg, user, "材料要求")
        await press(tg, user, "办事效率")
        await press(tg, user, "完成")
        await say(tg, user, "材料反复要求补交")
        await press(tg, user, "同意联系")
        assert "单位将在规定的工作日内核实整改" in (tg.last_message(user).text or "")

        respondent = minyi.respondent_id(user.id)
        expected = [
            (
                "very_dissatisfied",
                ["办事效率", "材料要求"],
                "材料反复要求补交",
                1,
                "W03",
                "11150200MB",
                3,
                "bot",
                "spj",
            )
        ]
        await tg.settle()
        rows = [(r[0], json.loads(r[1]), *r[2:]) for r in minyi.query(RATING_COLUMNS, respondent)]
        assert rows == expected
        cases = minyi.query(
            "SELECT c.state FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
            "WHERE r.respondent_id = ?",
            respondent,
        )
        assert cases == [("待核实",)]
        assert [m for m in tg.messages(user) if m.buttons] == []
        tg.assert_no_errors()

    async def test_a_good_rating_ends_at_once_and_opens_no_case(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(7005002, username="citizen_5002", first_name="王5002")
        await say(tg, user, "/start w_gaj_A1")
        await press(tg, user, "满意")
        assert tg.last_message(user).text == "感谢您的评价！"
        respondent = minyi.respondent_id(user.id)
        await eventually(
            tg,
            lambda: minyi.query(
                "SELECT level, window_code FROM rating WHERE respondent_id = ?", respondent
            ),
            [("satisfied", "A1")],
        )
        assert minyi.query(
            "SELECT count(*) FROM follow_up_case c JOIN rating r ON "
            "r.id = c.rating_id WHERE r.respondent_id = ?",
            respondent,
        ) == [(0,)]

    async def test_an_unknown_unit_on_a_poster_is_named(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(7005003, username="citizen_5003", first_name="王5003")
        await say(tg, user, "/start w_nope_A1")
        assert "nope" in (tg.last_message(user).text or "")
        assert minyi.respondent_id(user.id) is None or minyi.query(
            "SELECT count(*) FROM rating_chat WHERE respondent_id = ?",
            minyi.respondent_id(user.id),
        ) == [(0,)]


class TestConfidentialContact:
    """保密联络: staff work the case with `minyi case …`; the bot carries the messages."""

    async def test_reply_relayed_citizen_answers_and_rerates(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(7005101, username="citizen_5101", first_name="王5101")
        await say(tg, user, "/start w_zjj_B2")
        await press(tg, user, "不满意")
        await press(tg, user, "流程繁琐")
        await press(tg, user, "完成")
        await press(tg, user, "跳过")
        await press(tg, user, "同意联系")
        respondent = minyi.respondent_id(user.id)
        case_sql = (
            "SELECT c.id, c.state FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
            "WHERE r.respondent_id = ?"
        )
        await eventually(tg, lambda: [s for _, s in minyi.query(case_sql, respondent)], ["待核实"])
        case_id = str(minyi.query(case_sql, respondent)[0][0])

        await minyi.cli(*ADMIN, "user", "add", "zjj-li", "--role", "staff", "--unit", "zjj")
        staff = ("--as", "zjj-li")
        await minyi.cli(*staff, "case", "move", case_id, "核实中")
        await minyi.cli(*staff, "case", "move", case_id, "整改中")
        # The 反馈 is the note of 已反馈: one message with it and the 复评 question.
        feedback = "已简化流程，欢迎再来办理。"
        shown = await minyi.cli(*staff, "case", "move", case_id, "已反馈", "--note", feedback)
        assert str(user.id) not in shown

        relayed = await tg.wait_for_message(user, "【市住建局答复】", timeout=15, since=0)
        assert feedback in (relayed.text or "")
        assert "请对本次处理结果进行评价：" in (relayed.text or "")
        assert [label for label, _ in relayed.buttons] == [
            "满意",
            "基本满意",
            "不满意",
            "回复办理单位",
        ]

        await press(tg, user, "回复办理单位")
        await say(tg, user, "谢谢，已经办好了。")
        assert tg.last_message(user).text == "已转交办理单位，感谢您的反馈。"
        tg.press(user, relayed, "满意")
        await tg.wait_for_message(user, "已记录您的评价：满意")
        await eventually(tg, lambda: [s for _, s in minyi.query(case_sql, respondent)], ["已复评"])

        timeline = await minyi.cli("case", "show", case_id)
        assert "谢谢，已经办好了。" in timeline
        assert str(user.id) not in timeline
        tg.assert_no_errors()


async def _push_event(minyi: MinyiProcess, case_no: str, link: str) -> None:
    """A service system pushes a finished 办件 over HTTP with its own token."""
    created = await minyi.cli(*ADMIN, "token", "create", f"sys-{case_no}", "--unit", "spj")
    raw = created.split()[-1]
    body = {
        "case_no": case_no,
        "item_code": "11150200MB",
        "item_name": "建设工程规划许可证核发",
        "unit": "spj",
        "window": "W03",
        "channel": 4,
        "finished_at": "2026-11-20T10:00:00+08:00",
        "link_token": link,
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{minyi.env['API_PORT']}/api/v1/service-events",
            json=body,
            headers={"Authorization": f"Bearer {raw}"},
        )
    assert response.status_code == 201, response.text


class TestServiceEventInvitation:
    async def test_the_receipt_link_invites_and_the_rating_names_the_case(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        await _push_event(minyi, "BJ-E2E-1", "rcpt-e2e-0001")
        user = tg.user(7005201, username="citizen_5201", first_name="王5201")
        await say(tg, user, "/start r_rcpt-e2e-0001")
        assert "「建设工程规划许可证核发」已办结" in [m.text for m in tg.messages(user)][1]
        await press(tg, user, "满意")
        respondent = minyi.respondent_id(user.id)
        sql = (
            "SELECT e.case_no, r.level, r.item_name, r.active FROM rating r "
            "JOIN service_event e ON e.id = r.service_event_id WHERE r.respondent_id = ?"
        )
        await eventually(
            tg,
            lambda: minyi.query(sql, respondent),
            [("BJ-E2E-1", "satisfied", "建设工程规划许可证核发", 1)],
        )
        # A change of mind within the window replaces the rating; the first is kept inactive.
        await say(tg, user, "/start r_rcpt-e2e-0001")
        await press(tg, user, "基本满意")
        await eventually(
            tg,
            lambda: sorted(minyi.query(sql, respondent)),
            sorted(
                [
                    ("BJ-E2E-1", "satisfied", "建设工程规划许可证核发", 0),
                    ("BJ-E2E-1", "neutral", "建设工程规划许可证核发", 1),
                ]
            ),
        )
        # No reminder for a rated 办件.
        await asyncio.sleep(5)
        assert not [m for m in tg.messages(user) if "温馨提醒" in (m.text or "")]

    async def test_one_reminder_when_not_rated_then_never_again(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        await _push_event(minyi, "BJ-E2E-2", "rcpt-e2e-0002")
        user = tg.user(7005202, username="citizen_5202", first_name="王5202")
        await say(tg, user, "/start r_rcpt-e2e-0002")
        reminder = await tg.wait_for_message(user, "温馨提醒", timeout=20)
        assert [label for label, _ in reminder.buttons][:2] == ["非常满意", "满意"]
        await asyncio.sleep(5)
        reminders = [m for m in tg.messages(user) if "温馨提醒" in (m.text or "")]
        assert len(reminders) == 1
        tg.press(user, reminder, "非常满意")
        await tg.wait_for_message(user, "感谢您的评价")
        respondent = minyi.respondent_id(user.id)
        await eventually(
            tg,
            lambda: minyi.query(
                "SELECT level FROM rating WHERE respondent_id = ? AND active", respondent
            ),
            [("very_satisfied",)],
        )
        tg.assert_no_errors()


class TestTheWholeLoop:
    """办件 pushed → invitation → 差评 with reasons → case with deadlines → staff reply
    through the API → relayed → the citizen answers back → 复评 → case closed."""

    async def test_from_the_receipt_to_the_closed_case(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        await _push_event(minyi, "BJ-E2E-9", "rcpt-e2e-0009")
        created = await minyi.cli(*ADMIN, "token", "create", "spj-cases", "--unit", "spj")
        raw = created.split()[-1]
        api = f"http://127.0.0.1:{minyi.env['API_PORT']}/api/v1"
        auth = {"Authorization": f"Bearer {raw}"}

        user = tg.user(7005401, username="citizen_5401", first_name="王5401")
        await say(tg, user, "/start r_rcpt-e2e-0009")
        await press(tg, user, "非常不满意")
        await press(tg, user, "材料要求")
        await press(tg, user, "完成")
        await say(tg, user, "要求的材料和办事指南不一致")
        await press(tg, user, "同意联系")
        respondent = minyi.respondent_id(user.id)
        sql = (
            "SELECT c.id, c.state, c.contact_due, c.rectify_due, e.case_no "
            "FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
            "JOIN service_event e ON e.id = r.service_event_id WHERE r.respondent_id = ?"
        )
        await eventually(tg, lambda: len(minyi.query(sql, respondent)), 1)
        case_id, state, contact_due, rectify_due, case_no = minyi.query(sql, respondent)[0]
        assert (state, case_no) == ("待核实", "BJ-E2E-9")
        assert contact_due < rectify_due

        async with httpx.AsyncClient(headers=auth) as client:
            for to in ("核实中", "整改中", "已反馈"):
                # The note of 已反馈 is the 反馈 the citizen gets with the 复评 question.
                note = "已统一材料清单并更新办事指南。" if to == "已反馈" else None
                moved = await client.post(
                    f"{api}/cases/{case_id}/transition",
                    json={"actor": "spj-li", "to": to, "note": note},
                )
                assert moved.status_code == 200, moved.text
                assert str(user.id) not in moved.text

        relayed = await tg.wait_for_message(user, "【市审批服务局答复】", timeout=15, since=0)
        await press(tg, user, "回复办理单位")
        await say(tg, user, "收到，谢谢。")
        tg.press(user, relayed, "满意")
        await tg.wait_for_message(user, "已记录您的评价：满意")
        await eventually(tg, lambda: minyi.query(sql, respondent)[0][1], "已复评")
        await minyi.cli(*ADMIN, "case", "move", str(case_id), "已关闭")
        assert minyi.query(sql, respondent)[0][1] == "已关闭"
        how = minyi.query("SELECT close_reason FROM follow_up_case WHERE id = ?", case_id)
        assert how == [("rerated",)]
        timeline = await minyi.cli("case", "show", str(case_id))
        assert "收到，谢谢。" in timeline
        tg.assert_no_errors()


def _voice(tg: FakeTelegram, user: FakeUser, file_id: str) -> None:
    """The citizen records a voice message (a raw update, as Telegram sends it)."""
    tg.enqueue(
        {
            "message": {
                "message_id": 900_000 + len(tg.updates),
                "date": int(time.time()),
                "chat": user.chat_json(),
                "from": user.to_json(),
                "voice": {"file_id": file_id, "file_unique_id": "u" + file_id, "duration": 4},
            }
        }
    )


class TestVoiceComment:
    async def test_a_voice_message_is_the_comment_of_a_bad_rating(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(7005501, username="citizen_5501", first_name="王5501")
        await say(tg, user, "/start w_spj_W05")
        _voice(tg, user, "too-early")  # no comment question yet: refused, nothing stored
        await tg.wait_for_message(user, "语音留言只能用于补充说明差评的原因", since=tg.mark() - 1)
        await press(tg, user, "不满意")
        await press(tg, user, "系统故障")
        await press(tg, user, "完成")
        mark = tg.mark()
        _voice(tg, user, "AwACAgUAAxkBAAIB")
        await tg.wait_for_message(user, "是否同意办理单位", since=mark)
        await press(tg, user, "不需要联系")
        respondent = minyi.respondent_id(user.id)
        await eventually(
            tg,
            lambda: minyi.query(
                "SELECT comment, voice_file_id, contact_ok FROM rating WHERE respondent_id = ?",
                respondent,
            ),
            [("（语音留言）", "AwACAgUAAxkBAAIB", 0)],
        )


STAFF_CHAT = 8009001


class TestStaffNotices:
    async def test_linked_staff_hear_of_each_new_bad_rating(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        await minyi.cli(*ADMIN, "staff", "add", "spj-li", "--role", "staff", "--unit", "spj")
        code = (await minyi.cli(*ADMIN, "staff", "link-code", "spj-li")).split()[-1]
        officer = tg.user(STAFF_CHAT, username="spj_li")
        await say(tg, officer, f"/link {code}")
        assert "已绑定：spj-li" in (tg.last_message(officer).text or "")
        await say(tg, officer, f"/link {code}")  # the code works once
        assert "绑定码无效或已过期" in (tg.last_message(officer).text or "")

        citizen = tg.user(7005301, username="citizen_5301", first_name="王5301")
        await say(tg, citizen, "/start w_spj_W09")
        await press(tg, citizen, "非常不满意")
        await press(tg, citizen, "其他")
        await press(tg, citizen, "完成")
        await press(tg, citizen, "跳过")
        await press(tg, citizen, "不需要联系")
        respondent = minyi.respondent_id(citizen.id)
        sql = (
            "SELECT c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
            "WHERE r.respondent_id = ?"
        )
        await eventually(tg, lambda: len(minyi.query(sql, respondent)), 1)
        case_id = minyi.query(sql, respondent)[0][0]
        notice = await tg.wait_for_message(officer, f"案件#{case_id}（", timeout=15, since=0)
        assert (notice.text or "").startswith("【新差评】市审批服务局")
        await asyncio.sleep(2)  # later rounds do not repeat it
        repeats = [m for m in tg.messages(officer) if f"案件#{case_id}（" in (m.text or "")]
        assert len(repeats) == 1


class TestNothingPersonalReachesStaff:
    """After the runs above: staff-facing output never shows a chat id, username or name."""

    async def test_cli_api_and_log_hold_no_citizen_identity(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        users = [u for u in tg.users.values() if u.id // 10_000 == 700]
        assert len(users) >= 6
        case_ids = [str(row[0]) for row in minyi.query("SELECT id FROM follow_up_case")]
        assert case_ids, "the runs above opened cases"
        outputs = [minyi.log(), await minyi.cli("case", "list")]
        outputs += [await minyi.cli("case", "show", case_id) for case_id in case_ids]
        async with httpx.AsyncClient() as client:
            base = f"http://127.0.0.1:{minyi.env['API_PORT']}"
            outputs.append((await client.get(f"{base}/api/v1/surveys")).text)
        outputs += [m.text or "" for m in tg.messages(STAFF_CHAT)]
        staff_view = "\n".join(outputs)
        for user in users:
            assert re.search(rf"(?<!\d){user.id}(?!\d)", staff_view) is None, user.id
            assert f"citizen_{user.id % 10_000}" not in staff_view
            assert f"王{user.id % 10_000}" not in staff_view
