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

# Keys a citizen can be shown (in the bot, the web chat or the contact page): every locale
# translates all of them (tests/test_i18n.py checks). ``error.`` is whole because domain
# errors reach citizens through the same adapters as staff. Staff-only keys (console., cli.,
# staff., login., role., feedback., delivery., health., import.) may stay zh_Hans only:
# a locale without a key falls back to the zh_Hans text.
CITIZEN_PREFIXES = (
    "privacy.",
    "help.",
    "surveys.",
    "survey.",
    "conversation.",
    "cancel.",
    "forget.",
    "button.",
    "level.",
    "engine.",
    "error.",
    "command.",
    "rating.",
    "relay.",
    "invite.",
    "invites.",
    "lang.",
    "care.",
    "webchat.",
    "webrate.",
    "contact.",
)


def is_citizen_facing(key: str) -> bool:
    """Whether every locale must translate ``key`` (see ``CITIZEN_PREFIXES``)."""
    return key.startswith(CITIZEN_PREFIXES)


def N_(key: str) -> str:  # noqa: N802 - the gettext marker name
    """Marks a catalogue key for extraction without translating it here."""
    return key


@dataclass(frozen=True)
class Msg:
    """A catalogue key with its parameters, translated by the adapter."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Localized:
    """Survey content written per language by the administrator (``title: {zh-Hans: …,
    en: …}`` in the YAML): the reader's locale, else zh_Hans, else the first one given."""

    texts: Mapping[str, str]

    def get(self, locale: str) -> str:
        for name in (locale, DEFAULT_LOCALE):
            if name in self.texts:
                return self.texts[name]
        return next(iter(self.texts.values()), "")

    def __str__(self) -> str:  # logs, exports and staff pages read the default language
        return self.get(DEFAULT_LOCALE)


Label = str | Msg | Localized


@lru_cache
def load_translations(path: Path = LOCALES_DIR) -> dict[str, gettext.GNUTranslations]:
    """Every locale found under ``path``, compiled in memory; a key a locale lacks (or leaves
    empty) reads the zh_Hans text, never the bare key."""
    found: dict[str, gettext.GNUTranslations] = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        found[locale] = gettext.GNUTranslations(buffer)
    if DEFAULT_LOCALE in found:
        for locale, translations in found.items():
            if locale != DEFAULT_LOCALE:
                translations.add_fallback(found[DEFAULT_LOCALE])
    return found


# Care mode (关怀模式) words these keys plainly: ``care.<key>`` replaces ``<key>`` when the
# reader chose it. A variant takes the same parameters as the key it replaces.
CARE_PREFIX = "care."
PLAIN_VARIANTS = frozenset(
    {
        N_("care.engine.hint_multi"),
        N_("care.engine.hint_scale"),
        N_("care.engine.hint_text"),
        N_("care.engine.too_many"),
        N_("care.engine.too_few"),
        N_("care.engine.use_buttons"),
        N_("care.engine.scale_range"),
        N_("care.engine.stale"),
    }
)


class Translator:
    """Turns catalogue keys and labels into text of one locale; with ``care``, in the plain
    wording of care mode where the catalogue has one (``PLAIN_VARIANTS``)."""

    def __init__(
        self, locale: str = DEFAULT_LOCALE, path: Path = LOCALES_DIR, *, care: bool = False
    ) -> None:
        translations = load_translations(path)
        self.locale = locale if locale in translations else DEFAULT_LOCALE
        self.care = care
        self._gettext = translations[self.locale].gettext

    def __call__(self, key: str, **params: object) -> str:
        if self.care and CARE_PREFIX + key in PLAIN_VARIANTS:
            key = CARE_PREFIX + key
        text = self._gettext(key)
        return text.format(**params) if params else text

    def label(self, label: Label) -> str:
        if isinstance(label, Msg):
            return self(label.key, **dict(label.params))
        if isinstance(label, Localized):
            return label.get(self.locale)
        return label


def locale_for(language_code: str | None) -> str:
    """The catalogue locale for a language tag (Telegram's ``language_code``, a cookie):
    ``en``/``en-GB`` → ``en``; Chinese, unknown or none → zh_Hans."""
    if not language_code or language_code.lower().startswith("zh"):
        return DEFAULT_LOCALE
    language = language_code.replace("_", "-").split("-")[0].lower()
    return language if language in load_translations() else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The catalogue locale for an HTTP ``Accept-Language`` header (highest q first)."""
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, order, tag))
    for _, _, tag in sorted(ranked):
        if tag.lower().startswith("zh"):
            return DEFAULT_LOCALE
        locale = locale_for(tag)
        if locale != DEFAULT_LOCALE:
            return locale
    return DEFAULT_LOCALE
