"""Tables within limits: a file over a limit is refused whole, with one Chinese sentence
naming the file, the sheet and the size it declares, before its cells are read."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from surveys.core.exceptions import InvalidFile
from surveys.core.table_files import FileTooLarge, TableLimits, read_csv, read_xlsx
from tests.fakes import bombs

NAIVE = datetime(2026, 3, 1)  # noqa: DTZ001 - a spreadsheet date cell has no offset
SMALL = TableLimits(rows=100, columns=10, file_bytes=1 << 20, unpacked_bytes=2 << 20, sheets=3)


def refusal(read: object, *args: object) -> str:
    with pytest.raises(FileTooLarge) as caught:
        read(*args)  # type: ignore[operator]
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


class TestXlsx:
    def test_a_workbook_within_the_limits_is_read_row_by_row(self) -> None:
        content = bombs.sparse_xlsx(
            [(1, 1, "a"), (1, 2, "b"), (2, 1, 5.0), (2, 3, True), (4, 2, NAIVE)]
        )

        rows = read_xlsx("ok.xlsx", content, SMALL)

        assert rows == [["a", "b"], ["5", "", "true"], [], ["", NAIVE]]

    def test_a_sheet_declaring_more_rows_and_columns_is_refused_by_its_declaration(
        self,
    ) -> None:
        content = bombs.sparse_xlsx([(1, 1, "source_id"), (100_000, 1000, "x")])

        problem = refusal(read_xlsx, "/tmp/稀疏.xlsx", content, SMALL)

        assert problem == (
            "稀疏.xlsx 的工作表“评价”声明的范围是 A1:ALL100000（100000 行 × 1000 列），"
            "超过导入上限 100 行 × 10 列，未读取。请删除多余的空行和空列（或把数据复制到新的"
            "工作表）后再导入。"
        )

    def test_the_largest_sheet_excel_allows_is_refused_the_same_way(self) -> None:
        content = bombs.sparse_xlsx([(1, 1, "a"), (1_048_576, 16_384, "x")])

        assert "A1:XFD1048576（1048576 行 × 16384 列）" in refusal(
            read_xlsx, "xfd.xlsx", content, SMALL
        )

    def test_one_column_too_many_is_refused(self) -> None:
        content = bombs.sparse_xlsx([(1, 11, "k")])

        assert "A1:K1（1 行 × 11 列）" in refusal(read_xlsx, "wide.xlsx", content, SMALL)

    def test_a_sheet_that_declares_no_size_is_refused_at_the_first_cell_past_a_limit(
        self,
    ) -> None:
        far_down = bombs.undeclared_xlsx([(1, 1, "a"), (1_000_000, 1, "x")])
        too_wide = bombs.undeclared_xlsx([(1, 1, "a"), (2, 11, "x")])

        assert "在 A1000000 单元格处仍有内容" in refusal(read_xlsx, "a.xlsx", far_down, SMALL)
        assert "在 K2 单元格处仍有内容" in refusal(read_xlsx, "b.xlsx", too_wide, SMALL)

    def test_cells_far_right_in_a_sheet_without_a_size_are_never_read(self) -> None:
        # Rows are cut one column past the limit, so no row grows to 16,384 cells.
        content = bombs.undeclared_xlsx([(1, 1, "a"), (2, 16_384, "x")])

        assert read_xlsx("far.xlsx", content, SMALL) == [["a"]]

    def test_a_sheet_without_a_size_but_within_the_limits_is_read_whole(self) -> None:
        content = bombs.undeclared_xlsx([(1, 1, "a"), (3, 2, "b")])

        assert read_xlsx("ok.xlsx", content, SMALL) == [["a"], [], ["", "b"]]

    def test_a_zip_bomb_is_refused_by_its_directory_before_it_is_unpacked(self) -> None:
        content = bombs.zip_bomb_xlsx(unpacked_mb=5)
        assert len(content) < 100_000

        problem = refusal(read_xlsx, "bomb.xlsx", content, SMALL)

        assert problem.startswith("bomb.xlsx 解压后共 5 MB，超过上限 2 MB（疑似压缩炸弹）")

    def test_too_many_sheets_are_refused(self) -> None:
        content = bombs.sparse_xlsx([(1, 1, "a")], sheets=4)

        assert refusal(read_xlsx, "s.xlsx", content, SMALL) == (
            "s.xlsx 有 4 个工作表，超过上限 3 个，未读取。"
        )

    def test_too_many_zip_members_are_refused(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for n in range(30):
                archive.writestr(f"junk/{n}.txt", b"")
        limits = TableLimits(rows=10, members=20)

        assert "含 30 个压缩成员，超过上限 20 个" in refusal(
            read_xlsx, "z.xlsx", buffer.getvalue(), limits
        )

    def test_a_file_too_large_is_refused_before_it_is_opened(self, tmp_path: Path) -> None:
        path = bombs.write(tmp_path / "big.xlsx", b"\0" * (SMALL.file_bytes + 1))

        assert refusal(read_xlsx, str(path), path, SMALL) == (
            "big.xlsx 有 1 MB，超过导入上限 1 MB。请拆分后分别导入。"
        )

    def test_what_is_not_a_workbook_is_still_an_ordinary_problem(self) -> None:
        with pytest.raises(InvalidFile) as caught:
            read_xlsx("x.xlsx", b"not a zip", SMALL)

        assert not isinstance(caught.value, FileTooLarge)
        assert "x.xlsx 不是可读取的 .xlsx 工作簿" in caught.value.problems[0]


class TestCsv:
    def test_rows_up_to_the_limit_are_read(self) -> None:
        text = "\n".join(f"r{n},x" for n in range(SMALL.rows)) + "\n"

        assert len(read_csv("ok.csv", text.encode(), SMALL)) == SMALL.rows

    def test_one_row_more_is_refused(self) -> None:
        text = "\n".join(f"r{n},x" for n in range(SMALL.rows + 1)) + "\n"

        assert refusal(read_csv, "many.csv", text.encode(), SMALL) == (
            "many.csv 超过 100 行，超过导入上限。请拆分后分别导入。"
        )

    def test_a_row_with_too_many_cells_is_refused(self) -> None:
        text = "a,b\n" + "," * 20 + "\n"

        assert refusal(read_csv, "wide.csv", text.encode(), SMALL) == (
            "wide.csv 第 2 行有 21 列，超过导入上限 10 列。"
        )

    def test_a_file_too_large_is_refused_before_it_is_read(self, tmp_path: Path) -> None:
        path = bombs.write(tmp_path / "big.csv", b"a," * (SMALL.file_bytes // 2 + 1))

        assert "big.csv 有 1 MB，超过导入上限 1 MB" in refusal(read_csv, str(path), path, SMALL)

    def test_an_unreadable_csv_is_a_problem_not_a_crash(self) -> None:
        huge_field = b'"' + b"x" * 200_000 + b'"\n'

        with pytest.raises(InvalidFile) as caught:
            read_csv("f.csv", huge_field, TableLimits(rows=10))

        assert caught.value.problems[0].startswith("f.csv 第 1 行无法按 CSV 读取")
