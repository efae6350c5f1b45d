"""A ratings file is read, checked and stored a chunk at a time (imports.CHUNK rows), and the
result is what the whole-file path stored: the same rows, the same 差评 cases with the same
deadlines and timeline, the same duplicates; a problem in any chunk, even the last, stores
nothing. Chunks are made 4 rows long here so a small file crosses several boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, FollowUpCase
from surveys.core import table_files
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import InvalidFile
from surveys.core.models import pk
from surveys.core.text import decode_office_text
from surveys.haochaping import feedback, imports, ratings
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 5, 10, 4, 0, tzinfo=UTC)
# 市直部门 get longer deadlines than the 旗县区: the per-kind deadline is checked too.
POLICY = workdays.DeadlinePolicy(contact_days=1, rectify_days=5, by_kind={"市直部门": (2, 10)})
HEADER = (
    "source_id,unit,level,channel,rated_at,case_no,reasons,comment,contact_ok,round,is_default"
)
# 14 rows: 差评 of both units and kinds, across the 2026 May Day holiday (deadlines move), a
# default 差评 (no case), a 办件's 1st round in the 1st chunk and its 2nd in the 3rd, the
# same source id for two units.
ROWS = """\
F-01,kundulun,不满意,1,2026-04-30T17:00:00+08:00,BJ-1,办事效率;服务态度,等了很久,是,1,否
F-02,jiaoyu,非常满意,4,2026-04-30T09:00:00+08:00,,,,,,
F-03,jiaoyu,非常不满意,2,2026-04-29T10:00:00+08:00,,服务态度,,否,,
F-04,kundulun,满意,5,2026-05-06T10:00:00+08:00,,,,,,

F-05,kundulun,非常不满意,7,2026-05-06T11:00:00+08:00,,其他,,,,是
F-06,jiaoyu,基本满意,3,2026-05-07T11:00:00+08:00,,,,,,
F-07,kundulun,不满意,6,2026-05-08T18:30:00+08:00,,服务效率,,是,,
F-08,kundulun,满意,1,2026-01-20T08:00:00+08:00,,,,,,
F-09,kundulun,满意,1,2026-05-09T09:00:00+08:00,BJ-1,,复评满意,是,2,否
F-10,jiaoyu,不满意,4,2026-05-09T10:00:00+08:00,,办事指南精确度,电话 13812345678,是,,
F-01,jiaoyu,满意,4,2026-05-09T11:00:00+08:00,,,,,,
F-12,kundulun,非常满意,4,2026-05-09T12:00:00+08:00,,,,,,
F-13,jiaoyu,非常不满意,4,2026-05-09T13:00:00+08:00,,其他,,否,,
F-14,kundulun,不满意,1,2026-05-09T14:00:00+08:00,,,,,,
"""
GOOD = f"{HEADER}\n{ROWS}"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 4)


def write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def seeded(sessionmaker: SessionMaker) -> SessionMaker:
    async with unit_of_work(sessionmaker) as session:
        kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
        session.add_all([kundulun, Unit(code="jiaoyu", name="教育局", kind=UnitKind.department)])
        await session.flush()
        session.add(
            ServiceEvent(
                case_no="BJ-1",
                item_code="11150200MB1234567X",
                item_name="不动产登记",
                unit_id=pk(kundulun),
                window_code="W07",
                channel=4,
                finished_at=datetime(2026, 4, 30, tzinfo=UTC),
                link_token="link-0001",
            )  # fmt: skip
        )
    return sessionmaker


async def streamed(session: AsyncSession, path: Path) -> imports.Received:
    return await feedback.import_ratings_file(
        session=session, path=path, tz=TZ, now=NOW, grace_days=15, policy=POLICY
    )


async def whole_file(session: AsyncSession, path: Path) -> tuple[ratings.IngestResult, int]:
    """The path before streaming: every row read, ORM objects, one case opened at a time."""
    items, errors = ratings.validate_rows(imports.read_ratings_file(path))
    assert errors == []
    result = await ratings.ingest(
        session=session, items=items, source=RatingSource.file, tz=TZ, now=NOW, grace_days=15
    )
    calendar = await workdays.load_calendar(session=session, tz=TZ)
    opened = 0
    for rating in result.created:
        case = await cases.open_case(
            session=session, rating=rating, calendar=calendar, policy=POLICY
        )
        opened += case is not None
    return result, opened


async def stored(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import writes, without ids and clock times."""
    found = (await session.exec(select(Rating).order_by(col(Rating.id)))).all()
    source_of = {r.id: (r.unit_id, r.source_id) for r in found}
    columns = [c.name for c in Rating.__table__.columns if c.name not in ("id", "received_at")]  # type: ignore[attr-defined]
    rows = [tuple(str(getattr(r, name)) for name in columns) for r in found]
    opened = (await session.exec(select(FollowUpCase).order_by(col(FollowUpCase.id)))).all()
    case_rows = [
        (source_of[c.rating_id], c.unit_id, c.state, c.contact_due, c.rectify_due, c.rerating,
         c.closed_at, c.escalated_at)
        for c in opened
    ]  # fmt: skip
    rating_of = {c.id: source_of[c.rating_id] for c in opened}
    events = (await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()
    event_rows = [
        (rating_of[e.case_id], e.actor, e.kind, e.from_state, e.to_state, e.note, e.delivered_at)
        for e in events
    ]
    return {"ratings": rows, "cases": case_rows, "events": event_rows}


async def forget_imports(sessionmaker: SessionMaker) -> None:
    async with unit_of_work(sessionmaker) as session:
        for table in (CaseEvent, FollowUpCase, Rating):
            await session.exec(delete(table))  # type: ignore[call-overload]


async def count(sessionmaker: SessionMaker, table: type[Any] = Rating) -> int:
    async with sessionmaker() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


class TestSameAsTheWholeFile:
    async def test_rows_cases_deadlines_and_timeline_are_the_same(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = write(tmp_path, GOOD)
        async with unit_of_work(seeded) as session:
            before, before_opened = await whole_file(session, path)
        async with seeded() as session:
            expected = await stored(session)
        await forget_imports(seeded)

        async with unit_of_work(seeded) as session:
            received = await streamed(session, path)

        async with seeded() as session:
            assert await stored(session) == expected
        fields = ("source_id", "unit_id", "level", "period", "rated_at")
        result = received.result
        assert [tuple(getattr(r, f) for f in fields) for r in result.created] == [
            tuple(getattr(r, f) for f in fields) for r in before.created
        ]
        assert (list(result.duplicates), result.errors) == ([], [])
        assert len(received.opened) == before_opened == 6
        # A 差评 at 17:00 before the May Day holiday (05-01..05-05): 1 working day is 05-06
        # (旗县区); the 市直部门's 差评 of 04-29 has 2 (04-30, 05-06) and 10 (the 调休 Saturday
        # 05-09 counts: 04-30, 05-06, 07, 08, 09, 11, 12, 13, 14, 15).
        cases_by_source = {c[0][1]: c[3:5] for c in expected["cases"]}
        assert str(cases_by_source["F-01"][0]) == "2026-05-06"
        assert [str(d) for d in cases_by_source["F-03"]] == ["2026-05-06", "2026-05-15"]

    async def test_a_second_round_in_a_later_chunk_is_stored_beside_its_first(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        async with unit_of_work(seeded) as session:
            await streamed(session, write(tmp_path, GOOD))

        async with seeded() as session:
            rounds = (
                await session.exec(
                    select(Rating.source_id, Rating.round, Rating.active, Rating.window_code)
                    .where(col(Rating.service_event_id).is_not(None))
                    .order_by(col(Rating.id))
                )
            ).all()
        # As the whole-file import did: both rows kept, both linked to the 办件; the 2nd
        # round, in a later chunk, retired the 1st (history), so only the latest counts.
        assert rounds == [("F-01", 1, False, "W07"), ("F-09", 2, True, "W07")]

    async def test_importing_again_only_reports_duplicates_across_chunks(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        path = write(tmp_path, GOOD)
        async with unit_of_work(seeded) as session:
            await streamed(session, path)
        more = GOOD + "F-15,jiaoyu,不满意,4,2026-05-09T15:00:00+08:00,,,,,,\n"

        async with unit_of_work(seeded) as session:
            received = await streamed(session, write(tmp_path, more, "more.csv"))

        assert [r.source_id for r in received.result.created] == ["F-15"]
        assert list(received.result.duplicates) == [
            line.split(",")[0] for line in ROWS.splitlines() if line
        ]
        assert len(received.opened) == 1
        assert (await count(seeded), await count(seeded, FollowUpCase)) == (15, 7)


class TestAllOrNothing:
    async def test_a_bad_row_in_the_last_chunk_stores_nothing(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        bad = GOOD + "F-99,kundulun,满意,1,2026-05-09T15:00:00,,,,,,\n"

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await streamed(session, write(tmp_path, bad))

        assert caught.value.problems == [
            "第 17 行 rated_at 列：时间缺少时区，请写成 2026-11-23T10:00:00+08:00 这样的格式。"
        ]
        assert (await count(seeded), await count(seeded, FollowUpCase)) == (0, 0)

    async def test_a_caller_that_commits_after_the_refusal_stores_nothing(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        # The earlier chunks were inserted; the savepoint takes them back before the refusal.
        bad = GOOD + "F-99,nowhere,满意,1,2026-05-09T15:00:00+08:00,,,,,,\n"
        async with unit_of_work(seeded) as session:
            with pytest.raises(InvalidFile) as caught:
                await streamed(session, write(tmp_path, bad))

        assert caught.value.problems == ["第 17 行 unit 列：没有编码为“nowhere”的在用单位。"]
        assert (await count(seeded), await count(seeded, CaseEvent)) == (0, 0)

    async def test_a_source_id_repeated_in_a_later_chunk_is_named_with_its_first_line(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        bad = GOOD + "F-04,kundulun,满意,1,2026-05-09T15:00:00+08:00,,,,,,\n"

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await streamed(session, write(tmp_path, bad))

        assert caught.value.problems == [
            "第 17 行 source_id 列：“F-04”与第 5 行重复："
            "同一单位的 source_id 在文件中只能出现一次。"
        ]
        assert await count(seeded) == 0

    async def test_problems_of_every_chunk_are_named_in_line_order(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        lines = GOOD.splitlines()
        lines[2] = lines[2].replace(",4,", ",9,")  # F-02: channel 9
        lines[11] = lines[11].replace("2026-05-09T10:00:00+08:00", "2025-12-20T10:00:00+08:00")

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await streamed(session, write(tmp_path, "\n".join(lines) + "\n"))

        assert caught.value.problems == [
            "第 3 行 channel 列：“9”不是 1 至 7 之间的整数。",
            "第 12 行 rated_at 列："
            "评价所属的考评期间 2025H2 已于 2026-01-15 截止接收评价，不能再导入。",
        ]
        assert await count(seeded) == 0

    async def test_past_the_cap_the_other_problems_are_counted(
        self, seeded: SessionMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "MAX_PROBLEMS", 3)
        bad = "".join(f"X-{n},nowhere,满意,1,2026-05-09T15:00:00+08:00,,,,,,\n" for n in range(7))

        with pytest.raises(InvalidFile) as caught:
            async with unit_of_work(seeded) as session:
                await streamed(session, write(tmp_path, f"{HEADER}\n{bad}"))

        assert caught.value.problems == [
            "第 2 行 unit 列：没有编码为“nowhere”的在用单位。",
            "第 3 行 unit 列：没有编码为“nowhere”的在用单位。",
            "第 4 行 unit 列：没有编码为“nowhere”的在用单位。",
            "另有 4 处问题未列出（只列出前 3 处），请先修改以上问题后重新导入。",
        ]


class TestStreamingReaders:
    @pytest.mark.parametrize(
        "data",
        [
            "source_id,unit\nF-1,昆都仑区\n".encode(),
            "source_id,unit\nF-1,昆都仑区\n".encode("gbk"),
            b"\xef\xbb\xbf" + "a,b\n中文,x\n".encode(),
            b"\xef\xbb\xbfa,b\n" + "中文".encode("gbk"),
            b"a,b\n" + "中文".encode() * 5 + b"\xff\xfe",
            b"a,b\n" + "中文".encode() * 5 + b"\x00",
            "a,b\n中文".encode("gbk") + b"\x00\x81",
        ],
    )
    def test_the_encoding_is_found_as_decode_office_text_finds_it(self, data: bytes) -> None:
        # Read 3 bytes at a time, so characters and errors straddle the chunks.
        try:
            expected: object = decode_office_text(data, "f.csv")
        except InvalidFile as exc:  # the streaming reader names the file as well
            expected = [f"f.csv：{problem}" for problem in exc.problems]
        try:
            encoding = table_files.text_encoding("f.csv", data, chunk_bytes=3)
            found: object = data.decode(encoding)
        except InvalidFile as exc:
            found = exc.problems

        assert found == expected

    def test_csv_records_come_one_at_a_time_and_the_share_read_grows(self) -> None:
        data = "".join(f"F-{n},{'昆' * 50}\n" for n in range(2000)).encode()
        limits = table_files.TableLimits(rows=10_000)

        rows = table_files.iter_csv("f.csv", data, limits)
        first = next(rows)
        early = rows.fraction()
        rest = list(rows)

        assert first == ["F-0", "昆" * 50]
        assert len(rest) == 1999
        assert early is not None
        assert early < 0.5
        assert rows.fraction() == 1.0


class TestKnownSourceIds:
    async def test_only_units_with_earlier_file_ratings_can_have_duplicates(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        # kundulun has a file rating F-04 already, jiaoyu none: F-04 of kundulun is skipped,
        # every jiaoyu row is new (looked up or not, the answer is the same).
        first = f"{HEADER}\nF-04,kundulun,满意,5,2026-05-06T10:00:00+08:00,,,,,,\n"
        async with unit_of_work(seeded) as session:
            await streamed(session, write(tmp_path, first, "first.csv"))

        async with unit_of_work(seeded) as session:
            received = await streamed(session, write(tmp_path, GOOD))

        assert list(received.result.duplicates) == ["F-04"]
        assert len(received.result.created) == 13
        assert await count(seeded) == 14

    def test_first_lines_keep_every_key_while_the_table_grows(self) -> None:
        first = imports.FirstLines(capacity=4)
        keys = [repr(("kundulun", f"F-{n}")) for n in range(5_000)]

        assert [first.first(key, line) for line, key in enumerate(keys, start=2)] == [None] * 5_000
        assert [first.first(key, 9_999) for key in keys] == list(range(2, 5_002))
        assert first.first(repr(("jiaoyu", "F-1")), 7) is None
