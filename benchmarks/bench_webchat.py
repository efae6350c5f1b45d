"""Answers per second through the mobile web chat over real HTTP, beside a bare FastAPI
endpoint that commits one row, in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_webchat.py [--citizens 50] [--rounds 2] [--repeats 3]

Per run (``--repeats`` runs, alternating minyi and the baseline):

* **minyi**: a fresh SQLite file in a temporary folder, ``minyi db upgrade`` and
  ``minyi demo load``, then ``minyi serve`` (a real uvicorn process, no BOT_TOKEN).
  ``--citizens`` simulated citizens at once (httpx, one cookie jar each: each is a new
  pseudonymous respondent) open the demo survey's web link ``/c/s/<code>/kundulun`` and answer
  every question to the end as the page offers it, with JavaScript's request (``HX-Request``:
  one POST per input, the server answers with the updated chat fragment). Each input is
  read from the form the server actually sent (option buttons, 完成 after ticking one or two
  options of a multiple-choice question, the free-text box). A citizen sends its next input
  only after the answer to the last one arrived; when one is done a new one takes its place,
  ``--rounds`` times.
* **baseline**: a bare FastAPI app (this file, ``--serve-baseline``) under the same uvicorn,
  whose one POST endpoint inserts one row into a one-table SQLite file opened with
  :func:`surveys.core.db.create_engine` (the same WAL, ``synchronous`` and ``BEGIN
  IMMEDIATE`` as minyi) and commits, answering a small HTML fragment. It is sent exactly as
  many POSTs as the minyi run sent inputs, by the same number of concurrent clients.

Every minyi input is committed before its answer (the web chat's rule: a 2xx means stored).
At the end of each minyi run the ``answer`` rows must equal the answers given and the
completed responses the citizens that finished; the baseline's rows must equal its POSTs.
Otherwise the benchmark fails (exit 1).

Reported: inputs/s of both sides (the ratio compares those; target ≥ 0.5), answers/s of
minyi, and p50/p99 latency per input on each side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from surveys.core.clock import today  # noqa: E402
from surveys.core.periods import half_year  # noqa: E402
from surveys.core.settings import Settings  # noqa: E402

MINYI = str(Path(sys.executable).with_name("minyi"))
UNIT = "kundulun"
FREE_TEXT = "希望进一步简化线上办理流程，减少重复提交材料。"
MAX_STEPS = 80  # inputs per citizen; the demo survey needs about 20
TARGET_RATIO = 0.5
START_TIMEOUT = 120.0
ENV_UNSET = ("DATABASE_URL", "BOT_TOKEN", "REDIS_URL", "API_HOST", "API_PORT", "PUBLIC_BASE_URL")


# --- reading the chat's forms ------------------------------------------------------------


@dataclass
class Form:
    """One <form method=post> of the chat fragment: its action, fields and submitters."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)  # hidden inputs
    buttons: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, value, pressed)
    text: str | None = None  # the name of a text box, if any


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._open = Form(action=a.get("action", ""))
            self.forms.append(self._open)
        if self._open is None:
            return
        kind = a.get("type", "text" if tag == "input" else "submit").lower()
        if tag == "input" and kind == "hidden" and "name" in a:
            self._open.fields[a["name"]] = a.get("value", "")
        elif (tag == "button" and kind == "submit") or (tag == "input" and kind == "submit"):
            if "name" in a:
                pressed = a.get("aria-pressed") == "true" or "selected" in a.get("class", "")
                self._open.buttons.append((a["name"], a.get("value", ""), pressed))
        elif (tag == "textarea" or (tag == "input" and kind in {"text", "number"})) and (
            "name" in a
        ):
            self._open.text = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def answer_forms(html: str) -> list[Form]:
    """The forms that answer the current question (they carry the version ``v``)."""
    parser = Forms()
    parser.feed(html)
    return [f for f in parser.forms if "v" in f.fields]


def choose(forms: list[Form], rng: random.Random, ticked: int) -> tuple[Form, dict[str, str]]:
    """The next input a citizen gives on this question: a form and the data it posts."""

    def press(form: Form, name: str, value: str) -> tuple[Form, dict[str, str]]:
        return form, {**form.fields, name: value}

    picks = [(f, n, v, p) for f in forms for n, v, p in f.buttons if n == "i"]
    done = [(f, n, v) for f in forms for n, v, _ in f.buttons if n == "act" and v == "done"]
    texts = [f for f in forms if f.text is not None]
    if done:  # a multiple-choice question: tick one or two options, then 完成
        unticked = [(f, n, v) for f, n, v, p in picks if not p]
        if ticked < 1 + rng.randrange(2) and unticked:
            form, name, value = rng.choice(unticked)
            return press(form, name, value)
        form, name, value = done[0]
        return press(form, name, value)
    if picks:
        form, name, value, _ = rng.choice(picks)
        return press(form, name, value)
    if texts:
        form = texts[0]
        assert form.text is not None
        return form, {**form.fields, form.text: FREE_TEXT, "act": form.fields.get("act", "text")}
    raise AssertionError("no way to answer the question on the page")


# --- the load --------------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    answers: int = 0
    citizens: int = 0
    latencies: list[float] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0

    def timed(self, started: float) -> None:
        now = time.perf_counter()
        self.latencies.append(now - started)
        self.first = self.first or started
        self.last = max(self.last, now)


class Citizen:
    """One phone: its own cookie jar, answering the demo survey to the end."""

    def __init__(self, base_url: str, code: str, seed: int) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=True)
        self.code, self.rng = code, random.Random(seed)

    async def run(self, tally: Tally) -> None:
        async with self.client:
            page = await self.client.get(f"/c/s/{self.code}/{UNIT}")
            page.raise_for_status()
            html, ticked, question = page.text, 0, None
            for _ in range(MAX_STEPS):
                forms = answer_forms(html)
                if not forms:
                    break
                now_on = forms[0].fields.get("p")
                ticked = ticked if now_on == question else 0
                question = now_on
                form, data = choose(forms, self.rng, ticked)
                picked_multi = "i" in data and any(
                    n == "act" and v == "done" for f in forms for n, v, _ in f.buttons
                )
                started = time.perf_counter()
                answer = await self.client.post(
                    form.action or "/c/chat", data=data, headers={"HX-Request": "true"}
                )
                tally.timed(started)
                if answer.status_code != 200:
                    raise AssertionError(f"{answer.status_code} for {data}: {answer.text[:300]}")
                tally.inputs += 1
                if picked_multi:
                    ticked += 1
                else:
                    tally.answers += 1
                    ticked = 0
                html = answer.text
            else:
                raise AssertionError(f"a citizen did not finish in {MAX_STEPS} inputs")
        tally.citizens += 1


async def drive_minyi(base_url: str, code: str, args: argparse.Namespace, seed: int) -> Tally:
    tally = Tally()
    queue = list(range(args.citizens * args.rounds))

    async def lane() -> None:
        while queue:
            await Citizen(base_url, code, seed + queue.pop()).run(tally)

    await asyncio.gather(*(lane() for _ in range(args.citizens)))
    return tally


async def drive_baseline(base_url: str, posts: int, concurrency: int) -> Tally:
    tally = Tally()
    left = [posts]

    async def lane() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            while left[0] > 0:
                left[0] -= 1
                started = time.perf_counter()
                answer = await client.post("/answer", data={"v": "1", "p": "1", "i": "0"})
                tally.timed(started)
                answer.raise_for_status()
                tally.inputs += 1
                tally.answers += 1

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return tally


# --- the servers -------------------------------------------------------------------------


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_UNSET}
    return {**env, "DATA_DIR": str(data_dir), "SECRET_KEY": "bench-webchat", "API_PORT": str(port),
            "LOG_LEVEL": "WARNING"}  # fmt: skip


class Server:
    def __init__(self, command: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.command, self.env, self.port, self.log = command, env, port, log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Server:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.command[0]} exited:\n{self.log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    await client.get(f"{self.base_url}/healthz", timeout=2)
                    return self
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.command} did not start:\n{self.log.read_text()}")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def cli(env: dict[str, str], *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        MINYI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"minyi {' '.join(args)} failed:\n{output.decode()}")


def count(db: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return int(connection.execute(sql).fetchone()[0])


def survey_code() -> str:
    period, _, _ = half_year(today(Settings(_env_file=None).tz))  # type: ignore[call-arg]
    return f"szzf-{period.lower()}"


@dataclass
class Side:
    name: str
    tally: Tally

    @property
    def seconds(self) -> float:
        return self.tally.last - self.tally.first

    @property
    def rate(self) -> float:
        return self.tally.inputs / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.tally.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def minyi_run(root: Path, args: argparse.Namespace, index: int) -> Side:
    folder = root / f"minyi-{index}"
    port = free_port()
    env = environment(folder / "var", port)
    await cli(env, "db", "upgrade")
    await cli(env, "demo", "load")
    async with Server([MINYI, "serve"], env, port, folder / "serve.log") as server:
        tally = await drive_minyi(server.base_url, survey_code(), args, seed=1000 * index)
    db = folder / "var" / "minyi.db"
    stored = count(db, "SELECT count(*) FROM answer")
    completed = count(db, "SELECT count(*) FROM response WHERE status = 'completed'")
    if stored != tally.answers or completed != tally.citizens:
        raise AssertionError(
            f"minyi run {index}: {stored} answers and {completed} completed responses stored, "
            f"but {tally.answers} answers given by {tally.citizens} citizens"
        )
    return Side("minyi", tally)


async def baseline_run(root: Path, posts: int, args: argparse.Namespace, index: int) -> Side:
    folder = root / f"baseline-{index}"
    folder.mkdir(parents=True)
    port = free_port()
    db = folder / "baseline.db"
    command = [sys.executable, __file__, "--serve-baseline", str(port), "--db", str(db)]
    env = environment(folder, port)
    async with Server(command, env, port, folder / "serve.log") as server:
        tally = await drive_baseline(server.base_url, posts, args.citizens)
    stored = count(db, "SELECT count(*) FROM answer")
    if stored != posts:
        raise AssertionError(f"baseline run {index}: {stored} rows stored for {posts} POSTs")
    return Side("baseline", tally)


# --- the bare baseline app ---------------------------------------------------------------


def serve_baseline(port: int, db: Path) -> None:
    """A bare FastAPI + uvicorn app: POST /answer inserts one row, commits, answers HTML."""
    import uvicorn
    from fastapi import FastAPI, Form
    from fastapi.responses import HTMLResponse
    from sqlalchemy import text

    from surveys.core.db import create_engine, create_sessionmaker, unit_of_work

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    sessionmaker = create_sessionmaker(engine)
    app = FastAPI()

    @app.on_event("startup")
    async def schema() -> None:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS answer (id INTEGER PRIMARY KEY, v INT, p INT, "
                    "i INT, at TEXT DEFAULT CURRENT_TIMESTAMP)"
                )
            )

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/answer", response_class=HTMLResponse)
    async def answer(v: int = Form(), p: int = Form(), i: int = Form()) -> str:  # noqa: B008
        async with unit_of_work(sessionmaker) as session:
            await session.execute(
                text("INSERT INTO answer (v, p, i) VALUES (:v, :p, :i)"), {"v": v, "p": p, "i": i}
            )
        return f'<div class="bubble">{i}</div>'

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- main --------------------------------------------------------------------------------


def show(side: Side, index: int) -> None:
    extra = f" ({side.tally.answers / side.seconds:.1f} answers/s)" if side.name == "minyi" else ""
    print(
        f"  run {index} {side.name:<8} {side.tally.inputs:>5} inputs in {side.seconds:6.2f} s: "
        f"{side.rate:7.1f} inputs/s{extra}, p50 {side.p(50):6.1f} ms, p99 {side.p(99):7.1f} ms",
        flush=True,
    )


async def measure(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-webchat-") as tmp:
        root = Path(tmp)
        runs: dict[str, list[Side]] = {"minyi": [], "baseline": []}
        for index in range(1, args.repeats + 1):
            minyi = await minyi_run(root, args, index)
            show(minyi, index)
            baseline = await baseline_run(root, minyi.tally.inputs, args, index)
            show(baseline, index)
            runs["minyi"].append(minyi)
            runs["baseline"].append(baseline)
    median = {name: statistics.median(s.rate for s in sides) for name, sides in runs.items()}
    answers = statistics.median(s.tally.answers / s.seconds for s in runs["minyi"])
    ratio = median["minyi"] / median["baseline"]
    print(f"\nmedian of {args.repeats} runs, {args.citizens} citizens at once:")
    for name, sides in runs.items():
        p50 = statistics.median(s.p(50) for s in sides)
        p99 = statistics.median(s.p(99) for s in sides)
        print(f"  {name:<8} {median[name]:7.1f} inputs/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  minyi answers/s: {answers:.1f}")
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"  ratio minyi/baseline = {ratio:.3f}  (target >= {TARGET_RATIO}: {met})")
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=50, help="citizens answering at once")
    parser.add_argument("--rounds", type=int, default=2, help="surveys per concurrent citizen")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.db)
        return 0
    print(f"bench_webchat: {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}")
    try:
        asyncio.run(measure(args))
    except AssertionError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
