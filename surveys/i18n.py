"""The message catalogue: gettext ``.po`` files under ``surveys/locales``, zh_Hans first.

Catalogue keys are symbolic (``survey.thanks``); the zh_Hans catalogue holds the real
text. Catalogues are read from ``.po`` at start-up, so no compile step can be forgotten.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from surveys.engine import Label, Msg

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_Hans"


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
