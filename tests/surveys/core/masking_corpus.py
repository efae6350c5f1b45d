"""Ways people really write a phone number, an ID number or an e-mail address.

Shared by the masking corpus test and the scan of every staff-facing output. Each variant
names what must never reach staff: the number as written and its bare digits (or the
address). Numbers are distinct, so a hit names its variant.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    """An 18-character ID number with its GB 11643 check character."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


@dataclass(frozen=True)
class Variant:
    text: str  # as a citizen or an integrator wrote it
    secrets: tuple[str, ...]  # bare digits (X upper-case) or the address: never shown whole
    kind: str  # phone / id / email

    @property
    def written(self) -> tuple[str, ...]:
        """The secrets as they stand in ``text`` (separators and full-width forms kept)."""
        return tuple(_as_written(self.text, s) for s in self.secrets)


def _as_written(text: str, secret: str) -> str:
    """The stretch of ``text`` that spells ``secret``, separators between its characters."""
    normal = "".join(
        folded if len(folded := unicodedata.normalize("NFKC", ch)) == 1 else ch for ch in text
    ).upper()
    wanted = secret.upper()
    for start, ch in enumerate(normal):
        if ch != wanted[0]:
            continue
        found, end = 1, start + 1
        while found < len(wanted) and end < len(normal):
            if normal[end] == wanted[found]:
                found += 1
            elif normal[end].isalnum():
                break
            end += 1
        if found == len(wanted):
            return text[start:end]
    raise ValueError(f"{secret!r} is not in {text!r}")


def _v(text: str, *secrets: str, kind: str) -> Variant:
    return Variant(text, secrets, kind)


ID_A = id_number("11010519900307003")  # 110105199003070033
ID_B = id_number("15020319851231002")  # ...0029
ID_C = id_number("32058319920228451")  # ...X
ID_D = id_number("44030619880101123")  # ...X
ID_E = id_number("51010720000229312")
ID_F = id_number("15020419651103004")
ID_G = id_number("37021219991231777")
ID_H = id_number("15012120011001888")
ID_I = id_number("11010819751015002")
ID_J = id_number("15260119890630001")
ID_K = id_number("21010219700101555")
ID_L = id_number("15040219950505888")


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _spaced(digits: str) -> str:
    return " ".join(digits)


PHONES = [
    _v("13912340001", "13912340001", kind="phone"),
    _v("请打电话13912340002联系我", "13912340002", kind="phone"),
    _v("tel13912340003", "13912340003", kind="phone"),
    _v("13912340004abc", "13912340004", kind="phone"),
    _v("139.1234.0005", "13912340005", kind="phone"),
    _v("139  1234  0006", "13912340006", kind="phone"),
    _v("139 - 1234 - 0007", "13912340007", kind="phone"),
    _v("139—1234—0008", "13912340008", kind="phone"),
    _v("139_1234_0009", "13912340009", kind="phone"),
    _v("1 3 9 1 2 3 4 0 0 1 0", "13912340010", kind="phone"),
    _v("１３９１２３４００１１", "13912340011", kind="phone"),
    _v("+8613912340012", "13912340012", kind="phone"),
    _v("+86 139 1234 0013", "13912340013", kind="phone"),
    _v("0086-139-1234-0014", "13912340014", kind="phone"),
    _v("86 13912340015", "13912340015", kind="phone"),
    _v("手机:139-1234-0016，白天打", "13912340016", kind="phone"),
    _v("电话(139)1234-0017", "13912340017", kind="phone"),
    _v("139 1234 0018", "13912340018", kind="phone"),
    _v("1391234 0019", "13912340019", kind="phone"),
    _v("139-12340020", "13912340020", kind="phone"),
    _v("Tel:139.1234.0021", "13912340021", kind="phone"),
    _v("联系方式13912340022/13912340023", "13912340022", "13912340023", kind="phone"),
    _v("139 1234 0024号码没错", "13912340024", kind="phone"),
    _v("139－1234－0025", "13912340025", kind="phone"),
    _v("139·1234·0026", "13912340026", kind="phone"),
    _v("139～1234～0027", "13912340027", kind="phone"),
    _v("139/1234/0028", "13912340028", kind="phone"),
    _v("【13912340029】", "13912340029", kind="phone"),
    _v("W13912340030", "13912340030", kind="phone"),
    _v("13912340031的窗口态度差", "13912340031", kind="phone"),
    _v("1 3 9 - 1 2 3 4 - 0 0 3 2", "13912340032", kind="phone"),
    _v("１３９　１２３４　００３３", "13912340033", kind="phone"),
    _v("工作人员让我打18612340035问", "18612340035", kind="phone"),
    _v("15012340036", "15012340036", kind="phone"),
    _v("手机号:177 1234 0037", "17712340037", kind="phone"),
    _v("19912340038！！", "19912340038", kind="phone"),
    _v("16612340039", "16612340039", kind="phone"),
    _v(_spaced("13812340040"), "13812340040", kind="phone"),
    _v("0472-5123401", "04725123401", kind="phone"),
    _v("(0472)5123402", "04725123402", kind="phone"),
    _v("（0472）5123403", "04725123403", kind="phone"),
    _v("010-12345604", "01012345604", kind="phone"),
    _v("010 1234 5605", "01012345605", kind="phone"),
    _v("0472 5123406", "04725123406", kind="phone"),
    _v("座机04725123407", "04725123407", kind="phone"),
    _v("电话0472-5123408转分机", "04725123408", kind="phone"),
    _v("+86 472 5123409", "4725123409", kind="phone"),
    _v("021-61234510", "02161234510", kind="phone"),
    _v("tel0472-5123411", "04725123411", kind="phone"),
    _v("0472—5123412", "04725123412", kind="phone"),
]

IDS = [
    _v(ID_A, ID_A, kind="id"),
    _v(f"身份证号{ID_B}，请核实", ID_B, kind="id"),
    _v(ID_C[:-1] + "Ｘ", ID_C, kind="id"),
    _v(ID_D[:-1] + "x", ID_D, kind="id"),
    _v("110105 19900307 0034", "110105199003070034", kind="id"),  # a wrong check character
    _v(f"ID{ID_E}", ID_E, kind="id"),
    _v("老身份证110105900307003", "110105900307003", kind="id"),
    _v(f"证件号：{ID_F[:6]} {ID_F[6:10]} {ID_F[10:14]} {ID_F[14:]}", ID_F, kind="id"),
    _v(_fullwidth(ID_G), ID_G, kind="id"),
    _v(_spaced(ID_H), ID_H, kind="id"),
    _v(f"{ID_I[:6]}-{ID_I[6:14]}-{ID_I[14:]}", ID_I, kind="id"),
    _v(f"{ID_J[:6]}.{ID_J[6:14]}.{ID_J[14:]}号", ID_J, kind="id"),
    _v(f"身份证:{ID_K}。", ID_K, kind="id"),
    _v(f"sfz{ID_L}", ID_L, kind="id"),
    _v("身份证150204651103004丢了", "150204651103004", kind="id"),
]

EMAILS = [
    _v("zhangsan@example.com", "zhangsan@example.com", kind="email"),
    _v("邮箱：li.si+test@mail.example.cn", "li.si+test@mail.example.cn", kind="email"),
    _v("123456789@qq.com", "123456789@qq.com", kind="email"),
    _v("ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "wang@example.com", kind="email"),
    _v("Wang_Wu@163.com请回复", "Wang_Wu@163.com", kind="email"),
]

MIXED = [
    _v(
        f"我叫张三，手机13912340041，身份证{id_number('15020219800808123')}，邮箱zs@example.org",
        "13912340041",
        id_number("15020219800808123"),
        "zs@example.org",
        kind="mixed",
    ),
    _v("座机0472-5123413或者手机139 1234 0042都行", "04725123413", "13912340042", kind="mixed"),
]

VARIANTS: list[Variant] = PHONES + IDS + EMAILS + MIXED
