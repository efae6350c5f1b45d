"""/forget erases how to reach the citizen (PIPL §47); anonymous answers stay."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.methods import AnswerCallbackQuery

from surveys.core.i18n import Translator
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, buttons
from tests.bot.records import Records

t = Translator()


class TestForget:
    async def test_erases_the_identity_and_keeps_the_answers(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_321)
        await me.say(f"/start s_{demo.definition['code']}_baiyun")
        await me.press("政府网站")
        await me.press("完成")
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]
        mark = me.mark()

        await me.say("/forget")

        assert me.texts_since(mark) == [t("forget.done")]
        assert await records.identities(me.user_id) == []
        assert await records.query(
            "SELECT count(*) FROM identity WHERE chat_id = :chat", chat=me.user_id
        ) == [(0,)]
        assert await records.query("SELECT count(*) FROM conversation") == [(0,)]
        assert await records.answers(me.user_id) == [("channels", None, ["web"], None, None, 0)]
        assert await records.responses(me.user_id) == [("baiyun", "in_progress")]

    async def test_no_table_names_the_citizen_afterwards(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_322)
        await me.say(f"/start s_{demo.definition['code']}_baiyun")
        await me.press("政府网站")
        await me.press("完成")

        await me.say("/forget")

        cells = {
            cell
            for table in ("respondent", "response", "answer", "inbound_event", "identity")
            for row in await records.query(f"SELECT * FROM {table}")  # noqa: S608
            for cell in row
        }
        assert me.user_id not in cells
        assert str(me.user_id) not in cells

    async def test_a_stranger_is_told_nothing_was_kept(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(3001)
        mark = me.mark()

        await me.say("/forget")

        assert me.texts_since(mark) == [t("forget.nothing")]
        assert await records.identities(3001) == []

    async def test_after_forgetting_the_old_question_is_stale(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(3002)
        await me.say(f"/start s_{demo.definition['code']}_baiyun")
        prompt = me.prompt()
        assert buttons(prompt)
        await me.say("/forget")
        mark = me.mark()

        await me.press("政府网站", message=prompt)

        answered = [c for c in me.since(mark) if isinstance(c, AnswerCallbackQuery)]
        assert [(a.text, a.show_alert) for a in answered] == [(t("engine.stale"), True)]
        assert me.texts_since(mark) == []
        assert me.session.messages[me.user_id, prompt.message_id].reply_markup is None
        assert await records.answers(3002) == []
