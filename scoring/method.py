"""The 民意 method file (YAML), validated with pydantic; errors name the field path."""

from __future__ import annotations

import hashlib
import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scoring.models import Component
from surveys.accounts.models import UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.questionnaire.definitions import Level, _describe

DEFAULT_METHOD_FILE = Path(__file__).with_name("method.yaml")
WEIGHT_TOLERANCE = 1e-9
# Seed 000: development zones are ranked with the districts, departments apart.
DEFAULT_RANKING_GROUPS: dict[str, list[UnitKind]] = {
    "旗县区和高新区": [UnitKind.district, UnitKind.hightech],
    "市直部门": [UnitKind.department],
}


class Source(StrEnum):
    survey = "survey"  # satisfaction questions of our surveys, n = respondents
    rating = "rating"  # 好差评, n = 办件 (latest round)
    hotline = "hotline"  # 12345 回访, n = people who answered
    outside = "outside"  # outside 民意 results (民意调查机构, 蒙速办, …), n = their n


class HotlineRate(StrEnum):
    """The 12345 回访 rates that make its score (domain.md §6)."""

    contact = "contact"  # 联系率 = contacted ÷ reached
    resolved = "resolved"  # 解决率 = resolved ÷ answered
    satisfied = "satisfied"  # 满意率 = (满意 + 基本满意) ÷ answered


# domain.md §6's published example (Beijing 接诉即办 三率).
DEFAULT_HOTLINE_RATES: dict[HotlineRate, float] = {
    HotlineRate.contact: 0.30,
    HotlineRate.resolved: 0.35,
    HotlineRate.satisfied: 0.35,
}


class Shrinkage(StrEnum):
    off = "off"
    empirical_bayes = "empirical_bayes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


K = TypeVar("K", bound=StrEnum)


def _every(keys: type[K], value: dict[K, float], what: str) -> dict[K, float]:
    """``value`` in the order of ``keys``; one missing is refused: "``what`` needed; missing …"."""
    missing = [key.value for key in keys if key not in value]
    if missing:
        raise ValueError(f"{what} needed; missing {', '.join(missing)}")
    return {key: value[key] for key in keys}


class PointsMethod(_Strict):
    kind: Literal["points"]
    points: dict[Level, Annotated[float, Field(ge=0, le=100)]]

    @field_validator("points")
    @classmethod
    def _every_level(cls, value: dict[Level, float]) -> dict[Level, float]:
        return _every(Level, value, "points for every level")


class ShareMethod(_Strict):
    kind: Literal["share"]
    good_levels: list[Level] = Field(min_length=1)
    # 基本满意 joins good_levels when basic_satisfied_counts_as_good is true.
    basic_follows_flag: bool = False


LevelMethod = Annotated[PointsMethod | ShareMethod, Field(discriminator="kind")]


class ExcludedTestData(_Strict):
    unit_codes: list[str] = Field(default_factory=list)
    survey_codes: list[str] = Field(default_factory=list)
    rating_source_id_prefixes: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list
    )


class Method(_Strict):
    """Everything a score depends on besides the data; its dump goes into every export."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=40)
    method: str
    methods: dict[str, LevelMethod] = Field(min_length=1)
    basic_satisfied_counts_as_good: bool = True
    source_weights: dict[Source, Annotated[float, Field(ge=0)]]
    questions: Literal["all"] | list[str] = "all"
    completed_responses_only: bool = True
    min_sample: int = Field(default=385, ge=1)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    shrinkage: Shrinkage = Shrinkage.off
    components: dict[Component, Annotated[float, Field(ge=0, le=1)]]
    # Weights of the 12345 回访 rates in its score (renormalised over the rates that have a
    # denominator for the unit).
    hotline_rates: dict[HotlineRate, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_HOTLINE_RATES)
    )
    # Which unit kinds are ranked together: group name → kinds; every kind in exactly one.
    ranking_groups: dict[Annotated[str, Field(min_length=1)], list[UnitKind]] = Field(
        default_factory=lambda: dict(DEFAULT_RANKING_GROUPS)
    )
    test_data: ExcludedTestData = Field(default_factory=ExcludedTestData)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML reads 2026.1 as a number; a version is text.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("shrinkage", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as false.
        return "off" if value is False else value

    @field_validator("source_weights")
    @classmethod
    def _some_weight(cls, value: dict[Source, float]) -> dict[Source, float]:
        if not any(weight > 0 for weight in value.values()):
            raise ValueError("at least one source needs a weight above 0")
        return {source: value[source] for source in Source if source in value}

    @field_validator("hotline_rates")
    @classmethod
    def _some_rate(cls, value: dict[HotlineRate, float]) -> dict[HotlineRate, float]:
        ordered = _every(HotlineRate, value, "a weight for every 回访 rate")
        if not any(weight > 0 for weight in ordered.values()):
            raise ValueError("at least one 回访 rate needs a weight above 0")
        return ordered

    @field_validator("components")
    @classmethod
    def _weights_sum_to_one(cls, value: dict[Component, float]) -> dict[Component, float]:
        ordered = _every(Component, value, "a weight for every component")
        total = math.fsum(ordered.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise ValueError(f"the weights must sum to 1, they sum to {total:g}")
        return ordered

    @field_validator("ranking_groups")
    @classmethod
    def _every_kind_once(cls, value: dict[str, list[UnitKind]]) -> dict[str, list[UnitKind]]:
        seen: dict[UnitKind, str] = {}
        problems = []
        for group, kinds in value.items():
            for kind in kinds:
                if kind in seen:
                    problems.append(f"{kind.value} is in both {seen[kind]} and {group}")
                seen[kind] = group
        missing = [kind.value for kind in UnitKind if kind not in seen]
        if missing:
            problems.append(f"every unit kind needs a group; in no group: {', '.join(missing)}")
        if problems:
            raise ValueError("; ".join(problems))
        return {group: [k for k in UnitKind if k in kinds] for group, kinds in value.items()}

    @model_validator(mode="after")
    def _method_is_defined(self) -> Method:
        if self.method not in self.methods:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(self.methods)}")
        return self

    @property
    def selected(self) -> PointsMethod | ShareMethod:
        return self.methods[self.method]

    def good_levels(self) -> frozenset[Level]:
        """The levels a share method counts as good, after the 基本满意 flag."""
        chosen = self.selected
        if not isinstance(chosen, ShareMethod):
            return frozenset()
        good = set(chosen.good_levels)
        if chosen.basic_follows_flag and self.basic_satisfied_counts_as_good:
            good.add(Level.neutral)
        return frozenset(good)

    def answer_points(self) -> dict[Level, float]:
        """What one satisfaction answer is worth before a person's answers are averaged: the
        points of a points method, 100 (good) or 0 under a share method."""
        chosen = self.selected
        if isinstance(chosen, PointsMethod):
            return dict(chosen.points)
        good = self.good_levels()
        return {level: 100.0 if level in good else 0.0 for level in Level}

    def group_of(self, kind: str) -> str:
        """The ranking group of a unit kind (a kind of no group, never of a valid file,
        is its own group)."""
        for group, kinds in self.ranking_groups.items():
            if kind in kinds:
                return group
        return kind

    def parameters(self) -> dict[str, Any]:
        """The parameters as plain JSON data, in a stable order."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def digest(self) -> str:
        canonical = json.dumps(self.parameters(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_method(text: str, *, source: str = "<method>") -> Method:
    """Parse YAML text into a method or raise :class:`InvalidFile` naming every field path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidFile(source, [f"not valid YAML ({exc})"]) from exc
    if not isinstance(data, dict):
        raise InvalidFile(source, ["(top): expected a mapping of method fields"])
    try:
        return Method.model_validate(data)
    except ValidationError as exc:
        problems = [line for err in exc.errors() for line in _describe(_untagged(err))]
        raise InvalidFile(source, problems) from exc


def _untagged(err: Any) -> Any:
    # pydantic puts the union tag in the path (methods.B.points.points); the file has none.
    loc = tuple(err["loc"])
    if loc[:1] == ("methods",) and len(loc) > 2 and loc[2] in ("points", "share"):
        return {**err, "loc": loc[:2] + loc[3:]}
    return err


def load_method(path: Path | None = None) -> Method:
    """The method of ``path``, or the shipped ``scoring/method.yaml``."""
    chosen = path or DEFAULT_METHOD_FILE
    try:
        text = chosen.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile(str(chosen), [f"cannot read the method file: {exc}"]) from exc
    return parse_method(text, source=str(chosen))
