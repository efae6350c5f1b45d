"""/invites: a citizen gives or withdraws consent to be invited to new surveys."""

from __future__ import annotations

from collections.abc import Callable

from surveys.core.i18n import Translator
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, labels
from tests.bot.records import Records

t = Translator()
CONSENT = "SELECT i.invite_consent_at IS NOT NULL FROM identity i WHERE i.respondent_id = :r"


async def consent(records: Records, user_id: int) -> list[tuple[object, ...]]:
    return await records.query(CONSENT, r=await records.respondent_id(user_id))


class TestInvites:
    async def test_consent_is_given_and_withdrawn_with_the_buttons(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(4401)
        await me.say("/start")  # a citizen who wrote once can be reached
        await me.say("/invites")
        assert labels(me.prompt()) == [t("invites.yes"), t("invites.no")]
        await me.press(t("invites.yes"))
        assert me.messages()[-1].text == t("invites.on")
        assert await consent(records, me.user_id) == [(1,)]

        await me.say("/invites")
        await me.press(t("invites.no"))
        assert me.messages()[-1].text == t("invites.off")
        assert await consent(records, me.user_id) == [(0,)]

    async def test_the_question_loses_its_buttons_once_answered(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion
    ) -> None:
        me = citizen(4402)
        await me.say("/start")
        await me.say("/invites")
        question = me.prompt()
        await me.press(t("invites.yes"))
        assert [m.reply_markup for m in me.messages() if m.message_id == question.message_id] == [
            None
        ]

    async def test_without_contact_nothing_is_recorded(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(4403)
        await me.say("/invites")  # never started: no contact to attach consent to
        await me.press(t("invites.yes"))
        assert me.messages()[-1].text == t("invites.no_contact")
        assert await records.query("SELECT count(*) FROM identity") == [(0,)]
