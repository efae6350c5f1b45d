"""The import template of 日常监测, 实地调研 and 第三方评估: one row per active unit.

The XLSX has a named sheet, each score column headed with its maximum (``一网通办（满分
25）``, the areas and points of :data:`surveys.questionnaire.definitions.AREAS`), a data
validation that takes only a number from 0 to that maximum, frozen panes on the header and
the unit columns, and a second sheet 填写说明. The CSV has the same header. Filled in, either
imports as it is (:mod:`scoring.monitoring_table` reads the maxima past).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import monitoring
from scoring.export import MEDIA_TYPES, Download
from scoring.models import Component, ImportLayout
from scoring.monitoring_table import column_max, header_for, layout_text
from surveys.core.i18n import N_, Translator
from surveys.core.spreadsheet import safe_text
from surveys.core.table_files import column_letter

FORMATS = ("xlsx", "csv")
WIDTHS = {"A": 16, "B": 24}  # the unit code and name; scores take SCORE_WIDTH
SCORE_WIDTH = 18
HEADER_FILL = "DDEBF7"
UNIT_FILL = "F2F2F2"  # the columns not to change


def sheet_title(component: Component | None, t: Translator) -> str:
    return component.value if component is not None else t(N_("import.template.sheet"))


def file_name(component: Component | None, layout: ImportLayout, fmt: str, t: Translator) -> str:
    """The download's name, e.g. 日常监测导入模板（按领域）.xlsx."""
    title = sheet_title(component, t)
    return t(N_("import.template.file_name"), title=title, layout=layout_text(layout, t), fmt=fmt)


def _instructions(layout: ImportLayout, t: Translator) -> list[str]:
    maxima = "、".join(f"{name} {column_max(name)}" for name in header_for(layout)[2:])
    return [
        t(N_("import.template.help.title")),
        t(N_("import.template.help.rows")),
        t(N_("import.template.help.scores"), maxima=maxima),
        t(N_("import.template.help.import")),
    ]


def template_xlsx(
    rows: Sequence[Sequence[str]], layout: ImportLayout, title: str, t: Translator
) -> bytes:
    """The template workbook (see the module docstring)."""
    workbook, sheet = start_workbook(rows, title, units_from=2)
    last = len(rows)
    for index, name in enumerate(header_for(layout)[2:], start=2):
        letter = column_letter(index)
        sheet.column_dimensions[letter].width = SCORE_WIDTH
        if last > 1:
            sheet.add_data_validation(_validation(name, f"{letter}2:{letter}{last}", t))
    return finish_workbook(workbook, sheet, _instructions(layout, t), t)


def start_workbook(
    rows: Sequence[Sequence[str]], title: str, *, units_from: int
) -> tuple[Any, Any]:
    """A workbook and its sheet ``title`` holding ``rows``: the header bold on a fill, the
    unit columns (A, B) shaded from spreadsheet row ``units_from`` on."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # here: it takes numpy along
    from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped]

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append([safe_text(cell) for cell in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    for column in ("A", "B"):
        for cell in sheet[column][units_from - 1 :]:
            cell.fill = PatternFill("solid", fgColor=UNIT_FILL)
    return workbook, sheet


def finish_workbook(
    workbook: Any, sheet: Any, instructions: Sequence[str], t: Translator
) -> bytes:
    """The unit columns' widths, the header and units kept in view, a second sheet
    填写说明 with ``instructions``: the workbook's bytes."""
    for letter, width in WIDTHS.items():
        sheet.column_dimensions[letter].width = width
    sheet.row_dimensions[1].height = 32
    sheet.freeze_panes = "C2"  # the header and the unit stay in view
    notes = workbook.create_sheet(t(N_("import.template.help.sheet")))
    for line in instructions:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _validation(name: str, cells: str, t: Translator) -> object:
    from openpyxl.worksheet.datavalidation import DataValidation  # type: ignore[import-untyped]

    limit = column_max(name)
    validation = DataValidation(
        type="decimal", operator="between", formula1="0", formula2=str(limit),
        allow_blank=True, showErrorMessage=True, showInputMessage=True, errorStyle="stop",
        errorTitle=t(N_("import.template.error_title")),
        error=t(N_("import.template.error"), column=name, max=limit),
        promptTitle=name, prompt=t(N_("import.template.prompt"), max=limit),
    )  # fmt: skip
    validation.add(cells)
    return validation


def template_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """The template as CSV, UTF-8 with a BOM (Excel then reads the Chinese right)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[safe_text(cell) for cell in row] for row in rows]
    )
    return buffer.getvalue().encode("utf-8-sig")


@dataclass(frozen=True)
class TemplateFile(Download):
    units: int = 0  # the rows to fill in


async def template_download(
    *, session: AsyncSession, layout: ImportLayout, component: Component | None, fmt: str
) -> TemplateFile:
    """The template of every active unit, as an XLSX or CSV file to download."""
    if fmt not in FORMATS:
        raise ValueError(f"template format {fmt!r}: choose from {FORMATS}")
    t = Translator()
    rows = await monitoring.template_rows(session=session, layout=layout)
    if fmt == "csv":
        body = template_csv(rows)
    else:
        title = sheet_title(component, t)
        body = await asyncio.to_thread(template_xlsx, rows, layout, title, t)
    name = file_name(component, layout, fmt, t)
    return TemplateFile(name, MEDIA_TYPES[fmt], body, units=len(rows) - 1)
