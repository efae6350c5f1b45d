"""``minyi import ratings|monitoring`` refuse the same bombs as the console, with the same
Chinese sentence, exit status 2 and no traceback; ``minyi survey load`` a too deep file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.cli.test_cli import Minyi
from tests.fakes import bombs

AS = ("--as", "admin")


@pytest.fixture(scope="module")
def minyi(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    """One migrated folder with the demo units and the administrator; nothing is stored."""
    minyi = Minyi(tmp_path_factory.mktemp("limits"))
    for args in (("db", "upgrade"), ("demo", "load"), ("user", "add", "admin", "--role", "admin")):
        done = minyi(*args)
        assert done.returncode == 0, done.stderr
    return minyi


def refused(minyi: Minyi, *args: str) -> str:
    before = minyi.count("rating"), minyi.count("monitoring_import")
    result = minyi(*AS, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (minyi.count("rating"), minyi.count("monitoring_import")) == before
    return result.stderr


def test_import_ratings_refuses_a_sparse_sheet_by_its_declared_size(
    minyi: Minyi, tmp_path: Path
) -> None:
    content = bombs.sparse_xlsx([(1, 1, "source_id"), (100_000, 1000, "x")])
    path = bombs.write(tmp_path / "sparse.xlsx", content)

    stderr = refused(minyi, "import", "ratings", str(path))

    assert f"{path}: 1 problem(s)" in stderr
    assert (
        "sparse.xlsx 的工作表“评价”声明的范围是 A1:ALL100000（100000 行 × 1000 列），"
        "超过导入上限 200000 行 × 50 列，未读取。"
    ) in stderr
    assert "Nothing was stored." in stderr


def test_import_ratings_refuses_a_zip_bomb(minyi: Minyi, tmp_path: Path) -> None:
    path = bombs.write(tmp_path / "bomb.xlsx", bombs.zip_bomb_xlsx(unpacked_mb=300))

    stderr = refused(minyi, "import", "ratings", str(path))

    assert "bomb.xlsx 解压后共 300 MB，超过上限 256 MB（疑似压缩炸弹），未读取。" in stderr


def test_import_monitoring_refuses_the_whole_sheet_excel_allows(
    minyi: Minyi, tmp_path: Path
) -> None:
    content = bombs.sparse_xlsx([(1, 1, "单位编码"), (1_048_576, 16_384, "x")])
    path = bombs.write(tmp_path / "xfd.xlsx", content)

    stderr = refused(
        minyi, "import", "monitoring", str(path), "--period", "2026H1", "--component", "日常监测"
    )

    assert (
        "声明的范围是 A1:XFD1048576（1048576 行 × 16384 列），超过导入上限 1000 行 × 50 列"
        in stderr
    )


def test_survey_load_refuses_a_file_nested_20000_deep(minyi: Minyi, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(bombs.deep_yaml(20_000), "utf-8")

    stderr = refused(minyi, "survey", "load", str(path))

    assert "第 1 行：嵌套超过 20 层" in stderr
