"""PUBLIC_BASE_URL and the web twins of the deep links printed on posters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from surveys.core.exceptions import BadDeepLink
from surveys.core.settings import Settings
from surveys.questionnaire import links


class TestBaseUrl:
    def test_defaults_to_the_listening_address(self) -> None:
        assert Settings(api_port=8123).base_url() == "http://127.0.0.1:8123"
        assert Settings(api_host="0.0.0.0", api_port=80).base_url() == "http://127.0.0.1:80"

    def test_public_base_url_wins_without_its_trailing_slash(self) -> None:
        settings = Settings(public_base_url="https://minyi.example.gov.cn/")
        assert settings.base_url() == "https://minyi.example.gov.cn"

    @pytest.mark.parametrize("value", ["minyi.example.gov.cn", "ftp://x.cn", "https://a b.cn"])
    def test_a_malformed_address_is_refused_naming_it(self, value: str) -> None:
        with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
            Settings(public_base_url=value)


class TestWebPath:
    @pytest.mark.parametrize(
        ("payload", "path"),
        [
            (None, "/c/"),
            ("s_szzf-2026h2", "/c/s/szzf-2026h2"),
            ("s_szzf-2026h2_spj", "/c/s/szzf-2026h2/spj"),
            ("w_spj_A03", "/c/w/spj/A03"),
            ("w_spj_A03_zwfw-001", "/c/w/spj/A03/zwfw-001"),
            ("r_rcpt-7f3a9c21", "/c/r/rcpt-7f3a9c21"),
        ],
    )
    def test_every_deep_link_has_a_web_twin(self, payload: str | None, path: str) -> None:
        assert links.web_path(payload) == path

    def test_an_unknown_kind_is_a_bad_link(self) -> None:
        with pytest.raises(BadDeepLink):
            links.web_path("x_whatever")
