"""``minyi import outside`` and ``minyi import template outside`` as the office runs them: the
template filled in and imported, a GBK file, a bad file refused whole (audited), a missing
method note refused, the same source again superseding the first."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from openpyxl import load_workbook  # type: ignore[import-untyped]

from .test_cli import NAMES, Minyi, minyi  # noqa: F401 - the fixture is used by name

AS = ("--as", "admin")
NOTE = "蒙速办“好差评”满意度，2026年7—11月，按办事人计"


def gbk_file(path: Path, n: int = 400) -> Path:
    lines = ["单位编码,单位名称,得分,样本量", *(f"{code},{name},88.5,{n}" for code, name in
                                                NAMES.items())]  # fmt: skip
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def _rows(runner: Minyi, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(runner.db)) as connection:
        return list(connection.execute(sql).fetchall())


def test_the_template_filled_in_imports(minyi: Minyi) -> None:  # noqa: F811
    written = minyi("import", "template", "outside")

    assert written.returncode == 0, written.stderr
    assert "外部民意导入模板.xlsx：外部民意导入模板已生成，共 4 个在用单位" in written.stdout
    workbook = load_workbook(minyi.cwd / "外部民意导入模板.xlsx")
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[1]] == ["单位编码", "单位名称", "得分（0–100）", "样本量（人）"]
    assert sheet["A2"].value == "示例"
    assert [c.value for c in sheet["A"]][2:] == sorted(NAMES)
    sheet["C3"], sheet["D3"] = 90, 385
    workbook.save(minyi.cwd / "filled.xlsx")

    result = minyi(*AS, "import", "outside", "filled.xlsx", "--period", "2026H2",
                   "--source", "城市大脑", "--note", "平台评价汇总")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2026H2 外部民意“城市大脑”：已导入 1 个单位的得分和样本量")


def test_a_csv_template_by_name(minyi: Minyi) -> None:  # noqa: F811
    written = minyi("import", "template", "outside", "out/o.csv")

    assert written.returncode == 0, written.stderr
    lines = (minyi.cwd / "out" / "o.csv").read_text("utf-8-sig").splitlines()
    assert lines[:3] == ["单位编码,单位名称,得分（0–100）,样本量（人）",
                         "示例,示例（导入时跳过此行）,86.5,400", "donghe,东河区,,"]  # fmt: skip


def test_a_gbk_file_and_the_same_source_again(minyi: Minyi, tmp_path: Path) -> None:  # noqa: F811
    path = gbk_file(tmp_path / "蒙速办.csv")

    first = minyi(*AS, "import", "outside", str(path), "--period", "2026H1",
                  "--source", "蒙速办满意度", "--note", NOTE)  # fmt: skip
    again = minyi(*AS, "import", "outside", str(gbk_file(path, 500)), "--period", "2026H1",
                  "--source", "蒙速办满意度", "--note", NOTE)  # fmt: skip

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    stored = _rows(minyi, "SELECT rows, superseded_at IS NULL FROM outside_import "
                          "WHERE period = '2026H1' ORDER BY id")  # fmt: skip
    assert stored == [(4, 0), (4, 1)]
    current = _rows(minyi, "SELECT DISTINCT s.n FROM outside_score s JOIN outside_import i "
                           "ON i.id = s.import_id WHERE i.period = '2026H1' "
                           "AND i.superseded_at IS NULL")  # fmt: skip
    assert current == [(500,)]
    audited = _rows(minyi, "SELECT action, target FROM audit_event WHERE action LIKE "
                           "'import.outside%' AND target LIKE '2026H1%'")  # fmt: skip
    assert audited == [("import.outside", "2026H1 蒙速办满意度")] * 2


def test_a_bad_file_is_refused_whole_and_audited(minyi: Minyi, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "bad.csv"
    path.write_text("单位编码,得分,样本量\ndonghe,101,400\nnowhere,80,\n", "utf-8")
    before = minyi.count("outside_import")
    refusals = minyi.count("audit_event")

    result = minyi(*AS, "import", "outside", str(path), "--period", "2026H2",
                   "--source", "民调中心", "--note", "电话访问")  # fmt: skip

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"文件 {path} 有 3 处错误，未保存任何内容。"
    assert lines[1].strip().startswith("bad.csv 第 2 行 B 列“得分”：得分 101 超出范围")
    assert minyi.count("outside_import") == before
    assert minyi.count("audit_event") == refusals + 1


def test_a_missing_note_is_refused(minyi: Minyi, tmp_path: Path) -> None:  # noqa: F811
    before = minyi.count("outside_import")

    result = minyi(*AS, "import", "outside", str(gbk_file(tmp_path / "x.csv")), "--period",
                   "2026H2", "--source", "民调中心", "--note", " ")  # fmt: skip

    assert result.returncode == 2
    assert "方法说明必须填写" in result.stderr
    assert minyi.count("outside_import") == before
