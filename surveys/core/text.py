"""Reading the text files offices send: UTF-8 (with or without BOM) or GB18030 (GBK).

Every reader of a staff-given text file (units CSV, survey YAML, ratings and monitoring
CSV) passes the file's bytes through :func:`decode_office_text`, so a file saved by a
Chinese Excel or WPS ("CSV (逗号分隔)", GBK) reads the same as one saved as "CSV UTF-8".
"""

from __future__ import annotations

from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator

UTF8_BOM = b"\xef\xbb\xbf"


def decode_office_text(data: bytes, source: str) -> str:
    """The text of ``data``: UTF-8 first (a BOM is dropped), then GB18030, a superset of GBK
    and GB2312. Anything else, or a binary file, is :class:`InvalidFile` naming the byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        if data.startswith(UTF8_BOM):  # said it was UTF-8 and is not: do not guess
            raise _unreadable(source, utf8_error.start) from utf8_error
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise _unreadable(source, exc.start) from exc
    nul = text.find("\x00")
    if nul >= 0:
        problem = Translator()(N_("error.file_binary"), char=nul + 1)
        raise InvalidFile(source, [problem])
    return text


def _unreadable(source: str, byte: int) -> InvalidFile:
    problem = Translator()(N_("error.file_encoding"), byte=byte + 1)
    return InvalidFile(source, [problem])
