"""``minyi import ratings`` as a real subprocess: a 2nd round of a 办件 in a later file
retires the 1st (kept as history), the same file again only reports duplicates, and a 1st
round arriving after the 2nd is stored inactive."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.api.cli.test_cli import Minyi
from tests.api.cli.test_cli_haochaping import _cover_year

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS = ("--as", "admin")
HEADER = "source_id,unit,level,channel,rated_at,case_no,round"


def _sql(db: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as connection, connection:
        return list(connection.execute(statement, params).fetchall())


def _import(minyi: Minyi, name: str, *rows: str) -> str:
    (minyi.cwd / name).write_text("\n".join([HEADER, *rows]) + "\n", "utf-8")
    result = minyi(*AS, "import", "ratings", name)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_latest_round_counts_across_imported_files(tmp_path: Path) -> None:
    minyi = Minyi(tmp_path)
    for args in (("db", "upgrade"), ("demo", "load"), ("user", "add", "admin", "--role", "admin")):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    now = datetime.now(SHANGHAI)
    _cover_year(minyi.db, now.year)
    ((unit_id,),) = _sql(minyi.db, "SELECT id FROM unit WHERE code = 'spj'")
    _sql(
        minyi.db,
        "INSERT INTO service_event (case_no, item_code, item_name, unit_id, channel, "
        "finished_at, link_token, received_at) VALUES ('BJ-9', 'X1', '企业开办', ?, 4, ?, "
        "'rcpt-cli-9', ?)",
        unit_id,
        (now - timedelta(days=3)).isoformat(),
        now.isoformat(),
    )
    first = (now - timedelta(days=2)).replace(microsecond=0).isoformat()
    second = (now - timedelta(days=1)).replace(microsecond=0).isoformat()

    _import(minyi, "r1.csv", f"F-1,spj,不满意,4,{first},BJ-9,1")
    _import(minyi, "r2.csv", f"F-2,spj,满意,4,{second},BJ-9,2")
    again = _import(minyi, "r2.csv", f"F-2,spj,满意,4,{second},BJ-9,2")
    _import(minyi, "late.csv", f"F-0,spj,基本满意,4,{first},BJ-9,1")

    assert again.startswith("0 rating(s) imported, 1 already imported (skipped)")
    rows = _sql(minyi.db, "SELECT source_id, round, active FROM rating ORDER BY id")
    assert rows == [("F-1", 1, 0), ("F-2", 2, 1), ("F-0", 1, 0)]
    counted = _sql(
        minyi.db,
        "SELECT level, count(*) FROM rating WHERE active AND NOT excluded AND NOT is_default "
        "GROUP BY level",
    )
    assert counted == [("satisfied", 1)]
    assert _sql(minyi.db, "SELECT count(*) FROM follow_up_case") == [(1,)]  # the 1st's 差评
