"""Masking personal numbers in free text shown to staff (domain.md §7; GB/T 35273-2020).

A citizen's comment or message may hold a mobile number or an ID number. Every staff view
shows them masked: a mobile number as ``138****5678`` and an 18-character 居民身份证号码
as its first 6 and last 4 characters with the 8 in between starred. Digits typed full-width
(``１３８…``, common with Chinese input methods) are masked too.
"""

from __future__ import annotations

import re

_D = "[0-9０-９]"
_NOT_DIGIT_BEFORE = "(?<![0-9０-９A-Za-z])"
_NOT_DIGIT_AFTER = "(?![0-9０-９A-Za-z])"

# 18 characters: 17 digits and a digit or X check character.
_ID_NUMBER = re.compile(
    f"{_NOT_DIGIT_BEFORE}({_D}{{6}}){_D}{{8}}({_D}{{3}}[0-9０-９Xx])(?![0-9０-９])"
)
# A mainland mobile number, optionally with +86 / 86 and spaces or hyphens as groups.
_MOBILE = re.compile(
    f"{_NOT_DIGIT_BEFORE}((?:[+＋]?[8８][6６][- ]?)?[1１][3-9３-９]{_D})"
    f"[- ]?{_D}{{4}}[- ]?({_D}{{4}}){_NOT_DIGIT_AFTER}"
)


def mask_text(text: str) -> str:
    """``text`` with mobile numbers as 138****5678 and ID numbers as 110105********123X."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
