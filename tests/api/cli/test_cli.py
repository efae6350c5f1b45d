"""The real ``minyi`` console script, run as a subprocess on a SQLite file in a temp folder.

Each call starts Python afresh (about 1.5 s), so the migrated database with the demo data
is built once per module and copied for every test that changes it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from scoring.demo import survey as demo
from surveys.core.clock import today

MINYI = Path(sys.executable).with_name("minyi")
CLI_TIMEOUT = 120
SERVE_START_TIMEOUT = 120
# Variables a developer's shell may hold that would point the CLI elsewhere.
UNSET = frozenset(
    [
        "DATABASE_URL",
        "BOT_TOKEN",
        "BOT_MODE",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "TELEGRAM_API_URL",
        "API_HOST",
        "API_PORT",
        "REDIS_URL",
        "TIMEZONE",
        "LOG_LEVEL",
        "MINYI_USER",
        "PUBLIC_BASE_URL",
    ]
)

SURVEY_YAML = """\
code: cli-test
title: 命令行测试
period: 2026H1
opens_on: 2026-01-01
closes_on: 2026-06-30
units: all
questions:
  - key: overall
    type: satisfaction
    area: 一网通办
    text: 总体满意吗？
"""

BROKEN_YAML = """\
code: broken
title: 有错的调查
period: 2026H3
opens_on: 2026-01-01
closes_on: 2026-06-30
questions:
  - key: channel
    type: single
    area: 一网通管
    text: 渠道？
    options:
      - {code: app, label: APP}
      - {code: hall, label: 大厅}
  - key: overall
    type: satisfaction
    text: 满意吗？
    show_if: {question: q9, in: [app]}
"""

BAD_UNITS_CSV = """\
code,name,kind
newunit,新单位,旗县区
badkind,错类别,省直部门
newunit,重复,市直部门
"""


@dataclass(frozen=True)
class Minyi:
    """The ``minyi`` command in one working folder, with DATA_DIR=<folder>/var."""

    cwd: Path

    @property
    def data_dir(self) -> Path:
        return self.cwd / "var"

    @property
    def db(self) -> Path:
        return self.data_dir / "minyi.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        return {**env, "DATA_DIR": str(self.data_dir), "SECRET_KEY": "x", **extra}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MINYI), *args],
            cwd=self.cwd,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def count(self, table: str) -> int:
        with closing(sqlite3.connect(self.db)) as connection:
            (n,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(n)

    def unit_codes(self) -> set[str]:
        with closing(sqlite3.connect(self.db)) as connection:
            return {code for (code,) in connection.execute("SELECT code FROM unit")}


@dataclass(frozen=True)
class Migrated:
    minyi: Minyi
    upgrade: subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class DemoLoaded:
    minyi: Minyi
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    listing: subprocess.CompletedProcess[str]


def problems(output: str) -> list[str]:
    """The indented problem lines of a refused file."""
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


def copy_of(source: Minyi, target: Path) -> Minyi:
    shutil.copytree(source.data_dir, target / "var")
    return Minyi(target)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    """``minyi db upgrade`` in a fresh folder."""
    minyi = Minyi(tmp_path_factory.mktemp("migrated"))
    return Migrated(minyi, minyi("db", "upgrade"))


@pytest.fixture(scope="module")
def demo_loaded(migrated: Migrated, tmp_path_factory: pytest.TempPathFactory) -> DemoLoaded:
    """A copy of the migrated folder after ``demo load`` twice, and ``survey list`` then."""
    assert migrated.upgrade.returncode == 0, migrated.upgrade.stderr
    minyi = copy_of(migrated.minyi, tmp_path_factory.mktemp("demo"))
    first, second = minyi("demo", "load"), minyi("demo", "load")
    return DemoLoaded(minyi, first, second, minyi("survey", "list"))


@pytest.fixture(scope="module")
def with_admin(demo_loaded: DemoLoaded, tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    """A copy of the demo folder with its first account, the administrator ``admin``."""
    assert demo_loaded.first.returncode == 0, demo_loaded.first.stderr
    minyi = copy_of(demo_loaded.minyi, tmp_path_factory.mktemp("admin"))
    added = minyi("user", "add", "admin", "--role", "admin")
    assert added.returncode == 0, added.stderr
    return minyi


@pytest.fixture
def minyi(with_admin: Minyi, tmp_path: Path) -> Minyi:
    """A private copy of the demo database with ``admin``, tmp_path as the working folder."""
    return copy_of(with_admin, tmp_path)


class TestDbUpgrade:
    def test_creates_the_sqlite_file_under_data_dir(self, migrated: Migrated) -> None:
        assert migrated.upgrade.returncode == 0, migrated.upgrade.stderr
        assert "database at head" in migrated.upgrade.stdout
        assert migrated.minyi.db.is_file()
        assert migrated.minyi.count("alembic_version") == 1
        assert migrated.minyi.count("unit") == 0


class TestDemoLoad:
    def test_loads_the_35_units_and_the_demo_survey(self, demo_loaded: DemoLoaded) -> None:
        result = demo_loaded.first

        assert result.returncode == 0, result.stderr
        assert "35 unit(s) created, 0 updated" in result.stdout
        assert "new version 1" in result.stdout
        assert demo_loaded.minyi.count("unit") == 35
        assert demo_loaded.minyi.count("survey_version") == 1

    def test_a_second_load_leaves_everything_unchanged(self, demo_loaded: DemoLoaded) -> None:
        result = demo_loaded.second

        assert result.returncode == 0, result.stderr
        assert "0 unit(s) created, 0 updated" in result.stdout
        assert "unchanged, still version 1" in result.stdout
        assert demo_loaded.minyi.count("unit") == 35
        assert demo_loaded.minyi.count("survey_version") == 1


class TestSurveyList:
    def test_shows_code_version_period_and_counts(self, demo_loaded: DemoLoaded) -> None:
        period, _, _ = demo.half_year(today(ZoneInfo("Asia/Shanghai")))
        result = demo_loaded.listing

        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        fields = line.split("\t")
        assert fields[:3] == [f"szzf-{period.lower()}", "v1", period]
        assert fields[4] == "0 completed / 0 started"


class TestSurveyLoad:
    def test_a_broken_file_names_every_problem_by_its_path(self, minyi: Minyi) -> None:
        (minyi.cwd / "broken.yaml").write_text(BROKEN_YAML, "utf-8")

        result = minyi("--as", "admin", "survey", "load", "broken.yaml")

        assert result.returncode == 2
        assert "Nothing was stored." in result.stderr
        found = problems(result.stderr)
        assert "period: period must look like 2026H1 or 2026H2, got '2026H3'" in found
        assert any(p.startswith("questions[0].area: unknown area '一网通管'") for p in found)
        # The show_if problem is found by a model-level check; it must not be lost because
        # field-level problems were found too.
        assert any(p.startswith("questions[1].show_if") and "'q9'" in p for p in found), found
        assert f"broken.yaml: {len(found)} problem(s)" in result.stderr

    def test_a_broken_file_stores_nothing(self, minyi: Minyi, demo_loaded: DemoLoaded) -> None:
        (minyi.cwd / "broken.yaml").write_text(BROKEN_YAML, "utf-8")

        loaded = minyi("--as", "admin", "survey", "load", "broken.yaml")
        listing = minyi("survey", "list")

        assert loaded.returncode == 2
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout == demo_loaded.listing.stdout
        assert (minyi.count("survey"), minyi.count("survey_version")) == (1, 1)

    def test_a_changed_file_becomes_a_new_version(self, minyi: Minyi) -> None:
        survey = minyi.cwd / "survey.yaml"
        survey.write_text(SURVEY_YAML, "utf-8")
        first = minyi("--as", "admin", "survey", "load", "survey.yaml")
        survey.write_text(SURVEY_YAML.replace("总体满意吗？", "总体上满意吗？"), "utf-8")

        second = minyi("--as", "admin", "survey", "load", "survey.yaml")

        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "cli-test: new version 1"
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "cli-test: new version 2"
        assert minyi.count("survey_version") == 3

    def test_an_unknown_unit_code_is_named_by_its_place(self, minyi: Minyi) -> None:
        text = SURVEY_YAML.replace("units: all", "units: [nowhere, kundulun]")
        (minyi.cwd / "survey.yaml").write_text(text, "utf-8")

        result = minyi("--as", "admin", "survey", "load", "survey.yaml")

        assert result.returncode == 2
        assert problems(result.stderr) == [
            "units[0]: unknown unit 'nowhere' (load it with `minyi units load`)"
        ]
        assert "Nothing was stored." in result.stderr
        assert (minyi.count("survey"), minyi.count("survey_version")) == (1, 1)


class TestUnitsLoad:
    def test_a_bad_csv_names_line_and_column_and_stores_nothing(self, minyi: Minyi) -> None:
        (minyi.cwd / "units.csv").write_text(BAD_UNITS_CSV, "utf-8")

        result = minyi("--as", "admin", "units", "load", "units.csv")

        assert result.returncode == 2
        found = problems(result.stderr)
        assert len(found) == 2, found
        assert found[0].startswith("第 3 行 kind 列：“省直部门”不是单位类别")
        assert found[1] == "第 4 行 code 列：单位编码“newunit”重复，前面的行已有该编码。"
        assert "Nothing was stored." in result.stderr
        assert minyi.count("unit") == 35
        assert "newunit" not in minyi.unit_codes()


GOOD_UNITS_CSV = """\
code,name,kind
newunit,新单位,旗县区
"""

AS_REQUIRED = "需要以一个账号执行：minyi --as 用户名 …（或设置环境变量 MINYI_USER）"


class TestActingAccount:
    def test_a_write_without_an_account_is_refused_and_stores_nothing(self, minyi: Minyi) -> None:
        (minyi.cwd / "units.csv").write_text(GOOD_UNITS_CSV, "utf-8")

        result = minyi("units", "load", "units.csv")

        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.strip() == AS_REQUIRED
        assert "Traceback" not in result.stderr
        assert "newunit" not in minyi.unit_codes()

    def test_minyi_user_names_the_account_and_as_overrides_it(self, minyi: Minyi) -> None:
        (minyi.cwd / "units.csv").write_text(GOOD_UNITS_CSV, "utf-8")

        overridden = minyi("--as", "nobody", "units", "load", "units.csv", MINYI_USER="admin")
        loaded = minyi("units", "load", "units.csv", MINYI_USER="admin")

        assert overridden.returncode == 2
        assert overridden.stderr.strip() == "账号不存在或已停用：nobody"
        assert loaded.returncode == 0, loaded.stderr
        assert "newunit" in minyi.unit_codes()

    def test_reads_run_without_an_account_but_not_as_an_unknown_one(self, minyi: Minyi) -> None:
        plain = minyi("survey", "list")
        unknown = minyi("--as", "nobody", "survey", "list")

        assert plain.returncode == 0, plain.stderr
        assert unknown.returncode == 2
        assert unknown.stderr.strip() == "账号不存在或已停用：nobody"


class TestSurveyLink:
    def test_prints_the_deep_link_with_the_unit(self, tmp_path: Path) -> None:
        result = Minyi(tmp_path)(
            "survey", "link", "szzf-2026h2", "--unit", "kundulun",
            PUBLIC_BASE_URL="https://minyi.example.gov.cn",
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        web, telegram = result.stdout.splitlines()
        assert web == "https://minyi.example.gov.cn/c/s/szzf-2026h2/kundulun"
        assert telegram.endswith("?start=s_szzf-2026h2_kundulun")

    def test_a_too_long_combination_fails_clearly(self, tmp_path: Path) -> None:
        code, unit = "c" * 32, "u" * 32  # each valid alone; s_<code>_<unit> is 67 characters

        result = Minyi(tmp_path)("survey", "link", code, "--unit", unit)

        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        assert result.returncode == 2, output
        assert "?start=" not in result.stdout
        assert result.stderr.strip()


class TestServe:
    def test_an_unmigrated_database_is_refused_saying_what_to_run(self, tmp_path: Path) -> None:
        result = Minyi(tmp_path)("serve", API_PORT=str(free_port()))

        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "请先运行 minyi db upgrade" in result.stderr

    def test_without_bot_token_serves_the_api_until_sigterm(self, tmp_path: Path) -> None:
        minyi = Minyi(tmp_path)
        assert minyi("db", "upgrade").returncode == 0
        port = free_port()
        log = tmp_path / "serve.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [str(MINYI), "serve"],
                cwd=tmp_path,
                env=minyi.env(API_PORT=str(port)),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            health = wait_for_health(process, f"http://127.0.0.1:{port}/healthz", log)
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

        output = log.read_text("utf-8")
        assert health.json() == {"status": "ok", "database": "ok"}
        # The banner: the citizens' web chat and the console, and how to add the bot.
        assert f"市民问卷与好差评（手机网页）：http://127.0.0.1:{port}/c/" in output
        assert f"管理后台（工作人员）：http://127.0.0.1:{port}/console/" in output
        assert "BOT_TOKEN=" in output
        assert returncode == 0, output


def wait_for_health(process: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    """GET /healthz until it answers; fail with the log if the process ends or hangs."""
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"minyi serve exited:\n{log.read_text('utf-8')}"
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"minyi serve did not answer {url}:\n{log.read_text('utf-8')}")


class TestDemoActivity:
    def test_fills_both_halves_for_a_full_ranking_once(
        self, demo_loaded: DemoLoaded, tmp_path: Path
    ) -> None:
        minyi = copy_of(demo_loaded.minyi, tmp_path)

        first, second = minyi("demo", "activity"), minyi("demo", "activity")

        assert first.returncode == 0, first.stderr
        assert "6 monitoring imports" in first.stdout
        assert "console account 'admin' created" in first.stdout
        ratings = minyi.count("rating")
        assert ratings > 35 * 2 * 60  # every unit, both halves, at least 60 each
        assert minyi.count("monitoring_import") == 6
        assert second.returncode == 0, second.stderr
        assert "0 ratings, 0 survey responses, 0 monitoring imports" in second.stdout
        assert "console account" not in second.stdout
        assert minyi.count("rating") == ratings
        # admin, and the units' demo staff the first call reported (the second adds none)
        staff = re.search(r"(\d+) demo staff accounts", first.stdout)
        assert staff is not None, first.stdout
        assert "demo staff" not in second.stdout
        assert minyi.count("staff_user") == 1 + int(staff.group(1))
        scored = minyi("score", "--year", str(today(ZoneInfo("Asia/Shanghai")).year))
        assert scored.returncode == 0, scored.stderr
        # A full ranking: every unit has an annual score from both halves.
        assert scored.stdout.count("年度分") == 35
