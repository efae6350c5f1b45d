"""A monitoring file over its limits (1,000 rows, 50 columns, 5 MB) is refused in Chinese."""

from __future__ import annotations

import pytest

from scoring.monitoring import LIMITS, read_table
from surveys.core.table_files import FileTooLarge
from tests.fakes import bombs


def refused(name: str, content: bytes) -> str:
    with pytest.raises(FileTooLarge) as caught:
        read_table(name, content)
    return " ".join(caught.value.problems)


def test_a_sparse_sheet_is_refused_by_the_size_it_declares() -> None:
    content = bombs.sparse_xlsx([(1, 1, "单位编码"), (100_000, 1000, "x")])

    problem = refused("daily.xlsx", content)

    assert "daily.xlsx 的工作表“评价”声明的范围是 A1:ALL100000（100000 行 × 1000 列）" in problem
    assert "超过导入上限 1000 行 × 50 列" in problem


def test_a_zip_bomb_is_refused_by_its_unpacked_size() -> None:
    content = bombs.zip_bomb_xlsx(unpacked_mb=LIMITS.unpacked_bytes // bombs.MB + 10)

    assert "解压后共 60 MB，超过上限 50 MB" in refused("bomb.xlsx", content)


def test_a_csv_of_more_than_1000_rows_is_refused() -> None:
    content = ("单位编码,单位名称,总分\n" + "u,名称,50\n" * LIMITS.rows).encode()

    assert "many.csv 超过 1000 行" in refused("many.csv", content)


def test_a_csv_over_5_mb_is_refused_before_it_is_read() -> None:
    content = b"x" * (LIMITS.file_bytes + 1)

    assert refused("big.csv", content) == "big.csv 有 5 MB，超过导入上限 5 MB。请拆分后分别导入。"


def test_a_sheet_within_the_limits_is_read_as_text() -> None:
    content = bombs.sparse_xlsx(
        [(1, 1, "单位编码"), (1, 2, "总分"), (2, 1, "donghe"), (2, 2, 80.0)]
    )

    assert read_table("ok.xlsx", content) == [["单位编码", "总分"], ["donghe", "80"]]
