"""Survey results counted and paged in SQL equal the previous implementation's, on the demo
data and on the generated 200,000-rating database; cursors page like one long list."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import workdays
from surveys.core.exceptions import BadCursor
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.questionnaire import catalog, results
from surveys.questionnaire.models import Answer, Response, ResponseStatus, Survey
from tests.surveys import reference_results as previous

TODAY = date(2026, 11, 23)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)


@pytest.fixture
async def demo_data(session: AsyncSession, settings: Settings) -> str:
    """The demo units, survey and a year of demo activity; the survey's code."""
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    definition = demo.demo_survey(TODAY)
    await catalog.load_survey(session=session, definition=definition, source="demo")
    await demo_scores.load(
        session=session, today=TODAY, now=datetime(2026, 11, 23, 2, tzinfo=UTC),
        tz=settings.tz, policy=workdays.policy_from(settings),
    )  # fmt: skip
    await session.flush()
    return definition.code


async def _staff(session: AsyncSession, *codes: str) -> Actor:
    ids = {u.code: pk(u) for u in await units.list_units(session=session)}
    return Actor.scoped(name="li", role=StaffRole.staff, unit_ids=[ids[c] for c in codes])


async def _some_texts(session: AsyncSession) -> list[str]:
    found = await session.exec(select(col(Answer.text)).where(col(Answer.text).is_not(None)))
    return [text for text in found.all() if text]


class TestDistributions:
    async def test_equal_the_previous_implementation_for_every_filter(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        periods = await results.survey_periods(session=session, survey_code=demo_data)
        staff = await _staff(session, "spj", "kundulun")
        ids = {u.code: pk(u) for u in await units.list_units(session=session)}
        cases: list[tuple[Actor, dict[str, Any]]] = [
            (ADMIN, {}),
            (ADMIN, {"period": periods[0]}),
            (ADMIN, {"channel": "telegram"}),
            (ADMIN, {"channel": "web", "period": periods[0]}),
            (ADMIN, {"unit_id": ids["spj"], "period": periods[0], "channel": "telegram"}),
            (staff, {}),
            (staff, {"unit_id": ids["kundulun"]}),
            (ADMIN, {"period": "1999H1"}),  # nothing in scope: every count 0
        ]
        answered = 0
        for actor, filters in cases:
            args: dict[str, Any] = {
                "session": session,
                "actor": actor,
                "survey_code": demo_data,
                **filters,
            }
            new = await results.question_results(**args)
            assert new == await previous.question_results(**args), filters
            answered += sum(q.answered for q in new.questions)
        assert answered > 0  # the demo data answered something

    async def test_a_multi_answer_ticking_an_option_twice_counts_it_once(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        version = await catalog.get_latest_version_or_raise(session=session, code=demo_data)
        definition = catalog.definition_of(version)
        multi = next(q for q in definition.questions if q.type.value == "multi")
        answer = (
            await session.exec(
                select(Answer)
                .join(Response, col(Response.id) == col(Answer.response_id))
                .where(Answer.question_key == multi.key, col(Answer.skipped).is_(False))
                .where(Response.status == ResponseStatus.completed.value)
                .where(Response.survey_id == version.survey_id)
            )
        ).first()
        assert answer is not None
        assert answer.choices
        answer.choices = [answer.choices[0], answer.choices[0], "an-old-option"]
        session.add(answer)
        await session.flush()
        args: dict[str, Any] = {"session": session, "actor": ADMIN, "survey_code": demo_data}
        new = await results.question_results(**args)
        assert new == await previous.question_results(**args)
        ticked = next(q for q in new.questions if q.key == multi.key)
        assert "an-old-option" in [o.code for o in ticked.options]


class TestFreeText:
    async def test_pages_equal_the_previous_implementation(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        texts = await _some_texts(session)
        assert texts
        chinese = next(
            word
            for text in texts
            for word in (text[:2], text[1:3])
            if results.narrows_in_sql(word.casefold())
        )
        for query in (None, "", chinese, "13", "a", "*", "没有这样的话"):
            for offset, limit in ((0, 50), (3, 4), (10_000, 5)):
                args: dict[str, Any] = {
                    "session": session, "actor": ADMIN, "survey_code": demo_data,
                    "query": query, "offset": offset, "limit": limit,
                }  # fmt: skip
                assert await results.free_text(**args) == await previous.free_text(**args), (
                    query,
                    offset,
                )

    @pytest.mark.parametrize("query", [None, "办", "1"])
    async def test_cursor_pages_are_the_one_long_list(
        self, session: AsyncSession, demo_data: str, query: str | None
    ) -> None:
        args: dict[str, Any] = {"session": session, "actor": ADMIN, "survey_code": demo_data,
                                "query": query}  # fmt: skip
        everything, total = await previous.free_text(**args, limit=10**6)
        pages, after, seen = [], None, 0
        while True:
            page = await results.free_text_page(**args, limit=3, after=after)
            assert page.total == total
            pages.extend(page.rows)
            seen += 1
            if page.next is None:
                break
            after = page.next
        assert pages == everything
        assert seen == max(1, -(-total // 3))

    async def test_a_cursor_past_the_end_is_an_empty_page(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        page = await results.free_text_page(
            session=session, actor=ADMIN, survey_code=demo_data, after="1"
        )
        assert (page.rows, page.next) == ([], None)
        assert page.total == (await previous.free_text(session=session, actor=ADMIN,
                                                       survey_code=demo_data))[1]  # fmt: skip

    @pytest.mark.parametrize("after", ["", "0", "abc", "12_3", "-5", "9" * 19, "1.5"])
    async def test_a_garbled_cursor_is_refused(
        self, session: AsyncSession, demo_data: str, after: str
    ) -> None:
        with pytest.raises(BadCursor):
            await results.free_text_page(
                session=session, actor=ADMIN, survey_code=demo_data, after=after
            )
        with pytest.raises(BadCursor):
            await results.list_responses(session=session, actor=ADMIN, after=after)


class TestNarrowingInSql:
    def test_no_character_case_folds_into_a_letter_without_case(self) -> None:
        import unicodedata

        into = {
            ch
            for point in range(sys.maxunicode + 1)
            if (folded := chr(point).casefold()) != chr(point)
            for ch in folded
        }
        assert not [ch for ch in into if unicodedata.category(ch) == "Lo"]

    @pytest.mark.parametrize(
        "text",
        ["请回电13812345678谢谢", "身份证110105194912310025办好了", "邮箱zhang@example.com窗口",
         "电话 138 1234 5678 窗口态度好", "窗口１３８１２３４５６７８态度"],
    )  # fmt: skip
    def test_a_match_in_the_masked_text_is_one_in_the_stored_text(self, text: str) -> None:
        masked = mask_text(text).casefold()
        for start in range(len(masked)):
            for end in range(start + 1, len(masked) + 1):
                needle = masked[start:end]
                if results.narrows_in_sql(needle):
                    assert needle in text


class TestResponses:
    async def test_equal_the_previous_implementation(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        staff = await _staff(session, "spj")
        cases: list[tuple[Actor, dict[str, Any]]] = [
            (ADMIN, {}),
            (ADMIN, {"survey_code": demo_data, "status": ResponseStatus.completed}),
            (ADMIN, {"channel": "telegram", "offset": 5, "limit": 7}),
            (staff, {"status": ResponseStatus.in_progress}),
            (ADMIN, {"offset": 10**6}),
        ]
        for actor, filters in cases:
            args: dict[str, Any] = {"session": session, "actor": actor, **filters}
            assert await results.list_responses(**args) == await previous.list_responses(**args)

    async def test_cursor_pages_are_the_one_long_list(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        everything, total = await previous.list_responses(
            session=session, actor=ADMIN, limit=10**6
        )
        assert total > 10
        pages: list[results.ResponseRow] = []
        after = None
        while True:
            rows, count = await results.list_responses(
                session=session, actor=ADMIN, limit=7, after=after
            )
            assert count == total
            pages.extend(rows)
            if len(rows) < 7:
                break
            after = results.response_cursor(rows[-1])
        assert pages == everything


class TestResultsPage:
    async def test_the_page_pages_free_text_by_cursor(
        self, session: AsyncSession, demo_data: str
    ) -> None:
        first = await results.results_page(session=session, actor=ADMIN, survey=demo_data, limit=2)
        args: dict[str, Any] = {"session": session, "actor": ADMIN, "survey_code": demo_data}
        assert first.found == await previous.question_results(**args)
        texts, total = await previous.free_text(**args, limit=4)
        assert (first.texts, first.total) == (texts[:2], total)
        if total > 2:
            assert first.next is not None
            second = await results.results_page(
                session=session, actor=ADMIN, survey=demo_data, limit=2, after=first.next
            )
            assert second.texts == texts[2:4]


class TestBigDatabase:
    async def test_results_and_lists_equal_the_previous_implementation(
        self, big_session: AsyncSession
    ) -> None:
        codes = (await big_session.exec(select(col(Survey.code)))).all()
        for code in codes:
            for filters in ({}, {"channel": "web"}):
                args: dict[str, Any] = {
                    "session": big_session,
                    "actor": ADMIN,
                    "survey_code": code,
                    **filters,
                }
                assert await results.question_results(**args) == await previous.question_results(
                    **args
                )
            args = {"session": big_session, "actor": ADMIN, "survey_code": code}
            assert await results.free_text(**args, offset=7, limit=20) == (
                await previous.free_text(**args, offset=7, limit=20)
            )
        args = {"session": big_session, "actor": ADMIN}
        assert await results.list_responses(**args, offset=500) == await previous.list_responses(
            **args, offset=500
        )
