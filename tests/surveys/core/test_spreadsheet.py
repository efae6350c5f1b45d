"""Formula-safe cells: every prefix a spreadsheet could run, in every CSV and XLSX writer."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from scoring.export import write_table
from surveys.core.spreadsheet import safe_cell, safe_text, starts_formula
from surveys.questionnaire import exports

FORMULA_SIGNS = ["=", "+", "-", "@", "＝", "＋", "－", "＠", "﹦", "﹢", "﹣", "−"]
LEADING = ["", " ", "  ", "\t", "\r", "\n", "\r\n", "\u3000", "\u00a0", "\u2003", "\u200b",
           "\ufeff"]  # fmt: skip
# Every sign after every kind of leading whitespace, e.g. "\u3000＝cmd|' /C calc'!A0".
HOSTILE = [lead + sign + 'HYPERLINK("http://evil.example")' for lead in LEADING
           for sign in FORMULA_SIGNS]  # fmt: skip
HARMLESS = ["东河区", "满意", "a=b", "1+1", "邮箱 a@b.cn", "", "   ", "'already quoted", "（=）"]


def _visible(text: str) -> str:
    """``text`` without the leading characters a reader may skip."""
    for index, char in enumerate(text):
        if not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf")):
            return text[index:]
    return ""


def _is_safe(value: object) -> bool:
    """A string that, after whitespace and invisible characters, starts with no formula sign
    (the apostrophe in front of it is what a spreadsheet shows as text)."""
    if not isinstance(value, str):
        return False
    first = _visible(value)[:1]
    return unicodedata.normalize("NFKC", first) not in {"=", "+", "-", "@"} and first != "−"


class TestStartsFormula:
    @pytest.mark.parametrize("text", HOSTILE)
    def test_every_sign_after_any_whitespace(self, text: str) -> None:
        assert starts_formula(text)
        assert safe_text(text) == "'" + text

    @pytest.mark.parametrize("text", ["\tplain", "\rplain"])
    def test_a_leading_tab_or_carriage_return(self, text: str) -> None:
        assert safe_text(text) == "'" + text

    @pytest.mark.parametrize("text", HARMLESS)
    def test_plain_text_is_unchanged(self, text: str) -> None:
        assert not starts_formula(text)
        assert safe_text(text) is text

    @pytest.mark.parametrize("value", [-5, -0.5, 3, 2.5, None, True])
    def test_numbers_stay_numbers(self, value: object) -> None:
        assert safe_cell(value) is value


def _csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


class TestQuestionnaireExports:
    def test_csv_writes_every_hostile_cell_quoted(self) -> None:
        data = exports.csv_bytes([[text, -5, 2.5] for text in HOSTILE])
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))

        assert [row[0] for row in rows] == ["'" + text for text in HOSTILE]
        assert all(_is_safe(row[0]) for row in rows)
        assert {(row[1], row[2]) for row in rows} == {("-5", "2.5")}  # numbers unquoted

    def test_xlsx_keeps_every_hostile_cell_as_text(self) -> None:
        data = exports.xlsx_bytes([("意见", [[text, -5, 2.5] for text in HOSTILE])])
        sheet = load_workbook(io.BytesIO(data))["意见"]
        rows = list(sheet.iter_rows())

        assert len(rows) == len(HOSTILE)
        for row in rows:
            text, number, fraction = row
            assert text.data_type == "s", text.value
            assert _is_safe(text.value), repr(text.value)
            assert (number.value, fraction.value) == (-5, 2.5)
            assert number.data_type == "n"

    def test_xlsx_checks_what_is_left_after_removing_control_characters(self) -> None:
        data = exports.xlsx_bytes([("s", [["\x01\x02=1+1"]])])
        cell = load_workbook(io.BytesIO(data))["s"]["A1"]

        assert cell.value == "'=1+1"
        assert cell.data_type == "s"

    def test_the_same_rows_give_the_same_bytes(self) -> None:
        rows = [["题目", "＝1"], ["a", 1]]
        assert exports.csv_bytes(rows) == exports.csv_bytes(rows)
        assert exports.csv_bytes(rows) == "\ufeff题目,'＝1\r\na,1\r\n".encode()


class TestScoringTables:
    def test_csv_template(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        write_table(path, [["单位编码", "单位名称"], *[["x", text] for text in HOSTILE]])

        cells = _csv_cells(path.read_bytes())[2:]
        assert cells[1::2] == ["'" + text for text in HOSTILE]

    def test_xlsx_template(self, tmp_path: Path) -> None:
        path = tmp_path / "t.xlsx"
        write_table(path, [["单位编码", "单位名称"], *[["x", text] for text in HOSTILE]])

        sheet = load_workbook(path).active
        values = [row[1].value for row in sheet.iter_rows(min_row=2)]
        assert len(values) == len(HOSTILE)
        assert all(_is_safe(value) for value in values), values
        assert all(row[1].data_type == "s" for row in sheet.iter_rows(min_row=2))
