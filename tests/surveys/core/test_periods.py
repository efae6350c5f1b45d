from datetime import date

import pytest

from surveys.core.periods import chinese_date, period_label


class TestPeriodLabel:
    @pytest.mark.parametrize(
        ("code", "label"),
        [("2026H1", "2026年上半年"), ("2026H2", "2026年下半年"), ("2026", "2026年度")],
    )
    def test_labels(self, code: str, label: str) -> None:
        assert period_label(code) == label

    @pytest.mark.parametrize("code", ["2026H3", "26H1", "2026h2", "", "20261"])
    def test_refuses_other_text(self, code: str) -> None:
        with pytest.raises(ValueError, match=code or "^$"):
            period_label(code)


class TestChineseDate:
    def test_no_leading_zeros(self) -> None:
        assert chinese_date(date(2026, 12, 1)) == "2026年12月1日"
        assert chinese_date(date(2027, 1, 9)) == "2027年1月9日"
