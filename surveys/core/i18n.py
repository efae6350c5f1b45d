"""The message catalogue: gettext ``.po`` files under ``surveys/locales``, zh_Hans first.

Catalogue keys are symbolic (``survey.thanks``); the zh_Hans catalogue holds the real
text. Catalogues are read from ``.po`` at start-up, so no compile step can be forgotten.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_Hans"


def N_(key: str) -> str:  # noqa: N802 - the gettext marker name
    """Marks a catalogue key for extraction without translating it here."""
    return key


@dataclass(frozen=True)
class Msg:
    """A catalogue key with its parameters, translated by the adapter."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


Label = str | Msg


@lru_cache
def load_translations(path: Path = LOCALES_DIR) -> dict[str, gettext.GNUTranslations]:
    """Every locale found under ``path``, compiled in memory."""
    found: dict[str, gettext.GNUTranslations] = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        found[locale] = gettext.GNUTranslations(buffer)
    return found


class Translator:
    """Turns catalogue keys and labels into text of one locale."""

    def __init__(self, locale: str = DEFAULT_LOCALE, path: Path = LOCALES_DIR) -> None:
        translations = load_translations(path)
        self.locale = locale if locale in translations else DEFAULT_LOCALE
        self._gettext = translations[self.locale].gettext

    def __call__(self, key: str, **params: object) -> str:
        text = self._gettext(key)
        return text.format(**params) if params else text

    def label(self, label: Label) -> str:
        if isinstance(label, Msg):
            return self(label.key, **dict(label.params))
        return label
