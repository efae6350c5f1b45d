"""Rating files: CSV and XLSX read alike; a file with a problem stores nothing, names them all."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import InvalidFile
from surveys.core.models import pk
from surveys.haochaping.imports import import_ratings, read_ratings_file
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.haochaping.ratings import IngestResult

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
HEADER = "source_id,unit,level,channel,rated_at,case_no,reasons,contact_ok"
GOOD = f"""{HEADER}
F-1,kundulun,非常满意,4,2026-03-01T10:00:00+08:00,,,
F-2,kundulun,不满意,1,2026-03-02T11:00:00+08:00,BJ-1,办事效率;服务态度；其他,是
F-3,qingshan,satisfied,7,2026-03-03T12:00:00+08:00,,,否
"""
ROWS = [
    {"source_id": "F-1", "unit": "kundulun", "level": "very_satisfied", "channel": "4",
     "rated_at": "2026-03-01T10:00:00+08:00"},
    {"source_id": "F-2", "unit": "kundulun", "level": "dissatisfied", "channel": "1",
     "rated_at": "2026-03-02T11:00:00+08:00", "case_no": "BJ-1",
     "reasons": ["办事效率", "服务态度", "其他"], "contact_ok": "true"},
    {"source_id": "F-3", "unit": "qingshan", "level": "satisfied", "channel": "7",
     "rated_at": "2026-03-03T12:00:00+08:00", "contact_ok": "false"},
]  # fmt: skip


def naive(*parts: int) -> datetime:
    """A spreadsheet date cell, which has no offset."""
    return datetime(*parts)  # noqa: DTZ001


def write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidFile) as caught:
        read_ratings_file(path)
    assert caught.value.source == str(path)
    return caught.value.problems


async def seed(session: AsyncSession) -> None:
    kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
    session.add_all([kundulun, Unit(code="qingshan", name="青山区", kind=UnitKind.district)])
    await session.flush()
    finished = datetime(2026, 3, 1, tzinfo=UTC)
    session.add(
        ServiceEvent(
            case_no="BJ-1",
            item_code="11150200MB1234567X",
            item_name="不动产登记",
            unit_id=pk(kundulun),
            window_code="W07",
            channel=4,
            finished_at=finished,
            link_token="link-0001",
        )  # fmt: skip
    )
    await session.flush()


@pytest.fixture
async def seeded(sessionmaker: SessionMaker) -> SessionMaker:
    async with unit_of_work(sessionmaker) as session:
        await seed(session)
    return sessionmaker


async def run(session: AsyncSession, path: Path, grace_days: int = 15) -> IngestResult:
    return await import_ratings(session=session, path=path, tz=TZ, now=NOW, grace_days=grace_days)


async def count(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Rating))).one()


class TestReadRatingsFile:
    def test_csv_rows_become_rating_fields(self, tmp_path: Path) -> None:
        assert read_ratings_file(write(tmp_path, GOOD)) == ROWS

    def test_a_byte_order_mark_is_ignored(self, tmp_path: Path) -> None:
        assert read_ratings_file(write(tmp_path, "\ufeff" + GOOD)) == ROWS

    def test_xlsx_written_by_pandas_reads_back_the_same(self, tmp_path: Path) -> None:
        frame = pd.read_csv(write(tmp_path, GOOD), dtype=str, keep_default_na=False)
        path = tmp_path / "ratings.xlsx"
        frame.to_excel(path, index=False, engine="openpyxl")

        assert read_ratings_file(path) == ROWS

    def test_xlsx_typed_cells_are_read_as_text(self, tmp_path: Path) -> None:
        path = tmp_path / "typed.xlsx"
        frame = pd.DataFrame(
            {"source_id": [1001], "unit": ["kundulun"], "level": ["满意"], "channel": [4.0],
             "rated_at": [naive(2026, 3, 1, 10)], "round": [2], "is_default": [False]}
        )  # fmt: skip
        frame.to_excel(path, index=False, engine="openpyxl")

        [row] = read_ratings_file(path, tz=TZ)

        assert row == {
            "source_id": "1001", "unit": "kundulun", "level": "satisfied", "channel": "4",
            "rated_at": datetime(2026, 3, 1, 10, 0, tzinfo=TZ), "round": "2",
            "is_default": "false",
        }  # fmt: skip

    def test_xlsx_date_cells_without_tz_stay_naive(self, tmp_path: Path) -> None:
        path = tmp_path / "typed.xlsx"
        frame = pd.DataFrame({**{k: [v] for k, v in ROWS[0].items()}})
        frame["rated_at"] = [naive(2026, 3, 1, 10)]
        frame.to_excel(path, index=False, engine="openpyxl")

        [row] = read_ratings_file(path)

        assert row["rated_at"] == naive(2026, 3, 1, 10)

    @pytest.mark.parametrize(
        ("level", "scale", "code"),
        [
            ("非常满意", "", "very_satisfied"),
            ("满意", "", "satisfied"),
            ("基本满意", "", "neutral"),
            ("不满意", "", "dissatisfied"),
            ("非常不满意", "", "very_dissatisfied"),
            ("neutral", "", "neutral"),
            ("1", "gbt39046", "very_satisfied"),
            ("2", "gbt39046", "satisfied"),
            ("3", "GBT39046", "neutral"),
            ("5", "gbt39046", "very_dissatisfied"),
            ("1", "interface", "very_dissatisfied"),
            ("4", "interface", "satisfied"),
            ("5", "interface", "very_satisfied"),
        ],
    )
    def test_levels_as_labels_codes_or_numbers_of_a_named_scale(
        self, tmp_path: Path, level: str, scale: str, code: str
    ) -> None:
        text = f"source_id,unit,level,level_scale,channel,rated_at\nA,u,{level},{scale},1,x\n"

        [row] = read_ratings_file(write(tmp_path, text))

        assert row["level"] == code
        assert "level_scale" not in row

    def test_level_problems_are_named(self, tmp_path: Path) -> None:
        text = (
            "source_id,unit,level,level_scale,channel,rated_at\n"
            "A,u,3,,1,x\nB,u,6,gbt39046,1,x\nC,u,很好,interface,1,x\nD,u,1,likert,1,x\n"
            "E,u,²,gbt39046,1,x\n"
        )

        assert problems_of(write(tmp_path, text)) == [
            "line 2, column level: '3' is a number: add a column level_scale, "
            "gbt39046 (1 = 非常满意) or interface (1 = 非常不满意)",
            "line 3, column level: '6' is not a number 1-5 of the gbt39046 scale",
            "line 4, column level: '很好' is not a number 1-5 of the interface scale",
            "line 5, column level_scale: 'likert' is not one of gbt39046, interface",
            "line 6, column level: '²' is not a number 1-5 of the gbt39046 scale",
        ]

    def test_unknown_columns_are_named(self, tmp_path: Path) -> None:
        text = f"{HEADER},nickname,phone\nF-1,kundulun,满意,4,x,,,,张三,138\n"

        assert problems_of(write(tmp_path, text)) == ["line 1: unknown column(s) nickname, phone"]

    def test_missing_and_repeated_columns_are_named(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,level\nF-1,kundulun,满意,满意\n"

        assert problems_of(write(tmp_path, text)) == [
            "line 1: missing column(s) channel, rated_at",
            "line 1: column(s) level appear twice",
        ]

    def test_blank_lines_keep_the_spreadsheet_line_numbers(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,channel,rated_at\n\nA,u,3,1,x\n,,,,\nB,u,4,1,x\n"

        assert [p.split(",")[0] for p in problems_of(write(tmp_path, text))] == [
            "line 3",
            "line 5",
        ]

    def test_a_row_longer_than_the_header_is_named(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,channel,rated_at\nA,u,满意,1,x,extra\n"

        assert problems_of(write(tmp_path, text)) == ["line 2: 6 cells, but the header names 5"]

    @pytest.mark.parametrize(
        ("text", "problem"),
        [("", "the file is empty"), ("source_id,unit,level,channel,rated_at\n", "no rating rows")],
    )
    def test_empty_files(self, tmp_path: Path, text: str, problem: str) -> None:
        assert problem in problems_of(write(tmp_path, text))[0]

    def test_a_gbk_file_reads_the_same(self, tmp_path: Path) -> None:
        path = tmp_path / "gbk.csv"
        path.write_bytes(GOOD.encode("gbk"))  # "CSV (逗号分隔)" from a Chinese Excel

        assert read_ratings_file(path) == ROWS

    def test_a_file_that_is_no_text_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "binary.csv"
        path.write_bytes(b"source_id\n\xff\xfe\x00")

        assert "第 11 字节起既不是 UTF-8 也不是 GB18030" in problems_of(path)[0]

    def test_other_file_types_are_refused(self, tmp_path: Path) -> None:
        path = write(tmp_path, GOOD, name="ratings.xls")

        assert problems_of(path) == [".xls: only .csv and .xlsx are read"]

    def test_a_broken_workbook_is_refused(self, tmp_path: Path) -> None:
        path = write(tmp_path, GOOD, name="ratings.xlsx")

        assert "不是可读取的 .xlsx 工作簿" in problems_of(path)[0]


class TestImportRatings:
    async def test_a_good_file_is_stored(self, seeded: SessionMaker, tmp_path: Path) -> None:
        async with unit_of_work(seeded) as session:
            result = await import_ratings(
                session=session, path=write(tmp_path, GOOD), tz=TZ, now=NOW, grace_days=15
            )

        assert [r.source_id for r in result.created] == ["F-1", "F-2", "F-3"]
        async with seeded() as session:
            stored = (await session.exec(select(Rating).order_by(Rating.source_id))).all()
        assert [(r.source, r.level, r.channel, r.period) for r in stored] == [
            ("file", "very_satisfied", 4, "2026H1"),
            ("file", "dissatisfied", 1, "2026H1"),
            ("file", "satisfied", 7, "2026H1"),
        ]
        assert (stored[1].reasons, stored[1].contact_ok, stored[1].window_code) == (
            ["办事效率", "服务态度", "其他"], True, "W07",
        )  # fmt: skip

    async def test_a_file_imported_again_only_reports_duplicates(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = write(tmp_path, GOOD)
        async with unit_of_work(seeded) as session:
            await run(session, path)
        more = GOOD + "F-4,qingshan,满意,7,2026-03-04T12:00:00+08:00,,,\n"

        async with unit_of_work(seeded) as session:
            result = await import_ratings(
                session=session, path=write(tmp_path, more), tz=TZ, now=NOW, grace_days=15
            )
            assert await count(session) == 4

        assert [r.source_id for r in result.created] == ["F-4"]
        assert (result.duplicates, result.errors) == (["F-1", "F-2", "F-3"], [])

    async def test_one_source_id_for_two_units_in_one_file_is_two_ratings(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        # Source ids are the unit's own, in a file as in an API batch.
        text = f"""{HEADER}
F-1,kundulun,非常满意,4,2026-03-01T10:00:00+08:00,,,
F-1,qingshan,不满意,1,2026-03-02T11:00:00+08:00,,,
"""
        async with unit_of_work(seeded) as session:
            result = await run(session, write(tmp_path, text))

        assert [(r.source_id, r.level) for r in result.created] == [
            ("F-1", "very_satisfied"), ("F-1", "dissatisfied"),
        ]  # fmt: skip
        assert (result.duplicates, result.errors) == ([], [])
        async with seeded() as session:
            assert await count(session) == 2

    async def test_one_source_id_twice_for_the_same_unit_is_refused(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        text = f"""{HEADER}
F-1,kundulun,非常满意,4,2026-03-01T10:00:00+08:00,,,
F-1,qingshan,满意,4,2026-03-01T10:00:00+08:00,,,
F-1, kundulun ,不满意,1,2026-03-02T11:00:00+08:00,,,
"""
        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await run(session, write(tmp_path, text))

        assert caught.value.problems == ["line 4, column source_id: 'F-1' is also on line 2"]
        async with seeded() as session:
            assert await count(session) == 0

    async def test_a_file_with_bad_rows_stores_nothing_and_names_every_problem(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        bad = f"""{HEADER}
F-1,kundulun,非常满意,4,2026-03-01T10:00:00+08:00,,,
F-2,kundulun,满意,9,2026-03-01T10:00:00,,,
F-3,nowhere,满意,1,2026-03-01T10:00:00+08:00,,,
F-4,kundulun,很好,1,2026-03-01T10:00:00+08:00,BJ-404,,
F-1,kundulun,满意,1,2026-03-01T10:00:00+08:00,,,
F-6,kundulun,满意,1,2025-12-20T10:00:00+08:00,,,maybe
F-7,qingshan,满意,1,2026-03-05T10:00:00+08:00,BJ-1,,
"""
        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await run(session, write(tmp_path, bad, name="bad.csv"), grace_days=15)

        assert caught.value.problems == [
            "line 3, column channel: Input should be less than or equal to 7",
            "line 3, column rated_at: "
            "rated_at needs a time zone offset, e.g. 2026-11-23T10:00:00+08:00",
            "line 4, column unit: unknown unit 'nowhere'",
            "line 5, column level: Input should be 'very_satisfied', 'satisfied', 'neutral', "
            "'dissatisfied' or 'very_dissatisfied'",
            "line 6, column source_id: 'F-1' is also on line 2",
            "line 7, column contact_ok: "
            "Input should be a valid boolean, unable to interpret input",
            "line 8, column case_no: unknown 办件 'BJ-1'",  # kundulun's: not qingshan's
        ]
        assert caught.value.source.endswith("bad.csv")
        async with seeded() as session:
            assert await count(session) == 0

    async def test_problems_name_the_file_as_the_person_chose_it(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        copy = write(tmp_path, "source_id,unit\n", name="upload.csv")

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await import_ratings(
                    session=session, path=copy, tz=TZ, now=NOW, grace_days=15, name="三月.csv"
                )

        assert caught.value.source == "三月.csv"
        assert caught.value.problems == ["line 1: missing column(s) level, channel, rated_at"]

    async def test_nothing_is_flushed_before_the_refusal(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed(session)
        bad = GOOD + "F-9,kundulun,满意,1,2025-12-20T10:00:00+08:00,,,\n"

        with pytest.raises(InvalidFile) as caught:
            await run(session, write(tmp_path, bad), grace_days=15)

        assert caught.value.problems == [
            "line 5, column rated_at: period 2025H2 closed on 2026-01-15"
        ]
        assert not session.new
        assert await count(session) == 0

    async def test_a_file_stays_valid_while_the_period_is_open(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed(session)
        text = f"{HEADER}\nF-9,kundulun,满意,1,2025-12-20T10:00:00+08:00,,,\n"

        result = await import_ratings(
            session=session, path=write(tmp_path, text), tz=TZ, now=NOW, grace_days=90
        )

        assert [r.period for r in result.created] == ["2025H2"]

    async def test_xlsx_with_numeric_levels_and_date_cells(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed(session)
        path = tmp_path / "ratings.xlsx"
        frame = pd.DataFrame(
            {"source_id": ["X-1", "X-2"], "unit": ["kundulun", "qingshan"], "level": [1, 1],
             "level_scale": ["gbt39046", "interface"], "channel": [4, 5],
             "rated_at": [naive(2026, 6, 30, 23, 30), naive(2026, 3, 1, 9)]}
        )  # fmt: skip
        frame.to_excel(path, index=False, engine="openpyxl")

        result = await import_ratings(
            session=session, path=path, tz=TZ, now=datetime(2026, 7, 2, tzinfo=UTC), grace_days=15
        )

        assert [(r.level, r.period, r.rated_at) for r in result.created] == [
            ("very_satisfied", "2026H1", datetime(2026, 6, 30, 15, 30, tzinfo=UTC)),
            ("very_dissatisfied", "2026H1", datetime(2026, 3, 1, 1, tzinfo=UTC)),
        ]

    async def test_an_unknown_column_stores_nothing(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed(session)
        text = "source_id,unit,level,channel,rated_at,姓名\nA,kundulun,满意,1,x,张三\n"

        with pytest.raises(InvalidFile) as caught:
            await run(session, write(tmp_path, text))

        assert caught.value.problems == ["line 1: unknown column(s) 姓名"]
        assert await count(session) == 0
