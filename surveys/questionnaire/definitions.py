"""The schema of a survey file (YAML). Every validation error names its field path."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_serializer,
    model_validator,
)

from surveys.core.exceptions import DefinitionInvalid
from surveys.core.i18n import DEFAULT_LOCALE, N_, Label, Localized, Translator
from surveys.core.periods import PERIOD_RE

AREAS: dict[str, int] = {
    "一网通办": 25,
    "一网统管": 25,
    "协同办公": 20,
    "基础设施": 10,
    "数据要素": 10,
    "安全防护": 5,
    "统筹管理": 5,
}
CODE_RE = r"^[A-Za-z0-9-]{1,32}$"
UNIT_QUESTION_KEY = "_unit"


class QuestionType(StrEnum):
    single = "single"
    multi = "multi"
    satisfaction = "satisfaction"
    scale = "scale"
    text = "text"


class Level(StrEnum):
    """The five 好差评 / satisfaction levels; codes map to numbers only at the edges."""

    very_satisfied = "very_satisfied"
    satisfied = "satisfied"
    neutral = "neutral"
    dissatisfied = "dissatisfied"
    very_dissatisfied = "very_dissatisfied"

    @property
    def score(self) -> int:
        """5 for 非常满意 down to 1 for 非常不满意."""
        return 5 - list(Level).index(self)


SCALE_CODES = [str(n) for n in range(11)]


class Wording(str):
    """Text an administrator wrote in several languages (``text: {zh-Hans: …, en: …}``):
    as a ``str`` it is the zh_Hans text, so staff pages, exports and results read Chinese;
    :func:`label` gives the citizen-facing :class:`Localized`."""

    localized: Localized

    def __new__(cls, localized: Localized) -> Wording:
        made = super().__new__(cls, str(localized))
        made.localized = localized
        return made


def label(text: str) -> Label:
    """What a citizen is shown for an administrator's text: every language it was given in."""
    return text.localized if isinstance(text, Wording) else text


def content_locale(tag: str) -> str:
    """The catalogue locale a YAML language key stands for: zh-Hans/zh_Hans/zh → zh_Hans."""
    cleaned = tag.strip().replace("_", "-").lower()
    if cleaned.startswith("zh"):
        return DEFAULT_LOCALE
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", cleaned):
        raise ValueError(f"{tag!r} is not a language; use zh-Hans, en, …")
    return cleaned.split("-")[0]


def _per_language(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A plain string is checked as before; a mapping checks each language's text the same way.
    if isinstance(value, Wording):
        value = dict(value.localized.texts)
    if not isinstance(value, dict):
        return handler(value)
    texts: dict[str, str] = {}
    for tag, text in value.items():
        texts[content_locale(str(tag))] = handler(text)
    if DEFAULT_LOCALE not in texts:
        raise ValueError("give the zh-Hans text too: staff pages and exports read it")
    return Wording(Localized(texts=texts))


def _dump_per_language(value: str) -> str | dict[str, str]:
    # Plain strings dump as before, so a survey without translations keeps its digest.
    return dict(value.localized.texts) if isinstance(value, Wording) else value


# Admin-written texts: a string, or a mapping of language to string.
LabelText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=60),
    WrapValidator(_per_language),
    PlainSerializer(_dump_per_language),
]
QuestionText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300),
    WrapValidator(_per_language),
    PlainSerializer(_dump_per_language),
]
TitleText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    WrapValidator(_per_language),
    PlainSerializer(_dump_per_language),
]
UnitQuestionText = Annotated[
    str,
    StringConstraints(max_length=300),
    WrapValidator(_per_language),
    PlainSerializer(_dump_per_language),
]
IntroText = Annotated[
    str,
    StringConstraints(max_length=1000),
    WrapValidator(_per_language),
    PlainSerializer(_dump_per_language),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _code_text(value: Any) -> Any:
    # YAML reads `30` as a number and `yes` as true; a code is text, so say so plainly.
    if isinstance(value, bool):
        raise ValueError("a code must be text: put yes/no/true/false in quotes")
    return str(value) if isinstance(value, int) else value


def _codes_text(values: Any) -> Any:
    return [_code_text(v) for v in values] if isinstance(values, list) else values


class Option(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    label: LabelText
    # 近六个月未办理过 and the like: ticking it clears the others, and the reverse.
    exclusive: bool = False

    _text_code = field_validator("code", mode="before")(_code_text)

    @model_serializer(mode="wrap")
    def _omit_default_exclusive(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Surveys written before ``exclusive`` existed keep their digest, so their version.
        data = handler(self)
        if isinstance(data, dict) and not self.exclusive:
            data.pop("exclusive", None)
        return data


class Condition(_Strict):
    """Show a question only when an earlier answer matches."""

    question: str
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[str] | None = Field(default=None, min_length=1)
    lte: int | None = Field(default=None, ge=0, le=10)
    gte: int | None = Field(default=None, ge=0, le=10)

    _text_codes = field_validator("in_", "not_in", mode="before")(_codes_text)

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [n for n in ("in_", "not_in", "lte", "gte") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of: in, not_in, lte, gte")
        return self


class Question(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    type: QuestionType
    text: QuestionText
    area: str | None = None
    required: bool = True
    options: list[Option] = Field(default_factory=list)
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=1)
    max_length: int = Field(default=500, ge=1, le=4000)
    show_if: list[Condition] = Field(default_factory=list)

    @field_validator("show_if", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("area")
    @classmethod
    def _known_area(cls, value: str | None) -> str | None:
        if value is not None and value not in AREAS:
            raise ValueError(f"unknown area {value!r}; use one of {', '.join(AREAS)}")
        return value

    @model_validator(mode="after")
    def _options_fit_type(self) -> Question:
        has_options = self.type in (QuestionType.single, QuestionType.multi)
        if has_options and len(self.options) < 2:
            raise ValueError(f"options: a {self.type} question needs at least 2 options")
        if not has_options and self.options:
            raise ValueError(f"options: a {self.type} question takes no options")
        codes = [o.code for o in self.options]
        if len(set(codes)) != len(codes):
            raise ValueError("options: option codes must be unique")
        if self.type is not QuestionType.multi and (self.min is not None or self.max is not None):
            raise ValueError("min: min and max apply to multi questions only")
        if self.type is not QuestionType.multi and any(o.exclusive for o in self.options):
            raise ValueError("options: exclusive applies to multi questions only")
        if self.type is QuestionType.multi:
            low, high = self.min_choices, self.max_choices
            if not 1 <= low <= high <= len(self.options):
                raise ValueError(f"max: need 1 <= min ({low}) <= max ({high}) <= options")
        return self

    @property
    def min_choices(self) -> int:
        return 1 if self.min is None else self.min

    @property
    def max_choices(self) -> int:
        return len(self.options) if self.max is None else self.max

    def exclusive_codes(self) -> set[str]:
        """The codes that must be the only one ticked."""
        return {o.code for o in self.options if o.exclusive}

    def codes(self) -> list[str]:
        """The answer codes of a choice question, in button order."""
        if self.type is QuestionType.satisfaction:
            return [level.value for level in Level]
        if self.type is QuestionType.scale:
            return SCALE_CODES
        return [o.code for o in self.options]


class SurveyDefinition(_Strict):
    code: str = Field(pattern=CODE_RE)
    title: TitleText
    intro: IntroText = ""
    period: str
    opens_on: date
    closes_on: date
    anonymous: bool = True
    # Empty means every active unit; YAML may say `units: all`.
    units: list[Annotated[str, Field(pattern=CODE_RE)]] = Field(default_factory=list)
    unit_question: UnitQuestionText | None = None
    questions: list[Question] = Field(min_length=1, max_length=60)

    @field_validator("units", mode="before")
    @classmethod
    def _all_units(cls, value: Any) -> Any:
        return [] if value in ("all", None) else value

    @field_validator("period")
    @classmethod
    def _period_code(cls, value: str) -> str:
        if not PERIOD_RE.match(value):
            raise ValueError(f"period must look like 2026H1 or 2026H2, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SurveyDefinition:
        problems = []
        if self.closes_on < self.opens_on:
            problems.append("closes_on: closes_on is before opens_on")
        seen: dict[str, Question] = {}
        for index, question in enumerate(self.questions):
            if question.key in seen:
                problems.append(f"questions[{index}].key: {question.key!r} is used twice")
            problems += [
                problem
                for position, condition in enumerate(question.show_if)
                if (
                    problem := _check_condition(
                        f"questions[{index}].show_if[{position}]", condition, seen
                    )
                )
            ]
            seen.setdefault(question.key, question)
        if problems:
            # One error per line; _describe splits them so each names its own path.
            raise ValueError("\n".join(problems))
        return self

    def digest(self) -> str:
        """A fingerprint of the content; an unchanged file keeps its version."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def question(self, key: str) -> Question:
        return next(q for q in self.questions if q.key == key)


def _check_condition(where: str, condition: Condition, earlier: dict[str, Question]) -> str:
    """The problem with one condition, or an empty string."""
    target = earlier.get(condition.question)
    if target is None:
        return f"{where}.question: {condition.question!r} is not an earlier question"
    numeric = condition.lte is not None or condition.gte is not None
    if numeric and target.type is not QuestionType.scale:
        return f"{where}: lte/gte need a scale question, {condition.question!r} is not one"
    listed = (condition.in_ or []) + (condition.not_in or [])
    unknown = [code for code in listed if code not in target.codes()]
    if unknown:
        return f"{where}: {condition.question!r} has no option {unknown[0]!r}"
    return ""


class _SurveyLoader(yaml.SafeLoader):
    """YAML's safe loader, but dates stay text for the schema to check: PyYAML would turn
    ``closes_on: 2026-02-30`` into a ValueError instead of a problem naming the field."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_SurveyLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


# A survey file is a few kilobytes, nested about six levels deep (questions, options,
# conditions); anything far beyond is refused before or while it is parsed, never followed.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_ALIASES = 100


class _TooComplex(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _BoundedLoader(_SurveyLoader):
    """The survey loader, refusing (not recursing into) nodes deeper than MAX_DEPTH and more
    than MAX_ALIASES aliases (each may repeat a whole subtree)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's
        # Flow nesting ([[[…) is stopped as it is scanned, before a long run is looked ahead.
        if self.flow_level >= MAX_DEPTH:
            line = self.get_mark().line + 1
            problem = Translator()(N_("survey.limit.depth"), line=line, limit=MAX_DEPTH)
            raise _TooComplex(problem)
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooComplex(Translator()(N_("survey.limit.aliases"), limit=MAX_ALIASES))
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                problem = Translator()(N_("survey.limit.depth"), line=line, limit=MAX_DEPTH)
                raise _TooComplex(problem)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _refuse_size(size: int, source: str) -> DefinitionInvalid:
    kb = -(-size // 1024)
    problem = Translator()(N_("survey.limit.size"), size=kb, limit=MAX_BYTES // 1024)
    return DefinitionInvalid(source, [problem])


def check_file_size(path: Path, source: str) -> None:
    """Refuse a survey file by its size on disk, before it is read: its text in UTF-8 is
    never shorter than the file (GB18030 takes no more bytes per character; a UTF-8 BOM of
    3 bytes is dropped), so a file over ``MAX_BYTES`` + 3 would be refused once read."""
    size = path.stat().st_size
    if size > MAX_BYTES + 3:
        raise _refuse_size(size, source)


def _load_yaml(text: str, source: str) -> Any:
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_BYTES:
        raise _refuse_size(size, source)
    loader = _BoundedLoader(text)  # a SafeLoader: no object tags
    try:
        return loader.get_single_data()
    except _TooComplex as exc:
        raise DefinitionInvalid(source, [exc.problem]) from None
    finally:
        loader.dispose()


def parse_definition(text: str, *, source: str = "<survey>") -> SurveyDefinition:
    """Parse YAML text into a definition or raise :class:`DefinitionInvalid` with every problem."""
    try:
        data = _load_yaml(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise DefinitionInvalid(source, [f"{where}: not valid YAML ({exc})"]) from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. `!!int abc`
        raise DefinitionInvalid(source, [f"(top): not valid YAML ({exc})"]) from exc
    except RecursionError as exc:
        raise DefinitionInvalid(source, ["(top): nested too deeply"]) from exc
    if not isinstance(data, dict):
        raise DefinitionInvalid(source, ["(top): expected a mapping of survey fields"])
    try:
        return SurveyDefinition.model_validate(data)
    except ValidationError as exc:
        problems = [line for err in exc.errors() for line in _describe(err)]
        # Pydantic skips the cross-field checks once a field fails; run the ones that
        # only need keys on the raw data, so one pass reports every problem.
        problems += [p for p in _raw_cross_checks(data) if p not in problems]
        raise DefinitionInvalid(source, problems) from exc


FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def _describe(err: Any) -> list[str]:
    """Turn one pydantic error into lines of ``path: problem``."""
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    lines = []
    for message in str(err["msg"]).removeprefix("Value error, ").split("\n"):
        # Model-level checks name the field themselves ("options: …"); join it to the path.
        match = FIELD_PREFIX.match(message)
        where = path
        if match:
            where = f"{path}.{match.group(1)}" if path else match.group(1)
            message = match.group(2)
        lines.append(f"{where or '(top)'}: {message}")
    return lines


def _raw_cross_checks(data: dict[str, Any]) -> list[str]:
    """Duplicate keys and show_if on unknown or later questions, on unvalidated data."""
    questions = data.get("questions")
    if not isinstance(questions, list):
        return []
    problems: list[str] = []
    earlier: set[str] = set()
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            continue
        key = question.get("key")
        if isinstance(key, str) and key in earlier:
            problems.append(f"questions[{index}].key: {key!r} is used twice")
        conditions = question.get("show_if") or []
        for position, condition in enumerate(
            [conditions] if isinstance(conditions, dict) else conditions
        ):
            target = condition.get("question") if isinstance(condition, dict) else None
            if isinstance(target, str) and target not in earlier:
                where = f"questions[{index}].show_if[{position}].question"
                problems.append(f"{where}: {target!r} is not an earlier question")
        if isinstance(key, str):
            earlier.add(key)
    return problems
