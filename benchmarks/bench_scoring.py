"""``minyi score`` on a big SQLite database, against a bare pandas group-by of the same counts.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scoring.py [--small] [--runs N] [--fresh]

The database is made once and cached under ``var/bench/`` (keyed by the generator version and
the sizes), so later runs start at once; ``--fresh`` rebuilds it:

* ``minyi db upgrade`` with ``DATABASE_URL`` pointing at the file (the real schema), the
  benchmark's admin account ``bench`` (``minyi user add``; every later CLI step acts as it),
  then ``minyi units load`` (the 35 demo units and 25 generated ones) and ``minyi survey load``
  (the demo survey for both halves of 2026);
* 5,000,000 好差评 ratings and about 1,000,000 survey answers (completed responses of the demo
  survey, answered along its skip logic; 3% of the responses left unfinished) over the 60 units
  and the two halves, written with the ``sqlite3`` module: ``executemany`` in big transactions,
  ``journal_mode=OFF`` and ``synchronous=OFF`` during generation only, the secondary indexes
  dropped first and made again from their own ``CREATE INDEX`` text afterwards. Unit mixes
  differ (some units clearly better), with 差评 reasons, 系统默认评价, 申诉成立 exclusions and
  inactive first rounds, as in ``scoring.demo_data``;
* (generator version 4) 500,000 12345 回访 (one per 10 ratings) the same way, from their own
  seed: spread over the units and both halves, answered or 无法联系 (some after too few calls,
  flagged), 是否联系 / 是否解决 / 满意·基本满意·不满意 following each unit's quality, about 3%
  of 工单 visited again after 重办 (round 1 kept inactive); and one outside poll per half-year
  (a score and n per unit) through ``minyi import outside``. A cached file of version 3 of the
  same sizes is copied and extended rather than rebuilt.

Then, in the same run, each side is a subprocess (interpreter start-up included), alternated,
``--runs`` times (median reported), each on the same file:

* **minyi**: ``minyi score --period 2026H1 --out <tmpdir>`` acting as ``bench``, end to end
  (method file, queries, computation, the xlsx/csv/json exports);
* **baseline**: ``python -c`` with pandas: plain SQL (``sqlite3``) for the rows minyi counts and
  ``groupby`` for the counting, without minyi's arithmetic: the valid ratings per unit and level
  (active, not default, not excluded, not of source hotline); the satisfaction answers of the
  counted questions per respondent (answers, points, points²), then per unit (respondents and
  the sums minyi's survey tally holds); the 12345 回访 tallies of the active visits per unit;
  the current outside results.

After the first run, minyi's per-unit n of each source (rating, survey, 12345 回访, outside) in
its JSON export must equal the baseline's counts, or the benchmark stops with the differences.
Peak memory is the child's ``ru_maxrss`` from ``os.wait4``. Targets: ratio minyi/baseline
≤ 1.5, peak memory ≤ 1 GB. The exit status is non-zero when ``minyi score`` is missing or fails,
3 when a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring.demo import survey as demo
from scoring.demo.generate import (
    BAD_COMMENTS,
    CHANNEL_WEIGHTS,
    DEFAULT_SHARE_ON_7,
    ITEMS,
    MONITORING_COMPONENTS,
    _level_weights,
    demo_monitoring_rows,
    unit_quality,
)
from scoring.method import load_method
from scoring.periods import utc_bounds
from surveys.accounts.units import parse_units_csv
from surveys.core.settings import DEFAULT_RATING_REASONS
from surveys.questionnaire.definitions import Level, QuestionType, SurveyDefinition

GENERATOR_VERSION = 4  # 4: 12345 回访 and an outside poll; a version-3 file is extended
EXTENDS = 3  # the generator version whose file version 4 extends (copied, then added to)
CACHE_DIR = REPO / "var" / "bench"
BIN = Path(sys.executable).parent
MINYI = BIN / "minyi"
PERIODS = ("2026H1", "2026H2")
EXTRA_UNITS = 25
FULL = (5_000_000, 1_000_000)
SMALL = (50_000, 10_000)
TARGET_RATIO = 1.5
TARGET_MEMORY_MB = 1024
ACCOUNT = "bench"  # the admin account the CLI acts as (made with the database)
VISITS_PER = 10  # one 12345 回访 per this many ratings: 500,000 for 5,000,000
CHUNK = 250_000
SEED = 7
TZ = ZoneInfo("Asia/Shanghai")
LEVELS = [level.value for level in Level]
BAD = (3, 4)  # indexes of 不满意 and 非常不满意 in LEVELS
SHARE_IN_PROGRESS = 0.03
CASES_PER = 50  # one 差评 case per this many ratings: 100,000 cases for 5,000,000 ratings
CASE_STATES = ("待核实", "核实中", "整改中", "已反馈", "已复评", "已关闭", "不属实")
CASE_STATE_WEIGHTS = (10, 8, 12, 15, 20, 30, 5)

# The same counts as minyi gathers (scoring.aggregate.gather_inputs), with plain SQL for the
# rows and pandas for the grouping: valid ratings per unit and level; satisfaction answers
# per respondent (m answers, s points, q points²), then per unit; the 12345 回访 tallies of
# the active visits; the current outside results. Prints the per-unit n's as JSON.
BASELINE = """
import json, sqlite3, sys
import pandas as pd
db, period, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
con = sqlite3.connect(db)
ratings = pd.read_sql(
    "SELECT unit_id, level FROM rating WHERE period = ? AND active = 1 AND is_default = 0"
    " AND excluded = 0 AND source != 'hotline'",
    con, params=(period,),
)
levels = ratings[ratings.level.isin(spec["levels"])].groupby(["unit_id", "level"]).size()
by_unit = levels.groupby(level=0).sum()
pairs = " OR ".join(
    f"(r.survey_version_id = {int(v)} AND a.question_key IN ({','.join('?' * len(keys))}))"
    for v, keys in spec["questions"]
)
answers = pd.read_sql(
    "SELECT a.response_id, r.unit_id, a.choice FROM answer a"
    " JOIN response r ON r.id = a.response_id WHERE r.period = ? AND r.unit_id IS NOT NULL"
    + (" AND r.status = 'completed'" if spec["completed"] else "")
    + f" AND a.choice IN ({','.join('?' * len(spec['levels']))})"
    + " AND a.answered_at >= ? AND a.answered_at < ?"
    + f" AND ({pairs})",
    con,
    params=(period, *spec["levels"], spec["start"], spec["end"],
            *(k for _, keys in spec["questions"] for k in keys)),
)
answers["s"] = answers.choice.map(spec["points"])
answers["q"] = answers.s * answers.s
person = answers.groupby(["unit_id", "response_id"]).agg(
    m=("s", "size"), s=("s", "sum"), q=("q", "sum")
)
person["y"] = person.s / person.m
person["ss"], person["mm"], person["sm"] = person.s ** 2, person.m ** 2, person.s * person.m
person["yy"] = person.y ** 2
people = person.groupby(level=0).agg(
    R=("m", "size"), M=("m", "sum"), S=("s", "sum"), SS=("ss", "sum"), MM=("mm", "sum"),
    SM=("sm", "sum"), Y=("y", "sum"), YY=("yy", "sum"), Q=("q", "sum"),
)
visits = pd.read_sql(
    "SELECT unit_id, outcome, contacted, resolved, satisfaction, short_attempts"
    " FROM hotline_visit WHERE period = ? AND active = 1",
    con, params=(period,),
)
reached = visits.outcome == "answered"
answered = reached & visits.satisfaction.notna()
hotline = pd.DataFrame({
    "unit_id": visits.unit_id, "visits": 1, "reached": reached,
    "contacted": reached & (visits.contacted == 1), "answered": answered,
    "resolved": answered & (visits.resolved == 1),
    "satisfied": reached & (visits.satisfaction == "满意"),
    "basic": reached & (visits.satisfaction == "基本满意"),
    "dissatisfied": reached & (visits.satisfaction == "不满意"),
    "short": visits.short_attempts == 1,
}).groupby("unit_id").sum()
outside = pd.read_sql(
    "SELECT s.unit_id, s.score, s.n FROM outside_score s JOIN outside_import i"
    " ON i.id = s.import_id WHERE i.period = ? AND i.superseded_at IS NULL",
    con, params=(period,),
).groupby("unit_id").agg(n=("n", "sum"))
print(json.dumps({
    "rows": [len(ratings), len(answers), len(visits)],
    "rating": {int(u): int(n) for u, n in by_unit.items()},
    "survey": {int(u): int(n) for u, n in people.R.items()},
    "hotline": {int(u): int(n) for u, n in hotline.answered.items()},
    "outside": {int(u): int(n) for u, n in outside.n.items()},
}))
"""


# --- The database -------------------------------------------------------------------------


def cache_path(ratings: int, answers: int, seed: int, version: int = GENERATOR_VERSION) -> Path:
    return CACHE_DIR / f"scoring-g{version}-r{ratings}-a{answers}-s{seed}.sqlite"


def minyi_env(db: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SCORING_METHOD_FILE",)}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{db.as_posix()}",
        DATA_DIR=str(data_dir),
        SECRET_KEY="benchmark-secret-key",
        REDIS_URL="",
    )
    return env


def minyi(args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(MINYI), *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"minyi {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def build(db: Path, ratings: int, answers: int, seed: int) -> None:
    """Make the database at ``db`` (through a temporary name, so a cut run leaves nothing).

    When the previous generator version's file of the same sizes and seed is cached, it is
    copied and only what the new version adds is written into the copy (12345 回访 and the
    outside poll, from their own seeds: the same rows as a full build makes).
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = db.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    older = cache_path(ratings, answers, seed, EXTENDS)
    with tempfile.TemporaryDirectory() as tmp:
        env = minyi_env(partial, Path(tmp))
        if older != db and _extendable(older):
            started = time.perf_counter()
            copy_database(older, partial)
            minyi(["db", "upgrade"], env)
            env["MINYI_USER"] = ACCOUNT
            print(
                f"copied {older.relative_to(REPO)} (generator version {EXTENDS}) and migrated "
                f"it: {time.perf_counter() - started:.1f} s"
            )
        else:
            base(partial, env, Path(tmp), ratings, answers, seed)
        extend(partial, env, Path(tmp), ratings // VISITS_PER, seed)
    partial.rename(db)


def _extendable(path: Path) -> bool:
    """A cached file of the previous version, made with the benchmark's account."""
    if not path.exists():
        return False
    con = sqlite3.connect(path)
    try:
        found = con.execute(
            "SELECT 1 FROM staff_user WHERE username = ? AND role = 'admin'", (ACCOUNT,)
        ).fetchone()
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return found is not None


def copy_database(source_path: Path, target_path: Path) -> None:
    """A consistent copy (also of a file in WAL mode), through SQLite's backup."""
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def base(db: Path, env: dict[str, str], tmp: Path, ratings: int, answers: int, seed: int) -> None:
    """Schema, account, units, surveys and monitoring through the CLI, then the rows of
    generator version 3 (ratings, 差评 cases, survey answers). Leaves ``env`` acting as the
    benchmark's account."""
    started = time.perf_counter()
    minyi(["db", "upgrade"], env)
    minyi(["user", "add", ACCOUNT, "--role", "admin"], env)  # the first account
    env["MINYI_USER"] = ACCOUNT  # the account the writes below are done as
    units_csv = tmp / "units.csv"
    units_csv.write_text(units_text(), "utf-8")
    minyi(["units", "load", str(units_csv)], env)
    for period in PERIODS:
        survey = tmp / f"survey-{period}.yaml"
        survey.write_text(survey_yaml(period), "utf-8")
        minyi(["survey", "load", str(survey)], env)
    for period in PERIODS:
        for code, component in MONITORING_COMPONENTS.items():
            scores = tmp / f"{code}-{period}.csv"
            scores.write_text(monitoring_csv(period, code), "utf-8")
            minyi(
                ["import", "monitoring", str(scores), "--period", period]
                + ["--component", component],
                env,
            )
    setup = time.perf_counter() - started
    print(f"schema, units, surveys and monitoring imports through the minyi CLI: {setup:.1f} s")
    Generator(db, seed).run(ratings, answers)


def extend(db: Path, env: dict[str, str], tmp: Path, visits: int, seed: int) -> None:
    """What generator version 4 adds: ``visits`` 12345 回访 (sqlite3) and one outside poll
    per half-year (``minyi import outside``, one score per unit)."""
    started = time.perf_counter()
    stored = HotlineGenerator(db, seed).run(visits)
    written = time.perf_counter() - started
    started = time.perf_counter()
    for period in PERIODS:
        poll = tmp / f"outside-{period}.csv"
        poll.write_text(outside_csv(period, seed), "utf-8")
        minyi(
            ["import", "outside", str(poll), "--period", period]
            + ["--source", OUTSIDE_SOURCE, "--note", OUTSIDE_NOTE],
            env,
        )
    imported = time.perf_counter() - started
    print(
        f"generated {stored:,} 12345 回访 in {written:.1f} s; outside poll of both halves "
        f"through the minyi CLI: {imported:.1f} s"
    )


def units_text() -> str:
    """The demo units plus generated 市直部门 and 旗县区-like units, as a units CSV."""
    lines = demo.UNITS_CSV.read_text("utf-8").rstrip("\n").splitlines()
    for n in range(1, EXTRA_UNITS + 1):
        kind = "旗县区" if n % 5 == 0 else "市直部门"
        lines.append(f"bench{n:02d},基准测试单位{n:02d},{kind},yes")
    return "\n".join(lines) + "\n"


def monitoring_csv(period: str, code: str) -> str:
    """The demo monitoring scores of every unit (demo and generated) for one component."""
    units = parse_units_csv(units_text(), source="benchmark units")
    rows = demo_monitoring_rows(period, code, units=units)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def survey_yaml(period: str) -> str:
    first_day = date(int(period[:4]), 1 if period.endswith("H1") else 7, 1)
    definition = demo.demo_survey(first_day)
    return yaml.safe_dump(
        definition.model_dump(mode="json", by_alias=True, exclude_none=True), allow_unicode=True
    )


# --- Generation ---------------------------------------------------------------------------


@dataclass
class Unit:
    id: int
    code: str
    kind: str


def _timestamps(rng: np.random.Generator, period: str, count: int) -> list[str]:
    """Sorted office-hour moments in the half-year, as SQLAlchemy stores them on SQLite (UTC)."""
    first = date(int(period[:4]), 1 if period.endswith("H1") else 7, 1)
    days = rng.integers(0, 181, count)
    seconds = rng.integers(int(8.5 * 3600), 18 * 3600, count)
    start = datetime(first.year, first.month, 1, tzinfo=TZ).astimezone(UTC)
    offsets = np.sort(days * 86400 + seconds)
    return [
        (start + timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S.000000")
        for s in offsets.tolist()
    ]


class Generator:
    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.con = sqlite3.connect(path, isolation_level=None)
        self.units = [
            Unit(*row) for row in self.con.execute("SELECT id, code, kind FROM unit ORDER BY id")
        ]
        self.versions = {
            period: (survey_id, version_id)
            for survey_id, version_id, period in self.con.execute(
                "SELECT survey_id, id, period FROM survey_version"
            )
        }
        quality = np.array([unit_quality(u.code, seed) for u in self.units])
        weights = np.array([_level_weights(q) for q in quality])
        self.level_cdf = np.cumsum(weights, axis=1)
        self.quality = quality
        # Districts see more citizens than a department; a few units see many more.
        volume = np.array([3.0 if u.kind != "市直部门" else 1.0 for u in self.units])
        volume *= self.rng.uniform(0.5, 1.5, len(self.units))
        self.volume = volume / volume.sum()

    def run(self, ratings: int, answers: int) -> None:
        con = self.con
        for table in ("rating", "response", "answer", "respondent", "follow_up_case"):
            (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count:
                raise SystemExit(f"{self.path}: table {table} is not empty")
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('rating', 'response', 'answer', 'respondent', 'follow_up_case',"
            " 'case_event')"
        ).fetchall()
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-400000")  # 400 MB while indexes are built
        con.execute("PRAGMA temp_store=MEMORY")
        for name, _ in indexes:
            con.execute(f"DROP INDEX {name}")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        self.ratings(ratings)
        timings["ratings"] = time.perf_counter() - started
        started = time.perf_counter()
        cases = self.cases(ratings // CASES_PER)
        timings["cases"] = time.perf_counter() - started
        started = time.perf_counter()
        responses, stored = self.responses(answers)
        timings["answers"] = time.perf_counter() - started
        started = time.perf_counter()
        for _, sql in indexes:
            con.execute(sql)
        timings["indexes"] = time.perf_counter() - started
        con.execute("PRAGMA journal_mode=WAL")  # as minyi's engine keeps it
        con.close()
        total = sum(timings.values())
        size = self.path.stat().st_size / 2**20
        print(
            f"generated {ratings:,} ratings in {timings['ratings']:.1f} s, {cases:,} 差评 cases "
            f"in {timings['cases']:.1f} s, {stored:,} answers "
            f"({responses:,} responses) in {timings['answers']:.1f} s, indexes in "
            f"{timings['indexes']:.1f} s: {total:.1f} s, {size:,.0f} MB"
        )

    # Ratings -----------------------------------------------------------------------------

    def ratings(self, total: int) -> None:
        columns = (
            "source, source_id, unit_id, item_code, item_name, window_code, channel, level, "
            "reasons, comment, contact_ok, round, is_default, active, excluded, period, "
            "rated_at, received_at"
        )
        sql = f"INSERT INTO rating ({columns}) VALUES ({', '.join('?' * 18)})"
        counter = itertools.count(1)
        for period in PERIODS:
            share = total // len(PERIODS) + (total % len(PERIODS) if period == PERIODS[0] else 0)
            for size in _sizes(share):
                self.con.execute("BEGIN")
                self.con.executemany(sql, self._rating_rows(period, size, counter))
                self.con.execute("COMMIT")

    def _rating_rows(
        self, period: str, size: int, counter: Iterator[int]
    ) -> Iterable[tuple[Any, ...]]:
        rng = self.rng
        unit = rng.choice(len(self.units), size, p=self.volume)
        draw = rng.random(size)
        level = (draw[:, None] > self.level_cdf[unit]).sum(axis=1).clip(0, 4)
        channel_codes = np.array(list(CHANNEL_WEIGHTS))
        weights = np.array(list(CHANNEL_WEIGHTS.values()), dtype=float)
        channel = channel_codes[rng.choice(len(channel_codes), size, p=weights / weights.sum())]
        default = (channel == 7) & (rng.random(size) < DEFAULT_SHARE_ON_7)
        level[default] = 0
        bad = np.isin(level, BAD) & ~default
        excluded = bad & (rng.random(size) < 0.01)
        rerated = bad & ~excluded & (rng.random(size) < 0.05)  # first round, replaced later
        second = ~bad & ~default & (rng.random(size) < 0.003)
        contact = bad & (rng.random(size) < 0.6)
        item = rng.integers(0, len(ITEMS), size)
        window = np.where(np.isin(channel, (4, 5)), rng.integers(1, 9, size), 0)
        reason_pool = _reason_pool()
        reasons = np.where(bad, rng.integers(1, len(reason_pool), size), 0)
        comment = np.where(bad & (rng.random(size) < 0.4), rng.integers(0, 5, size), -1)
        moments = _timestamps(rng, period, size)
        unit_ids = [self.units[i].id for i in unit.tolist()]
        item_codes = [ITEMS[i][0] for i in item.tolist()]
        item_names = [ITEMS[i][1] for i in item.tolist()]
        windows = [f"W{w:02d}" if w else None for w in window.tolist()]
        comments = [BAD_COMMENTS[c] if c >= 0 else None for c in comment.tolist()]
        return zip(
            itertools.repeat("file"),
            (f"bench-{n:09d}" for n in counter),
            unit_ids,
            item_codes,
            item_names,
            windows,
            channel.tolist(),
            [LEVELS[i] for i in level.tolist()],
            [reason_pool[i] for i in reasons.tolist()],
            comments,
            contact.astype(int).tolist(),
            (second.astype(int) + 1).tolist(),
            default.astype(int).tolist(),
            (~rerated).astype(int).tolist(),
            excluded.astype(int).tolist(),
            itertools.repeat(period),
            moments,
            moments,
            strict=False,
        )

    # 差评 cases ---------------------------------------------------------------------------

    def cases(self, goal: int) -> int:
        """Cases for up to ``goal`` counted 差评, in every state of the loop, with their events.

        Deadlines are calendar-day approximations (核实 2 days, 整改 7 days after the rating):
        the pages read them as stored. 已反馈 and the states after it carry their transition
        event, some of them after the 整改 deadline (late).
        """
        con = self.con
        bad_levels = tuple(LEVELS[i] for i in BAD)
        candidates = con.execute(
            "SELECT id, unit_id, rated_at FROM rating WHERE level IN (?, ?)"
            " AND is_default = 0 AND excluded = 0 AND active = 1 ORDER BY id",
            bad_levels,
        ).fetchall()
        if not candidates:
            return 0
        rng = self.rng
        chosen = np.sort(rng.choice(len(candidates), min(goal, len(candidates)), replace=False))
        states = np.array(CASE_STATES)
        weights = np.array(CASE_STATE_WEIGHTS, dtype=float)
        picked = rng.choice(len(states), len(chosen), p=weights / weights.sum())
        late = rng.random(len(chosen)) < 0.15
        size = len(chosen)
        reply_days = np.where(late, rng.integers(8, 20, size), rng.integers(1, 7, size))
        rerating = rng.choice(len(LEVELS), len(chosen))
        case_rows = []
        event_rows: list[tuple[int, str, str, str | None, str, str]] = []
        picks = zip(
            chosen.tolist(), picked.tolist(), reply_days.tolist(), rerating.tolist(), strict=True
        )
        for case_id, (index, state_index, days, rerate) in enumerate(picks, start=1):
            rating_id, unit_id, rated_at = candidates[index]
            opened = datetime.strptime(rated_at + "+0000", "%Y-%m-%d %H:%M:%S.%f%z")
            local = opened.astimezone(TZ).date()
            state = str(states[state_index])
            replied = state in ("已反馈", "已复评", "已关闭")
            case_rows.append(
                (
                    case_id, rating_id, unit_id, state,
                    (local + timedelta(days=2)).isoformat(),
                    (local + timedelta(days=7)).isoformat(),
                    LEVELS[rerate] if state == "已复评" else None,
                    rated_at,
                    rated_at if state in ("已关闭", "不属实") else None,
                )
            )  # fmt: skip
            event_rows.append((case_id, "system", "opened", None, "待核实", rated_at))
            if replied:
                at = (opened + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f")
                event_rows.append((case_id, "bench", "transition", "整改中", "已反馈", at))
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO follow_up_case (id, rating_id, unit_id, state, contact_due,"
            " rectify_due, rerating, opened_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            case_rows,
        )
        con.executemany(
            "INSERT INTO case_event (case_id, actor, kind, from_state, to_state, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        con.execute("COMMIT")
        return len(case_rows)

    # Survey answers ----------------------------------------------------------------------

    def responses(self, answers: int) -> tuple[int, int]:
        """Responses until ``answers`` answers are stored; returns (responses, answers)."""
        con = self.con
        made = stored = 0
        for index, period in enumerate(PERIODS):
            goal = answers * (index + 1) // len(PERIODS)
            survey_id, version_id = self.versions[period]
            while stored < goal:
                rows = self._response_batch(period, max(1, min(20_000, (goal - stored) // 9)))
                ids = range(made + 1, made + len(rows) + 1)
                answer_rows = [
                    (rid, *answer, row.at)
                    for rid, row in zip(ids, rows, strict=True)
                    for answer in row.answers
                ][: goal - stored]
                con.execute("BEGIN")
                con.executemany(
                    "INSERT INTO respondent (id, pseudonym, created_at) VALUES (?, ?, ?)",
                    (
                        (rid, _pseudonym(self.seed, rid), row.at)
                        for rid, row in zip(ids, rows, strict=True)
                    ),
                )
                con.executemany(
                    "INSERT INTO response (id, respondent_id, survey_id, survey_version_id,"
                    " period, unit_id, status, draft, started_at, completed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
                    (
                        (rid, rid, survey_id, version_id, period, row.unit_id, row.status)
                        + (row.at, row.completed_at)
                        for rid, row in zip(ids, rows, strict=True)
                    ),
                )
                con.executemany(
                    "INSERT INTO answer (response_id, question_key, choice, choices, number,"
                    " text, skipped, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    answer_rows,
                )
                con.execute("COMMIT")
                stored += len(answer_rows)
                made += len(rows)
        return made, stored

    def _response_batch(self, period: str, size: int) -> list[ResponseRow]:
        rng = self.rng
        unit = rng.choice(len(self.units), size, p=self.volume)
        mood = np.clip(self.quality[unit] + rng.normal(0, 0.15, size), 0, 1)
        moments = _timestamps(rng, period, size)
        unfinished = (rng.random(size) < SHARE_IN_PROGRESS).tolist()
        draws = rng.random((size, 16)).tolist()
        rows = []
        for u, m, at, open_, d in zip(
            unit.tolist(), mood.tolist(), moments, unfinished, draws, strict=True
        ):
            given = _answers(d, m)
            if open_:  # stopped part-way: the first few answers only
                rows.append(ResponseRow(self.units[u].id, at, "in_progress", None, given[:3]))
            else:
                rows.append(ResponseRow(self.units[u].id, at, "completed", at, given))
        return rows


@dataclass(frozen=True)
class ResponseRow:
    unit_id: int
    at: str
    status: str
    completed_at: str | None
    answers: list[tuple[Any, ...]]


def _sizes(total: int) -> Iterator[int]:
    while total > 0:
        yield min(CHUNK, total)
        total -= CHUNK


def _pseudonym(seed: int, respondent_id: int) -> str:
    return hashlib.sha256(f"bench:{seed}:{respondent_id}".encode()).hexdigest()


def _reason_pool() -> list[str]:
    """JSON reason lists: index 0 is ``[]`` (no 差评), then one or two reasons."""
    reasons = DEFAULT_RATING_REASONS[:-1]
    pool: list[list[str]] = (
        [[]] + [[r] for r in reasons] + [list(p) for p in itertools.combinations(reasons, 2)]
    )
    return [json.dumps(p, ensure_ascii=False) for p in pool]


CHANNEL_PATTERNS = (
    (["hall"], 0.25),
    (["app", "web"], 0.15),
    (["app"], 0.15),
    (["hall", "app"], 0.12),
    (["hotline"], 0.08),
    (["web", "hotline"], 0.07),
    (["kiosk", "hall"], 0.10),
    (["none"], 0.08),
)
_PATTERN_CDF = np.cumsum([w for _, w in CHANNEL_PATTERNS]).tolist()
REASON_SETS = (["trips"], ["slow", "guide"], ["materials", "online"], ["staff"], ["other"])
TRIPS = ("zero", "one", "two", "three_plus")
AGES = ("under_30", "age_30_44", "age_45_59", "age_60_plus")
SUGGESTION = "希望进一步简化线上办理流程，减少重复提交材料。"


def _level_at(draw: float, mood: float) -> tuple[str, int]:
    cdf = itertools.accumulate(_level_weights(mood))
    index = next((i for i, edge in enumerate(cdf) if draw <= edge), 4)
    return LEVELS[index], 5 - index


def _sat(key: str, draw: float, mood: float) -> tuple[Any, ...]:
    level, score = _level_at(draw, mood)
    return key, level, None, score, None, 0


def _answers(d: list[float], mood: float) -> list[tuple[Any, ...]]:
    """One respondent's answer rows, along the demo survey's skip logic (from 16 draws)."""
    pattern = next(
        (p for (p, _), edge in zip(CHANNEL_PATTERNS, _PATTERN_CDF, strict=True) if d[0] <= edge),
        ["none"],
    )
    rows: list[tuple[Any, ...]] = [
        ("channels", None, json.dumps(pattern), None, None, 0),
    ]
    uses = pattern != ["none"]
    if uses:
        overall = _sat("overall", d[1], mood)
        rows.append(overall)
        if overall[1] in (LEVELS[3], LEVELS[4]):
            picked = REASON_SETS[int(d[2] * len(REASON_SETS))]
            rows.append(("dissatisfied_reasons", None, json.dumps(picked), None, None, 0))
        if {"app", "web"} & set(pattern):
            rows.append(_sat("online_experience", d[3], mood))
        if "hotline" in pattern:
            rows.append(_sat("hotline", d[4], mood))
        rows.append(("trips", TRIPS[int(d[5] * 4)], None, None, None, 0))
        recommend = round(min(10.0, max(0.0, 3 + 7 * mood + (d[6] - 0.5) * 4)))
        rows.append(("recommend", None, None, recommend, None, 0))
    rows.append(_sat("city_governance", d[7], mood))
    rows.append(_sat("data_protection", d[8], mood))
    age = AGES[int(d[9] * 4)]
    rows.append(("age_band", age, None, None, None, 0))
    if age == "age_60_plus":
        rows.append(_sat("elderly_services", d[10], mood))
    if d[11] < 0.12:
        rows.append(("suggestion", None, None, None, SUGGESTION, 0))
    else:
        rows.append(("suggestion", None, None, None, None, 1))
    return rows


# 12345 回访 and the outside poll (generator version 4) -------------------------------------

OUTSIDE_SOURCE = "民意调查中心（基准测试）"
OUTSIDE_NOTE = "基准测试生成：每半年一次电话抽样调查，每个单位一个得分及其样本量。"
HOTLINE_ITEMS = (
    "供暖", "物业管理", "道路交通", "社会保障", "医疗卫生",
    "教育", "生态环境", "市政设施", "市场监管", "住房保障",
)  # fmt: skip
FAILED_CALLS = ("no_answer", "busy", "power_off", "refused")
SHARE_UNREACHABLE = 0.12  # 无法联系 after the calls
SHARE_SHORT = 0.10  # of those: after fewer than 3 calls (flagged short_attempts)
SHARE_NO_ANSWER = 0.03  # reached, but gave no 是否满意
SHARE_REVISITED = 0.03  # 工单 visited again after 重办: round 1 kept inactive
SHARE_API = 0.2  # pushed by the 12345 system through the API (the rest from files)
DAY = 86_400


def outside_csv(period: str, seed: int) -> str:
    """An outside poll of every unit for one half-year: 单位编码, 得分, 样本量."""
    units = parse_units_csv(units_text(), source="benchmark units")
    rng = np.random.default_rng([seed, 2, PERIODS.index(period)])
    lines = ["单位编码,得分,样本量"]
    for unit in units:
        score = min(100.0, max(0.0, 55 + 40 * unit_quality(unit.code, seed) + rng.normal(0, 3)))
        lines.append(f"{unit.code},{score:.1f},{int(rng.integers(300, 1200))}")
    return "\n".join(lines) + "\n"


def _utc_text(moments: np.ndarray[Any, np.dtype[np.datetime64]], unit: str) -> np.ndarray:
    """datetime64 values as SQLAlchemy stores them on SQLite (``unit="us"``) or, with
    ``unit="s"``, as the ISO text of the 回访 attempts (UTC, ``+00:00``)."""
    text = np.datetime_as_string(moments, unit="us" if unit == "us" else "s")
    if unit == "us":
        return np.char.replace(text, "T", " ")
    return np.char.add(text, "+00:00")


class HotlineGenerator:
    """12345 回访 rows written with ``sqlite3``: spread over the units by volume, each unit's
    answers following its demo quality, a few 工单 visited again (round 1 kept inactive)."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.rng = np.random.default_rng([seed, 12345])  # its own stream: extends any file
        self.con = sqlite3.connect(path, isolation_level=None)
        self.units = [
            Unit(*row) for row in self.con.execute("SELECT id, code, kind FROM unit ORDER BY id")
        ]
        self.quality = np.array([unit_quality(u.code, seed) for u in self.units])
        volume = np.array([3.0 if u.kind != "市直部门" else 1.0 for u in self.units])
        volume *= self.rng.uniform(0.5, 1.5, len(self.units))
        self.volume = volume / volume.sum()

    def run(self, total: int) -> int:
        con = self.con
        (count,) = con.execute("SELECT count(*) FROM hotline_visit").fetchone()
        if count:
            raise SystemExit(f"{self.path}: table hotline_visit is not empty")
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name = 'hotline_visit'"
        ).fetchall()
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-200000")
        for name, _ in indexes:
            con.execute(f"DROP INDEX {name}")
        columns = (
            "unit_id, ticket_no, round, item_name, finished_at, attempts, outcome, contacted, "
            "resolved, satisfaction, short_attempts, period, source, active, received_at"
        )
        sql = f"INSERT INTO hotline_visit ({columns}) VALUES ({', '.join('?' * 15)})"
        stored = 0
        for period in PERIODS:
            share = total // len(PERIODS) + (total % len(PERIODS) if period == PERIODS[0] else 0)
            rows = self._rows(period, share)
            con.execute("BEGIN")
            con.executemany(sql, rows)
            con.execute("COMMIT")
            stored += len(rows)
        for _, sql_text in indexes:
            con.execute(sql_text)
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
        return stored

    def _rows(self, period: str, size: int) -> list[tuple[Any, ...]]:
        rng = self.rng
        first = date(int(period[:4]), 1 if period.endswith("H1") else 7, 1)
        start = datetime(first.year, first.month, 1, tzinfo=TZ).astimezone(UTC)
        origin = np.datetime64(start.replace(tzinfo=None), "s")
        unit = rng.choice(len(self.units), size, p=self.volume)
        quality = self.quality[unit]
        days = rng.integers(0, 181, size)
        finished = days * DAY + rng.integers(int(8.5 * 3600), 18 * 3600, size)
        unreachable = rng.random(size) < SHARE_UNREACHABLE
        short = unreachable & (rng.random(size) < SHARE_SHORT)
        reached = ~unreachable
        calls = np.where(unreachable, np.where(short, rng.integers(1, 3, size), 3),
                         rng.choice(3, size, p=(0.7, 0.2, 0.1)) + 1)  # fmt: skip
        draw = rng.random(size)
        dissatisfied = draw < 0.02 + 0.2 * (1 - quality)
        basic = ~dissatisfied & (draw < 0.17 + 0.35 * (1 - quality))
        gave = reached & (rng.random(size) >= SHARE_NO_ANSWER)
        satisfaction = np.where(dissatisfied, "不满意", np.where(basic, "基本满意", "满意"))
        contacted = rng.random(size) < 0.80 + 0.18 * quality
        resolved = rng.random(size) < np.where(dissatisfied, 0.2, 0.6 + 0.35 * quality)
        # Round 2 of some 不满意 工单 after 重办: the last rows take over a round-1 visit's
        # 工单 (办结 again 7 to 24 days later, inside the half-year); round 1 stays as history.
        wanted = round(size * SHARE_REVISITED / (1 + SHARE_REVISITED))
        pool = np.flatnonzero(gave[: size - wanted] & dissatisfied[: size - wanted]
                              & (days[: size - wanted] < 150))  # fmt: skip
        revisited = np.sort(rng.choice(pool, min(wanted, len(pool)), replace=False))
        second = np.arange(size - len(revisited), size)
        tickets = np.arange(size)
        tickets[second] = revisited
        unit[second] = unit[revisited]
        finished[second] = finished[revisited] + rng.integers(7, 25, len(second)) * DAY
        rounds = np.ones(size, dtype=int)
        rounds[second] = 2
        active = np.ones(size, dtype=bool)
        active[revisited] = False
        # Calls: the first a few hours to a day after 办结, the next ones hours apart (a third
        # on the next day); the last one answered when the citizen was reached.
        first_call = finished + rng.integers(2 * 3600, DAY, size)
        gaps = np.stack([np.zeros(size, dtype=int), rng.integers(3600, 4 * 3600, size),
                         DAY + rng.integers(0, 3600, size)], axis=1).cumsum(axis=1)  # fmt: skip
        call_text = _utc_text(origin + (first_call[:, None] + gaps), "s").tolist()
        failed = rng.integers(0, len(FAILED_CALLS), (size, 3)).tolist()
        attempts = []
        for row, (count, ok) in enumerate(zip(calls.tolist(), reached.tolist(), strict=True)):
            made = [
                {"at": call_text[row][n], "outcome": FAILED_CALLS[failed[row][n]]}
                for n in range(count)
            ]
            if ok:
                made[-1]["outcome"] = "answered"
            attempts.append(json.dumps(made))
        last = first_call + gaps[np.arange(size), calls - 1]
        finished_text = _utc_text(origin + finished, "us").tolist()
        received_text = _utc_text(origin + last + 3600, "us").tolist()
        units = [self.units[i].id for i in unit.tolist()]
        items = rng.integers(0, len(HOTLINE_ITEMS), size)[tickets].tolist()
        api = (rng.random(size) < SHARE_API).tolist()

        def flag(values: np.ndarray, where: np.ndarray) -> list[int | None]:
            return [int(v) if w else None for v, w in zip(values.tolist(), where.tolist(),
                                                          strict=True)]  # fmt: skip

        return list(
            zip(
                units,
                [f"12345-{period}-{t:07d}" for t in tickets.tolist()],
                rounds.tolist(),
                [HOTLINE_ITEMS[i] for i in items],
                finished_text,
                attempts,
                np.where(reached, "answered", "unreachable").tolist(),
                flag(contacted, reached),
                flag(resolved, gave),
                [
                    v if g else None
                    for v, g in zip(satisfaction.tolist(), gave.tolist(), strict=True)
                ],  # fmt: skip
                short.astype(int).tolist(),
                itertools.repeat(period, size),
                ["api" if a else "file" for a in api],
                active.astype(int).tolist(),
                received_text,
                strict=True,
            )
        )


# --- Measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mb: float
    stdout: str


# Linux keeps a process's peak RSS across fork and exec, so a child of this (possibly big)
# process would report at least our own peak: each command is started by this small wrapper,
# which times it and reads its rusage.
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
        raise SystemExit(f"{' '.join(command[:3])} … failed ({code}):\n{done.stderr[-3000:]}")
    return Run(float(seconds), int(max_rss_kb) / 1024, done.stdout)


def minyi_score_available() -> bool:
    if not MINYI.exists():
        return False
    done = subprocess.run(
        [str(MINYI), "score", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and "--period" in done.stdout


def check_exports(out: Path) -> str:
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    if not files:
        raise SystemExit(f"minyi score wrote nothing into {out}")
    rows = 0
    for path in out.rglob("*.csv"):
        with path.open(encoding="utf-8-sig") as handle:
            rows = max(rows, sum(1 for _ in csv.reader(handle)) - 1)
    return f"{len(files)} file(s) ({', '.join(files)}), largest CSV {rows} row(s)"


def baseline_spec(db: Path, period: str) -> str:
    """What the baseline needs to select the same answers as minyi: the counted questions per
    survey version of the period (the shipped method's), the half-year's bounds in UTC as
    stored, the levels and their points. Worked out here, outside the timed baseline."""
    method = load_method()
    con = sqlite3.connect(db)
    try:
        versions = con.execute(
            "SELECT v.id, v.definition FROM survey_version v JOIN survey s ON s.id = v.survey_id"
            " WHERE v.period = ? ORDER BY v.id",
            (period,),
        ).fetchall()
    finally:
        con.close()
    questions = []
    for version_id, definition in versions:
        keys = [
            q.key
            for q in SurveyDefinition.model_validate(json.loads(definition)).questions
            if q.type is QuestionType.satisfaction
            and (method.questions == "all" or q.key in method.questions)
        ]
        if keys:
            questions.append((version_id, keys))
    start, end = utc_bounds(period, TZ)
    stored = "%Y-%m-%d %H:%M:%S.%f"
    return json.dumps(
        {
            "levels": LEVELS,
            "points": {level.value: value for level, value in method.answer_points().items()},
            "questions": questions,
            "completed": method.completed_responses_only,
            "start": start.strftime(stored),
            "end": end.strftime(stored),
        },
        ensure_ascii=False,
    )


SOURCES = ("rating", "survey", "hotline", "outside")


def cross_check(db: Path, out: Path, period: str, baseline: Run) -> str:
    """minyi's per-unit n of each 民意 source against the baseline's counts; exits loudly on
    any difference. The 12345 回访 n is the people who answered 是否满意."""
    counted = json.loads(baseline.stdout)
    con = sqlite3.connect(db)
    try:
        ids = dict(con.execute("SELECT code, id FROM unit").fetchall())
    finally:
        con.close()
    scores = json.loads((out / f"scores_{period}.json").read_text("utf-8"))
    rows = [row for row in scores["ranking"] if row["period"] == period]
    wrong = []
    totals = dict.fromkeys(SOURCES, 0)
    for row in rows:
        unit_id = str(ids[row["unit_code"]])
        for source in SOURCES:
            theirs = counted[source].get(unit_id, 0)
            ours = row[f"{source}_n"] or 0
            totals[source] += ours
            if ours != theirs:
                wrong.append(f"{row['unit_code']} {source}: minyi n={ours}, baseline {theirs}")
    if wrong:
        raise SystemExit(
            f"CROSS-CHECK FAILED: {len(wrong)} per-unit n differ from the baseline's counts:\n  "
            + "\n  ".join(wrong[:20])
        )
    return (
        f"{len(rows)} units, n equal on every unit and source ("
        + ", ".join(f"{source} Σn={totals[source]:,}" for source in SOURCES)
        + ")"
    )


def bench(db: Path, period: str, runs: int) -> int:
    spec = baseline_spec(db, period)
    with tempfile.TemporaryDirectory() as tmp:
        env = minyi_env(db, Path(tmp))
        minyi(["db", "upgrade"], env)  # a cached file made before a new migration
        env["MINYI_USER"] = ACCOUNT  # minyi score acts as an account (made with the database)
        minyi_runs: list[Run] = []
        baseline_runs: list[Run] = []
        for index in range(runs):
            out = Path(tmp) / f"out{index}"
            command = [str(MINYI), "score", "--period", period, "--out", str(out)]
            minyi_runs.append(measured(command, env))
            baseline_runs.append(
                measured([sys.executable, "-c", BASELINE, str(db), period, spec], env)
            )
            if index == 0:
                exports = check_exports(out)
                checked = cross_check(db, out, period, baseline_runs[0])
        report(period, runs, minyi_runs, baseline_runs, exports, checked)
    ratio = _median(minyi_runs) / _median(baseline_runs)
    memory = max(r.max_rss_mb for r in minyi_runs)
    return 0 if ratio <= TARGET_RATIO and memory <= TARGET_MEMORY_MB else 3


def _median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def report(
    period: str,
    runs: int,
    minyi_runs: list[Run],
    baseline_runs: list[Run],
    exports: str,
    checked: str,
) -> None:
    ratio = _median(minyi_runs) / _median(baseline_runs)
    memory = max(r.max_rss_mb for r in minyi_runs)
    base_memory = max(r.max_rss_mb for r in baseline_runs)
    met = "met" if ratio <= TARGET_RATIO else "NOT met"
    memory_met = "met" if memory <= TARGET_MEMORY_MB else "NOT met"
    all_minyi = ", ".join(f"{r.seconds:.2f}" for r in minyi_runs)
    all_base = ", ".join(f"{r.seconds:.2f}" for r in baseline_runs)
    rows = json.loads(baseline_runs[0].stdout)["rows"]
    print(f"\n{period}, median of {runs} runs (each a subprocess, start-up included):")
    print(f"  minyi score  {_median(minyi_runs):7.2f} s  peak RSS {memory:7.0f} MB  ({all_minyi})")
    print(
        f"  baseline     {_median(baseline_runs):7.2f} s  peak RSS {base_memory:7.0f} MB"
        f"  ({all_base})"
    )
    print(f"  ratio minyi/baseline = {ratio:.2f}  (target <= {TARGET_RATIO:g}: {met})")
    print(f"  minyi peak memory {memory:.0f} MB  (target <= {TARGET_MEMORY_MB} MB: {memory_met})")
    print(
        f"  baseline read {rows[0]:,} ratings, {rows[1]:,} answers, {rows[2]:,} 12345 回访"
        " (the valid rows of the half-year)"
    )
    print(f"  cross-check: {checked}")
    print(f"  minyi exports: {exports}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: Python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs; load average now {load}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="50,000 ratings, 10,000 answers")
    parser.add_argument("--ratings", type=int, help="ratings to generate (default 5,000,000)")
    parser.add_argument("--answers", type=int, help="answers to generate (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (median)")
    parser.add_argument("--period", default=PERIODS[0], choices=PERIODS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached database")
    parser.add_argument(
        "--generate-only", action="store_true", help="make the database, measure nothing"
    )
    args = parser.parse_args(argv)
    ratings, answers = SMALL if args.small else FULL
    ratings = args.ratings if args.ratings is not None else ratings
    answers = args.answers if args.answers is not None else answers
    db = cache_path(ratings, answers, args.seed)
    if args.fresh or not db.exists():
        for old in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            old.unlink(missing_ok=True)
        build(db, ratings, answers, args.seed)
    else:
        print(f"reusing {db.relative_to(REPO)} (--fresh to rebuild)")
    print(f"database: {db.relative_to(REPO)}, {db.stat().st_size / 2**20:,.0f} MB")
    if args.generate_only:
        return 0
    if not minyi_score_available():
        print(
            f"`minyi score` is missing ({MINYI} score --help fails): nothing to measure yet",
            file=sys.stderr,
        )
        return 2
    return bench(db, args.period, args.runs)


if __name__ == "__main__":
    sys.exit(main())
