"""Hostile files, written by the tests themselves: tiny on disk, huge once trusted.

* :func:`sparse_xlsx`: a real workbook with a few cells far apart; its ``<dimension>``
  declares the whole range (``A1:ALL100000`` is 100 million cells).
* :func:`zip_bomb_xlsx`: a workbook whose sheet unpacks to ``unpacked_mb`` megabytes.
* :func:`undeclared_xlsx`: a workbook whose sheet has no ``<dimension>`` at all.
* :func:`deep_yaml`: YAML nested ``depth`` levels deep.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from openpyxl import Workbook  # type: ignore[import-untyped]

SHEET = "xl/worksheets/sheet1.xml"
HEADER = ("source_id", "unit", "level", "channel", "rated_at")
MB = 1024 * 1024


def sparse_xlsx(cells: Iterable[tuple[int, int, object]], *, sheets: int = 1) -> bytes:
    """A workbook with ``(row, column, value)`` cells on its first sheet."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "评价"
    for row, column, value in cells:
        sheet.cell(row=row, column=column, value=value)
    for n in range(2, sheets + 1):
        workbook.create_sheet(f"S{n}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _rewrite(workbook: bytes, sheet_xml: Iterable[bytes]) -> bytes:
    """The workbook with its first sheet's XML replaced, written in chunks."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            if info.filename != SHEET:
                target.writestr(info.filename, source.read(info.filename))
                continue
            with target.open(SHEET, "w", force_zip64=True) as member:
                for chunk in sheet_xml:
                    member.write(chunk)
    return out.getvalue()


def zip_bomb_xlsx(unpacked_mb: int) -> bytes:
    """A valid workbook (one header row) whose sheet XML unpacks to ``unpacked_mb`` MB."""
    base = sparse_xlsx([(1, n + 1, name) for n, name in enumerate(HEADER)])
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        xml = source.read(SHEET)
    head, tail = xml.split(b"</sheetData>")
    padding = b" " * MB

    def chunks() -> Iterable[bytes]:
        yield head
        for _ in range(unpacked_mb):
            yield padding  # whitespace between elements: still well-formed XML
        yield b"</sheetData>" + tail

    return _rewrite(base, chunks())


def undeclared_xlsx(cells: Iterable[tuple[int, int, object]]) -> bytes:
    """Like :func:`sparse_xlsx`, but the sheet does not declare its size."""
    base = sparse_xlsx(cells)
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        xml = source.read(SHEET)
    return _rewrite(base, [re.sub(rb"<dimension [^>]*/>", b"", xml)])


def deep_yaml(depth: int) -> str:
    """``[[[…]]]``, ``depth`` levels of flow sequences."""
    return "[" * depth + "]" * depth


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path
