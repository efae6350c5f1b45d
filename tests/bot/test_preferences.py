"""/lang and /care in chat: the citizen's language and care mode, kept on the respondent and
used from then on, in replies and in what the bot's jobs send later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from aiogram import Dispatcher
from aiogram.methods import SetMyCommands
from sqlmodel import select

from bot import jobs
from bot.main import COMMANDS
from bot.render import privacy_notice
from bot.routers import privacy as privacy_router
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.i18n import Translator
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import respondents
from surveys.questionnaire.catalog import definition_of
from surveys.questionnaire.models import Respondent, SurveyVersion
from tests.bot.recording import Citizen, RecordingBot, labels
from tests.bot.records import Records

zh = Translator()
en = Translator("en")
UNIT_NAME = "测试单位"
REPLY = "We called the window; the papers are complete now."


def deep_link(demo: SurveyVersion) -> str:
    return f"/start s_{demo.definition['code']}_kundulun"


def channels_hint(demo: SurveyVersion, t: Translator) -> str:
    question = definition_of(demo).question("channels")
    return t("engine.hint_multi", min=question.min_choices, max=question.max_choices)


async def stored(sessionmaker: SessionMaker, settings: Settings, user_id: int) -> Respondent:
    """The respondent row of a Telegram user, as committed."""
    name = respondents.pseudonym(settings.secret_key_bytes(), "telegram", user_id)
    async with sessionmaker() as session:
        found = await session.exec(select(Respondent).where(Respondent.pseudonym == name))
        return found.one()


class TestLanguage:
    async def test_lang_offers_each_language_named_in_itself(
        self, citizen: Callable[[int], Citizen]
    ) -> None:
        me = citizen(6001)

        await me.say("/lang")

        assert me.messages()[-1].text == zh("lang.ask")
        assert labels(me.prompt()) == ["中文", "English", zh("lang.follow")]

    async def test_english_chosen_then_the_survey_comes_in_english(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        settings: Settings,
        sessionmaker: SessionMaker,
    ) -> None:
        me = citizen(6002)
        await me.say("/lang")
        mark = me.mark()

        await me.press("English")

        assert me.texts_since(mark) == [en("lang.set")]
        assert labels(me.messages()[-2]) == []  # the question's buttons are gone
        assert (await stored(sessionmaker, settings, 6002)).language == "en"
        mark = me.mark()
        await me.say(deep_link(demo))
        sent = me.texts_since(mark)
        assert sent[0] == privacy_notice(en, settings, "survey")
        assert sent[-1].endswith(channels_hint(demo, en))
        assert "Done" in labels(me.prompt())

    async def test_telegram_in_english_gets_english_without_lang(
        self, citizen: Callable[[int], Citizen]
    ) -> None:
        me = citizen(6003)
        me.language_code = "en-GB"
        mark = me.mark()

        await me.say("/help")

        assert me.texts_since(mark) == [en("help.text")]

    async def test_the_choice_outranks_telegram_and_can_be_given_back_to_it(
        self, citizen: Callable[[int], Citizen], settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        me = citizen(6004)
        me.language_code = "en"
        await me.say("/lang")
        await me.press("中文")
        mark = me.mark()

        await me.say("/help")
        await me.say("/lang")
        await me.press(zh("lang.follow"))
        await me.say("/help")

        assert me.texts_since(mark) == [
            zh("help.text"),
            zh("lang.ask"),
            en("lang.followed"),
            en("help.text"),
        ]
        assert (await stored(sessionmaker, settings, 6004)).language is None

    async def test_a_forged_language_is_refused_and_nothing_changes(
        self, citizen: Callable[[int], Citizen], settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        me = citizen(6005)
        await me.say("/lang")
        mark = me.mark()

        await me.click(me.prompt(), "l:xx")

        assert zh("error.unknown_language", code="xx") in me.texts_since(mark)
        assert (await stored(sessionmaker, settings, 6005)).language is None

    async def test_a_refusal_comes_in_the_chosen_language(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion
    ) -> None:
        me = citizen(6006)
        await me.say("/lang")
        await me.press("English")
        mark = me.mark()

        await me.say(f"/start s_{demo.definition['code']}_nowhere")

        assert me.texts_since(mark) == [en("error.unknown_unit", code="nowhere")]

    async def test_the_command_menu_has_an_english_list_for_english_telegram(
        self, bot: RecordingBot, dp: Dispatcher
    ) -> None:
        (english,) = [c for c in bot.session.calls(SetMyCommands) if c.language_code == "en"]

        assert [(c.command, c.description) for c in english.commands] == [
            (name, en(f"command.{name}")) for name in COMMANDS
        ]
        assert {"lang", "care"} <= set(COMMANDS)


class TestCareMode:
    async def test_care_toggles_and_is_remembered_across_updates(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        settings: Settings,
        sessionmaker: SessionMaker,
    ) -> None:
        me = citizen(6101)
        mark = me.mark()

        await me.say("/care")
        assert me.texts_since(mark) == [zh("care.on")]
        assert (await stored(sessionmaker, settings, 6101)).care_mode is True

        mark = me.mark()
        await me.say(deep_link(demo))
        plain = channels_hint(demo, Translator(care=True))
        assert plain != channels_hint(demo, zh)
        assert me.texts_since(mark)[-1].endswith(plain)

        mark = me.mark()
        await me.say("/care")
        assert me.texts_since(mark) == [zh("care.off")]
        assert (await stored(sessionmaker, settings, 6101)).care_mode is False

    async def test_a_forget_confirm_counts_however_late_in_care_mode(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        records: Records,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        me = citizen(6103)
        await me.say(deep_link(demo))
        await me.say("/care")
        await me.say("/forget")
        later = utcnow() + timedelta(hours=3)
        monkeypatch.setattr(privacy_router, "utcnow", lambda: later)
        mark = me.mark()

        await me.press(zh("button.forget_confirm"))

        assert me.texts_since(mark) == [zh("forget.done")]
        assert await records.identities(me.user_id) == []

    async def test_care_mode_in_english_speaks_plain_english(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion
    ) -> None:
        me = citizen(6102)
        me.language_code = "en"
        await me.say("/care")
        mark = me.mark()

        await me.say(deep_link(demo))

        plain = channels_hint(demo, Translator("en", care=True))
        assert me.texts_since(mark)[-1].endswith(plain)


async def reply_to(sessionmaker: SessionMaker, settings: Settings, user_id: int) -> None:
    """A 差评 of this Telegram user (who agreed to be contacted) with a staff reply pending."""
    async with unit_of_work(sessionmaker) as session:
        unit = Unit(code="pref_test_unit", name=UNIT_NAME, kind=UnitKind.department)
        session.add(unit)
        await session.flush()
        who = await respondents.get_or_create_respondent(
            session=session,
            secret=settings.secret_key_bytes(),
            channel="telegram",
            external_id=user_id,
        )
        await respondents.remember_contact(
            session=session,
            respondent=who,
            channel="telegram",
            chat_id=user_id,
            language_code="zh-hans",
        )
        rating = Rating(
            source=RatingSource.bot,
            source_id=f"r{user_id}",
            unit_id=pk(unit),
            channel=2,
            respondent_id=pk(who),
            level="dissatisfied",
            period="2026H2",
            rated_at=utcnow(),
            contact_ok=True,
        )
        session.add(rating)
        await session.flush()
        case = await cases.open_case(
            session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
        )
        assert case is not None
        await cases.add_reply(session=session, case=case, actor="li", text=REPLY)


class TestQueuedMessages:
    async def test_a_staff_reply_reaches_an_english_speaking_citizen_in_english(
        self,
        citizen: Callable[[int], Citizen],
        settings: Settings,
        sessionmaker: SessionMaker,
    ) -> None:
        me = citizen(6201)
        await me.say("/lang")
        await me.press("English")  # Telegram in Chinese: the choice decides
        await reply_to(sessionmaker, settings, 6201)
        mark = me.mark()

        async with unit_of_work(sessionmaker) as session:
            queued = await jobs.queue_replies(session)
        await me.sender.drain()

        assert queued == 1
        assert me.texts_since(mark) == [en("relay.reply", unit=UNIT_NAME, text=REPLY)]
        assert labels(me.messages()[-1]) == [en("relay.answer_button")]

    async def test_chat_preferences_follow_the_choice_then_telegram(
        self, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            for user_id, code in ((6301, "en"), (6302, "zh-hans"), (6303, "zh-hans")):
                who = await respondents.get_or_create_respondent(
                    session=session, secret=b"k", channel="telegram", external_id=user_id
                )
                await respondents.remember_contact(
                    session=session,
                    respondent=who,
                    channel="telegram",
                    chat_id=user_id,
                    language_code=code,
                )
                if user_id == 6303:
                    await respondents.set_language(session=session, respondent=who, locale="en")
                    await respondents.set_care_mode(session=session, respondent=who, on=True)

            found = await respondents.chat_preferences(
                session=session, chat_ids=[6301, 6302, 6303, 6399]
            )

        assert found == {
            6301: respondents.Preferences("en", care=False),
            6302: respondents.Preferences("zh_Hans", care=False),
            6303: respondents.Preferences("en", care=True),
        }
