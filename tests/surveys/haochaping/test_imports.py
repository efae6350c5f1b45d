"""Rating files: CSV and XLSX read alike; a file with a problem stores nothing, names them all."""

from __future__ import annotations

import re
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
            "第 2 行 level 列：“3”是数字：请加一列 level_scale，"
            "填 gbt39046（1 = 非常满意）或 interface（1 = 非常不满意）。",
            "第 3 行 level 列：“6”不是 gbt39046 量表中 1 至 5 的数字。",
            "第 4 行 level 列：“很好”不是 interface 量表中 1 至 5 的数字。",
            "第 5 行 level_scale 列：“likert”不是可用的量表，应填 gbt39046、interface 之一。",
            "第 6 行 level 列：“²”不是 gbt39046 量表中 1 至 5 的数字。",
        ]

    def test_unknown_columns_are_named(self, tmp_path: Path) -> None:
        text = f"{HEADER},nickname,phone\nF-1,kundulun,满意,4,x,,,,张三,138\n"

        [problem] = problems_of(write(tmp_path, text))
        assert problem.startswith(
            "第 1 行：表头有无法识别的列：nickname、phone。可用的列只有 source_id、"
        )

    def test_missing_and_repeated_columns_are_named(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,level\nF-1,kundulun,满意,满意\n"

        assert problems_of(write(tmp_path, text)) == [
            "第 1 行：表头缺少必填列：channel、rated_at。",
            "第 1 行：表头中 level 列出现了不止一次，请只保留一列。",
        ]

    def test_blank_lines_keep_the_spreadsheet_line_numbers(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,channel,rated_at\n\nA,u,3,1,x\n,,,,\nB,u,4,1,x\n"

        assert [p.split(" level 列")[0] for p in problems_of(write(tmp_path, text))] == [
            "第 3 行",
            "第 5 行",
        ]

    def test_a_row_longer_than_the_header_is_named(self, tmp_path: Path) -> None:
        text = "source_id,unit,level,channel,rated_at\nA,u,满意,1,x,extra\n"

        assert problems_of(write(tmp_path, text)) == [
            "第 2 行：这一行有 6 个单元格，但表头只有 5 列。请删除多余的内容，或在表头补上列名。"
        ]

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", "ratings.csv 是空文件，没有任何内容。"),
            ("\n\n", "ratings.csv 是空文件，没有任何内容。"),
            (
                "source_id,unit,level,channel,rated_at\n",
                "ratings.csv 只有表头（第 1 行），下面没有评价数据行。",
            ),
        ],
    )
    def test_empty_files(self, tmp_path: Path, text: str, problem: str) -> None:
        assert problems_of(write(tmp_path, text)) == [problem]

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

        assert problems_of(path) == [
            "ratings.xls：只能导入 .csv、.xlsx 或 .json（全国好差评数据交换格式）文件，"
            "这个文件的扩展名是 .xls。"
            "旧版 .xls 请用 Excel 或 WPS 另存为 .xlsx 后再导入。"
        ]

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

        assert caught.value.problems == [
            "第 4 行 source_id 列：“F-1”与第 2 行重复：同一单位的 source_id 在文件中只能出现一次。"
        ]
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
            "第 3 行 channel 列：“9”不是 1 至 7 之间的整数。",
            "第 3 行 rated_at 列：时间缺少时区，请写成 2026-11-23T10:00:00+08:00 这样的格式。",
            "第 4 行 unit 列：没有编码为“nowhere”的在用单位。",
            "第 5 行 level 列：“很好”不是满意度等级，"
            "应填 非常满意、满意、基本满意、不满意、非常不满意 之一"
            "（或 1 至 5 的数字，并加一列 level_scale）。",
            "第 6 行 source_id 列：“F-1”与第 2 行重复："
            "同一单位的 source_id 在文件中只能出现一次。",
            "第 7 行 contact_ok 列：“maybe”不是“是”或“否”（也可写 true 或 false）。",
            "第 8 行 case_no 列：该单位没有办件编号为“BJ-1”的办件。",  # kundulun's: not qingshan's
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
        assert caught.value.problems == ["第 1 行：表头缺少必填列：level、channel、rated_at。"]

    async def test_nothing_is_flushed_before_the_refusal(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed(session)
        bad = GOOD + "F-9,kundulun,满意,1,2025-12-20T10:00:00+08:00,,,\n"

        with pytest.raises(InvalidFile) as caught:
            await run(session, write(tmp_path, bad), grace_days=15)

        assert caught.value.problems == [
            "第 5 行 rated_at 列："
            "评价所属的考评期间 2025H2 已于 2026-01-15 截止接收评价，不能再导入。"
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

        [problem] = caught.value.problems
        assert problem.startswith("第 1 行：表头有无法识别的列：姓名。")
        assert await count(session) == 0


# Words of the English messages these problems replaced; none may come back.
ENGLISH = re.compile(
    r"\b(line|column|missing|unknown|file|cells?|header|appears?|twice|only|empty|"
    r"input|should|valid|number|scale|is|not|of)\b",
    re.IGNORECASE,
)
ROW_PLACE = re.compile(r"^第 \d+ 行( [a-z_]+ 列)?：")


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


class TestProblemsInChinese:
    @pytest.mark.parametrize(
        ("name", "text", "place"),
        [
            ("评价.txt", GOOD, "评价.txt："),
            ("评价.csv", "", "评价.csv 是空文件"),
            ("评价.csv", "source_id,unit,level,channel,rated_at\n",
             "评价.csv 只有表头（第 1 行）"),
            ("评价.csv", "source_id,unit,level,level,nickname\nA,kundulun,满意,满意,x\n",
             "第 1 行："),
            ("评价.csv", f"{HEADER}\nF-1,kundulun,很好,4,2026-03-01T10:00:00+08:00,,,\n",
             "第 2 行 level 列："),
            ("评价.csv", f"{HEADER}\nF-1,kundulun,3,4,2026-03-01T10:00:00+08:00,,,\n",
             "第 2 行 level 列："),
            ("评价.csv", "source_id,unit,level,level_scale,channel,rated_at\n"
                         "F-1,kundulun,3,likert,4,2026-03-01T10:00:00+08:00\n",
             "第 2 行 level_scale 列："),
            ("评价.csv", GOOD + "F-1,kundulun,满意,4,2026-03-01T10:00:00+08:00,,,\n",
             "第 5 行 source_id 列：“F-1”与第 2 行重复"),
            ("评价.csv", f"{HEADER}\nF-1,kundulun,满意,4,2026-03-01T10:00:00+08:00,,,,x,y\n",
             "第 2 行：这一行有 10 个单元格，但表头只有 8 列"),
            ("评价.csv", f"{HEADER}\nF-1,nowhere,满意,9,2026-03-01 10:00,,,maybe\n",
             "第 2 行 channel 列："),
            ("评价.csv", f"{HEADER}\nF-1,nowhere,满意,4,2026-03-01T10:00:00+08:00,BJ-9,,\n",
             "第 2 行 unit 列："),
        ],
    )  # fmt: skip
    async def test_every_problem_is_chinese_and_says_where(
        self, seeded: SessionMaker, tmp_path: Path, name: str, text: str, place: str
    ) -> None:
        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await run(session, write(tmp_path, text, name=name))

        problems = caught.value.problems
        assert any(problem.startswith(place) for problem in problems), problems
        for problem in problems:
            assert not ENGLISH.search(problem), problem
            assert ROW_PLACE.match(problem) or problem.startswith(name), problem
        async with seeded() as session:
            assert await count(session) == 0

    async def test_an_xlsx_title_above_the_header_is_skipped_and_the_header_row_said(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = xlsx(tmp_path / "三月.xlsx", [
            ["2026 年 3 月好差评数据（昆都仑区）"],
            [],
            ["source_id", "unit", "level", "channel", "rated_at（北京时间）"],
            ["X-1", "kundulun", "满意", 4, naive(2026, 3, 1, 10)],
            ["X-2", "kundulun", "非常满意", 1, naive(2026, 3, 2, 9)],
        ])  # fmt: skip

        async with unit_of_work(seeded) as session:
            result = await run(session, path)

        assert result.header_row == 3
        assert [(r.source_id, r.rated_at) for r in result.created] == [
            ("X-1", datetime(2026, 3, 1, 2, tzinfo=UTC)),
            ("X-2", datetime(2026, 3, 2, 1, tzinfo=UTC)),
        ]

    async def test_below_a_title_problems_name_the_spreadsheet_rows(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = xlsx(tmp_path / "三月.xlsx", [
            ["好差评数据"],
            ["source_id", "unit", "level", "channel", "rated_at", "姓名"],
            ["X-1", "kundulun", "满意", 4, naive(2026, 3, 1, 10)],
        ])  # fmt: skip

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await run(session, path)

        [problem] = caught.value.problems
        assert problem.startswith("第 2 行：表头有无法识别的列：姓名。")

    async def test_a_csv_title_row_is_skipped_too(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        bad = "好差评数据,,,,\n" + GOOD + "F-1,kundulun,满意,4,2026-03-01T10:00:00+08:00,,,\n"

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await run(session, write(tmp_path, bad))

        assert caught.value.problems == [
            "第 6 行 source_id 列：“F-1”与第 3 行重复：同一单位的 source_id 在文件中只能出现一次。"
        ]
