"""A citizen talks to the real bot process through the fake Telegram Bot API server."""

from __future__ import annotations

import json
import re

import pytest

from bot.callbacks import Act, AnswerCb
from surveys.core.clock import today
from surveys.core.periods import half_year
from surveys.core.settings import Settings
from tests.e2e.harness import MinyiProcess, eventually, press, prompt_message, question_text, say
from tests.fakes.telegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _survey_code() -> str:
    period, _, _ = half_year(today(Settings(_env_file=None).tz))  # type: ignore[call-arg]
    return f"szzf-{period.lower()}"


def _texts(tg: FakeTelegram, user: FakeUser) -> list[str]:
    return [m.text or "" for m in tg.messages(user)]


async def _satisfied_online_path(tg: FakeTelegram, user: FakeUser) -> None:
    await press(tg, user, "蒙速办APP")
    await press(tg, user, "政府网站")
    await press(tg, user, "完成")
    await press(tg, user, "满意")  # overall
    await press(tg, user, "非常满意")  # online_experience
    await press(tg, user, "0次（全程网上办理）")
    await press(tg, user, "9")
    await press(tg, user, "满意")  # city_governance
    await press(tg, user, "基本满意")  # data_protection
    await press(tg, user, "30—44岁")
    await press(tg, user, "跳过")  # suggestion


class TestCommands:
    async def test_commands_are_listed_in_chinese(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        commands = {c["command"]: c["description"] for c in tg.commands()}
        assert set(commands) == {
            "start",
            "surveys",
            "cancel",
            "help",
            "privacy",
            "forget",
            "invites",
            "lang",
            "care",
        }
        assert commands["forget"] == "删除我的个人信息"
        assert tg.commands(language_code="zh") == tg.commands()
        english = {c["command"]: c["description"] for c in tg.commands(language_code="en")}
        assert set(english) == set(commands)
        assert english["forget"] != commands["forget"]


class TestStart:
    async def test_privacy_notice_then_open_surveys(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(1001)
        await say(tg, user, "/start")
        texts = _texts(tg, user)
        assert texts[0].startswith("【隐私告知】")
        assert "/forget" in texts[0]
        assert texts[1] == "请选择要参与的调查："
        assert [label for label, _ in tg.last_message(user).buttons] == ["数字政府建设满意度调查"]
        # The chat id is kept in the identity table alone, to write back.
        assert minyi.query(
            "SELECT channel, chat_id FROM identity WHERE respondent_id = ?",
            minyi.respondent_id(user.id),
        ) == [("telegram", 1001)]
        tg.assert_no_errors()


class TestCompleteDemoSurvey:
    async def test_satisfied_online_user_by_deep_link(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(2001)
        await say(tg, user, f"/start s_{_survey_code()}_kundulun")
        assert "《数字政府建设满意度调查》" in _texts(tg, user)[1]
        first = prompt_message(tg, user)
        assert first.text is not None
        assert question_text(first).startswith("近六个月内")
        await _satisfied_online_path(tg, user)

        assert tg.last_message(user).text == (
            "问卷已完成，感谢您的参与！您的意见将用于改进政务服务。"
        )
        await eventually(tg, lambda: minyi.responses(user.id), [("kundulun", "completed")])
        answers = minyi.answers(user.id)
        assert list(answers) == [
            "channels",
            "overall",
            "online_experience",
            "trips",
            "recommend",
            "city_governance",
            "data_protection",
            "age_band",
            "suggestion",
        ]
        assert json.loads(answers["channels"][1]) == ["app", "web"]
        assert answers["overall"][0] == "satisfied"
        assert answers["overall"][2] == 4
        assert answers["recommend"][2] == 9
        assert answers["suggestion"][4] == 1  # skipped
        assert minyi.responses(user.id) == [("kundulun", "completed")]
        # Each answered question shows the choice and keeps no live buttons.
        edited = tg.message(user, first.message_id)
        assert edited.text is not None
        assert "✔ 您的回答：蒙速办APP、政府网站" in edited.text
        assert not edited.buttons
        assert [m for m in tg.messages(user) if m.buttons] == []
        tg.assert_no_errors()
        assert tg.unanswered_callback_queries() == []

    async def test_dissatisfied_older_walk_in_user_picks_survey_and_unit(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(2002)
        await say(tg, user, "/start")
        await press(tg, user, "数字政府建设满意度调查")
        assert prompt_message(tg, user).text == "请选择您要评价的地区或部门："
        await press(tg, user, "市医保局")
        await press(tg, user, "政务服务大厅窗口")
        await press(tg, user, "完成")
        await press(tg, user, "非常不满意")
        await press(tg, user, "需要多次跑动")
        await press(tg, user, "需要提交的材料多")
        await press(tg, user, "完成")
        await press(tg, user, "3次及以上")
        await say(tg, user, "2")  # the 0-10 scale accepts a typed number
        await press(tg, user, "不满意")
        await press(tg, user, "满意")
        await press(tg, user, "60岁及以上")
        await press(tg, user, "基本满意")  # elderly_services, shown for 60+
        await say(tg, user, "希望减少重复提交材料，窗口多安排帮办人员。")

        await eventually(tg, lambda: minyi.responses(user.id), [("ybj", "completed")])
        answers = minyi.answers(user.id)
        assert list(answers) == [
            "channels",
            "overall",
            "dissatisfied_reasons",
            "trips",
            "recommend",
            "city_governance",
            "data_protection",
            "age_band",
            "elderly_services",
            "suggestion",
        ]
        assert json.loads(answers["dissatisfied_reasons"][1]) == ["trips", "materials"]
        assert answers["overall"][2] == 1
        assert answers["recommend"][2] == 2
        assert answers["suggestion"][3] == "希望减少重复提交材料，窗口多安排帮办人员。"
        assert minyi.responses(user.id) == [("ybj", "completed")]
        assert "感谢您的参与" in (tg.last_message(user).text or "")
        tg.assert_no_errors()

    async def test_a_second_attempt_is_told_politely(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(2003)
        await say(tg, user, f"/start s_{_survey_code()}_qingshan")
        await _satisfied_online_path(tg, user)
        await say(tg, user, f"/start s_{_survey_code()}_qingshan")
        assert "每人每期限答一次" in (tg.last_message(user).text or "")
        assert minyi.responses(user.id) == [("qingshan", "completed")]


class TestResilience:
    async def test_restart_mid_survey_resumes_at_the_next_question(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(3001)
        await say(tg, user, f"/start s_{_survey_code()}_donghe")
        await press(tg, user, "12345政务服务便民热线")
        await press(tg, user, "完成")
        await press(tg, user, "满意")
        await minyi.stop(crash=True)
        await minyi.start(tg)
        # The question sent before the crash still works after it.
        current = prompt_message(tg, user)
        assert current.text is not None
        assert question_text(current).startswith("您对12345")
        await press(tg, user, "非常满意")
        await eventually(
            tg, lambda: list(minyi.answers(user.id)), ["channels", "overall", "hotline"]
        )
        assert question_text(prompt_message(tg, user)).startswith("办理一件事")

    async def test_a_replayed_update_stores_nothing_twice(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(3002)
        await say(tg, user, f"/start s_{_survey_code()}_jiuyuan")
        await press(tg, user, "自助终端")
        await press(tg, user, "完成")
        sent_before = len(tg.messages(user))
        message = prompt_message(tg, user)
        update = tg.press(user, message, "满意")
        await tg.wait_for_callback_answer(update)
        await tg.settle()
        sent_after_answer = len(tg.messages(user))
        tg.replay(update)
        await tg.settle()
        assert len(tg.messages(user)) == sent_after_answer > sent_before
        await eventually(tg, lambda: list(minyi.answers(user.id)), ["channels", "overall"])
        # A replayed text message is dropped too, even though the next question takes text.
        await press(tg, user, "1次")
        await say(tg, user, "8")
        expected = ["channels", "overall", "trips", "recommend"]
        await eventually(tg, lambda: list(minyi.answers(user.id)), expected)
        text_update = tg.updates[-1]
        tg.replay(text_update)
        await tg.settle()
        assert list(minyi.answers(user.id)) == ["channels", "overall", "trips", "recommend"], (
            [m.describe() for m in tg.history(user)],
            minyi.log()[-3000:],
        )
        tg.assert_no_errors()

    async def test_a_stale_button_is_refused_and_the_question_asked_again(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(3003)
        await say(tg, user, f"/start s_{_survey_code()}_shiguai")
        first = prompt_message(tg, user)
        await press(tg, user, "政府网站")
        await press(tg, user, "完成")
        old_data = AnswerCb(v=1, q=1, k=Act.pick, o=1).pack()  # 蒙速办APP on question 1
        await eventually(tg, lambda: list(minyi.answers(user.id)), ["channels"])
        before = minyi.answers(user.id)
        update = tg.click(user, first, old_data, force=True)
        answer = await tg.wait_for_callback_answer(update)
        await tg.wait_for_message(user, "总体来看")  # the current question, asked again
        await tg.settle()
        assert answer.show_alert
        assert answer.text == "该按钮已失效，请回答当前问题。"
        assert minyi.answers(user.id) == before
        assert question_text(prompt_message(tg, user)).startswith("总体来看")
        assert len([m for m in tg.messages(user) if m.buttons]) == 1
        tg.assert_no_errors()

    async def test_text_where_a_choice_is_expected(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(3004)
        await say(tg, user, f"/start s_{_survey_code()}_guyang")
        await say(tg, user, "我用过APP")
        texts = _texts(tg, user)
        assert texts[-2] == "请点击问题下方的按钮作答。"
        assert question_text(texts[-1]).startswith("近六个月内")
        assert len([m for m in tg.messages(user) if m.buttons]) == 1
        assert minyi.answers(user.id) == {}


class TestForget:
    async def test_forget_erases_identity_and_keeps_answers(
        self, tg: FakeTelegram, minyi: MinyiProcess
    ) -> None:
        user = tg.user(987_654_321)
        await say(tg, user, f"/start s_{_survey_code()}_baiyun")
        await press(tg, user, "政府网站")
        await press(tg, user, "完成")
        await eventually(tg, lambda: list(minyi.answers(user.id)), ["channels"])
        respondent = minyi.respondent_id(user.id)
        identity = "SELECT count(*) FROM identity WHERE respondent_id = ?"
        assert minyi.query(identity, respondent) == [(1,)]
        await say(tg, user, "/forget")
        # Asked first: nothing is erased until the citizen confirms.
        assert "化名" in (tg.last_message(user).text or "")
        assert minyi.query(identity, respondent) == [(1,)]
        await press(tg, user, "确认删除")
        assert "已删除您的个人信息" in (tg.last_message(user).text or "")
        await eventually(tg, lambda: minyi.query(identity, respondent), [(0,)])
        assert minyi.query("SELECT count(*) FROM identity WHERE chat_id = ?", user.id) == [(0,)]
        assert list(minyi.answers(user.id)) == ["channels"]
        # Nothing in the database names the citizen any more: no cell holds the chat id.
        cells = {
            cell
            for table in ("respondent", "response", "answer", "inbound_event", "identity")
            for row in minyi.query(f"SELECT * FROM {table}")  # noqa: S608
            for cell in row
        }
        assert user.id not in cells
        assert str(user.id) not in cells
        assert re.search(rf"(?<!\d){user.id}(?!\d)", minyi.log()) is None
