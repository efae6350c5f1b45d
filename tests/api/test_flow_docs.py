"""docs/flows.md lists every registered staff flow, its function and the adapters offering it."""

from __future__ import annotations

import re
from pathlib import Path

from surveys.flows.registry import FLOWS, Adapter
from tests.api import test_flow_parity  # noqa: F401  (imports every flow module)

DOC = Path(__file__).resolve().parents[2] / "docs" / "flows.md"
COLUMNS = {Adapter.console: 3, Adapter.api: 4, Adapter.cli: 5}


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text("utf-8").splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_table_names_every_flow_and_its_function() -> None:
    rows = _rows()
    assert set(rows) == set(FLOWS)
    for action, spec in FLOWS.items():
        assert rows[action][1] == f"`{spec.func.__module__}.{spec.func.__qualname__}`", action


def test_the_table_shows_exactly_the_adapters_of_each_flow() -> None:
    rows = _rows()
    for action, spec in FLOWS.items():
        shown = {adapter for adapter, column in COLUMNS.items() if rows[action][column]}
        assert shown == spec.adapters, action
