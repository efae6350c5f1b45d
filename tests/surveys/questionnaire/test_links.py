"""Window deep-link payloads for 好差评 posters: built, validated and parsed back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.core.exceptions import BadDeepLink
from surveys.questionnaire.links import (
    MAX_PAYLOAD,
    is_window_payload,
    parse_window_payload,
    window_payload,
)

CODE = st.text(alphabet="ABCxyz019-", min_size=1, max_size=20)


class TestWindowPayload:
    def test_with_and_without_item(self) -> None:
        assert window_payload("spj", "A03") == "w_spj_A03"
        assert window_payload("spj", "A03", "zwfw-001") == "w_spj_A03_zwfw-001"

    @pytest.mark.parametrize(
        ("unit", "window", "item", "named"),
        [
            ("sp_j", "A03", None, "unit code 'sp_j'"),
            ("spj", "", None, "window code ''"),
            ("spj", "窗口3", None, "window code '窗口3'"),
            ("spj", "A03", "a b", "item code 'a b'"),
            ("u" * 33, "A03", None, "unit code"),
        ],
    )
    def test_a_bad_code_is_named(
        self, unit: str, window: str, item: str | None, named: str
    ) -> None:
        with pytest.raises(ValueError, match=named):
            window_payload(unit, window, item)

    def test_a_payload_over_64_characters_is_refused(self) -> None:
        unit, window, item = "u" * 20, "w" * 20, "i" * 21  # each valid; 2+20+1+20+1+21 = 65

        with pytest.raises(ValueError, match="65 characters; Telegram allows 64"):
            window_payload(unit, window, item)

    def test_exactly_64_characters_is_allowed(self) -> None:
        payload = window_payload("u" * 20, "w" * 20, "i" * 20)

        assert len(payload) == MAX_PAYLOAD
        assert parse_window_payload(payload) == ("u" * 20, "w" * 20, "i" * 20)


class TestParseWindowPayload:
    def test_parses_with_and_without_item(self) -> None:
        assert parse_window_payload("w_spj_A03") == ("spj", "A03", None)
        assert parse_window_payload("w_spj_A03_zwfw-001") == ("spj", "A03", "zwfw-001")

    @pytest.mark.parametrize(
        "payload",
        [
            "",
            "w_",
            "w_spj",
            "w_spj_",
            "s_szzf_spj",
            "w_spj_A03_x_y",
            "w_spj_A 03",
            "w_" + "a" * 63,
        ],
    )
    def test_anything_else_is_a_bad_deep_link(self, payload: str) -> None:
        with pytest.raises(BadDeepLink):
            parse_window_payload(payload)

    def test_only_w_payloads_are_window_payloads(self) -> None:
        assert is_window_payload("w_spj_A03")
        assert not is_window_payload("s_szzf-2026h2_spj")

    @given(CODE, CODE, st.none() | CODE)
    def test_round_trip(self, unit: str, window: str, item: str | None) -> None:
        assert parse_window_payload(window_payload(unit, window, item)) == (unit, window, item)
