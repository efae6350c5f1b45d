"""/start without a deep link, /help, and the command menu set at start-up."""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Dispatcher
from aiogram.methods import SendMessage, SetMyCommands

from bot.callbacks import OpenSurveyCb
from bot.main import COMMANDS
from bot.render import privacy_notice
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, RecordingBot, buttons
from tests.bot.records import Records

t = Translator()


class TestStartup:
    async def test_the_command_menu_is_set_in_chinese_for_everyone_and_for_zh(
        self, bot: RecordingBot, dp: Dispatcher
    ) -> None:
        calls = bot.session.calls(SetMyCommands)[:2]  # other languages: test_preferences.py

        assert [call.language_code for call in calls] == [None, "zh"]
        for call in calls:
            assert [(c.command, c.description) for c in call.commands] == [
                (name, t(f"command.{name}")) for name in COMMANDS
            ]


class TestStart:
    async def test_privacy_notice_then_the_open_surveys(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        records: Records,
        settings: Settings,
    ) -> None:
        me = citizen(1001)
        mark = me.mark()

        await me.say("/start")

        notice = privacy_notice(t, settings, "survey")
        assert me.texts_since(mark) == [notice, t("surveys.pick")]
        assert notice.startswith("【隐私告知】本调查由包头市数字政府建设工作专班组织开展")
        listing = me.messages()[-1]
        assert [(b.text, b.callback_data) for b in buttons(listing)] == [
            ("数字政府建设满意度调查", OpenSurveyCb(code=demo.definition["code"]).pack())
        ]

    async def test_the_chat_id_is_kept_to_write_back(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(1002)

        await me.say("/start")

        assert await records.identities(1002) == [("telegram", 1002, "zh-hans")]
        assert await records.responses(1002) == []

    async def test_sends_nothing_but_messages_to_its_chat(
        self, citizen: Callable[[int], Citizen]
    ) -> None:
        me = citizen(1003)
        mark = me.mark()

        await me.say("/start")

        sent = me.since(mark)
        assert all(isinstance(call, SendMessage) for call in sent)
        assert {call.chat_id for call in sent if isinstance(call, SendMessage)} == {1003}


class TestHelp:
    async def test_help_text(self, citizen: Callable[[int], Citizen]) -> None:
        me = citizen(1101)
        mark = me.mark()

        await me.say("/help")

        assert me.texts_since(mark) == [t("help.text")]

    async def test_privacy_command_repeats_the_notice(
        self, citizen: Callable[[int], Citizen], settings: Settings
    ) -> None:
        me = citizen(1102)
        mark = me.mark()

        await me.say("/privacy")

        assert me.texts_since(mark) == [privacy_notice(t, settings, "both")]

    async def test_an_unknown_command_points_to_the_help(
        self, citizen: Callable[[int], Citizen]
    ) -> None:
        me = citizen(1103)
        mark = me.mark()

        await me.say("/nonsense")

        assert me.texts_since(mark) == [t("help.unknown")]
