"""Deep-link payloads for a service window's 好差评 poster, free of any transport.

A QR code at a window opens the rating of that window: the bot receives ``/start <payload>``
with ``w_<unit>_<window>[_<item>]``. Codes are ``[A-Za-z0-9-]`` (no ``_``, which separates
them), and Telegram carries at most :data:`MAX_PAYLOAD` characters in a start parameter.
A 办件's receipt links ``r_<link token>``, so a link token has at most
:data:`LINK_TOKEN_MAX` characters.

Every deep link has a web twin under ``/c/`` (the mobile web chat, for citizens without
Telegram): :func:`web_path` gives it.
"""

from __future__ import annotations

import re

from surveys.core.exceptions import BadDeepLink

MAX_PAYLOAD = 64
WINDOW_PREFIX = "w_"
EVENT_PREFIX = "r_"
LINK_TOKEN_MAX = MAX_PAYLOAD - len(EVENT_PREFIX)
UNIT_MAX = 32  # Unit.code
WINDOW_MAX = 32  # Rating.window_code
ITEM_MAX = 64  # Rating.item_code
_CODE = re.compile(r"^[A-Za-z0-9-]+$")
WINDOW_LINK = re.compile(
    rf"^w_([A-Za-z0-9-]{{1,{UNIT_MAX}}})_([A-Za-z0-9-]{{1,{WINDOW_MAX}}})"
    rf"(?:_([A-Za-z0-9-]{{1,{ITEM_MAX}}}))?$"
)


def _check_code(what: str, code: str, longest: int) -> None:
    if not _CODE.match(code) or len(code) > longest:
        raise ValueError(
            f"{what} code {code!r} must be 1-{longest} characters of A-Z, a-z, 0-9 and '-'"
        )


def window_payload(unit: str, window: str, item: str | None = None) -> str:
    """The /start payload of a window's rating; ValueError names what is wrong.

    >>> window_payload("spj", "A03", "zwfw-001")
    'w_spj_A03_zwfw-001'
    """
    _check_code("unit", unit, UNIT_MAX)
    _check_code("window", window, WINDOW_MAX)
    if item is not None:
        _check_code("item", item, ITEM_MAX)
    payload = f"{WINDOW_PREFIX}{unit}_{window}" + (f"_{item}" if item is not None else "")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            f"the link payload {payload!r} has {len(payload)} characters; Telegram allows "
            f"{MAX_PAYLOAD}: use shorter unit, window or item codes"
        )
    return payload


def is_window_payload(payload: str) -> bool:
    """Whether a /start payload is meant for a window (``w_``), valid or not."""
    return payload.startswith(WINDOW_PREFIX)


def parse_window_payload(payload: str) -> tuple[str, str, str | None]:
    """(unit code, window code, item code or None) of a payload; :class:`BadDeepLink` if bad."""
    match = WINDOW_LINK.match(payload) if len(payload) <= MAX_PAYLOAD else None
    if match is None:
        raise BadDeepLink(payload=payload[:MAX_PAYLOAD])
    unit, window, item = match.groups()
    return unit, window, item


WEB_ROOT = "/c/"


def web_path(payload: str | None = None) -> str:
    """The web chat's path for a deep-link payload (``None``: the list of open surveys).

    >>> web_path("s_szzf-2026h2_spj"), web_path("w_spj_A03"), web_path("r_rcpt-7f3a9c21")
    ('/c/s/szzf-2026h2/spj', '/c/w/spj/A03', '/c/r/rcpt-7f3a9c21')
    """
    if not payload:
        return WEB_ROOT
    kind, _, rest = payload.partition("_")
    if kind == "r":
        return f"{WEB_ROOT}r/{rest}"
    if kind in {"s", "w"}:
        return f"{WEB_ROOT}{kind}/" + "/".join(rest.split("_"))
    raise BadDeepLink(payload=payload[:MAX_PAYLOAD])
