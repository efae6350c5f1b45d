"""好差评 in chat: a window's QR code deep link, its buttons, through to a stored rating."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.methods import AnswerCallbackQuery, EditMessageText

from bot.callbacks import RateCb
from bot.render import privacy_notice
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from tests.bot.recording import Citizen, buttons, labels
from tests.bot.records import Records

t = Translator()
LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
QR_CHANNEL = 3


class TestWindowDeepLink:
    async def test_notice_heading_then_the_five_levels(
        self, citizen: Callable[[int], Citizen], records: Records, settings: Settings
    ) -> None:
        me = citizen(5001)
        mark = me.mark()

        await me.say("/start w_spj_W03_11150200MB")

        assert me.texts_since(mark) == [
            privacy_notice(t, settings, "rating"),
            t("rating.window", unit="市审批服务局", window="W03"),
            t("rating.q.level"),
        ]
        assert labels(me.prompt()) == LEVELS
        assert all(RateCb.unpack(b.callback_data or "") for b in buttons(me.prompt()))
        assert await records.identities(5001) == [("telegram", 5001, "zh-hans")]
        assert await records.ratings(5001) == []

    async def test_an_unknown_unit_on_the_poster_is_named(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(5002)
        mark = me.mark()

        await me.say("/start w_nope_A1")

        assert me.texts_since(mark) == [t("error.unknown_unit", code="nope")]
        assert await records.query("SELECT count(*) FROM rating_chat") == [(0,)]


class TestGoodRating:
    async def test_a_good_level_ends_at_once_with_thanks_and_is_stored(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(5101)
        await me.say("/start w_gaj_A1")
        prompt = me.prompt()
        mark = me.mark()

        await me.press("满意")

        assert me.texts_since(mark) == [t("rating.thanks")]
        edits = [c for c in me.since(mark) if isinstance(c, EditMessageText)]
        assert [(e.message_id, e.text) for e in edits] == [
            (
                prompt.message_id,
                f"{t('rating.q.level')}\n\n{t('survey.your_answer', answer='满意')}",
            )
        ]
        assert await records.ratings(5101) == [
            ("satisfied", [], None, 0, "A1", None, QR_CHANNEL, "bot", "gaj")
        ]
        assert await records.query("SELECT count(*) FROM follow_up_case") == [(0,)]
        assert [m for m in me.messages() if buttons(m)] == []


class TestBadRating:
    async def test_reasons_comment_and_consent_are_stored_and_a_case_opened(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(5201)
        await me.say("/start w_spj_W03_11150200MB")

        await me.press("非常不满意")
        reasons_hint = t("engine.hint_multi", min=1, max=7)
        assert me.messages()[-1].text == f"{t('rating.q.reasons')}\n{reasons_hint}"
        await me.press("材料要求")
        await me.press("办事效率")
        await me.press("完成")
        await me.say("材料反复要求补交")
        mark = me.mark()
        await me.press("同意联系")

        assert me.texts_since(mark) == [t("rating.thanks_bad")]
        assert await records.ratings(5201) == [
            (
                "very_dissatisfied",
                ["办事效率", "材料要求"],
                "材料反复要求补交",
                1,
                "W03",
                "11150200MB",
                QR_CHANNEL,
                "bot",
                "spj",
            )
        ]
        assert await records.query("SELECT state FROM follow_up_case") == [("待核实",)]


class TestStaleRatingButton:
    async def test_a_level_pressed_after_the_rating_ended_changes_nothing(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(5301)
        await me.say("/start w_gaj_A1")
        prompt = me.prompt()
        await me.press("满意")
        mark = me.mark()

        await me.press("非常不满意", message=prompt)

        answered = [c for c in me.since(mark) if isinstance(c, AnswerCallbackQuery)]
        assert [(a.text, a.show_alert) for a in answered] == [(t("engine.stale"), True)]
        assert await records.ratings(5301) == [
            ("satisfied", [], None, 0, "A1", None, QR_CHANNEL, "bot", "gaj")
        ]
