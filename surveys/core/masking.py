"""De-identifying free text shown to staff (domain.md §7; GB/T 35273-2020).

A citizen's comment, reason, message or answer, or a field an integrator sent (item name,
window code, source id), may hold a phone number, an ID number or an e-mail address. Every
staff view, export and log shows such text only through :func:`mask_text`, the one function
that de-identifies it:

* phone numbers, mobile and fixed line, as their first 3 and last 4 digits with ``****``
  between (``138****5678``, ``047****3456``); found by the ``phonenumbers`` matcher for CN
  numbers and by our own rules for what it misses: letters around the number
  (``tel13912340008``), underscores, any of ``. - — _`` or spaces between the groups, one
  digit at a time (``1 3 9 1 …``);
* 居民身份证号码 as their first 6 and last 4 characters with the rest starred
  (``110105********0034``): 18 characters whose check character is right (GB 11643) and
  15-digit old numbers, both with a real region and birth date, spaces allowed between groups;
* e-mail addresses as ``z***@example.com``.

Text is compared after NFKC normalisation, so full-width digits, ``Ｘ``, ``＠`` and
``－``, as Chinese input methods type them, are found too; what is kept shows as typed.
A run of digits that is none of these (an amount, a date, a 办件编号 like
``BJ2026112300001``) stays readable. Nothing unmasks: staff never see the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date

import phonenumbers
from phonenumbers import Leniency, PhoneNumberType

_PLACEHOLDER = "※"  # stands in for text already masked while later rules look at the rest

# What may stand between the groups of one number: spaces, dots, hyphens and dashes,
# underscores, slashes, brackets; at most three such characters in a row.
_SEPARATORS = " \t.~\u00b7\u30fb\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70_/()-"
_GROUPS = re.compile(rf"[0-9]+[Xx]?(?:[{re.escape(_SEPARATORS)}]{{1,3}}[0-9]+[Xx]?)*")
_GROUP = re.compile(r"[0-9]+[Xx]?")

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")

_PERSONAL_PHONE_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.VOIP,
}

# 省级行政区划代码 (GB/T 2260), the first two digits of every 居民身份证号码.
_PROVINCES = frozenset(
    ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36")
    + ("37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62")
    + ("63", "64", "65", "71", "81", "82")
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_GROUPINGS = {(6, 8, 4), (6, 4, 4, 4), (6, 6, 3), (6, 6, 6)}


def mask_text(text: str) -> str:
    """``text`` with phone numbers, ID numbers and e-mail addresses masked (see the module)."""
    if not text:
        return text
    normal = _normalise(text)
    if not any(ch.isdigit() for ch in normal) and "@" not in normal:
        return text
    masks: list[tuple[int, int, str]] = []
    for finder in (_emails, _id_numbers, _matched_phones, _other_phones):
        for start, end, masked in finder(text, normal):
            masks.append((start, end, masked))
            normal = normal[:start] + _PLACEHOLDER * (end - start) + normal[end:]
    out: list[str] = []
    position = 0
    for start, end, masked in sorted(masks):
        out.append(text[position:start])
        out.append(masked)
        position = end
    out.append(text[position:])
    return "".join(out)


def _normalise(text: str) -> str:
    """NFKC character by character, so every position still points at the same character."""
    chars = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        chars.append(folded if len(folded) == 1 else ch)
    return "".join(chars)


def _digit_positions(normal: str, start: int, end: int) -> list[int]:
    return [i for i in range(start, end) if normal[i] in "0123456789Xx"]


def _emails(text: str, normal: str) -> Iterator[tuple[int, int, str]]:
    for match in _EMAIL.finditer(normal):
        local, _, domain = match.group().partition("@")
        yield match.start(), match.end(), f"{text[match.start()]}***@{domain}"


def _id_numbers(text: str, normal: str) -> Iterator[tuple[int, int, str]]:
    for start, end, value in _candidates(normal, max_digits=18):
        if _is_id_number(value):
            digits = _digit_positions(normal, start, end)
            head = "".join(text[i] for i in digits[:6])
            tail = "".join(text[i] for i in digits[-4:])
            yield start, end, head + "*" * (len(digits) - 10) + tail


def _matched_phones(text: str, normal: str) -> Iterator[tuple[int, int, str]]:
    for match in phonenumbers.PhoneNumberMatcher(normal, "CN", leniency=Leniency.VALID):
        if phonenumbers.number_type(match.number) not in _PERSONAL_PHONE_TYPES:
            continue  # 400/800 service lines and short numbers are not personal
        national = phonenumbers.national_significant_number(match.number)
        if phonenumbers.number_type(match.number) != PhoneNumberType.MOBILE:
            national = "0" + national
        yield match.start, match.end, _mask_phone(text, normal, match.start, match.end, national)


def _other_phones(text: str, normal: str) -> Iterator[tuple[int, int, str]]:
    for start, end, value in _candidates(normal, max_digits=15):
        national = _phone_number(value)
        if national is not None:
            yield start, end, _mask_phone(text, normal, start, end, national)


def _mask_phone(text: str, normal: str, start: int, end: int, national: str) -> str:
    """``138****5678``: the national number's first 3 and last 4 digits, as typed.

    A country code written before it (``+86``) stays; brackets and separators go.
    """
    digits = [i for i in _digit_positions(normal, start, end) if normal[i].isdigit()]
    typed = "".join(normal[i] for i in digits)
    if not typed.endswith(national):
        return f"{national[:3]}****{national[-4:]}"
    own = digits[len(digits) - len(national) :]
    prefix = text[start : own[0]]
    if not any(ch.isdigit() for ch in _normalise(prefix)):
        prefix = ""
    head = "".join(text[i] for i in own[:3])
    tail = "".join(text[i] for i in own[-4:])
    return f"{prefix}{head}****{tail}"


def _candidates(normal: str, max_digits: int) -> Iterator[tuple[int, int, str]]:
    """Spans of whole digit groups that are one number, and their characters, left to right.

    One group alone, or consecutive groups written like one number: a digit at a time, or
    up to five groups of at least three digits each (after a leading ``86``/``0086``).
    """
    for run in _GROUPS.finditer(normal):
        groups = [
            (run.start() + g.start(), run.start() + g.end(), g.group())
            for g in _GROUP.finditer(run.group())
        ]
        i = 0
        while i < len(groups):
            end = i
            for j in range(i, len(groups)):
                chosen = groups[i : j + 1]
                value = "".join(v for _, _, v in chosen)
                if len(value) > max_digits + 4 or not _shaped_like_a_number(chosen):
                    break
                if any(ch in "Xx" for ch in value[:-1]):
                    break
                sizes = tuple(len(v) for _, _, v in chosen)
                if _is_id_number(value, sizes) if max_digits == 18 else _is_phone_number(value):
                    yield chosen[0][0], chosen[-1][1], value
                    end = j
                    break
            i = end + 1


def _shaped_like_a_number(groups: list[tuple[int, int, str]]) -> bool:
    if len(groups) == 1:
        return True
    sizes = [len(v) for _, _, v in groups]
    if all(size == 1 for size in sizes):
        return True
    if sizes[0] in (2, 4) and groups[0][2] in ("86", "0086"):
        sizes = sizes[1:]
    return len(groups) <= 5 and all(size >= 3 for size in sizes)


def _is_id_number(value: str, sizes: tuple[int, ...] = ()) -> bool:
    """A 居民身份证号码: a real region and birth date, and for 18 characters the check.

    Written whole or grouped as people write it (6-8-4, 6-4-4-4; 15 digits as 6-6-3), a
    wrong check character is taken as a slip and the number masked all the same; written any
    other way (a digit at a time, odd groups) the check character must be right.
    """
    value = value.upper()
    usual = len(sizes) <= 1 or sizes in _ID_GROUPINGS
    if len(value) == 18 and value[:17].isdigit():
        if value[:2] not in _PROVINCES or not _is_date(value[6:14]):
            return False
        total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
        return usual or _ID_CHECK[total % 11] == value[17]
    if len(value) == 15 and value.isdigit():
        return usual and value[:2] in _PROVINCES and _is_date("19" + value[6:12])
    return False


def _is_date(yyyymmdd: str) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2100


def _is_phone_number(value: str) -> bool:
    return _phone_number(value) is not None


def _phone_number(value: str) -> str | None:
    """The national number (``13812345678``, ``04725123456``) if ``value`` is a CN phone."""
    if not value.isdigit():
        return None
    if value.startswith("0086"):
        national, international = value[4:], True
    elif value.startswith("86") and len(value) >= 12:
        national, international = value[2:], True
    else:
        national, international = value, False
    if _MOBILE.fullmatch(national):
        return national
    if international:
        national = "0" + national
    if not _LANDLINE.fullmatch(national):
        return None
    try:
        number = phonenumbers.parse(national, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _PERSONAL_PHONE_TYPES:
        return None
    return "0" + phonenumbers.national_significant_number(number)
