"""``minyi circular``, run as the real console script: the files of the 通报, one audit row,
and the numbers of ``minyi score``'s export."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from .test_cli import AT, Minyi, imported, minyi  # noqa: F401  (the module's fixtures)


def _audited(runner: Minyi) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(runner.db)) as connection:
        rows = connection.execute(
            "SELECT actor, target, detail FROM audit_event"
            " WHERE action = 'export.circular' ORDER BY id"
        ).fetchall()
    return [tuple(row) for row in rows]


class TestCircular:
    def test_writes_every_format_audited_once(self, imported: Minyi) -> None:  # noqa: F811
        before = _audited(imported)
        done = imported("--as", "admin", "circular", "--period", "2026H2", "--out", "paper",
                        "--format", "pdf,xlsx,html", "--at", AT)  # fmt: skip
        assert done.returncode == 0, done.stderr
        folder = imported.cwd / "paper"
        assert sorted(p.name for p in folder.iterdir()) == [
            "circular_2026H2.html", "circular_2026H2.pdf", "circular_2026H2.xlsx",
        ]  # fmt: skip
        assert (folder / "circular_2026H2.pdf").read_bytes().startswith(b"%PDF")
        html = (folder / "circular_2026H2.html").read_text("utf-8")
        assert "关于2026年下半年数字政府建设考评结果的通报" in html
        assert "2027年1月10日" in html  # the date of issue is --at's
        after = _audited(imported)
        assert len(after) == len(before) + 1
        actor, target, detail = after[-1]
        assert (actor, target) == ("admin", "2026H2")
        assert json.loads(detail)["formats"] == ["html", "pdf", "xlsx"]

    def test_the_numbers_are_the_score_exports(self, imported: Minyi) -> None:  # noqa: F811
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        score = imported("--as", "admin", "score", "--year", "2026", "--at", AT,
                         "--out", "scores", "--format", "json")  # fmt: skip
        paper = imported("--as", "admin", "circular", "--year", "2026", "--at", AT,
                         "--out", "year", "--format", "xlsx")  # fmt: skip
        assert score.returncode == 0, score.stderr
        assert paper.returncode == 0, paper.stderr
        report = json.loads((imported.cwd / "scores" / "scores_2026.json").read_text("utf-8"))
        sheet = load_workbook(imported.cwd / "year" / "circular_2026.xlsx").active
        header = [c.value for c in sheet[4]]
        rows = {
            r[4]: dict(zip(header, r, strict=True))
            for r in sheet.iter_rows(min_row=5, values_only=True)
            if r[4] and r[3]
        }
        assert len(rows) == len(report["ranking"])
        for unit in report["ranking"]:
            row = rows[unit["unit_name"]]
            assert (row["名次"], row["年度分"]) == (unit["rank"], unit["score"])
            assert (row["上半年"], row["下半年"]) == (unit["h1"], unit["h2"])
            assert row["名次区间"] == unit["band"]
            assert row["排名组"] == unit["group"]

    @pytest.mark.parametrize(
        "args",
        [
            ("--out", "x"),
            ("--period", "2026H2", "--year", "2026", "--out", "x"),
            ("--period", "2026H2", "--out", "x", "--format", "docx"),
        ],
    )
    def test_refuses_what_it_cannot_do(self, minyi: Minyi, args: tuple[str, ...]) -> None:  # noqa: F811
        done = minyi("--as", "admin", "circular", *args)
        assert done.returncode == 2
        assert not (minyi.cwd / "x").exists()
