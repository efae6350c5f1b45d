"""A ratings file over the import limits is refused whole, in Chinese, before it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.core.table_files import FileTooLarge
from surveys.haochaping.imports import LIMITS, read_ratings_file
from tests.fakes import bombs

HEADER = ["source_id", "unit", "level", "channel", "rated_at"]


def refused(path: Path) -> str:
    with pytest.raises(FileTooLarge) as caught:
        read_ratings_file(path)
    assert caught.value.source == str(path)
    return " ".join(caught.value.problems)


def test_a_sparse_sheet_declaring_100000_rows_by_1000_columns_is_refused(
    tmp_path: Path,
) -> None:
    content = bombs.sparse_xlsx([(1, 1, "source_id"), (100_000, 1000, "x")])
    path = bombs.write(tmp_path / "ratings.xlsx", content)

    problem = refused(path)

    assert "ratings.xlsx 的工作表“评价”声明的范围是 A1:ALL100000（100000 行 × 1000 列）" in problem
    assert f"超过导入上限 {LIMITS.rows} 行 × {LIMITS.columns} 列" in problem


def test_the_whole_sheet_excel_allows_is_refused(tmp_path: Path) -> None:
    content = bombs.sparse_xlsx([(1, 1, "source_id"), (1_048_576, 16_384, "x")])

    assert "A1:XFD1048576" in refused(bombs.write(tmp_path / "xfd.xlsx", content))


def test_a_zip_bomb_is_refused_by_its_unpacked_size(tmp_path: Path) -> None:
    content = bombs.zip_bomb_xlsx(unpacked_mb=LIMITS.unpacked_bytes // bombs.MB + 1)

    problem = refused(bombs.write(tmp_path / "bomb.xlsx", content))

    assert "bomb.xlsx 解压后共 257 MB，超过上限 256 MB（疑似压缩炸弹）" in problem


def test_a_csv_with_more_rows_than_the_limit_is_refused(tmp_path: Path) -> None:
    line = "F-{n},kundulun,满意,4,2026-03-01T10:00:00+08:00\n"
    text = ",".join(HEADER) + "\n" + "".join(line.format(n=n) for n in range(LIMITS.rows))
    path = tmp_path / "many.csv"
    path.write_text(text, "utf-8")

    assert f"many.csv 超过 {LIMITS.rows} 行" in refused(path)


def test_a_file_within_the_limits_is_read_as_before(tmp_path: Path) -> None:
    content = bombs.sparse_xlsx(
        [(1, n + 1, name) for n, name in enumerate(HEADER)]
        + [
            (2, n + 1, v)
            for n, v in enumerate(["F-1", "kundulun", "满意", 4, "2026-03-01T10:00:00+08:00"])
        ]
    )

    rows = read_ratings_file(bombs.write(tmp_path / "ok.xlsx", content))

    assert rows == [
        {"source_id": "F-1", "unit": "kundulun", "level": "satisfied", "channel": "4",
         "rated_at": "2026-03-01T10:00:00+08:00"},
    ]  # fmt: skip
