"""The import template of outside 民意 results: the header in Chinese, one example row and a
row per active unit, as an XLSX or a CSV.

The XLSX has a named sheet (外部民意), the example row in grey italics, data validations
that take only a number 0..100 in 得分 and a whole number ≥ 1 in 样本量, frozen panes on the
header and the unit columns, and a second sheet 填写说明. The CSV has the same rows. Filled in
(the units a source did not cover left empty), either imports as it is: the reader drops the
notes in brackets of the header and skips the example row (单位编码 示例).
"""

from __future__ import annotations

import asyncio

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import outside
from scoring.export import MEDIA_TYPES
from scoring.monitoring_template import (
    FORMATS,
    SCORE_WIDTH,
    TemplateFile,
    finish_workbook,
    start_workbook,
    template_csv,
)
from surveys.core.i18n import N_, Translator

EXAMPLE_FONT = "808080"  # the example row, grey


def sheet_title(t: Translator) -> str:
    return t(N_("outside.template.sheet"))


def file_name(fmt: str, t: Translator) -> str:
    """The download's name, 外部民意导入模板.xlsx."""
    return t(N_("outside.template.file_name"), fmt=fmt)


def _instructions(t: Translator) -> list[str]:
    return [
        t(N_("outside.template.help.title")),
        t(N_("outside.template.help.rows"), max=outside.SCORE_MAX),
        t(N_("outside.template.help.skip"), example=outside.EXAMPLE),
        t(N_("outside.template.help.import")),
    ]


def template_xlsx(rows: list[list[str]], title: str, t: Translator) -> bytes:
    """The template workbook (see the module docstring)."""
    from openpyxl.styles import Font  # type: ignore[import-untyped]  # here: it takes numpy along
    from openpyxl.worksheet.datavalidation import (  # type: ignore[import-untyped]
        DataValidation,
    )

    workbook, sheet = start_workbook(rows, title, units_from=3)
    last = len(rows)
    for cell in sheet[2]:  # the example row
        cell.font = Font(italic=True, color=EXAMPLE_FONT)
    score = DataValidation(
        type="decimal", operator="between", formula1="0", formula2=str(outside.SCORE_MAX),
        allow_blank=True, showErrorMessage=True, showInputMessage=True, errorStyle="stop",
        errorTitle=t(N_("outside.template.error_title")),
        error=t(N_("outside.template.score_error"), max=outside.SCORE_MAX),
        promptTitle=outside.SCORE_COLUMN,
        prompt=t(N_("outside.template.score_error"), max=outside.SCORE_MAX),
    )  # fmt: skip
    people = DataValidation(
        type="whole", operator="greaterThanOrEqual", formula1="1", allow_blank=True,
        showErrorMessage=True, showInputMessage=True, errorStyle="stop",
        errorTitle=t(N_("outside.template.error_title")), error=t(N_("outside.template.n_error")),
        promptTitle=outside.N_COLUMN, prompt=t(N_("outside.template.n_error")),
    )  # fmt: skip
    if last > 2:
        score.add(f"C3:C{last}")
        people.add(f"D3:D{last}")
        sheet.add_data_validation(score)
        sheet.add_data_validation(people)
    for letter in ("C", "D"):
        sheet.column_dimensions[letter].width = SCORE_WIDTH
    return finish_workbook(workbook, sheet, _instructions(t), t)


async def template_download(*, session: AsyncSession, fmt: str) -> TemplateFile:
    """The template of every active unit, as an XLSX or CSV file to download."""
    if fmt not in FORMATS:
        raise ValueError(f"template format {fmt!r}: choose from {FORMATS}")
    t = Translator()
    rows = await outside.template_rows(session=session)
    if fmt == "csv":
        body = template_csv(rows)
    else:
        body = await asyncio.to_thread(template_xlsx, rows, sheet_title(t), t)
    return TemplateFile(file_name(fmt, t), MEDIA_TYPES[fmt], body, units=len(rows) - 2)
