"""``minyi import ratings`` of a big CSV file, against a raw ``sqlite3`` executemany of the
same rows into the same table.

Run from the repository root::

    .venv/bin/python benchmarks/bench_import.py [--rows N] [--runs N] [--profile]

Made once per run, in a temporary directory:

* a ratings CSV with ``--rows`` rows (default 1,000,000) in the columns ``minyi import
  ratings`` reads: source_id, unit, level (the Chinese labels), channel, rated_at (ISO with
  +08:00, spread over the current half-year up to yesterday), reasons, comment, contact_ok,
  round. Over the 35 demo units; about 8% 差评 (不满意/非常不满意, most with reasons and
  some with a comment), some 系统默认评价 on channel 7, 2% second rounds;
* a database: ``minyi db upgrade``, ``minyi user add bench --role admin`` and ``minyi units
  load`` of the demo units, through the CLI. Every run imports into a fresh copy of it.

Then, ``--runs`` times, alternated, each a subprocess (interpreter start-up included) on its
own copy of the database:

* **minyi**: ``minyi import ratings FILE --max-rows N --max-mb M`` (the limits of an upload
  raised for this file), end to end: reading, validation, idempotency check, the inserts,
  a 差评 follow-up case with its deadlines for each 差评, the audit row, one transaction;
* **baseline**: ``python -c`` with ``sqlite3``: the same PRAGMAs as minyi (WAL,
  ``synchronous=FULL``, foreign keys), ``csv.reader`` over the file, each row turned into the
  stored values (unit id, level code, period, UTC time, reasons as JSON) and
  ``executemany`` into the ``rating`` table (with all its indexes) in one transaction.

Printed: rows/s of both (median run), the ratio minyi/baseline, peak RSS of both (the child's
``ru_maxrss`` from ``os.wait4``). Targets: ratio ≥ 0.3, minyi peak ≤ 500 MB. The stored rows
and cases are counted after each run; a wrong count fails the benchmark (exit status 1), a
missed target gives exit status 3. ``--profile`` runs minyi once more under cProfile and
prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring.demo import survey as demo  # noqa: E402
from surveys.core.settings import DEFAULT_RATING_REASONS  # noqa: E402

BIN = Path(sys.executable).parent
MINYI = BIN / "minyi"
TZ = ZoneInfo("Asia/Shanghai")
TARGET_RATIO = 0.3
TARGET_MEMORY_MB = 500
SEED = 14
LABELS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
LEVEL_WEIGHTS = (60, 25, 7, 5, 3)  # 8% 差评
BAD = frozenset({"不满意", "非常不满意"})
COMMENTS = ("等了很久才办完", "窗口人员态度不好", "材料要求说明不清楚", "系统经常卡顿")
HEADER = "source_id,unit,level,channel,rated_at,reasons,comment,contact_ok,round,is_default"

# Runs the baseline: argv = database, CSV file, tz name. Prints the rows stored.
BASELINE = r"""
import csv, json, sqlite3, sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
db, path, tz = sys.argv[1], sys.argv[2], ZoneInfo(sys.argv[3])
con = sqlite3.connect(db, isolation_level=None)
for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
    con.execute(f"PRAGMA {pragma}")
units = dict(con.execute("SELECT code, id FROM unit"))
levels = {"非常满意": "very_satisfied", "满意": "satisfied", "基本满意": "neutral",
          "不满意": "dissatisfied", "非常不满意": "very_dissatisfied"}
now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

def rows():
    with open(path, encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle)
        next(records)
        for sid, unit, level, channel, rated, reasons, comment, contact, rnd, default in records:
            at = datetime.fromisoformat(rated)
            local = at.astimezone(tz)
            period = f"{local.year}H{1 if local.month <= 6 else 2}"
            yield ("file", sid, units[unit], int(channel), levels[level],
                   json.dumps([r for r in reasons.split(";") if r], ensure_ascii=False),
                   comment or None, contact == "是", int(rnd), default == "是", period,
                   at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), now)

con.execute("BEGIN IMMEDIATE")
con.executemany(
    "INSERT INTO rating (source, source_id, unit_id, channel, level, reasons, comment,"
    " contact_ok, round, is_default, period, rated_at, received_at, active, excluded)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0)",
    rows(),
)
con.execute("COMMIT")
print(con.execute("SELECT count(*) FROM rating").fetchone()[0])
"""

# Linux keeps a process's peak RSS across fork and exec, so a child of this process would
# report at least our own peak: each command is started by this small wrapper, which times
# it and reads its rusage (as in bench_scoring.py).
WRAPPER = """
import os, subprocess, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
child = subprocess.Popen(command)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(report, "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    stdout: str


# --- The file and the database ---------------------------------------------------------


def half_year_start(today: date) -> date:
    return date(today.year, 1 if today.month <= 6 else 7, 1)


def write_csv(path: Path, rows: int, units: Sequence[str], seed: int) -> dict[str, int]:
    """The ratings file; returns what it holds (rows, 差评 that open a case)."""
    rng = random.Random(seed)
    today = datetime.now(TZ).date()
    start = datetime.combine(half_year_start(today), datetime.min.time(), TZ)
    span = int((datetime.combine(today, datetime.min.time(), TZ) - start).total_seconds())
    if span < 86_400:
        raise SystemExit("the half-year began today: run the benchmark tomorrow")
    counts = {"rows": rows, "bad": 0}
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        lines = []
        for n in range(rows):
            level = rng.choices(LABELS, LEVEL_WEIGHTS)[0]
            channel = rng.randint(1, 7)
            default = channel == 7 and rng.random() < 0.5
            reasons = comment = ""
            if level in BAD:
                reasons = ";".join(rng.sample(DEFAULT_RATING_REASONS, rng.randint(1, 2)))
                comment = rng.choice(COMMENTS) if rng.random() < 0.3 else ""
                counts["bad"] += not default
            at = start + timedelta(seconds=rng.randrange(span))
            lines.append(
                f"B-{n:08d},{rng.choice(units)},{level},{channel},{at.isoformat()},{reasons},"
                f"{comment},{'是' if rng.random() < 0.4 else '否'},"
                f"{2 if rng.random() < 0.02 else 1},{'是' if default else '否'}\n"
            )
            if len(lines) == 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    return counts


def minyi_env(db: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{db.as_posix()}",
        DATA_DIR=str(data_dir),
        SECRET_KEY="benchmark-secret-key",
        REDIS_URL="",
        MINYI_USER="bench",
    )
    return env


def minyi(args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(MINYI), *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"minyi {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def build_database(db: Path, data_dir: Path) -> list[str]:
    """Migrated, the first account, the demo units; returns the active unit codes."""
    env = minyi_env(db, data_dir)
    first = {k: v for k, v in env.items() if k != "MINYI_USER"}
    minyi(["db", "upgrade"], first)
    minyi(["user", "add", "bench", "--role", "admin"], first)  # the first account
    minyi(["units", "load", str(demo.UNITS_CSV)], env)
    with sqlite3.connect(db) as con:
        return [code for (code,) in con.execute("SELECT code FROM unit WHERE active")]


def copy_database(template: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)


def counted(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as con:
        ratings = con.execute("SELECT count(*) FROM rating").fetchone()[0]
        cases = con.execute("SELECT count(*) FROM follow_up_case").fetchone()[0]
        events = con.execute("SELECT count(*) FROM case_event WHERE kind = 'opened'").fetchone()[0]
    return ratings, cases, events


# --- Measuring ------------------------------------------------------------------------


def measured(command: Sequence[str], env: dict[str, str]) -> Run:
    """Wall time and peak memory (``ru_maxrss``) of one command; exits when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report"
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(report), *command],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds, max_rss_kb, code = report.read_text().split()
    if int(code) != 0 or done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} … failed ({code}):\n{done.stderr[-3000:]}")
    return Run(float(seconds), int(max_rss_kb) / 1024, done.stdout)


def import_command(path: Path, rows: int) -> list[str]:
    megabytes = path.stat().st_size // (1024 * 1024) + 1
    return [str(MINYI), "import", "ratings", str(path), "--max-rows", str(rows + 1),
            "--max-mb", str(megabytes)]  # fmt: skip


def bench(rows: int, runs: int, profile: bool, top: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        tmp = Path(folder)
        template = tmp / "template.sqlite"
        started = time.perf_counter()
        units = build_database(template, tmp)
        path = tmp / "ratings.csv"
        held = write_csv(path, rows, units, SEED)
        size = path.stat().st_size / (1024 * 1024)
        print(
            f"{rows:,} ratings ({held['bad']:,} 差评 that open a case), {size:.0f} MB CSV, "
            f"{len(units)} units; made in {time.perf_counter() - started:.0f} s"
        )
        minyi_runs: list[Run] = []
        base_runs: list[Run] = []
        for index in range(runs):
            db = tmp / "minyi.sqlite"
            copy_database(template, db)
            minyi_runs.append(measured(import_command(path, rows), minyi_env(db, tmp)))
            stored = counted(db)
            if stored != (rows, held["bad"], held["bad"]):
                raise SystemExit(f"minyi stored (ratings, cases, events) {stored}, not {held}")
            base = tmp / "baseline.sqlite"
            copy_database(template, base)
            base_runs.append(
                measured([sys.executable, "-c", BASELINE, str(base), str(path), str(TZ)], {})
            )
            if counted(base)[0] != rows:
                raise SystemExit(f"the baseline stored {counted(base)[0]} ratings, not {rows}")
            print(
                f"  run {index + 1}: minyi {minyi_runs[-1].seconds:.1f} s, "
                f"baseline {base_runs[-1].seconds:.1f} s"
            )
        print(f"  minyi said: {minyi_runs[0].stdout.strip()}")
        status = report(rows, runs, minyi_runs, base_runs)
        if profile:
            profiled(path, rows, template, tmp, top)
    return status


def report(rows: int, runs: int, minyi_runs: list[Run], base_runs: list[Run]) -> int:
    minyi_s = statistics.median(r.seconds for r in minyi_runs)
    base_s = statistics.median(r.seconds for r in base_runs)
    ratio = (rows / minyi_s) / (rows / base_s)
    memory = max(r.max_rss_mb for r in minyi_runs)
    base_memory = max(r.max_rss_mb for r in base_runs)
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    memory_met = "met" if memory <= TARGET_MEMORY_MB else "NOT met"
    print(f"\n{rows:,} ratings, median of {runs} run(s) (each a subprocess, start-up included):")
    print(
        f"  minyi import ratings  {minyi_s:7.1f} s  {rows / minyi_s:9,.0f} rows/s"
        f"  peak RSS {memory:6.0f} MB"
    )
    print(
        f"  raw executemany       {base_s:7.1f} s  {rows / base_s:9,.0f} rows/s"
        f"  peak RSS {base_memory:6.0f} MB"
    )
    print(f"  ratio minyi/baseline rows/s = {ratio:.2f}  (target >= {TARGET_RATIO:g}: {met})")
    print(f"  minyi peak memory {memory:.0f} MB  (target <= {TARGET_MEMORY_MB} MB: {memory_met})")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; load average {load}"
    )
    return 0 if ratio >= TARGET_RATIO and memory <= TARGET_MEMORY_MB else 3


def profiled(path: Path, rows: int, template: Path, tmp: Path, top: int) -> None:
    """One more minyi run under cProfile; the top functions by cumulative time."""
    db = tmp / "profiled.sqlite"
    copy_database(template, db)
    stats = tmp / "import.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats), str(MINYI),
               *import_command(path, rows)[1:]]  # fmt: skip
    subprocess.run(command, env=minyi_env(db, tmp), cwd=REPO, check=True, capture_output=True)
    import pstats

    print(f"\ncProfile of one minyi run, top {top} by cumulative time:")
    pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ratings in the file")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side (median)")
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile")
    parser.add_argument("--top", type=int, default=30, help="functions the profile lists")
    args = parser.parse_args(argv)
    if not MINYI.exists():
        raise SystemExit(f"{MINYI} is missing: make the virtual environment first")
    return bench(args.rows, args.runs, args.profile, args.top)


if __name__ == "__main__":
    sys.exit(main())
