"""Answering the demo survey in chat: deep link, buttons, stale buttons, replays, /cancel."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, EditMessageText

from bot.callbacks import Act, AnswerCb
from bot.render import privacy_notice
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire.catalog import definition_of
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, buttons, labels
from tests.bot.records import Records

t = Translator()
CHANNELS = "近六个月内，您通过哪些渠道办理过政务服务事项（含咨询、查询）？（可多选）"
OVERALL = "总体来看，您对在包头办理政务服务的满意程度如何？"
ONLINE = "您对通过蒙速办APP或政府网站在线办理的使用体验满意程度如何？"
ABOUT_KUNDULUN = t("survey.about_unit", unit="昆都仑区")
LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]


def progress(number: int, total: int) -> str:
    return t("survey.progress", number=number, total=total)


def channels_text(demo: SurveyVersion) -> str:
    question = definition_of(demo).question("channels")
    hint = t("engine.hint_multi", min=question.min_choices, max=question.max_choices)
    return f"{progress(1, 12)}\n{CHANNELS}\n{hint}"


# After 蒙速办APP and/or 政府网站 12345 热线 no longer shows; after 非常满意 neither do the
# reasons for dissatisfaction.
OVERALL_ASKED = f"{progress(2, 11)}\n{OVERALL}"
ONLINE_ASKED = f"{progress(3, 10)}\n{ONLINE}"


def deep_link(demo: SurveyVersion, unit: str = "kundulun") -> str:
    return f"/start s_{demo.definition['code']}_{unit}"


@pytest.fixture
async def started(citizen: Callable[[int], Citizen], demo: SurveyVersion) -> Citizen:
    """A citizen who opened the demo survey for 昆都仑区 by its deep link."""
    me = citizen(2001)
    await me.say(deep_link(demo))
    return me


class TestDeepLink:
    async def test_asks_the_first_question_after_the_notice_and_intro(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, settings: Settings
    ) -> None:
        me = citizen(2101)
        mark = me.mark()

        await me.say(deep_link(demo))

        definition = definition_of(demo)
        assert me.texts_since(mark) == [
            privacy_notice(t, settings, "survey"),
            f"《{definition.title}》\n{definition.intro}\n{ABOUT_KUNDULUN}",
            channels_text(demo),
        ]
        assert labels(me.prompt()) == [
            "政务服务大厅窗口",
            "蒙速办APP",
            "政府网站",
            "自助终端",
            "12345政务服务便民热线",
            "近六个月未办理过",
            "完成",
        ]
        assert buttons(me.prompt())[1].callback_data == (
            AnswerCb(v=demo.id or 0, q=1, k=Act.pick, o=1).pack()
        )

    async def test_opens_a_response_for_the_linked_unit_with_no_answers(
        self, started: Citizen, records: Records
    ) -> None:
        assert await records.responses(started.user_id) == [("kundulun", "in_progress")]
        assert await records.answers(started.user_id) == []

    async def test_an_unknown_unit_is_named_and_nothing_is_opened(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(2102)
        mark = me.mark()

        await me.say(deep_link(demo, unit="nowhere"))

        assert me.texts_since(mark) == [t("error.unknown_unit", code="nowhere")]
        assert await records.responses(2102) == []


class TestOpenSurveyButton:
    async def test_the_listed_survey_asks_for_the_unit_first(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(2201)
        await me.say("/start")
        mark = me.mark()

        await me.press("数字政府建设满意度调查")

        assert me.texts_since(mark)[-1] == t("survey.pick_unit")
        assert "昆都仑区" in labels(me.prompt())
        assert [c.text for c in me.session.calls(AnswerCallbackQuery)[-1:]] == [None]
        assert await records.responses(2201) == [(None, "in_progress")]


class TestAnswerButtons:
    async def test_a_multiple_choice_tick_redraws_the_buttons_and_stores_nothing(
        self, started: Citizen, records: Records
    ) -> None:
        mark = started.mark()

        await started.press("蒙速办APP")

        edits = [c for c in started.since(mark) if isinstance(c, EditMessageReplyMarkup)]
        assert len(edits) == 1
        assert "✅ 蒙速办APP" in labels(started.prompt())
        assert started.texts_since(mark) == []
        assert await records.answers(started.user_id) == []

    async def test_done_stores_the_choices_shows_them_and_asks_the_next_question(
        self, started: Citizen, records: Records
    ) -> None:
        first = started.prompt()
        await started.press("蒙速办APP")
        await started.press("政府网站")
        mark = started.mark()

        await started.press("完成")

        assert await records.answers(started.user_id) == [
            ("channels", None, ["app", "web"], None, None, 0)
        ]
        edited = [c for c in started.since(mark) if isinstance(c, EditMessageText)]
        your_answer = t("survey.your_answer", answer="蒙速办APP、政府网站")
        assert [(e.message_id, e.text) for e in edited] == [
            (first.message_id, f"{CHANNELS}\n\n{your_answer}")
        ]
        assert started.texts_since(mark) == [OVERALL_ASKED]
        assert labels(started.prompt()) == [*LEVELS, "返回上一题"]
        assert [m.message_id for m in started.messages() if buttons(m)] == [
            started.prompt().message_id
        ]

    async def test_a_level_is_stored_with_its_code_and_score(
        self, started: Citizen, records: Records
    ) -> None:
        await started.press("蒙速办APP")
        await started.press("完成")
        mark = started.mark()

        await started.press("非常满意")

        stored = await records.answers(started.user_id)
        assert stored[1:] == [("overall", "very_satisfied", None, 5, None, 0)]
        assert started.texts_since(mark) == [ONLINE_ASKED]
        answered = started.session.calls(AnswerCallbackQuery)[-1]
        assert (answered.text, answered.show_alert) == (None, None)

    async def test_text_where_a_button_is_expected_asks_again(
        self, started: Citizen, records: Records, demo: SurveyVersion
    ) -> None:
        mark = started.mark()

        await started.say("我用过APP")

        assert started.texts_since(mark) == [t("engine.use_buttons"), channels_text(demo)]
        assert await records.answers(started.user_id) == []


class TestStaleButton:
    async def test_is_refused_with_an_alert_and_the_current_question_is_asked_again(
        self, started: Citizen, records: Records, demo: SurveyVersion
    ) -> None:
        first = started.prompt()
        await started.press("政府网站")
        await started.press("完成")
        before = await records.answers(started.user_id)
        old_button = AnswerCb(v=demo.id or 0, q=1, k=Act.pick, o=1).pack()  # 蒙速办APP
        mark = started.mark()

        shown = started.session.messages[started.user_id, first.message_id]  # as now edited
        await started.click(shown, old_button)

        answered = [c for c in started.since(mark) if isinstance(c, AnswerCallbackQuery)]
        assert [(a.text, a.show_alert) for a in answered] == [(t("engine.stale"), True)]
        assert started.texts_since(mark) == [OVERALL_ASKED]
        assert await records.answers(started.user_id) == before
        assert len([m for m in started.messages() if buttons(m)]) == 1

    async def test_a_button_nobody_knows_gets_the_stale_alert(
        self, started: Citizen, records: Records
    ) -> None:
        mark = started.mark()

        await started.click(started.prompt(), "zz:unknown")

        answered = [c for c in started.since(mark) if isinstance(c, AnswerCallbackQuery)]
        assert [(a.text, a.show_alert) for a in answered] == [(t("engine.stale"), True)]
        assert started.texts_since(mark) == []
        assert await records.answers(started.user_id) == []


class TestReplayedUpdate:
    async def test_a_replayed_button_press_is_stored_once_and_answered_once(
        self, started: Citizen, records: Records
    ) -> None:
        await started.press("自助终端")
        await started.press("完成")
        await started.press("满意")
        update = started.updates[-1]
        mark = started.mark()

        await started.feed(update)

        assert started.since(mark) == []
        assert [a[0] for a in await records.answers(started.user_id)] == ["channels", "overall"]

    async def test_a_replayed_text_answer_is_stored_once(
        self, started: Citizen, records: Records
    ) -> None:
        await started.press("自助终端")
        await started.press("完成")
        await started.press("满意")
        await started.press("1次")
        await started.say("8")
        update = started.updates[-1]
        mark = started.mark()

        await started.feed(update)

        assert started.since(mark) == []
        stored = await records.answers(started.user_id)
        assert [a[0] for a in stored] == ["channels", "overall", "trips", "recommend"]
        assert stored[-1] == ("recommend", None, None, 8, None, 0)


class TestCancel:
    async def test_cancel_keeps_the_answers_and_takes_the_buttons_off(
        self, started: Citizen, records: Records
    ) -> None:
        await started.press("自助终端")
        await started.press("完成")
        prompt = started.prompt()
        mark = started.mark()

        await started.say("/cancel")

        assert started.texts_since(mark) == [t("cancel.done")]
        assert started.session.messages[started.user_id, prompt.message_id].reply_markup is None
        assert await records.responses(started.user_id) == [("kundulun", "in_progress")]
        assert [a[0] for a in await records.answers(started.user_id)] == ["channels"]

    async def test_cancel_without_a_survey(self, citizen: Callable[[int], Citizen]) -> None:
        me = citizen(2301)
        mark = me.mark()

        await me.say("/cancel")

        assert me.texts_since(mark) == [t("cancel.nothing")]


class TestBackButton:
    async def test_the_first_question_has_no_back_button(self, started: Citizen) -> None:
        assert "返回上一题" not in labels(started.prompt())

    async def test_asks_the_previous_question_again_with_its_choices_ticked(
        self, started: Citizen, records: Records, demo: SurveyVersion
    ) -> None:
        await started.press("蒙速办APP")
        await started.press("完成")
        mark = started.mark()

        await started.press("返回上一题")

        assert started.texts_since(mark) == [channels_text(demo)]
        assert labels(started.prompt())[1] == "✅ 蒙速办APP"
        assert await records.answers(started.user_id) == []
        assert len([m for m in started.messages() if buttons(m)]) == 1
        retired = await records.query("SELECT question_key, choices FROM answer_history")
        # JSON: text on SQLite, already a list on PostgreSQL
        assert [(key, choices if isinstance(choices, list) else json.loads(choices))
                for key, choices in retired] == [("channels", ["app"])]  # fmt: skip
