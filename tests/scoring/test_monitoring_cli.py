"""``minyi import monitoring`` and ``minyi import template`` as the office runs them: a GBK
file, a far half-year refused (audited) then imported with ``--force``, a named template."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook  # type: ignore[import-untyped]

from .test_cli import NAMES, Minyi, minyi  # noqa: F401 - the fixture is used by name

AS = ("--as", "admin")


def gbk_totals(path: Path, score: int = 80) -> Path:
    lines = ["单位编码,单位名称,总分", *(f"{code},{name},{score}" for code, name in NAMES.items())]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def test_a_gbk_file_imports_and_says_its_header_row(minyi: Minyi, tmp_path: Path) -> None:  # noqa: F811
    path = gbk_totals(tmp_path / "日常监测.csv")

    result = minyi(*AS, "import", "monitoring", str(path), "--period", "2026H2",
                   "--component", "日常监测")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "2026H2 日常监测：已导入 4 个单位的得分（按总分），表头取自第 1 行。" in result.stdout


def test_a_far_half_year_is_refused_then_forced(minyi: Minyi, tmp_path: Path) -> None:  # noqa: F811
    path = gbk_totals(tmp_path / "x.csv")
    before = minyi.count("monitoring_import")
    refusals = minyi.count("audit_event")

    refused = minyi(*AS, "import", "monitoring", str(path), "--period", "2030H2",
                    "--component", "实地调研")  # fmt: skip

    assert refused.returncode == 2
    assert "考评期间 2030H2 不在常规导入范围" in refused.stderr
    assert "--force" in refused.stderr
    assert minyi.count("monitoring_import") == before
    assert minyi.count("audit_event") == refusals + 1  # the refusal, committed alone
    forced = minyi(*AS, "import", "monitoring", str(path), "--period", "2030H2",
                   "--component", "实地调研", "--force")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert minyi.count("monitoring_import") == before + 1


def test_an_unfilled_template_is_refused_in_one_line(minyi: Minyi) -> None:  # noqa: F811
    written = minyi("import", "template", "第三方.xlsx", "--component", "第三方评估")
    assert written.returncode == 0, written.stderr

    result = minyi(*AS, "import", "monitoring", "第三方.xlsx", "--period", "2026H2",
                   "--component", "第三方评估")  # fmt: skip

    sheet = load_workbook(minyi.cwd / "第三方.xlsx").worksheets[0]
    assert (sheet.title, sheet.freeze_panes, sheet["I1"].value) == (
        "第三方评估",
        "C2",
        "统筹管理（满分 5）",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "文件 第三方.xlsx 有 1 处错误，未保存任何内容。"
    assert lines[1].strip().startswith("模板尚未填写：第三方.xlsx 工作表“第三方评估” 中 4 个单位")
