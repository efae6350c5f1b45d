"""The pages the office and a big unit open every day, on a city's year of data, over real HTTP.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pages.py [--small] [--runs N]

The database is the one ``benchmarks/bench_scoring.py`` makes and caches (5,000,000 ratings,
about 1,000,000 answers, 100,000 差评 cases, 60 units); this script builds it when it is
missing, brings it to the newest schema (``minyi db upgrade``), adds an admin account and an
API token, and starts ``minyi serve`` on it (no bot). Then, for each page, ``--runs`` times:

* **minyi**: the page over HTTP (wall time from request to the last byte), while a second
  client asks ``/healthz`` every 20 ms; the health checks' p99 and worst are reported per page;
* **plain SQL**: the same figures computed by hand-written SQL through the ``sqlite3`` module
  on the same file, in this process (no HTTP, no rendering).

Pages: the console dashboard; ``/api/v1/indicators`` for one half-year, for all periods and by
事项; the ratings list's first page and a page a million rows deep (``after=``); the survey
results of one half-year; the case queue's first and a deep page; the 考评结果 page, first view
and again. Memory: ``minyi serve``'s resident set idle after start-up and its peak (VmHWM) at
the end. Targets (issue 14): each page at most 1.5x plain SQL, the dashboard and indicators
under 1 s, ``/healthz`` p99 under 100 ms, ``serve`` idle at most 150 MB and peak at most
600 MB. The exit status is 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import bench_scoring  # noqa: E402

from surveys.accounts import accounts, tokens  # noqa: E402
from surveys.accounts.models import StaffRole  # noqa: E402
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work  # noqa: E402

PASSWORD = "bench-pages-Passw0rd!"
USER = "pages-admin"
TZ = ZoneInfo("Asia/Shanghai")
COUNTED = "active = 1 AND is_default = 0 AND excluded = 0"
GOOD = "('very_satisfied', 'satisfied', 'neutral')"
BAD = "('dissatisfied', 'very_dissatisfied')"
HEALTH_EVERY = 0.02
DEEP = 1_000_000  # rows before the deep page of the ratings list
PAGE_TARGET = 1.5
FAST_PAGES = ("dashboard", "indicators")
FAST_MS = 1000.0
HEALTH_MS = 100.0
IDLE_MB, PEAK_MB = 150.0, 600.0


# --- plain SQL: the same figures as each page ------------------------------------------------


def sql_dashboard(con: sqlite3.Connection, today: str) -> object:
    per_unit = con.execute(
        f"SELECT unit_id, count(*), sum(level IN {GOOD}), sum(level IN {BAD}) FROM rating"
        f" WHERE {COUNTED} GROUP BY unit_id"
    ).fetchall()
    cases = con.execute(
        "SELECT unit_id, sum(state != '已关闭'),"
        " sum((state = '待核实' AND contact_due < :today) OR (state IN"
        " ('待核实', '核实中', '整改中', '申诉中', '申诉驳回') AND rectify_due < :today))"
        " FROM follow_up_case GROUP BY unit_id",
        {"today": today},
    ).fetchall()
    responses = con.execute(
        "SELECT unit_id, count(*) FROM response WHERE status = 'completed' GROUP BY unit_id"
    ).fetchall()
    trend = con.execute(
        f"SELECT strftime('%Y-%m', rated_at, '+8 hours') AS month, count(*),"
        f" sum(level IN {BAD}), sum(level IN {GOOD}) FROM rating WHERE {COUNTED}"
        " AND rated_at >= :since GROUP BY month",
        {"since": f"{int(today[:4]) - 1}{today[4:7]}-01"},
    ).fetchall()
    return per_unit, cases, responses, trend


def _indicators(con: sqlite3.Connection, period: str | None, key: str) -> object:
    where = f"{COUNTED}" + (" AND period = :period" if period else "")
    ratings = con.execute(
        f"SELECT unit_id, {key}, count(*), sum(level IN {GOOD}), sum(level IN {BAD}),"
        f" max(id) FROM rating WHERE {where} GROUP BY unit_id, {key}",
        {"period": period},
    ).fetchall()
    reasons = con.execute(
        f"SELECT unit_id, {key}, j.value, count(*) FROM rating, json_each(rating.reasons) j"
        f" WHERE {where} AND level IN {BAD} GROUP BY unit_id, {key}, j.value",
        {"period": period},
    ).fetchall()
    case_key = "NULL" if key == "NULL" else f"r.{key}"
    case_where = "r.is_default = 0 AND r.excluded = 0" + (
        " AND r.period = :period" if period else ""
    )
    cases = con.execute(
        f"SELECT r.unit_id, {case_key}, count(*), sum(c.state != '待核实'),"
        " sum(c.state IN ('已反馈', '已复评') OR e.at IS NOT NULL),"
        " sum(date(e.at, '+8 hours') <= c.rectify_due), sum(c.rerating IS NOT NULL),"
        " sum(c.rerating IN ('satisfied', 'neutral'))"
        " FROM follow_up_case c JOIN rating r ON r.id = c.rating_id"
        " LEFT JOIN (SELECT case_id, min(at) AS at FROM case_event WHERE to_state = '已反馈'"
        " GROUP BY case_id) e ON e.case_id = c.id"
        f" WHERE {case_where} GROUP BY r.unit_id, {case_key}",
        {"period": period},
    ).fetchall()
    return ratings, reasons, cases


def sql_ratings(con: sqlite3.Connection, after: tuple[str, int] | None) -> object:
    if after is None:
        return con.execute(
            "SELECT * FROM rating ORDER BY rated_at DESC, id DESC LIMIT 50"
        ).fetchall()
    return con.execute(
        "SELECT * FROM rating WHERE (rated_at, id) < (?, ?) ORDER BY rated_at DESC, id DESC"
        " LIMIT 50",
        after,
    ).fetchall()


def sql_results(con: sqlite3.Connection, period: str) -> object:
    return con.execute(
        "SELECT a.question_key, a.choice, count(*) FROM answer a JOIN response r"
        " ON r.id = a.response_id JOIN survey_version v ON v.id = r.survey_version_id"
        " WHERE v.period = ? AND r.status = 'completed' AND a.skipped = 0"
        " GROUP BY a.question_key, a.choice",
        (period,),
    ).fetchall()


def sql_cases(con: sqlite3.Connection, offset: int) -> object:
    page = con.execute(
        "SELECT c.*, r.item_code, r.item_name, r.level FROM follow_up_case c"
        " JOIN rating r ON r.id = c.rating_id ORDER BY c.rectify_due, c.id LIMIT 50 OFFSET ?",
        (offset,),
    ).fetchall()
    (total,) = con.execute("SELECT count(*) FROM follow_up_case").fetchone()
    return page, total


def sql_scoring(con: sqlite3.Connection, periods: Sequence[str]) -> object:
    found = []
    for period in periods:
        found.append(
            con.execute(
                f"SELECT unit_id, level, count(*) FROM rating WHERE {COUNTED} AND period = ?"
                " GROUP BY unit_id, level",
                (period,),
            ).fetchall()
        )
        found.append(sql_results(con, period))
    return found


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for process {pid}")


async def prepare(db: Path) -> str:
    """An admin account (password already changed) and an admin API token; the token."""
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            name = f"pages-{os.getpid()}-{time.time_ns()}"
            _, raw = await tokens.create_token(session=session, name=name, unit=None)
            existing = await accounts.get_user(session=session, username=USER)
            if existing is None:
                user, once = await accounts.create_user(
                    session=session, username=USER, role=StaffRole.admin, unit_codes=[]
                )
                await accounts.change_password(
                    session=session, user=user, current=once, new=PASSWORD
                )
    finally:
        await engine.dispose()
    return raw


@dataclass
class Page:
    name: str
    url: str
    console: bool
    plain: Callable[[sqlite3.Connection], object]
    times: list[float] = field(default_factory=list)
    plain_times: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    status: set[int] = field(default_factory=set)


async def health_probe(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/healthz")
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            out.append(float("inf"))  # a failed check counts as infinitely slow
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEALTH_EVERY)


async def timed(client: httpx.AsyncClient, health: httpx.AsyncClient, page: Page) -> None:
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(health, stop, page.health))
    started = time.perf_counter()
    response = await client.get(page.url)
    page.times.append((time.perf_counter() - started) * 1000)
    page.status.add(response.status_code)
    stop.set()
    await probe


def deep_cursor(con: sqlite3.Connection, depth: int) -> tuple[str, tuple[str, int]]:
    at, rating_id = con.execute(
        "SELECT rated_at, id FROM rating ORDER BY rated_at DESC, id DESC LIMIT 1 OFFSET ?",
        (depth,),
    ).fetchone()
    stamp = datetime.strptime(at + "+0000", "%Y-%m-%d %H:%M:%S.%f%z").astimezone(UTC)
    return f"{stamp.timestamp():.6f}_{rating_id}", (at, rating_id)


def pages(con: sqlite3.Connection, survey: str, period: str, today: str) -> list[Page]:
    (count,) = con.execute("SELECT count(*) FROM rating").fetchone()
    depth = min(DEEP, count // 2)
    cursor, plain_after = deep_cursor(con, depth)
    periods = ("2025H2", "2026H1", "2026H2")
    return [
        Page("dashboard", "/console/dashboard", True, lambda c: sql_dashboard(c, today)),
        Page(
            "indicators (one half-year)",
            f"/api/v1/indicators?period={period}",
            False,
            lambda c: _indicators(c, period, "NULL"),
        ),
        Page(
            "indicators (all periods)",
            "/api/v1/indicators",
            False,
            lambda c: _indicators(c, None, "NULL"),
        ),
        Page(
            "indicators by 事项",
            f"/api/v1/indicators?period={period}&group_by=item",
            False,
            lambda c: _indicators(c, period, "item_code"),
        ),
        Page("ratings, first page", "/api/v1/ratings", False, lambda c: sql_ratings(c, None)),
        Page(
            f"ratings, {depth:,} deep",
            f"/api/v1/ratings?after={cursor}",
            False,
            lambda c: sql_ratings(c, plain_after),
        ),
        Page(
            "survey results",
            f"/api/v1/surveys/{survey}/results?period={period}",
            False,
            lambda c: sql_results(c, period),
        ),
        Page("case queue, first page", "/api/v1/cases", False, lambda c: sql_cases(c, 0)),
        Page(
            "case queue, page 40", "/api/v1/cases?offset=1950", False, lambda c: sql_cases(c, 1950)
        ),
        Page(
            "考评结果",
            f"/console/scoring?period={period}",
            True,
            lambda c: sql_scoring(c, periods),
        ),
    ]


async def measure(
    base: str, token: str, db: Path, runs: int, period: str, only: str = ""
) -> list[Page]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    (survey,) = con.execute(
        "SELECT s.code FROM survey s JOIN survey_version v ON v.survey_id = s.id"
        " WHERE v.period = ?",
        (period,),
    ).fetchone()
    today = datetime.now(TZ).date().isoformat()
    found = [page for page in pages(con, survey, period, today) if only in page.name]
    api = httpx.AsyncClient(
        base_url=base, timeout=600, headers={"Authorization": f"Bearer {token}"}
    )
    console = httpx.AsyncClient(base_url=base, timeout=600)
    health = httpx.AsyncClient(base_url=base, timeout=600)
    try:
        login = await console.get("/console/login")
        csrf = bench_csrf(login.text)
        signed = await console.post(
            "/console/login", data={"csrftoken": csrf, "username": USER, "password": PASSWORD}
        )
        if signed.status_code != 303:
            raise SystemExit(f"console sign-in failed: {signed.status_code} {signed.text[:300]}")
        for page in found:
            for _ in range(runs):
                await timed(console if page.console else api, health, page)
                started = time.perf_counter()
                await asyncio.to_thread(page.plain, con)
                page.plain_times.append((time.perf_counter() - started) * 1000)
            runs_ms = ", ".join(f"{t:,.0f}" for t in page.times)
            print(f"  measured {page.name}: {runs_ms} ms", flush=True)
    finally:
        for client in (api, console, health):
            await client.aclose()
        con.close()
    return found


def bench_csrf(html: str) -> str:
    marker = 'name="csrftoken" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(found: list[Page], idle: float, peak: float) -> int:
    missed = []
    print(
        f"\n{'page':<28} {'minyi ms':>10} {'plain SQL ms':>13} {'ratio':>7}"
        f" {'healthz p99':>12} {'worst':>8}  status"
    )
    for page in found:
        ours = statistics.median(page.times)
        plain = statistics.median(page.plain_times)
        ratio = ours / plain if plain else float("inf")
        hp99 = p99(page.health)
        worst = max(page.health) if page.health else float("nan")
        print(
            f"{page.name:<28} {ours:>10,.0f} {plain:>13,.0f} {ratio:>7.2f} {hp99:>10,.0f} ms"
            f" {worst:>6,.0f} ms  {sorted(page.status)}"
        )
        if page.status != {200}:
            missed.append(f"{page.name}: status {sorted(page.status)}")
        if ratio > PAGE_TARGET:
            missed.append(f"{page.name}: {ratio:.2f}x plain SQL (target <= {PAGE_TARGET})")
        if page.name.startswith(FAST_PAGES) and ours > FAST_MS:
            missed.append(f"{page.name}: {ours:,.0f} ms (target < {FAST_MS:,.0f} ms)")
        if hp99 >= HEALTH_MS:
            missed.append(f"{page.name}: /healthz p99 {hp99:,.0f} ms (target < {HEALTH_MS:.0f})")
    print(
        f"\nminyi serve: idle {idle:,.0f} MB (target <= {IDLE_MB:.0f}),"
        f" peak {peak:,.0f} MB (target <= {PEAK_MB:.0f})"
    )
    if idle > IDLE_MB:
        missed.append(f"idle memory {idle:,.0f} MB")
    if peak > PEAK_MB:
        missed.append(f"peak memory {peak:,.0f} MB")
    print(
        f"machine: Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))
        return 3
    print("every target met")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="50,000 ratings, 10,000 answers")
    parser.add_argument("--runs", type=int, default=3, help="requests per page (median)")
    parser.add_argument("--period", default="2026H1", choices=bench_scoring.PERIODS)
    parser.add_argument("--only", default="", help="measure only pages whose name has this")
    args = parser.parse_args(argv)
    ratings, answers = bench_scoring.SMALL if args.small else bench_scoring.FULL
    db = bench_scoring.cache_path(ratings, answers, bench_scoring.SEED)
    if not db.exists():
        bench_scoring.build(db, ratings, answers, bench_scoring.SEED)
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_scoring.minyi_env(db, Path(tmp))
        started = time.perf_counter()
        bench_scoring.minyi(["db", "upgrade"], env)
        print(
            f"database: {db.relative_to(REPO)}; schema brought to head in"
            f" {time.perf_counter() - started:.1f} s"
        )
        token = asyncio.run(prepare(db))
        port = free_port()
        env.update(API_HOST="127.0.0.1", API_PORT=str(port), BOT_TOKEN="")
        server = subprocess.Popen(
            [str(bench_scoring.MINYI), "serve"], env=env, cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server)
            time.sleep(3)
            idle = rss_mb(server.pid)
            found = asyncio.run(measure(base, token, db, args.runs, args.period, args.only))
            peak = rss_mb(server.pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    return report(found, idle, peak)


def wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"minyi serve stopped: {server.stderr.read() if server.stderr else ''}"
            )
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("minyi serve did not answer /healthz within 120 s")


if __name__ == "__main__":
    sys.exit(main())
