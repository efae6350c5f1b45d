"""Mobile and ID numbers in free text are masked for staff views (domain.md §7)."""

from __future__ import annotations

import pytest

from surveys.core.masking import mask_text


class TestMobile:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("13812345678", "138****5678"),
            ("请打电话13812345678联系我", "请打电话138****5678联系我"),
            ("电话：138-1234-5678。", "电话：138****5678。"),
            ("电话 138 1234 5678", "电话 138****5678"),
            ("+8613812345678", "+86138****5678"),
            ("１３８１２３４５６７８", "１３８****５６７８"),
            ("a 15912345678 and 18600001111", "a 159****5678 and 186****1111"),
        ],
    )
    def test_masks_mobile_numbers(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "办件编号 20251009000123",  # 14 digits: not a phone number
            "12345678901",  # 2nd digit 2: not a mobile prefix
            "1381234567",  # 10 digits
            "等了3个小时，窗口只开了2个",
            "",
        ],
    )
    def test_leaves_other_text_alone(self, text: str) -> None:
        assert mask_text(text) == text


class TestIdNumber:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("110105199001011234", "110105********1234"),
            ("身份证号15020319851231002X，请核实", "身份证号150203********002X，请核实"),
            ("15020319851231002x", "150203********002x"),
        ],
    )
    def test_keeps_first_six_and_last_four(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked

    def test_a_longer_number_is_not_an_id_number(self) -> None:
        assert mask_text("1101051990010112345") == "1101051990010112345"

    def test_both_in_one_text(self) -> None:
        text = "我叫某某，身份证110105199001011234，手机13812345678"

        masked = mask_text(text)

        assert masked == "我叫某某，身份证110105********1234，手机138****5678"
        assert "13812345678" not in masked
        assert "199001011234" not in masked
