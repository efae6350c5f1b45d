"""The 差评 台账 (ledger) of every case, as an administrator downloads it, against a bare
baseline measured in the same run: sqlite3 reading the same statement's rows and csv.writer
writing them (no masking, no labels, no working days, no spreadsheet).

    .venv/bin/python benchmarks/bench_ledger.py [--db var/bench/<file>.sqlite]

The database is a copy of a generated one (bench_scoring.py's, default the 5,000,000-rating
file with 100,000 cases when present), migrated to head in a temporary folder. Prints the
figures of each run and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from surveys.accounts.access import Actor, StaffRole  # noqa: E402
from surveys.cases import ledger  # noqa: E402
from surveys.cases.queries import QueueFilters  # noqa: E402
from surveys.cases.workdays import SHANGHAI, load_calendar  # noqa: E402
from surveys.core import migrate  # noqa: E402
from surveys.core.db import create_engine, create_sessionmaker, read_only  # noqa: E402

BENCH = REPO / "var" / "bench"
DEFAULT = ("scoring-g3-r5000000-a1000000-s7.sqlite", "scoring-g3-r200000-a40000-s7.sqlite")
ADMIN = Actor(name="bench", role=StaffRole.admin, units=None)
ON = date(2026, 11, 30)


def _copy(source: Path, folder: Path) -> Path:
    copy = folder / "ledger.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate.upgrade, f"sqlite+aiosqlite:///{copy}", "head").result()
    return copy


def _baseline(db: Path) -> tuple[float, int, int]:
    """sqlite3 and csv.writer over the ledger's own statement, compiled for SQLite."""
    statement = ledger._statement([])
    sql = str(statement.compile(compile_kwargs={"literal_binds": True}))
    started = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = 0
    with sqlite3.connect(db) as connection:
        for row in connection.execute(sql):
            writer.writerow(row)
            rows += 1
    return time.perf_counter() - started, rows, len(buffer.getvalue().encode())


async def _ledger(db: Path, fmt: ledger.TableFormat) -> tuple[float, int, int]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with read_only(create_sessionmaker(engine)) as session:
            started = time.perf_counter()
            calendar = await load_calendar(session=session)
            file = await ledger.write_ledger(
                session=session, actor=ADMIN, filters=QueueFilters(), fmt=fmt, on=ON,
                tz=SHANGHAI, calendar=calendar,
            )  # fmt: skip
            return time.perf_counter() - started, file.rows, len(file.body)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    source = args.db or next((BENCH / n for n in DEFAULT if (BENCH / n).exists()), None)
    if source is None:
        raise SystemExit("no generated database: run benchmarks/bench_scoring.py first")
    with tempfile.TemporaryDirectory() as folder:
        db = _copy(source, Path(folder))
        base, rows, size = _baseline(db)
        print(f"baseline sqlite3+csv: {rows} rows in {base:.2f} s ({size / 1e6:.1f} MB)")
        for fmt in ("csv", "xlsx"):
            took, n, size = asyncio.run(_ledger(db, fmt))
            assert n == rows, (n, rows)
            print(f"ledger {fmt}: {n} rows in {took:.2f} s ({size / 1e6:.1f} MB), "
                  f"{took / base:.1f}x the baseline")  # fmt: skip


if __name__ == "__main__":
    main()
