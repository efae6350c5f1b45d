"""/forget asks first, then erases how to reach the citizen (PIPL §47), leaving no copy in
the database file or its write-ahead log; answers stay under the pseudonym. The privacy
notice names the responsible office and fits what the citizen is about to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

from bot.callbacks import Erase, ForgetCb
from bot.render import privacy_notice
from bot.routers import privacy as privacy_router
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, buttons, labels
from tests.bot.records import Records

t = Translator()
CONFIRM, CANCEL = "确认删除", "取消"
# Neither a survey's nor a rating's notice may name an answer (it must not steer it).
ANSWER_WORDS = ("非常满意", "基本满意", "不满意", "好评", "差评")


async def answered_one_question(me: Citizen, demo: SurveyVersion) -> None:
    await me.say(f"/start s_{demo.definition['code']}_baiyun")
    await me.press("政府网站")
    await me.press("完成")


def alerts(me: Citizen, mark: int) -> list[tuple[str | None, bool | None]]:
    return [(a.text, a.show_alert) for a in me.since(mark) if isinstance(a, AnswerCallbackQuery)]


def db_files(settings: Settings) -> list[Path]:
    db = Path(settings.db_url.split("///", 1)[1])
    return [db, db.with_name(db.name + "-wal")]


def byte_forms(number: int) -> dict[str, bytes]:
    """How an integer can sit in a SQLite file: as text, as 8 bytes either way round, and as
    SQLite's record format stores it (big-endian in the fewest of 1, 2, 3, 4, 6, 8 bytes)."""
    width = next(w for w in (1, 2, 3, 4, 6, 8) if -(2 ** (8 * w - 1)) <= number < 2 ** (8 * w - 1))
    return {
        "decimal text": str(number).encode(),
        "int64 big-endian": number.to_bytes(8, "big", signed=True),
        "int64 little-endian": number.to_bytes(8, "little", signed=True),
        f"SQLite record, {width} bytes big-endian": number.to_bytes(width, "big", signed=True),
    }


def where_found(number: int, files: list[Path]) -> dict[str, list[str]]:
    """For each byte form of ``number``, the files that hold it."""
    contents = {f.name: f.read_bytes() for f in files if f.exists()}
    return {
        form: [name for name, data in contents.items() if pattern in data]
        for form, pattern in byte_forms(number).items()
    }


class TestForgetAsksFirst:
    async def test_says_what_is_erased_and_what_stays_and_erases_nothing_yet(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_330)
        await answered_one_question(me, demo)
        mark = me.mark()

        await me.say("/forget")

        assert me.texts_since(mark) == [t("forget.confirm")]
        question = me.prompt()
        assert labels(question) == [CONFIRM, CANCEL]
        data = [b.callback_data or "" for b in buttons(question)]
        assert [ForgetCb.unpack(d).k for d in data] == [Erase.confirm, Erase.cancel]
        assert all(len(d.encode()) <= 64 for d in data)
        text = t("forget.confirm")
        assert "会话编号" in text  # what goes: how to reach the citizen
        assert "化名" in text  # what stays, under a pseudonym
        assert "分数不会因此改变" in text
        assert "匿名" not in text
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

    async def test_confirming_erases_the_identity_and_keeps_the_answers(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_321)
        await answered_one_question(me, demo)
        await me.say("/forget")
        question = me.prompt()
        mark = me.mark()

        await me.press(CONFIRM)

        assert me.texts_since(mark) == [t("forget.done")]
        assert alerts(me, mark) == [(None, None)]
        assert me.session.messages[me.user_id, question.message_id].reply_markup is None
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
        await answered_one_question(me, demo)

        await me.say("/forget")
        await me.press(CONFIRM)

        tables = (
            "respondent",
            "response",
            "answer",
            "inbound_event",
            "identity",
            "outbox_message",  # the last lines to the chat go once sent
            "unreachable_chat",
        )
        cells = [
            cell
            for table in tables
            for row in await records.query(f"SELECT * FROM {table}")  # noqa: S608
            for cell in row
        ]
        assert me.user_id not in cells
        assert str(me.user_id) not in cells

    async def test_cancel_erases_nothing_and_its_confirm_is_then_stale(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_323)
        await answered_one_question(me, demo)
        await me.say("/forget")
        question = me.prompt()
        confirm_data = buttons(question)[0].callback_data
        assert confirm_data is not None
        mark = me.mark()

        await me.press(CANCEL)

        assert me.texts_since(mark) == [t("forget.cancelled")]
        assert me.session.messages[me.user_id, question.message_id].reply_markup is None
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

        # The confirm of the cancelled question, delivered late (a double tap), erases nothing.
        mark = me.mark()
        await me.click(question, confirm_data)

        assert alerts(me, mark) == [(t("forget.stale"), True)]
        assert me.texts_since(mark) == []
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

    async def test_a_confirm_pressed_after_ten_minutes_erases_nothing(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        records: Records,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        me = citizen(987_654_324)
        await answered_one_question(me, demo)
        await me.say("/forget")
        question = me.prompt()
        later = utcnow() + timedelta(minutes=10, seconds=2)
        monkeypatch.setattr(privacy_router, "utcnow", lambda: later)
        mark = me.mark()

        await me.press(CONFIRM)

        assert alerts(me, mark) == [(t("forget.stale"), True)]
        assert me.texts_since(mark) == []
        assert me.session.messages[me.user_id, question.message_id].reply_markup is None
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

    async def test_only_the_latest_question_counts(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        records: Records,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        me = citizen(987_654_325)
        await answered_one_question(me, demo)
        asked_first = utcnow() - timedelta(minutes=2)
        monkeypatch.setattr(privacy_router, "utcnow", lambda: asked_first)
        await me.say("/forget")
        first = me.prompt()
        monkeypatch.undo()
        await me.say("/forget")
        second = me.prompt()
        assert first.message_id != second.message_id
        mark = me.mark()

        await me.press(CONFIRM, message=first)

        assert alerts(me, mark) == [(t("forget.stale"), True)]
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

        await me.press(CONFIRM, message=second)

        assert await records.identities(me.user_id) == []

    async def test_a_confirm_used_once_erases_nothing_the_second_time(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(987_654_326)
        await answered_one_question(me, demo)
        await me.say("/forget")
        question = me.prompt()
        confirm_data = buttons(question)[0].callback_data
        assert confirm_data is not None
        await me.press(CONFIRM)
        await me.say(f"/start s_{demo.definition['code']}_baiyun")  # back: a new chat id row
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]
        mark = me.mark()

        await me.click(question, confirm_data)

        assert alerts(me, mark) == [(t("forget.stale"), True)]
        assert await records.identities(me.user_id) == [("telegram", me.user_id, "zh-hans")]

    async def test_a_stranger_is_told_nothing_was_kept_and_not_asked(
        self, citizen: Callable[[int], Citizen], records: Records
    ) -> None:
        me = citizen(3001)
        mark = me.mark()

        await me.say("/forget")

        sent = [c for c in me.since(mark) if isinstance(c, SendMessage)]
        assert [(s.text, s.reply_markup) for s in sent] == [(t("forget.nothing"), None)]
        assert await records.identities(3001) == []

    async def test_after_forgetting_the_old_question_is_stale(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, records: Records
    ) -> None:
        me = citizen(3002)
        await me.say(f"/start s_{demo.definition['code']}_baiyun")
        prompt = me.prompt()
        assert buttons(prompt)
        await me.say("/forget")
        await me.press(CONFIRM)
        mark = me.mark()

        await me.press("政府网站", message=prompt)

        assert alerts(me, mark) == [(t("engine.stale"), True)]
        assert me.texts_since(mark) == []
        assert me.session.messages[me.user_id, prompt.message_id].reply_markup is None
        assert await records.answers(3002) == []


class TestNoCopyLeftInTheFiles:
    async def test_the_chat_id_is_in_neither_the_database_nor_the_wal_file(
        self,
        citizen: Callable[[int], Citizen],
        demo: SurveyVersion,
        records: Records,
        settings: Settings,
    ) -> None:
        # Neighbours share the table's page, so erasing leaves it in use, not empty.
        neighbours = [citizen(5_000_000_000 + n) for n in range(3)]
        me = citizen(987_654_321_012)
        await neighbours[0].say("/start")
        await answered_one_question(me, demo)
        for neighbour in neighbours[1:]:
            await neighbour.say("/start")
        await me.say("/forget")
        files = db_files(settings)
        record_form = next(f for f in byte_forms(me.user_id) if f.startswith("SQLite record"))

        # The search finds the chat id while it is stored (asked, not yet confirmed) ...
        before = where_found(me.user_id, files)
        assert before[record_form], before

        await me.press(CONFIRM)

        # ... and in no form, in neither file, once it is erased.
        assert await records.identities(me.user_id) == []
        assert await records.query("SELECT count(*) FROM identity") == [(len(neighbours),)]
        after = where_found(me.user_id, files)
        assert after == {form: [] for form in byte_forms(me.user_id)}
        wal = files[1]
        assert not wal.exists() or wal.stat().st_size == 0

    def test_the_byte_forms_are_those_sqlite_writes(self) -> None:
        forms = byte_forms(987_654_321_012)

        assert forms == {
            "decimal text": b"987654321012",
            "int64 big-endian": bytes.fromhex("000000e5f4c8f374"),
            "int64 little-endian": bytes.fromhex("74f3c8f4e5000000"),
            "SQLite record, 6 bytes big-endian": bytes.fromhex("00e5f4c8f374"),
        }


class TestNotice:
    async def test_a_survey_names_the_office_and_says_pseudonym(
        self, citizen: Callable[[int], Citizen], demo: SurveyVersion, settings: Settings
    ) -> None:
        me = citizen(4001)
        mark = me.mark()

        await me.say(f"/start s_{demo.definition['code']}_baiyun")

        notice = me.texts_since(mark)[0]
        assert notice == privacy_notice(t, settings, "survey")
        assert notice.startswith("【隐私告知】本调查由包头市数字政府建设工作专班组织开展")
        assert "化名" in notice
        assert "匿名" not in notice
        assert "minyi" not in notice
        assert "本次评价" not in notice
        assert "连续730天未使用" in notice
        assert "联系" not in notice  # no PRIVACY_CONTACT, no contact line
        assert not any(word in notice for word in ANSWER_WORDS)

    async def test_a_rating_says_this_rating(
        self, citizen: Callable[[int], Citizen], settings: Settings
    ) -> None:
        me = citizen(4002)
        mark = me.mark()

        await me.say("/start w_spj_W03_11150200MB")

        notice = me.texts_since(mark)[0]
        assert notice == privacy_notice(t, settings, "rating")
        assert notice.startswith("【隐私告知】本次评价由包头市数字政府建设工作专班组织开展")
        assert "化名" in notice
        assert "匿名" not in notice
        assert "本调查" not in notice
        assert not any(word in notice for word in ANSWER_WORDS)

    async def test_the_privacy_command_covers_both(
        self, citizen: Callable[[int], Citizen], settings: Settings
    ) -> None:
        me = citizen(4003)
        mark = me.mark()

        await me.say("/privacy")

        [notice] = me.texts_since(mark)
        assert notice == privacy_notice(t, settings, "both")
        assert "调查和好差评由包头市数字政府建设工作专班" in notice
        assert "化名" in notice
        assert "匿名" not in notice

    @pytest.mark.parametrize("about", ["survey", "rating", "both"])
    def test_the_office_and_contact_come_from_the_settings(
        self, settings: Settings, about: str
    ) -> None:
        configured = settings.model_copy(
            update={"responsible_office": "某市政务服务局", "privacy_contact": "0472-12345"}
        )

        notice = privacy_notice(t, configured, about)  # type: ignore[arg-type]

        assert "由某市政务服务局组织开展" in notice
        assert "包头市数字政府建设工作专班" not in notice
        assert notice.endswith("\n如有疑问，请联系：0472-12345")
