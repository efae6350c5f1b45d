"""Heavy modules are imported only where used: ``minyi --help`` loads no command's module, and
``minyi serve`` without a bot token loads neither the bot (aiogram) nor the spreadsheet,
scoring and PDF libraries until a request needs them.

Each check runs in a new interpreter and looks at ``sys.modules`` (what was imported), not at
the time it took."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import api.cli
from surveys.core import migrate
from surveys.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

# Never needed to list the commands.
CLI_HEAVY = (
    "pandas",
    "numpy",
    "openpyxl",
    "weasyprint",
    "aiogram",
    "sqlalchemy",
    "sqlmodel",
    "fastapi",
    "alembic",
    "scoring",
    "surveys.core.db",
)
# Never needed by an idle server without BOT_TOKEN.
SERVE_HEAVY = ("pandas", "numpy", "openpyxl", "weasyprint", "aiogram")


def loaded_after(code: str, *args: str, cwd: Path = ROOT) -> dict[str, Any]:
    """Run ``code`` in a new interpreter; it prints a JSON object as its last line."""
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


HEAVY_LOADED = """
    def heavy(names):
        return sorted(m for m in sys.modules if m.split(".")[0] in names or m in names)
"""


def test_listing_the_commands_imports_none_of_them() -> None:
    code = (
        "import json, sys\n"
        + textwrap.dedent(HEAVY_LOADED)
        + """
from typer.testing import CliRunner
import api.cli
result = CliRunner().invoke(api.cli.app, ["--help"])
assert result.exit_code == 0, result.output
names = sys.argv[1].split(",")
print(json.dumps({"heavy": heavy(names), "commands": sorted(
    m for m in sys.modules if m.startswith("api.cli.")), "help": result.output}))
"""
    )
    found = loaded_after(code, ",".join(CLI_HEAVY))
    assert found["heavy"] == []
    assert found["commands"] == []
    for name in api.cli.COMMANDS:
        assert f" {name} " in found["help"]


def test_a_command_is_loaded_when_it_runs() -> None:
    code = """
        import json, sys
        from typer.testing import CliRunner
        import api.cli
        result = CliRunner().invoke(api.cli.app, ["db", "--help"])
        assert result.exit_code == 0, result.output
        print(json.dumps({"db": "api.cli.db" in sys.modules, "qr": "api.cli.qr" in sys.modules}))
    """
    assert loaded_after(code) == {"db": True, "qr": False}


@pytest.mark.parametrize("name", list(api.cli.COMMANDS))
def test_each_summary_is_the_first_paragraph_of_the_commands_own_help(name: str) -> None:
    command = api.cli.load_command(name)
    assert command.name == name
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert api.cli.COMMANDS[name][2] == first


def test_the_list_of_commands_reads_as_when_every_command_is_loaded() -> None:
    lazy = CliRunner().invoke(api.cli.app, ["--help"], terminal_width=100)
    everything = typer.Typer(help=api.cli.app.info.help, no_args_is_help=True)
    everything.callback()(api.cli.root)
    for name, (module, attribute, _) in api.cli.COMMANDS.items():
        target = getattr(__import__(f"api.cli.{module}", fromlist=[attribute]), attribute)
        if isinstance(target, typer.Typer):
            everything.add_typer(target, name=name)
        else:
            everything.command(name)(target)
    loaded = CliRunner().invoke(everything, ["--help"], terminal_width=100)
    assert lazy.exit_code == loaded.exit_code == 0
    assert lazy.output == loaded.output


def test_a_mistyped_command_is_still_named_in_the_suggestion() -> None:
    result = CliRunner().invoke(api.cli.app, ["scor"])
    assert result.exit_code == 2
    assert "score" in result.output


def test_serve_without_a_bot_token_loads_no_bot_and_no_heavy_library(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="lean", _env_file=None)  # type: ignore[call-arg]
    migrate.upgrade(settings.db_url)
    code = (
        "import asyncio, json, sys\n"
        + textwrap.dedent(HEAVY_LOADED)
        + """
from pathlib import Path

import httpx

import api.cli.serve
from api.jobs import Jobs
from api.server import create_app, uvicorn_config
from surveys.core.db import create_sessionmaker, engine_from_settings
from surveys.core.settings import Settings

settings = Settings(data_dir=Path(sys.argv[2]), secret_key="lean", _env_file=None)
assert settings.bot_token is None


async def main():
    engine = engine_from_settings(settings)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker)
    uvicorn_config(settings, app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://minyi") as client:
        health = (await client.get("/healthz")).status_code
    done = await Jobs(settings, sessionmaker).round()  # what an idle server runs
    await engine.dispose()
    return health, sorted(done)


health, jobs = asyncio.run(main())
print(json.dumps({"heavy": heavy(sys.argv[1].split(",")), "health": health, "jobs": jobs}))
"""
    )
    found = loaded_after(code, ",".join(SERVE_HEAVY), str(tmp_path), cwd=tmp_path)
    assert found["health"] == 200
    assert {"relay", "reminders", "invitations", "retention"} <= set(found["jobs"])
    assert found["heavy"] == []
