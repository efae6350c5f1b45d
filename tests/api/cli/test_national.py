"""``minyi import ratings`` of a national-layout file and ``minyi export haochaping``, as real
subprocesses on SQLite: codes mapped both ways, bad codes located, the export audited."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from surveys.core.periods import half_year
from tests.api.cli.test_cli import Minyi
from tests.api.cli.test_cli_haochaping import _cover_year

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS = ("--as", "admin")
PHONE = "13912345678"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Minyi, str]:
    """Demo units, an admin, and two ratings of spj imported from a national JSON file."""
    minyi = Minyi(tmp_path_factory.mktemp("national"))
    for args in (("db", "upgrade"), ("demo", "load"), ("user", "add", "admin", "--role", "admin")):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    # Yesterday 10:00 in Shanghai: inside the current half-year.
    rated = (datetime.now(SHANGHAI) - timedelta(days=1)).replace(hour=10, minute=0, second=0,
                                                                microsecond=0)  # fmt: skip
    _cover_year(minyi.db, rated.year)
    records = [
        {"evalId": "P-1", "deptCode": "spj", "pf": 6, "satisfaction": 1, "assessNumber": 1,
         "assessTime": rated.strftime("%Y-%m-%d %H:%M:%S"),
         "writingEvaluation": f"打了 {PHONE} 没人接"},
        {"evalId": "P-2", "deptCode": "spj", "pf": 3, "satisfaction": 5, "assessNumber": 1,
         "assessTime": (rated + timedelta(minutes=5)).isoformat()},
    ]  # fmt: skip
    (minyi.cwd / "province.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    imported = minyi(*AS, "import", "ratings", "province.json")
    assert imported.returncode == 0, imported.stderr
    assert "2 rating(s) imported" in imported.stdout
    return minyi, half_year(rated.date())[0]


def stored(minyi: Minyi) -> list[tuple[str, str, int]]:
    with closing(sqlite3.connect(minyi.db)) as connection:
        query = "SELECT source_id, level, channel FROM rating ORDER BY source_id"
        rows = connection.execute(query)
        return [(str(s), str(level), int(c)) for s, level, c in rows]


def test_the_import_maps_satisfaction_and_pf(prepared: tuple[Minyi, str]) -> None:
    minyi, _ = prepared
    assert stored(minyi) == [("P-1", "very_dissatisfied", 6), ("P-2", "very_satisfied", 3)]


def test_bad_codes_are_refused_by_row_and_field(
    prepared: tuple[Minyi, str], tmp_path: Path
) -> None:
    minyi, _ = prepared
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "evalId,deptCode,pf,satisfaction,assessTime\n"
        "B-1,spj,8,3,2026-08-03 10:00:00\n"
        "B-2,spj,1,6,2026-08-03 10:00:00\n",
        "utf-8",
    )
    result = minyi(*AS, "import", "ratings", str(bad))
    assert result.returncode == 2
    assert "第 2 行 pf 列：“8”不是 pf 评价渠道代码" in result.stderr
    assert "第 3 行 satisfaction 列：“6”不是 satisfaction 代码" in result.stderr
    assert "Nothing was stored." in result.stderr
    assert [s for s, _, _ in stored(minyi)] == ["P-1", "P-2"]


def test_export_writes_csv_with_bom_and_is_audited(prepared: tuple[Minyi, str]) -> None:
    minyi, period = prepared
    result = minyi(*AS, "export", "haochaping", "--period", period, "--format", "national",
                   "--output", "up.csv")  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = (minyi.cwd / "up.csv").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"))))
    assert [(r["deptCode"], r["pf"], r["satisfaction"], r["assessNumber"]) for r in rows] == [
        ("spj", "6", "1", "1"),
        ("spj", "3", "5", "1"),
    ]
    assert rows[0]["writingEvaluation"] == "打了 139****5678 没人接"
    assert PHONE.encode() not in body
    with closing(sqlite3.connect(minyi.db)) as connection:
        audited = connection.execute(
            "SELECT actor, target, detail FROM audit_event WHERE action = 'export.haochaping'"
        ).fetchall()
    assert [(a, t, json.loads(d)) for a, t, d in audited] == [
        ("admin", period, {"fmt": "national-csv", "rows": 2, "size": len(body)})
    ]


def test_export_defaults_to_json_named_by_the_period(prepared: tuple[Minyi, str]) -> None:
    minyi, period = prepared
    result = minyi(*AS, "export", "haochaping", "--period", period)
    assert result.returncode == 0, result.stderr
    written = minyi.cwd / f"haochaping-{period}-national.json"
    records = json.loads(written.read_text("utf-8"))["data"]
    assert [(r["evalId"].startswith("minyi-"), r["satisfaction"]) for r in records] == [
        (True, 1),
        (True, 5),
    ]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--period", "2026", "--out", "x.json"), "--period '2026'"),
        (("--period", "2026H2", "--type", "xml"), "--type 'xml'"),
        (("--period", "2026H2", "--format", "gbt"), "--format 'gbt'"),
    ],
)
def test_bad_options_are_refused(
    prepared: tuple[Minyi, str], args: tuple[str, ...], problem: str
) -> None:
    minyi, _ = prepared
    result = minyi(*AS, "export", "haochaping", *args)
    assert result.returncode == 2
    assert problem in result.stderr


def test_an_export_needs_an_account(prepared: tuple[Minyi, str]) -> None:
    minyi, period = prepared
    result = minyi("export", "haochaping", "--period", period)
    assert result.returncode == 2
