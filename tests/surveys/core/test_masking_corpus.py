"""Every realistic way of writing a phone or ID number or an address is masked (§7).

The corpus (:mod:`tests.surveys.core.masking_corpus`) holds the forms found unmasked in the
privacy review and more; text that only looks like a number (amounts, dates, 办件编号) stays.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.core.masking import mask_text
from tests.surveys.core.masking_corpus import VARIANTS, Variant


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def leaks(variant: Variant, shown: str) -> list[str]:
    """What of ``variant``'s personal data ``shown`` still holds, in any written form."""
    found = []
    folded = _nfkc(shown).upper()
    for secret, written in zip(variant.secrets, variant.written, strict=True):
        if secret.upper() in folded or _nfkc(written).upper() in folded:
            found.append(written)
    return found


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(VARIANTS) >= 60
    assert {v.kind for v in VARIANTS} == {"phone", "id", "email", "mixed"}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.text)
def test_every_variant_is_masked(variant: Variant) -> None:
    masked = mask_text(variant.text)

    assert leaks(variant, masked) == []
    assert masked != variant.text


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.kind == "phone"], ids=str)
def test_a_phone_keeps_its_first_three_and_last_four_digits(variant: Variant) -> None:
    masked = _nfkc(mask_text(variant.text))
    for secret in variant.secrets:
        national = secret if secret.startswith(("0", "1")) else "0" + secret
        assert f"{national[:3]}****{national[-4:]}" in masked


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.kind == "id"], ids=str)
def test_an_id_number_keeps_its_first_six_and_last_four(variant: Variant) -> None:
    (secret,) = variant.secrets
    masked = _nfkc(mask_text(variant.text)).upper()

    assert f"{secret[:6]}{'*' * (len(secret) - 10)}{secret[-4:]}" in masked


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.kind == "email"], ids=str)
def test_an_address_keeps_its_first_letter_and_domain(variant: Variant) -> None:
    (secret,) = variant.secrets
    local, domain = secret.split("@")

    assert f"{local[0]}***@{domain}" in _nfkc(mask_text(variant.text))


def test_masked_text_is_masked_once() -> None:
    for variant in VARIANTS:
        once = mask_text(variant.text)
        assert mask_text(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "办件编号BJ2026112300001",
        "办件BJ2026112300001于2026-11-23办结",
        "2026年11月23日 10:30 去办的",
        "2026-11-23",
        "20261123",
        "订单号20251009000123",
        "金额12,345.67元",
        "共计12345678元",
        "等了3个小时，窗口只开了2个",
        "排队号A103，等了45分钟",
        "拨打12345热线也没用",
        "95588",
        "4008123123",  # a service hotline, not a person's number
        "窗口W07",
        "2026H1",
        "第1101号",
        "工号 1000234",
        "110105",
        "1101051990010112345",  # 19 digits: longer than any ID number
        "12345678901",  # no mobile prefix
        "1381234567",  # 10 digits
        "2026112300001",
        "事项编码 000123456",
        "BJ-2026-1123-0001",
        "价格从 100 涨到 200",
        "@所有人 请看",
        "邮箱没填",
        "",
    ],
)
def test_numbers_that_are_no_personal_data_stay_readable(text: str) -> None:
    assert mask_text(text) == text


@given(
    mobile=st.from_regex(re.compile(r"1[3-9][0-9]{9}"), fullmatch=True),
    separator=st.sampled_from(["", " ", "-", ".", "_", "—", " - ", "  ", "·", "－"]),
    before=st.sampled_from(["", "电话", "tel", "我的手机是", "(", "号码："]),
    after=st.sampled_from(["", "谢谢", "abc", "。", "，请回电"]),
)
def test_any_mobile_in_any_common_spelling_is_masked(
    mobile: str, separator: str, before: str, after: str
) -> None:
    written = separator.join((mobile[:3], mobile[3:7], mobile[7:]))

    masked = mask_text(f"{before}{written}{after}")

    assert mobile not in masked
    assert written not in masked
    assert f"{mobile[:3]}****{mobile[7:]}" in masked
