"""``minyi feedback --at``: the sheets as of a given time, run as the real console script."""

from __future__ import annotations

from pathlib import Path

from tests.pdf_text import pdf_text

from .test_cli import Minyi, minyi  # noqa: F401  (the migrated, seeded database)

AT = "2027-01-10T09:00:00+08:00"


def test_sheets_are_dated_as_of_at(minyi: Minyi) -> None:  # noqa: F811
    result = minyi(
        "--as", "admin", "feedback", "--period", "2026H2", "--out", "sheets",
        "--unit", "donghe", "--at", AT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = (minyi.cwd / "sheets" / "feedback_donghe_2026H2.html").read_text("utf-8")
    assert "东河区2026年下半年评估情况反馈单" in html
    assert "2027年1月10日" in html
    assert "数据截止：2027年1月10日 09:00" in html
    assert "<style>" in html
    assert "/static/" not in html
    pdf = minyi.cwd / "sheets" / "feedback_donghe_2026H2.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "2027年1月10日" in pdf_text(pdf)


def test_a_bad_at_is_refused(minyi: Minyi) -> None:  # noqa: F811
    result = minyi("--as", "admin", "feedback", "--period", "2026H2", "--out", "x", "--at", "soon")
    assert result.returncode != 0
    assert "ISO" in result.stderr + result.stdout
    assert not Path(minyi.cwd / "x").exists()
