"""``minyi score`` on a big SQLite database, against a bare pandas group-by of the same rows.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scoring.py [--small] [--runs N] [--fresh]

The database is made once and cached under ``var/bench/`` (keyed by the generator version and
the sizes), so later runs start at once; ``--fresh`` rebuilds it:

* ``minyi db upgrade`` with ``DATABASE_URL`` pointing at the file (the real schema), then
  ``minyi units load`` (the 35 demo units and 25 generated ones) and ``minyi survey load`` (the
  demo survey for both halves of 2026);
* 5,000,000 好差评 ratings and about 1,000,000 survey answers (completed responses of the demo
  survey, answered along its skip logic; 3% of the responses left unfinished) over the 60 units
  and the two halves, written with the ``sqlite3`` module: ``executemany`` in big transactions,
  ``journal_mode=OFF`` and ``synchronous=OFF`` during generation only, the secondary indexes
  dropped first and made again from their own ``CREATE INDEX`` text afterwards. Unit mixes
  differ (some units clearly better), with 差评 reasons, 系统默认评价, 申诉成立 exclusions and
  inactive first rounds, as in ``scoring.demo_data``.

Then, in the same run, each side is a subprocess (interpreter start-up included), alternated,
``--runs`` times (median reported), each on the same file:

* **minyi**: ``minyi score --period 2026H1 --out <tmpdir>`` end to end (method file, queries,
  computation, the xlsx/csv/json exports);
* **baseline**: ``python -c`` with pandas: ``read_sql`` of ``SELECT unit_id, level FROM rating
  WHERE period = ?`` and of the answers' question and choice for the same period (joined to their
  response for the unit), then per-unit counts with ``groupby``.

Peak memory is the child's ``ru_maxrss`` from ``os.wait4``. Targets: ratio minyi/baseline ≤ 2,
peak memory ≤ 2 GB. The exit status is non-zero when ``minyi score`` is missing or fails.
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
from surveys.accounts.units import parse_units_csv
from surveys.core.settings import DEFAULT_RATING_REASONS
from surveys.questionnaire.definitions import Level

GENERATOR_VERSION = 3
CACHE_DIR = REPO / "var" / "bench"
BIN = Path(sys.executable).parent
MINYI = BIN / "minyi"
PERIODS = ("2026H1", "2026H2")
EXTRA_UNITS = 25
FULL = (5_000_000, 1_000_000)
SMALL = (50_000, 10_000)
TARGET_RATIO = 2.0
TARGET_MEMORY_MB = 2048
CHUNK = 250_000
SEED = 7
TZ = ZoneInfo("Asia/Shanghai")
LEVELS = [level.value for level in Level]
BAD = (3, 4)  # indexes of 不满意 and 非常不满意 in LEVELS
SHARE_IN_PROGRESS = 0.03
CASES_PER = 50  # one 差评 case per this many ratings: 100,000 cases for 5,000,000 ratings
CASE_STATES = ("待核实", "核实中", "整改中", "已反馈", "已复评", "已关闭", "不属实")
CASE_STATE_WEIGHTS = (10, 8, 12, 15, 20, 30, 5)

BASELINE = """
import sqlite3, sys
import pandas as pd
db, period = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
ratings = pd.read_sql("SELECT unit_id, level FROM rating WHERE period = ?", con, params=(period,))
answers = pd.read_sql(
    "SELECT r.unit_id, a.question_key, a.choice FROM answer a"
    " JOIN response r ON r.id = a.response_id WHERE r.period = ?",
    con, params=(period,),
)
levels = ratings.groupby(["unit_id", "level"]).size().unstack(fill_value=0)
choices = answers.dropna(subset=["choice"]).groupby(["unit_id", "question_key", "choice"]).size()
print(len(ratings), len(answers), levels.shape[0], len(choices))
"""


# --- The database -------------------------------------------------------------------------


def cache_path(ratings: int, answers: int, seed: int) -> Path:
    return CACHE_DIR / f"scoring-g{GENERATOR_VERSION}-r{ratings}-a{answers}-s{seed}.sqlite"


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
    """Make the database at ``db`` (through a temporary name, so a cut run leaves nothing)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = db.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = minyi_env(partial, Path(tmp))
        started = time.perf_counter()
        minyi(["db", "upgrade"], env)
        minyi(["user", "add", "bench", "--role", "admin"], env)  # the first account
        env["MINYI_USER"] = "bench"  # the account the writes below are done as
        units_csv = Path(tmp) / "units.csv"
        units_csv.write_text(units_text(), "utf-8")
        minyi(["units", "load", str(units_csv)], env)
        for period in PERIODS:
            survey = Path(tmp) / f"survey-{period}.yaml"
            survey.write_text(survey_yaml(period), "utf-8")
            minyi(["survey", "load", str(survey)], env)
        for period in PERIODS:
            for code, component in MONITORING_COMPONENTS.items():
                scores = Path(tmp) / f"{code}-{period}.csv"
                scores.write_text(monitoring_csv(period, code), "utf-8")
                minyi(
                    ["import", "monitoring", str(scores), "--period", period]
                    + ["--component", component],
                    env,
                )
        setup = time.perf_counter() - started
        print(
            f"schema, units, surveys and monitoring imports through the minyi CLI: {setup:.1f} s"
        )
        Generator(partial, seed).run(ratings, answers)
    partial.rename(db)


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
        event_rows = []
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
    pool = [[]] + [[r] for r in reasons] + [list(p) for p in itertools.combinations(reasons, 2)]
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


def bench(db: Path, period: str, runs: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = minyi_env(db, Path(tmp))
        minyi(["db", "upgrade"], env)  # a cached file made before a new migration
        minyi_runs: list[Run] = []
        baseline_runs: list[Run] = []
        for index in range(runs):
            out = Path(tmp) / f"out{index}"
            command = [str(MINYI), "score", "--period", period, "--out", str(out)]
            minyi_runs.append(measured(command, env))
            if index == 0:
                exports = check_exports(out)
            baseline_runs.append(measured([sys.executable, "-c", BASELINE, str(db), period], env))
        report(period, runs, minyi_runs, baseline_runs, exports)
    ratio = _median(minyi_runs) / _median(baseline_runs)
    memory = max(r.max_rss_mb for r in minyi_runs)
    return 0 if ratio <= TARGET_RATIO and memory <= TARGET_MEMORY_MB else 3


def _median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def report(
    period: str, runs: int, minyi_runs: list[Run], baseline_runs: list[Run], exports: str
) -> None:
    ratio = _median(minyi_runs) / _median(baseline_runs)
    memory = max(r.max_rss_mb for r in minyi_runs)
    base_memory = max(r.max_rss_mb for r in baseline_runs)
    met = "met" if ratio <= TARGET_RATIO else "NOT met"
    memory_met = "met" if memory <= TARGET_MEMORY_MB else "NOT met"
    all_minyi = ", ".join(f"{r.seconds:.2f}" for r in minyi_runs)
    all_base = ", ".join(f"{r.seconds:.2f}" for r in baseline_runs)
    print(f"\n{period}, median of {runs} runs (each a subprocess, start-up included):")
    print(f"  minyi score  {_median(minyi_runs):7.2f} s  peak RSS {memory:7.0f} MB  ({all_minyi})")
    print(
        f"  baseline     {_median(baseline_runs):7.2f} s  peak RSS {base_memory:7.0f} MB"
        f"  ({all_base})"
    )
    print(f"  ratio minyi/baseline = {ratio:.2f}  (target <= {TARGET_RATIO:g}: {met})")
    print(f"  minyi peak memory {memory:.0f} MB  (target <= {TARGET_MEMORY_MB} MB: {memory_met})")
    print(
        f"  baseline counted: {baseline_runs[0].stdout.strip()} (ratings, answers, units, cells)"
    )
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
