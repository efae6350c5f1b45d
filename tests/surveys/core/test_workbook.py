"""The row-by-row table writer behind the 台账 and 事项分析 downloads."""

from __future__ import annotations

import gc
import io
import sys
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from surveys.core.workbook import TableWriter


class Refused(Exception):
    pass


def test_a_refusal_mid_way_leaves_no_half_written_workbook_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A filter refused after the XLSX was started (an unknown unit in the 台账's query):
    the error is the caller's, and nothing is left for the garbage collector to complain
    about in the server's log (openpyxl's "I/O operation on closed file")."""
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def write() -> None:
        with TableWriter("xlsx", sheet="差评台账", headers=["编号"], widths=[8]) as writer:
            writer.append([1])
            raise Refused

    with pytest.raises(Refused):
        write()
    gc.collect()
    assert unraisable == []


def test_a_finished_workbook_reads_back() -> None:
    with TableWriter("xlsx", sheet="差评台账", headers=["编号", "内容"], widths=[8, 20]) as writer:
        writer.append([1, "=1+1"])
        content = writer.finish()
    sheet = load_workbook(io.BytesIO(content))["差评台账"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["编号", "内容"],
        [1, "'=1+1"],
    ]
    assert sheet.freeze_panes == "A2"
