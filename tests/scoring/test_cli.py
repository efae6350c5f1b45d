"""``minyi import monitoring|template`` and ``minyi score``, run as the real console script."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from surveys.core import migrate
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work

from .test_hand_computed import seed

MINYI = Path(sys.executable).with_name("minyi")
UNSET = {"DATABASE_URL", "TIMEZONE", "SCORING_METHOD_FILE", "LOG_LEVEL", "MINYI_USER"}
AT = "2027-01-10T09:00:00+08:00"
TOTALS = {
    ("2026H1", "日常监测"): {"donghe": 80, "qingshan": 70, "yibao": 90, "shuiwu": 85},
    ("2026H1", "实地调研"): {"donghe": 90, "qingshan": 80, "yibao": 60, "shuiwu": 75},
    ("2026H1", "第三方评估"): {"donghe": 70, "qingshan": 90, "yibao": 80, "shuiwu": 100},
    ("2026H2", "日常监测"): {"donghe": 90, "qingshan": 80, "yibao": 70, "shuiwu": 60},
    ("2026H2", "实地调研"): {"donghe": 80, "qingshan": 70, "yibao": 70, "shuiwu": 80},
    ("2026H2", "第三方评估"): {"donghe": 80, "qingshan": 60, "yibao": 70, "shuiwu": 100},
}
NAMES = {"donghe": "东河区", "qingshan": "青山区", "yibao": "市医保局", "shuiwu": "市税务局"}


@dataclass(frozen=True)
class Minyi:
    cwd: Path

    @property
    def db(self) -> Path:
        return self.cwd / "var" / "minyi.db"

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in UNSET}
        return subprocess.run(
            [str(MINYI), *args], cwd=self.cwd, capture_output=True, text=True, timeout=120,
            env={**base, "DATA_DIR": str(self.cwd / "var"), "SECRET_KEY": "x", **env},
            check=False,
        )  # fmt: skip

    def count(self, table: str) -> int:
        with closing(sqlite3.connect(self.db)) as connection:
            (n,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(n)


def totals_csv(path: Path, scores: dict[str, int]) -> Path:
    lines = ["单位编码,单位名称,总分", *(f"{c},{NAMES[c]},{s}" for c, s in scores.items())]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await seed(session)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def minyi(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    """A migrated database with the units, ratings and answers of the hand-computed case."""
    runner = Minyi(tmp_path_factory.mktemp("scoring-cli"))
    url = f"sqlite+aiosqlite:///{runner.db.as_posix()}"
    migrate.upgrade(url)
    asyncio.run(_seed(url))
    with closing(sqlite3.connect(runner.db)) as connection:
        connection.execute("UPDATE unit SET active = 1 WHERE code = 'shuiwu'")
        connection.commit()
    added = runner("user", "add", "admin", "--role", "admin")  # the first account
    assert added.returncode == 0, added.stderr
    return runner


class TestImportCommands:
    def test_template_lists_every_active_unit(self, minyi: Minyi) -> None:
        result = minyi("import", "template", "out/t.csv", "--by", "total")

        assert result.returncode == 0, result.stderr
        lines = (minyi.cwd / "out" / "t.csv").read_text("utf-8-sig").splitlines()
        assert lines == ["单位编码,单位名称,总分（满分 100）", "donghe,东河区,",
                         "qingshan,青山区,", "shuiwu,市税务局,", "yibao,市医保局,"]  # fmt: skip

    def test_template_xlsx_with_area_columns(self, minyi: Minyi) -> None:
        result = minyi("import", "template", "t.xlsx")

        assert result.returncode == 0, result.stderr
        assert "t.xlsx：导入模板已生成，共 4 个在用单位" in result.stdout

    def test_a_bad_file_is_refused_whole(self, minyi: Minyi, tmp_path: Path) -> None:
        bad = tmp_path / "bad.csv"
        bad.write_text("单位编码,单位名称,总分\ndonghe,东河,101\nnowhere,,5\n", "utf-8")
        before = minyi.count("monitoring_import"), minyi.count("monitoring_score")

        result = minyi("--as", "admin", "import", "monitoring", str(bad), "--period", "2026H1",
                       "--component", "日常监测")  # fmt: skip

        assert result.returncode == 2
        assert "第 2 行 B 列“单位名称”：单位名称“东河”与编码“donghe”登记的名称“东河区”" in (
            result.stderr
        )
        assert "bad.csv 第 2 行 C 列“总分”：101 超过“总分”的满分 100。" in result.stderr
        assert "bad.csv 第 3 行 A 列“单位编码”：没有编码为“nowhere”的单位。" in result.stderr
        assert "缺少 3 个在用单位的行：qingshan 青山区、shuiwu 市税务局、yibao" in result.stderr
        assert f"文件 {bad} 有 4 处错误，未保存任何内容。" in result.stderr
        assert (minyi.count("monitoring_import"), minyi.count("monitoring_score")) == before

    def test_a_bad_period_is_refused_in_chinese(self, minyi: Minyi, tmp_path: Path) -> None:
        path = totals_csv(tmp_path / "x.csv", TOTALS[("2026H1", "日常监测")])

        result = minyi("--as", "admin", "import", "monitoring", str(path), "--period", "2026H3",
                       "--component", "日常监测")  # fmt: skip

        assert result.returncode == 2
        assert "考评期间“2026H3”格式不正确" in result.stderr


@pytest.fixture(scope="module")
def imported(minyi: Minyi, tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    folder = tmp_path_factory.mktemp("files")
    for (period, component), scores in TOTALS.items():
        path = totals_csv(folder / f"{period}-{component}.csv", scores)
        result = minyi("--as", "admin", "import", "monitoring", str(path), "--period", period,
                       "--component", component)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"{period} {component}：已导入 4 个单位的得分（按总分），表头取自第 1 行" in (
            result.stdout
        )
    return minyi


class TestScore:
    def test_period_ranks_within_kind(self, imported: Minyi) -> None:
        result = imported("score", "--period", "2026H1", "--at", AT)

        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "fingerprint" in out
        assert "== 2026H1 排名组：旗县区和高新区 ==\n1 (1)\tdonghe\t东河区\t半年分 79.88" in out
        assert "2 (2)\tqingshan\t青山区\t半年分 74.50" in out
        # 市税务局: 0.6 × 85 + 0.2 × 75 + 0.1 × 50 + 0.1 × 100 = 81 beside 市医保局's 81.5;
        # their intervals overlap, so both are in the band 1–2.
        assert "== 2026H1 排名组：市直部门 ==\n1 (1–2)\tyibao\t市医保局\t半年分 81.50" in out
        assert "2 (1–2)\tshuiwu\t市税务局\t半年分 81.00" in out
        assert "样本不足" in out

    def test_each_unit_lists_its_sources_as_the_export_has_them(self, imported: Minyi) -> None:
        result = imported("--as", "admin", "score", "--period", "2026H1", "--at", AT,
                          "--out", "sources", "--format", "json")  # fmt: skip

        assert result.returncode == 0, result.stderr
        document = json.loads((imported.cwd / "sources" / "scores_2026H1.json").read_text())
        lines = result.stdout.splitlines()
        assert "民意调查得分为各来源得分的加权平均，权重：问卷调查 1" in result.stdout
        rows = [r for r in document["opinion"] if r["source_code"] != "combined"]
        assert {r["source_code"] for r in rows} >= {"survey", "rating"}
        for row in rows:
            start = next(i for i, line in enumerate(lines) if f"\t{row['unit_code']}\t" in line)
            block = []
            for line in lines[start + 1 :]:
                if not line.startswith("\t"):
                    break
                block.append(line)
            shown = (
                f"\t{row['source']} {row['score']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
                f" n={row['n']} 权重 {row['weight']:.2f}%"
            )
            assert any(line.startswith(shown) for line in block), (shown, block)

    def test_year_and_exports_are_byte_identical(self, imported: Minyi) -> None:
        first = imported("--as", "admin", "score", "--year", "2026", "--at", AT, "--out", "one")
        second = imported("--as", "admin", "score", "--year", "2026", "--at", AT,
                          "--out", "two", "--format", "csv,json")  # fmt: skip

        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        assert "donghe\t东河区\t年度分 83.94" in first.stdout
        one, two = imported.cwd / "one", imported.cwd / "two"
        assert sorted(p.name for p in one.iterdir()) == [
            "components_2026.csv", "method_2026.csv", "opinion_2026.csv", "ranking_2026.csv",
            "scores_2026.json", "scores_2026.xlsx",
        ]  # fmt: skip
        for path in two.iterdir():
            assert path.read_bytes() == (one / path.name).read_bytes(), path.name
        assert "xlsx" not in " ".join(p.name for p in two.iterdir())

    def test_exports_are_audited_and_need_an_account(self, imported: Minyi) -> None:
        def exports() -> list[tuple[str, str, str]]:
            with closing(sqlite3.connect(imported.db)) as connection:
                rows = connection.execute(
                    "SELECT actor, target, address FROM audit_event"
                    " WHERE action = 'export.scores' ORDER BY id"
                ).fetchall()
            return [tuple(row) for row in rows]

        before = exports()
        refused = imported("score", "--period", "2026H1", "--out", "nobody")
        done = imported("--as", "admin", "score", "--period", "2026H1", "--out", "audited",
                        "--format", "json")  # fmt: skip

        assert refused.returncode == 2
        assert not (imported.cwd / "nobody").exists()
        assert done.returncode == 0, done.stderr
        assert exports() == [*before, ("admin", "2026H1", "cli")]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), "give exactly one of --period 2026H1 or --year 2026"),
            (("--period", "2026H1", "--year", "2026"), "give exactly one of"),
            (("--year", "26"), "考评期间“26”格式不正确"),
            (("--period", "2026H1", "--format", "pdf"), "--format 'pdf': choose from"),
            (("--period", "2026H1", "--at", "yesterday"), "give an ISO time"),
        ],
    )
    def test_refusals(self, minyi: Minyi, args: tuple[str, ...], message: str) -> None:
        result = minyi("score", *args)

        assert result.returncode == 2
        assert message in result.stderr

    def test_a_bad_method_file_names_the_field(self, minyi: Minyi, tmp_path: Path) -> None:
        path = tmp_path / "m.yaml"
        shipped = (Path(__file__).parents[2] / "scoring" / "method.yaml").read_text("utf-8")
        path.write_text(shipped.replace("min_sample: 385", "min_sample: -1"), "utf-8")

        result = minyi("score", "--period", "2026H1", SCORING_METHOD_FILE=str(path))

        assert result.returncode == 2
        assert "min_sample: Input should be greater than or equal to 1" in result.stderr
