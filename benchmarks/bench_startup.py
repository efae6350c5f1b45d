"""How lean the processes are: ``minyi --help`` and ``minyi score --help`` start-up, and the
memory of an idle ``minyi serve``, each beside a bare baseline measured in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_startup.py [--runs 9] [--serve-runs 3] [--idle 3]

* **start-up**: the median wall time of ``--runs`` runs of ``minyi --help`` and of
  ``minyi score --help`` (which imports the scoring command), each a new process, beside a
  bare Typer app of one group and one command printing its ``--help`` (the CLI library's own
  cost) and ``python -c "import argparse"`` (the interpreter's). Runs alternate, so a busy
  moment of the machine falls on both sides.
* **idle memory**: ``minyi serve`` (no BOT_TOKEN) on a fresh SQLite database migrated with
  ``minyi db upgrade`` in a temporary folder, on a free port; once ``/healthz`` answers it
  is left alone for ``--idle`` seconds and its resident memory (``VmRSS`` of
  ``/proc/<pid>/status``) is read, then it is stopped. Beside it, a bare FastAPI app with
  one route (this file, ``--serve-baseline``) under the same uvicorn, read the same way.
  The median of ``--serve-runs`` runs of each.

Targets (issue "A city's year of data on one machine", point 5): ``minyi --help`` under 0.5 s,
``minyi serve`` idle at most 150 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PYTHON = sys.executable
MINYI = str(Path(sys.executable).with_name("minyi"))
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0
ENV_UNSET = ("DATABASE_URL", "BOT_TOKEN", "REDIS_URL", "API_HOST", "API_PORT", "PUBLIC_BASE_URL")
HELP_TARGET_S = 0.5
RSS_TARGET_MB = 150.0

BARE_TYPER = """
import typer
app = typer.Typer(help="A bare app.", no_args_is_help=True)
group = typer.Typer(help="A group.")
@group.command()
def one() -> None:
    "A command of the group."
@app.command()
def two() -> None:
    "A command."
app.add_typer(group, name="group")
app()
"""


# --- start-up ------------------------------------------------------------------------------


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stderr.decode()}")
    return seconds


def startup(runs: int, env: dict[str, str]) -> dict[str, float]:
    commands = {
        "minyi --help": [MINYI, "--help"],
        "minyi score --help": [MINYI, "score", "--help"],
        "bare Typer --help": [PYTHON, "-c", BARE_TYPER, "--help"],
        "python -c 'import argparse'": [PYTHON, "-c", "import argparse"],
    }
    for command in commands.values():  # warm the file cache once
        wall(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(wall(command, env))
    return {name: statistics.median(values) for name, values in times.items()}


# --- idle memory -------------------------------------------------------------------------


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_UNSET}
    return {**env, "DATA_DIR": str(data_dir), "SECRET_KEY": "bench-startup", "API_PORT": str(port),
            "LOG_LEVEL": "WARNING"}  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def idle_rss(command: list[str], env: dict[str, str], port: int, idle: float, log: Path) -> float:
    """Start ``command``, wait for /healthz, leave it idle, read its VmRSS, stop it."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not start:\n{log.read_text()}")
            url = f"http://127.0.0.1:{port}/healthz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    break
            time.sleep(0.1)
        time.sleep(idle)
        return rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def memory(runs: int, idle: float, root: Path) -> dict[str, float]:
    sizes: dict[str, list[float]] = {"minyi serve": [], "bare FastAPI + uvicorn": []}
    for index in range(1, runs + 1):
        data = root / f"minyi-{index}"
        port = free_port()
        env = environment(data, port)
        subprocess.run([MINYI, "db", "upgrade"], env=env, capture_output=True, check=True)
        minyi = idle_rss([MINYI, "serve"], env, port, idle, root / f"serve-{index}.log")
        port = free_port()
        command = [PYTHON, __file__, "--serve-baseline", str(port)]
        bare = idle_rss(command, env, port, idle, root / f"bare-{index}.log")
        print(f"  run {index}: minyi serve {minyi:6.1f} MB, bare {bare:6.1f} MB", flush=True)
        sizes["minyi serve"].append(minyi)
        sizes["bare FastAPI + uvicorn"].append(bare)
    return {name: statistics.median(values) for name, values in sizes.items()}


def serve_baseline(port: int) -> None:
    """A bare FastAPI + uvicorn app serving one route."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="start-up runs of each command")
    parser.add_argument("--serve-runs", type=int, default=3, help="idle-memory runs of each")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    print(f"bench_startup: {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}")
    env = {k: v for k, v in os.environ.items() if k not in ENV_UNSET}
    times = startup(args.runs, env)
    bare = times["bare Typer --help"]
    print(f"\nstart-up, median of {args.runs} runs:")
    for name, seconds in times.items():
        print(f"  {name:<30} {seconds:6.3f} s  ({seconds / bare:4.2f}x bare Typer --help)")
    met = "met" if times["minyi --help"] < HELP_TARGET_S else "NOT met"
    print(f"  minyi --help: target < {HELP_TARGET_S} s: {met}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        print(f"\nidle memory after {args.idle:g} s (VmRSS):")
        sizes = memory(args.serve_runs, args.idle, Path(tmp))
    minyi, bare_mb = sizes["minyi serve"], sizes["bare FastAPI + uvicorn"]
    print(f"median of {args.serve_runs} runs:")
    print(f"  minyi serve              {minyi:6.1f} MB")
    print(f"  bare FastAPI + uvicorn   {bare_mb:6.1f} MB")
    met = "met" if minyi <= RSS_TARGET_MB else "NOT met"
    print(f"  ratio minyi/bare = {minyi / bare_mb:.2f}  (target <= {RSS_TARGET_MB:g} MB: {met})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
