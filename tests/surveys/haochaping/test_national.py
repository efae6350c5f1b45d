"""The national 好差评 exchange layout: export, import back, the two code directions, masking."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work
from surveys.core.exceptions import InvalidFile
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.haochaping import national, ratings
from surveys.haochaping.imports import import_ratings, read_ratings_file
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.questionnaire.definitions import Level

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 1, 4, 0, tzinfo=UTC)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)
PHONE = "13812345678"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 8, day, hour, 15, tzinfo=TZ)


async def seed_units(session: AsyncSession) -> dict[str, int]:
    """Two units, each with a finished 办件 (BJ-1 of kundulun, BJ-2 of qingshan)."""
    units = [Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district),
             Unit(code="qingshan", name="青山区", kind=UnitKind.district)]  # fmt: skip
    session.add_all(units)
    await session.flush()
    ids = {u.code: pk(u) for u in units}
    for case_no, code in (("BJ-1", "kundulun"), ("BJ-2", "qingshan")):
        session.add(
            ServiceEvent(
                case_no=case_no,
                item_code=f"ITEM-{case_no}",
                item_name="不动产登记",
                unit_id=ids[code],
                window_code="W07",
                channel=4,
                finished_at=datetime(2026, 8, 1, tzinfo=UTC),
                link_token=f"link-{case_no}",
            )  # fmt: skip
        )
    await session.flush()
    return ids


async def event_id(session: AsyncSession, case_no: str) -> int:
    found = await session.exec(select(ServiceEvent).where(ServiceEvent.case_no == case_no))
    return pk(found.one())


def rating(unit_id: int, n: int, level: Level, rated_at: datetime, **more: Any) -> Rating:
    values: dict[str, Any] = {
        "source": RatingSource.api, "source_id": f"R-{n}", "unit_id": unit_id,
        "channel": 1, "level": level.value, "period": ratings.period_of(rated_at, TZ),
        "rated_at": rated_at.astimezone(UTC), "item_code": "ITEM", "item_name": "不动产登记",
    }  # fmt: skip
    return Rating.model_validate({**values, **more})


async def seed_ratings(session: AsyncSession) -> dict[str, int]:
    """The period 2026H2 of two units: a 办件 rated twice (整改 between), a QR rating, a
    default rating, a 差评 changed within its round, one left out by 申诉, one of 2026H1."""
    ids = await seed_units(session)
    k, q = ids["kundulun"], ids["qingshan"]
    bj1, bj2 = await event_id(session, "BJ-1"), await event_id(session, "BJ-2")
    made = {
        "first": rating(k, 1, Level.dissatisfied, at(3), service_event_id=bj1, channel=4,
                        window_code="W07", reasons=["办事效率", f"回电 {PHONE}"],
                        comment=f"等了两小时，请打 {PHONE} 联系我", active=False),
        "qr": rating(q, 2, Level.very_satisfied, at(5), channel=3, window_code="W01"),
        "default": rating(k, 3, Level.very_satisfied, at(7), is_default=True, channel=5),
        "changed": rating(q, 4, Level.neutral, at(10), service_event_id=bj2, channel=7,
                          active=False),
        "bad": rating(q, 5, Level.very_dissatisfied, at(11), service_event_id=bj2, channel=7,
                      window_code="W07"),
        "second": rating(k, 6, Level.satisfied, at(20), service_event_id=bj1, channel=2,
                         window_code="W07", round=2),
        "excluded": rating(k, 7, Level.very_dissatisfied, at(21), channel=6, excluded=True),
        "h1": rating(k, 8, Level.satisfied, datetime(2026, 3, 1, 10, tzinfo=TZ)),
    }  # fmt: skip
    session.add_all(made.values())
    await session.flush()
    return {name: pk(r) for name, r in made.items()}


async def export(session: AsyncSession, fmt: national.NationalFormat = "json") -> bytes:
    file = await national.write_national(
        session=session, actor=ADMIN, period="2026H2", fmt=fmt, tz=TZ
    )
    return file.body


def csv_records(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "CSV for Excel: UTF-8 with BOM"
    return list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"))))


class TestCodeDirections:
    def test_the_interface_runs_from_very_dissatisfied_to_very_satisfied(self) -> None:
        assert national.satisfaction_of(Level.very_dissatisfied) == 1
        assert national.satisfaction_of(Level.neutral) == 3
        assert national.satisfaction_of(Level.very_satisfied) == 5
        assert national.level_of(1) is Level.very_dissatisfied
        assert national.level_of(5) is Level.very_satisfied

    def test_gbt39046_table_a8_keeps_the_opposite_direction(self) -> None:
        assert ratings.gbt39046_number(Level.very_satisfied) == 1
        assert ratings.gbt39046_number(Level.very_dissatisfied) == 5
        for level in Level:
            assert ratings.gbt39046_number(level) + national.satisfaction_of(level) == 6

    def test_minyi_files_still_read_numbers_by_their_level_scale(self, tmp_path: Path) -> None:
        path = tmp_path / "own.csv"
        path.write_text(
            "source_id,unit,level,level_scale,channel,rated_at\n"
            "A,kundulun,1,gbt39046,1,2026-08-03T10:00:00+08:00\n"
            "B,kundulun,1,interface,1,2026-08-03T10:00:00+08:00\n",
            encoding="utf-8",
        )
        rows = read_ratings_file(path)
        assert [row["level"] for row in rows] == ["very_satisfied", "very_dissatisfied"]

    async def test_export_writes_satisfaction_1_for_very_dissatisfied(
        self, session: AsyncSession
    ) -> None:
        await seed_ratings(session)
        by_time = {r["assessTime"]: r for r in national.records_of(await export(session))}
        assert by_time["2026-08-11T10:15:00+08:00"]["satisfaction"] == 1  # 非常不满意
        assert by_time["2026-08-05T10:15:00+08:00"]["satisfaction"] == 5  # 非常满意
        assert by_time["2026-08-03T10:15:00+08:00"]["satisfaction"] == 2  # 不满意

    async def test_import_reads_satisfaction_1_as_very_dissatisfied(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed_units(session)
        path = tmp_path / "national.csv"
        path.write_text(
            "evalId,deptCode,pf,satisfaction,assessTime\n"
            "N-1,kundulun,1,1,2026-08-03 10:00:00\n"
            "N-2,kundulun,7,5,2026-08-03 11:00:00\n",
            encoding="utf-8",
        )
        await import_ratings(session=session, path=path, tz=TZ, now=NOW, grace_days=30)
        stored = (await session.exec(select(Rating).order_by(col(Rating.source_id)))).all()
        assert [(r.source_id, r.level, r.channel) for r in stored] == [
            ("N-1", "very_dissatisfied", 1),
            ("N-2", "very_satisfied", 7),
        ]
        # 北京时间 without an offset, as the interface writes it.
        assert stored[0].rated_at.replace(tzinfo=UTC) == datetime(2026, 8, 3, 2, tzinfo=UTC)


class TestExport:
    async def test_every_round_is_written_but_replaced_and_excluded_ratings_are_not(
        self, session: AsyncSession
    ) -> None:
        await seed_ratings(session)
        records = list(national.records_of(await export(session)))
        assert [(r["projectNo"], r["assessNumber"], r["pf"]) for r in records] == [
            ("BJ-1", 1, 4), (None, 1, 3), (None, 1, 5), ("BJ-2", 1, 7), ("BJ-1", 2, 2),
        ]  # fmt: skip
        assert [r["isDefault"] for r in records] == [0, 0, 1, 0, 0]
        assert {r["userProp"] for r in records} == {1}
        assert {r["isPublic"] for r in records} == {0}
        assert list(records[0]) == list(national.FIELDS)
        assert records[0]["deptCode"] == "kundulun"
        assert records[0]["deptName"] == "昆都仑区"
        assert records[1]["windowCode"] == "W01"

    async def test_free_text_is_masked(self, session: AsyncSession) -> None:
        await seed_ratings(session)
        for fmt in national.NATIONAL_FORMATS:
            body = await export(session, fmt)
            assert PHONE.encode() not in body, fmt
            assert b"138****5678" in body, fmt
        first = next(national.records_of(await export(session)))
        assert first["writingEvaluation"] == "等了两小时，请打 138****5678 联系我"
        assert first["evalDetail"] == "办事效率；回电 138****5678"

    async def test_csv_has_the_same_records_as_json(self, session: AsyncSession) -> None:
        await seed_ratings(session)
        from_json = list(national.records_of(await export(session, "json")))
        from_csv = csv_records(await export(session, "csv"))
        assert len(from_csv) == len(from_json)
        for row, record in zip(from_csv, from_json, strict=True):
            assert row == {k: "" if v is None else str(v) for k, v in record.items()}

    async def test_audit_status_follows_the_appeal_of_the_case(
        self, session: AsyncSession
    ) -> None:
        made = await seed_ratings(session)
        unit_of = {r.id: r.unit_id for r in (await session.exec(select(Rating))).all()}
        appealing = FollowUpCase(
            rating_id=made["bad"], unit_id=unit_of[made["bad"]], state=CaseState.appealing,
            contact_due=date(2026, 8, 12), rectify_due=date(2026, 8, 25),
        )  # fmt: skip
        rejected = FollowUpCase(
            rating_id=made["first"], unit_id=unit_of[made["first"]],
            state=CaseState.rectifying, contact_due=date(2026, 8, 4),
            rectify_due=date(2026, 8, 18),
        )  # fmt: skip
        session.add_all([appealing, rejected])
        await session.flush()
        session.add(CaseEvent(case_id=pk(rejected), actor="boss", kind="transition",
                              from_state=CaseState.appealing.value,
                              to_state=CaseState.appeal_rejected.value))  # fmt: skip
        await session.flush()
        records = list(national.records_of(await export(session)))
        assert [r["auditStatus"] for r in records] == [2, 1, 1, 3, 1]

    async def test_unit_staff_export_their_units_only(self, session: AsyncSession) -> None:
        await seed_ratings(session)
        unit = (await session.exec(select(Unit).where(Unit.code == "qingshan"))).one()
        staff = Actor(name="li", role=StaffRole.staff, units=frozenset({pk(unit)}))
        file = await national.write_national(
            session=session, actor=staff, period="2026H2", fmt="json", tz=TZ
        )
        assert {r["deptCode"] for r in national.records_of(file.body)} == {"qingshan"}


def stored_view(rows: Sequence[tuple[Rating, str | None, str]]) -> list[tuple[Any, ...]]:
    return sorted(
        (code, r.level, r.channel, r.round, case_no, r.rated_at.replace(tzinfo=None)
         if r.rated_at.tzinfo is None else r.rated_at.astimezone(UTC).replace(tzinfo=None),
         r.is_default, r.window_code, r.item_code, r.comment, tuple(r.reasons))
        for r, case_no, code in rows
    )  # fmt: skip


async def stored(session: AsyncSession) -> list[tuple[Any, ...]]:
    statement = (
        select(Rating, ServiceEvent.case_no, Unit.code)
        .join(Unit, col(Unit.id) == Rating.unit_id)
        .outerjoin(ServiceEvent, col(ServiceEvent.id) == Rating.service_event_id)
    )
    return stored_view(list((await session.exec(statement)).all()))


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", national.NATIONAL_FORMATS)
    async def test_export_then_import_into_a_fresh_database_gives_the_same_ratings(
        self, session: AsyncSession, tmp_path: Path, fmt: national.NationalFormat
    ) -> None:
        made = await seed_ratings(session)
        body = await export(session, fmt)
        kept = [made[n] for n in ("first", "qr", "default", "bad", "second")]
        origin = await stored_rows(session, kept)
        path = tmp_path / f"national.{fmt}"
        path.write_bytes(body)

        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        fresh = create_sessionmaker(engine)
        try:
            async with unit_of_work(fresh) as other:
                await seed_units(other)
                result = await import_ratings(
                    session=other, path=path, tz=TZ, now=NOW, grace_days=30
                )
            assert len(result.created) == 5
            async with fresh() as other:
                assert await stored(other) == origin
            # Imported again: every rating is already there (evalId is the key).
            async with unit_of_work(fresh) as other:
                again = await import_ratings(
                    session=other, path=path, tz=TZ, now=NOW, grace_days=30
                )
            assert (len(again.created), len(again.duplicates)) == (0, 5)
        finally:
            await engine.dispose()


async def stored_rows(session: AsyncSession, ids: list[int]) -> list[tuple[Any, ...]]:
    """The ratings ``ids`` as :func:`stored` shows them, their text as exported (masked)."""
    statement = (
        select(Rating, ServiceEvent.case_no, Unit.code)
        .join(Unit, col(Unit.id) == Rating.unit_id)
        .outerjoin(ServiceEvent, col(ServiceEvent.id) == Rating.service_event_id)
        .where(col(Rating.id).in_(ids))
    )
    rows = []
    for r, case_no, code in (await session.exec(statement)).all():
        shown = r.model_copy(
            update={
                "comment": mask_text(r.comment) if r.comment else None,
                "reasons": [mask_text(x) for x in r.reasons],
            }
        )
        rows.append((shown, case_no, code))
    return stored_view(rows)


class TestImportProblems:
    def write(self, tmp_path: Path, text: str, name: str = "national.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    async def test_bad_codes_are_named_by_row_and_field_and_nothing_is_stored(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed_units(session)
        path = self.write(
            tmp_path,
            "projectNo,deptCode,pf,satisfaction,assessNumber,assessTime,userProp,auditStatus\n"
            "BJ-1,kundulun,1,5,1,2026-08-03 10:00:00,1,1\n"
            "BJ-1,kundulun,1,0,2,2026-08-03 10:00:00,1,1\n"
            ",kundulun,8,6,1,2026-08-03 10:00:00,2,4\n"
            "BJ-1,kundulun,2,3,3,2026-08-03 10:00:00,1,1\n",
        )
        with pytest.raises(InvalidFile) as caught:
            await import_ratings(session=session, path=path, tz=TZ, now=NOW, grace_days=30)
        problems = caught.value.problems
        assert [p.split("：")[0] for p in problems] == [
            "第 3 行 satisfaction 列",
            "第 4 行 satisfaction 列",
            "第 4 行 pf 列",
            "第 4 行 userProp 列",
            "第 4 行 auditStatus 列",
            "第 4 行 projectNo 列",
            "第 5 行 assessNumber 列",
        ]
        assert "“0”不是 satisfaction 代码" in problems[0]
        assert "1 = 非常不满意" in problems[0]
        assert "“6”不是 satisfaction 代码" in problems[1]
        assert "“8”不是 pf 评价渠道代码" in problems[2]
        assert (await session.exec(select(func.count()).select_from(Rating))).one() == 0

    async def test_other_problems_name_the_national_field(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await seed_units(session)
        path = self.write(
            tmp_path,
            "evalId,deptCode,projectNo,pf,satisfaction,assessTime\n"
            "N-1,nowhere,,1,5,2026-08-03 10:00:00\n"
            "N-2,kundulun,BJ-9,1,5,2026-08-03 10:00:00\n"
            "N-3,kundulun,,1,5,yesterday\n"
            "N-3,kundulun,,1,5,2026-08-03 10:00:00\n",
        )
        with pytest.raises(InvalidFile) as caught:
            await import_ratings(session=session, path=path, tz=TZ, now=NOW, grace_days=30)
        assert [p.split("：")[0] for p in caught.value.problems] == [
            "第 2 行 deptCode 列",
            "第 3 行 projectNo 列",
            "第 4 行 assessTime 列",
            "第 5 行 evalId 列",
        ]

    def test_a_header_without_a_required_field_is_refused(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, "projectNo,deptCode,satisfaction\nBJ-1,kundulun,5\n")
        with pytest.raises(InvalidFile) as caught:
            read_ratings_file(path)
        assert caught.value.problems == ["第 1 行：表头缺少必填列：pf、assessTime。"]

    @pytest.mark.parametrize(
        "body",
        [
            [{"projectno": "BJ-1", "DEPTCODE": "kundulun", "pf": 4, "satisfaction": 2,
              "assessTime": "2026-08-03T10:15:00+08:00", "evalDetail": ["办事效率", "服务态度"]}],
            {"data": [{"projectNo": "BJ-1", "deptCode": "kundulun", "pf": "4",
                       "satisfaction": "2", "assessTime": "2026-08-03 10:15:00",
                       "evalDetail": "办事效率,服务态度", "isDefault": False}]},
        ],
    )  # fmt: skip
    async def test_json_as_an_array_or_under_data(
        self, session: AsyncSession, tmp_path: Path, body: object
    ) -> None:
        await seed_units(session)
        path = tmp_path / "national.json"
        path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        await import_ratings(session=session, path=path, tz=TZ, now=NOW, grace_days=30)
        (stored_rating,) = (await session.exec(select(Rating))).all()
        assert stored_rating.source_id == "BJ-1#1"
        assert (stored_rating.level, stored_rating.channel) == ("dissatisfied", 4)
        assert stored_rating.reasons == ["办事效率", "服务态度"]
        assert stored_rating.service_event_id == await event_id(session, "BJ-1")

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("[{", "national.json：national.json 不是有效的 JSON"),
            ('{"rows": []}', "national.json 的内容应为评价记录的数组"),
            ("[1, 2]", "national.json 的内容应为评价记录的数组"),
        ],
    )
    def test_a_json_file_of_another_shape_is_refused(
        self, tmp_path: Path, text: str, problem: str
    ) -> None:
        path = self.write(tmp_path, text, "national.json")
        with pytest.raises(InvalidFile) as caught:
            read_ratings_file(path)
        assert caught.value.problems[0].startswith(problem.split("：")[-1])
