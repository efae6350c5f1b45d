"""The zh_Hans catalogue translates every key the code uses, and holds no unused entries;
every other locale translates every citizen-facing key with the same placeholders."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.main import COMMANDS
from surveys.accounts.access import StaffRole
from surveys.core.i18n import (
    CARE_PREFIX,
    DEFAULT_LOCALE,
    DOMAIN,
    LOCALES_DIR,
    PLAIN_VARIANTS,
    Msg,
    Translator,
    is_citizen_facing,
    load_translations,
)
from surveys.questionnaire.definitions import Level

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("surveys", "scoring", "bot", "api")
MARKERS = {"t", "N_", "Msg", "_"}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path, ast.parse(path.read_text("utf-8"), filename=str(path))


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _literal_calls(tree: ast.Module) -> Iterator[tuple[str, ast.Call]]:
    """(key, call) for every marker call whose first argument is a string literal."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _callee(node) not in MARKERS or not node.args:
            continue
        first = node.args[0]
        # Msg(N_("key"), {...}): the marker is inside, the parameters outside.
        if isinstance(first, ast.Call) and _callee(first) == "N_" and first.args:
            first = first.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield first.value, node


def _exception_keys() -> set[str]:
    tree = ast.parse((REPO / "surveys" / "core" / "exceptions.py").read_text("utf-8"))
    return {
        statement.value.value
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for statement in node.body
        if isinstance(statement, ast.Assign)
        and [getattr(target, "id", None) for target in statement.targets] == ["key"]
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    }


# t("key") with a whole literal key; t("role." ~ x) builds it at run time (see dynamic).
TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.]*[A-Za-z0-9_])["']\s*[,)]""")


def _template_keys() -> set[str]:
    """Keys the console templates translate with ``t("key")``."""
    return {
        key
        for path in sorted((REPO / "templates").rglob("*.html"))
        for key in TEMPLATE_KEY.findall(path.read_text("utf-8"))
    }


def used_keys() -> set[str]:
    marked = {key for _, tree in _sources() for key, _ in _literal_calls(tree)}
    marked |= _template_keys()
    # Built at run time: engine.label_of uses f"level.{code}", set_commands f"command.{c}".
    dynamic = {f"level.{level.value}" for level in Level} | {f"command.{c}" for c in COMMANDS}
    dynamic |= {f"role.{role.value}" for role in StaffRole}  # templates: t("role." ~ role)
    return marked | dynamic | _exception_keys()


def catalogue(locale: str = DEFAULT_LOCALE) -> dict[str, str]:
    """Key → text as written in the locale's ``.po`` (empty when untranslated)."""
    from babel.messages.pofile import read_po

    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        return {str(message.id): str(message.string) for message in read_po(handle) if message.id}


def catalogue_keys() -> set[str]:
    return set(catalogue())


OTHER_LOCALES = sorted(
    path.parent.parent.name
    for path in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    if path.parent.parent.name != DEFAULT_LOCALE
)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class TestCatalogue:
    def test_extraction_finds_keys_of_every_kind(self) -> None:
        keys = used_keys()

        assert {"survey.thanks", "engine.stale", "help.text", "error.survey_closed"} <= keys
        assert {"level.neutral", "command.forget"} <= keys

    @pytest.mark.parametrize("key", sorted(used_keys()))
    def test_every_used_key_has_a_zh_hans_translation(self, key: str) -> None:
        text = load_translations()[DEFAULT_LOCALE].gettext(key)

        assert text.strip()
        assert text != key

    def test_no_entry_is_unused(self) -> None:
        extras = catalogue_keys() - used_keys()

        assert extras == set(), f"catalogue entries no code uses (or marks with N_): {extras}"

    def test_placeholders_match_the_parameters_given_in_code(self) -> None:
        t = load_translations()[DEFAULT_LOCALE]
        mismatches = []
        for path, tree in _sources():
            for key, call in _literal_calls(tree):
                given = _parameter_names(call)
                if given is not None and fields(t.gettext(key)) != given:
                    mismatches.append((path.name, key, sorted(given)))

        assert mismatches == []


class TestOtherLocales:
    def test_english_is_one_of_them(self) -> None:
        assert "en" in OTHER_LOCALES

    @pytest.mark.parametrize("locale", OTHER_LOCALES)
    def test_every_citizen_facing_key_is_translated(self, locale: str) -> None:
        texts = catalogue(locale)
        citizen = {key for key in catalogue_keys() if is_citizen_facing(key)}

        missing = sorted(key for key in citizen if not texts.get(key, "").strip())

        assert missing == [], f"{locale} lacks citizen-facing keys: {missing}"

    @pytest.mark.parametrize("locale", OTHER_LOCALES)
    def test_placeholders_are_the_same_as_in_zh_hans(self, locale: str) -> None:
        source = catalogue()
        mismatches = [
            (key, sorted(fields(text)), sorted(fields(source.get(key, ""))))
            for key, text in catalogue(locale).items()
            if text and fields(text) != fields(source.get(key, ""))
        ]

        assert mismatches == []

    @pytest.mark.parametrize("locale", OTHER_LOCALES)
    def test_holds_no_key_zh_hans_lacks(self, locale: str) -> None:
        assert set(catalogue(locale)) - catalogue_keys() == set()

    @pytest.mark.parametrize("variant", sorted(PLAIN_VARIANTS))
    def test_a_plain_variant_takes_the_parameters_of_its_key(self, variant: str) -> None:
        source = catalogue()
        key = variant.removeprefix(CARE_PREFIX)

        assert key in source
        assert fields(source[variant]) == fields(source[key])

    def test_the_citizen_facing_set_spares_staff_keys(self) -> None:
        assert is_citizen_facing("engine.hint_multi")
        assert is_citizen_facing("level.neutral")
        assert not is_citizen_facing("console.nav.cases")
        assert not is_citizen_facing("cli.done")


def _parameter_names(call: ast.Call) -> set[str] | None:
    """Names passed with a key: t(key, a=…) or Msg(key, {"a": …}); None if not literal."""
    if _callee(call) == "t":
        if any(k.arg is None for k in call.keywords):
            return None
        return {k.arg for k in call.keywords if k.arg is not None}
    if _callee(call) == "Msg":
        if len(call.args) < 2:
            return set()
        params = call.args[1]
        if isinstance(params, ast.Dict) and all(isinstance(k, ast.Constant) for k in params.keys):
            return {str(k.value) for k in params.keys if isinstance(k, ast.Constant)}
    return None


class TestTranslator:
    def test_translates_a_key(self) -> None:
        assert Translator()("survey.thanks").startswith("问卷已完成")

    def test_label_formats_params(self) -> None:
        t = Translator()

        text = t.label(Msg("engine.too_long", {"max": 500, "got": 612}))

        assert text == "回答内容过长（612 字），请控制在 500 字以内。"

    def test_label_passes_survey_text_through(self) -> None:
        assert Translator().label("您的年龄段是？") == "您的年龄段是？"

    def test_call_formats_keyword_params(self) -> None:
        assert Translator()("survey.your_answer", answer="满意") == "✔ 您的回答：满意"

    def test_unknown_locale_falls_back_to_zh_hans(self) -> None:
        t = Translator("xx")

        assert t.locale == DEFAULT_LOCALE
        assert t("level.neutral") == "基本满意"

    def test_english_translates_a_key(self) -> None:
        assert (
            Translator("en")("survey.your_answer", answer="Satisfied")
            == "✔ Your answer: Satisfied"
        )

    def test_a_key_missing_in_a_locale_reads_the_zh_hans_text(self, tmp_path: Path) -> None:
        for locale, entries in ((DEFAULT_LOCALE, "甲"), ("en", "")):
            folder = tmp_path / locale / "LC_MESSAGES"
            folder.mkdir(parents=True)
            body = f'msgid "only.zh"\nmsgstr "{entries}"\n' if entries else ""
            (folder / f"{DOMAIN}.po").write_text(body, "utf-8")

        t = Translator("en", path=tmp_path)

        assert t.locale == "en"
        assert t("only.zh") == "甲"

    def test_staff_keys_fall_back_to_zh_hans_in_english(self) -> None:
        english = Translator("en")

        assert english("feedback.title") == Translator()("feedback.title")

    def test_care_mode_words_a_hint_plainly(self) -> None:
        hint = Msg("engine.hint_multi", {"min": 1, "max": 3})

        plain = Translator(care=True).label(hint)

        assert plain == "（这道题可以选好几个：请点选 1 到 3 个，选好后点最下面的「完成」。）"
        assert plain != Translator().label(hint)
        assert Translator("en", care=True).label(hint).startswith("(You can pick more than one")

    def test_care_mode_keeps_keys_without_a_plain_variant(self) -> None:
        assert Translator(care=True)("survey.thanks") == Translator()("survey.thanks")
