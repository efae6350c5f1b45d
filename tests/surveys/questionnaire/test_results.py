"""Survey results: scoping, hand-computed distributions, masked free text, safe exports."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.core.exceptions import DefinitionInvalid, NotFound, UnknownSurvey
from surveys.core.models import pk
from surveys.flows import surveys as survey_admin
from surveys.questionnaire import catalog, exports, results
from surveys.questionnaire.definitions import QuestionType
from surveys.questionnaire.models import (
    Answer,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)
from tests.surveys.builders import make_definition, make_question

CODE = "test-survey"
FORMULA = '=HYPERLINK("http://evil.example","点我")'
_SERIAL = itertools.count(1)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)


@dataclass
class World:
    version: SurveyVersion
    own: int
    other: int
    staff: Actor  # serves `own` only
    viewer: Actor


def definition() -> Any:
    return make_definition(
        [
            make_question("sat", "satisfaction", area="一网通办"),
            make_question("pick", "single"),
            make_question("many", "multi"),
            make_question("score", "scale", required=False),
            make_question("note", "text", required=False),
        ]
    )


async def add_response(
    session: AsyncSession,
    version: SurveyVersion,
    unit_id: int,
    answers: dict[str, Any],
    *,
    status: ResponseStatus = ResponseStatus.completed,
    period: str = "2026H1",
) -> Response:
    who = Respondent(pseudonym=f"p-{next(_SERIAL)}")
    session.add(who)
    await session.flush()
    response = Response(
        respondent_id=pk(who),
        survey_id=version.survey_id,
        survey_version_id=pk(version),
        period=period,
        unit_id=unit_id,
        status=status,
    )
    session.add(response)
    await session.flush()
    for key, value in answers.items():
        row = Answer(response_id=pk(response), question_key=key, skipped=value is None)
        if isinstance(value, list):
            row.choices = value
        elif isinstance(value, int):
            row.number = value
        elif key == "note" and value is not None:
            row.text = value
        elif value is not None:
            row.choice = value
        session.add(row)
    await session.flush()
    return response


@pytest.fixture
async def world(session: AsyncSession) -> World:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    ids = {u.code: pk(u) for u in await units.list_units(session=session)}
    loaded = await catalog.load_survey(session=session, definition=definition(), source="t")
    own, other = ids["spj"], ids["kundulun"]
    version = loaded.version
    # Own unit: three completed answers and one still in progress (never counted).
    await add_response(
        session,
        version,
        own,
        {
            "sat": "very_satisfied",
            "pick": "a",
            "many": ["a", "b"],
            "score": 10,
            "note": "办事很快，谢谢",
        },
    )
    await add_response(
        session,
        version,
        own,
        {
            "sat": "satisfied",
            "pick": "a",
            "many": ["b"],
            "score": 6,
            "note": "请回电 13812345678，身份证 110105199001011234",
        },
    )
    await add_response(
        session,
        version,
        own,
        {"sat": "dissatisfied", "pick": "b", "many": ["c"], "score": None, "note": FORMULA},
    )
    await add_response(
        session, version, own, {"sat": "very_dissatisfied"}, status=ResponseStatus.in_progress
    )
    # Other unit: one completed answer, another period.
    await add_response(
        session,
        version,
        other,
        {"sat": "neutral", "pick": "c", "many": ["a"], "score": 0, "note": "别的单位的意见"},
        period="2026H2",
    )
    staff = Actor(name="s", role=StaffRole.staff, units=frozenset({own}))
    viewer = Actor(name="v", role=StaffRole.viewer, units=frozenset({own}))
    return World(version=version, own=own, other=other, staff=staff, viewer=viewer)


def by_key(found: results.SurveyResults) -> dict[str, results.QuestionResult]:
    return {q.key: q for q in found.questions}


def counts(question: results.QuestionResult) -> dict[str, int]:
    return {o.code: o.count for o in question.options}


class TestQuestionResults:
    async def test_own_unit_distributions_by_hand(
        self, session: AsyncSession, world: World
    ) -> None:
        found = await results.question_results(
            session=session, actor=world.staff, survey_code=CODE
        )
        q = by_key(found)

        assert found.responses == 3  # the in-progress answer is left out
        assert [x.key for x in found.questions] == ["sat", "pick", "many", "score", "note"]
        assert counts(q["sat"]) == {
            "very_satisfied": 1,
            "satisfied": 1,
            "neutral": 0,
            "dissatisfied": 1,
            "very_dissatisfied": 0,
        }
        assert q["sat"].answered == 3
        assert q["sat"].mean_points == pytest.approx((100 + 75 + 25) / 3)
        assert [o.label for o in q["sat"].options][:2] == ["非常满意", "满意"]
        assert counts(q["pick"]) == {"a": 2, "b": 1, "c": 0}
        assert q["pick"].options[0].share == pytest.approx(2 / 3)
        assert q["pick"].options[0].label == "Option a"
        assert counts(q["many"]) == {"a": 1, "b": 2, "c": 1}
        assert q["many"].answered == 3
        assert q["score"].answered == 2
        assert q["score"].skipped == 1
        assert (q["score"].mean, q["score"].minimum, q["score"].maximum) == (8, 6, 10)
        assert counts(q["score"])["10"] == 1
        assert q["note"].answered == 3
        assert q["note"].options == ()
        assert q["note"].type is QuestionType.text

    async def test_admin_sees_every_unit(self, session: AsyncSession, world: World) -> None:
        found = await results.question_results(session=session, actor=ADMIN, survey_code=CODE)

        assert found.responses == 4
        assert counts(by_key(found)["sat"])["neutral"] == 1
        assert by_key(found)["score"].minimum == 0

    async def test_filters_by_unit_and_period(self, session: AsyncSession, world: World) -> None:
        other = await results.question_results(
            session=session, actor=ADMIN, survey_code=CODE, unit_id=world.other
        )
        h1 = await results.question_results(
            session=session, actor=ADMIN, survey_code=CODE, period="2026H1"
        )

        assert other.responses == 1
        assert by_key(other)["sat"].mean_points == 50
        assert h1.responses == 3

    async def test_another_unit_asked_explicitly_is_not_found(
        self, session: AsyncSession, world: World
    ) -> None:
        with pytest.raises(NotFound):
            await results.question_results(
                session=session, actor=world.staff, survey_code=CODE, unit_id=world.other
            )

    async def test_unknown_survey(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(UnknownSurvey):
            await results.question_results(session=session, actor=ADMIN, survey_code="nope")

    async def test_no_answers_gives_zero_counts_and_no_means(
        self, session: AsyncSession, world: World
    ) -> None:
        found = await results.question_results(
            session=session, actor=ADMIN, survey_code=CODE, period="2030H1"
        )

        assert found.responses == 0
        assert by_key(found)["sat"].mean_points is None
        assert by_key(found)["score"].mean is None
        assert all(o.share == 0 for o in by_key(found)["pick"].options)


class TestFreeText:
    async def test_masks_phone_and_id_numbers(self, session: AsyncSession, world: World) -> None:
        rows, total = await results.free_text(session=session, actor=world.staff, survey_code=CODE)

        assert total == 3
        texts = [r.text for r in rows]
        assert "请回电 138****5678，身份证 110105********1234" in texts
        assert not any("13812345678" in t or "199001011234" in t for t in texts)
        assert {r.unit_id for r in rows} == {world.own}
        assert rows[0].unit_name == "市审批服务局"
        assert rows[0].question_key == "note"

    async def test_search_by_substring(self, session: AsyncSession, world: World) -> None:
        rows, total = await results.free_text(
            session=session, actor=world.staff, survey_code=CODE, query="谢谢"
        )

        assert total == 1
        assert rows[0].text == "办事很快，谢谢"

    async def test_search_cannot_confirm_a_hidden_number(
        self, session: AsyncSession, world: World
    ) -> None:
        _, total = await results.free_text(
            session=session, actor=world.staff, survey_code=CODE, query="12345678"
        )

        assert total == 0

    async def test_pages_and_counts_all_matches(self, session: AsyncSession, world: World) -> None:
        rows, total = await results.free_text(
            session=session, actor=ADMIN, survey_code=CODE, offset=1, limit=2
        )

        assert total == 4
        assert len(rows) == 2

    async def test_other_unit_refused(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(NotFound):
            await results.free_text(
                session=session, actor=world.staff, survey_code=CODE, unit_id=world.other
            )


class TestListResponses:
    async def test_own_unit_only_and_no_respondent(
        self, session: AsyncSession, world: World
    ) -> None:
        rows, total = await results.list_responses(session=session, actor=world.staff)

        assert total == 4
        assert {r.unit_id for r in rows} == {world.own}
        assert not hasattr(rows[0], "respondent_id")

    async def test_filters_and_pages(self, session: AsyncSession, world: World) -> None:
        done, total = await results.list_responses(
            session=session,
            actor=ADMIN,
            survey_code=CODE,
            status=ResponseStatus.completed,
            limit=2,
        )
        h2, h2_total = await results.list_responses(session=session, actor=ADMIN, period="2026H2")

        assert (len(done), total) == (2, 4)
        assert h2_total == 1
        assert h2[0].unit_id == world.other

    async def test_unknown_survey(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(UnknownSurvey):
            await results.list_responses(session=session, actor=ADMIN, survey_code="nope")


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


class TestExports:
    async def test_csv_escapes_formulas_and_masks(
        self, session: AsyncSession, world: World
    ) -> None:
        data = await results.export_results(
            session=session, actor=world.staff, survey_code=CODE, fmt="csv"
        )
        rows = read_csv(data)
        cells = [cell for row in rows for cell in row]

        assert "'" + FORMULA in cells
        assert FORMULA not in cells
        assert "请回电 138****5678，身份证 110105********1234" in cells
        assert "13812345678" not in data.decode("utf-8-sig")
        assert "别的单位的意见" not in cells  # another unit's text
        assert rows[0][:2] == ["题目编号", "题目"]
        sat = [r for r in rows if r[:1] == ["sat"]]
        assert [r[6] for r in sat] == ["1", "1", "0", "1", "0"]
        assert sat[0][10] == "66.67"

    async def test_xlsx_keeps_the_formula_as_text(
        self, session: AsyncSession, world: World
    ) -> None:
        data = await results.export_results(
            session=session, actor=world.staff, survey_code=CODE, fmt="xlsx"
        )
        book = load_workbook(io.BytesIO(data))

        assert book.sheetnames == ["选项分布", "文字意见"]
        values = [c.value for row in book["文字意见"].iter_rows() for c in row]
        assert "'" + FORMULA in values
        types = {c.data_type for row in book["文字意见"].iter_rows() for c in row}
        assert "f" not in types
        assert "请回电 138****5678，身份证 110105********1234" in values

    async def test_no_respondent_or_chat_id(self, session: AsyncSession, world: World) -> None:
        data = await results.export_results(session=session, actor=ADMIN, survey_code=CODE)
        text = data.decode("utf-8-sig")

        assert "respondent" not in text
        assert "chat" not in text
        assert "pseudonym" not in text
        assert "p-" not in text  # the pseudonyms of this test

    async def test_viewer_may_not_export(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(Forbidden):
            await results.export_results(session=session, actor=world.viewer, survey_code=CODE)


class TestExportHelpers:
    @pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
    def test_escapes_every_formula_start(self, start: str) -> None:
        assert exports.escape_cell(start + "1") == "'" + start + "1"

    def test_leaves_numbers_and_plain_text(self) -> None:
        assert exports.escape_cell(-5) == -5
        assert exports.escape_cell("满意") == "满意"
        assert exports.escape_cell(None) is None

    def test_csv_is_bom_utf8_with_crlf(self) -> None:
        data = exports.csv_bytes([["a", "中文"], [1, None]])

        assert data == "\ufeffa,中文\r\n1,\r\n".encode()

    def test_filename_is_header_safe(self) -> None:
        assert results.export_filename("s-1", "csv", '2026"H1') == "results-s-1-2026_H1.csv"


class TestSurveyAdmin:
    async def test_load_publish_close(self, session: AsyncSession, world: World) -> None:
        text = (
            "code: later\ntitle: 以后\nperiod: 2026H2\nopens_on: 2026-07-01\n"
            "closes_on: 2026-12-31\nquestions:\n"
            "  - {key: q1, type: satisfaction, text: 满意吗？}\n"
        )
        loaded = await survey_admin.load_yaml(session=session, actor=ADMIN, text=text)
        again = await survey_admin.load_yaml(session=session, actor=ADMIN, text=text)
        today = date(2026, 5, 10)

        assert loaded.created
        assert not again.created
        assert not catalog.is_open(loaded.version, today)
        published = await survey_admin.publish(
            session=session, actor=ADMIN, code="later", today=today
        )
        assert published.opens_on == today
        assert catalog.is_open(published, today)
        closed = await survey_admin.close(session=session, actor=ADMIN, code="later")
        assert not catalog.is_open(closed, today)
        reopened = await survey_admin.publish(
            session=session, actor=ADMIN, code="later", today=today
        )
        assert catalog.is_open(reopened, today)

    async def test_publish_after_the_end_is_refused(
        self, session: AsyncSession, world: World
    ) -> None:
        with pytest.raises(survey_admin.SurveyEnded):
            await survey_admin.publish(
                session=session, actor=ADMIN, code=CODE, today=date(2026, 7, 1)
            )

    async def test_invalid_yaml_names_the_field(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(DefinitionInvalid) as raised:
            await survey_admin.load_yaml(session=session, actor=ADMIN, text="code: x\n")

        assert any(p.startswith("title") for p in raised.value.problems)

    async def test_only_admin(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(Forbidden):
            await survey_admin.close(session=session, actor=world.staff, code=CODE)
