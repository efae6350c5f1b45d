"""The method file: the shipped defaults, and field-path errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.method import Shrinkage, Source, load_method, parse_method
from scoring.models import Component
from surveys.accounts.models import UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.questionnaire.definitions import Level

SHIPPED = Path(load_method.__code__.co_filename).with_name("method.yaml").read_text("utf-8")


class TestShipped:
    def test_defaults_of_domain_md(self) -> None:
        method = load_method()

        assert method.method == "A"
        assert method.selected.points == {  # type: ignore[union-attr]
            Level.very_satisfied: 100, Level.satisfied: 75, Level.neutral: 50,
            Level.dissatisfied: 25, Level.very_dissatisfied: 0,
        }  # fmt: skip
        assert method.min_sample == 385
        assert method.shrinkage is Shrinkage.off
        assert method.source_weights == {
            Source.survey: 1, Source.rating: 1, Source.hotline: 1, Source.outside: 1,
        }  # fmt: skip
        assert method.ranking_groups == {
            "旗县区和高新区": [UnitKind.district, UnitKind.hightech],
            "市直部门": [UnitKind.department],
        }
        assert method.components == {
            Component.monitoring: 0.6, Component.field: 0.2, Component.opinion: 0.1,
            Component.third_party: 0.1,
        }  # fmt: skip
        assert set(method.methods) == {"A", "B", "C", "D"}

    def test_another_file_overrides(self, tmp_path: Path) -> None:
        path = tmp_path / "m.yaml"
        path.write_text(SHIPPED.replace("method: A", "method: D"), "utf-8")

        method = load_method(path)

        assert method.method == "D"
        assert method.good_levels() == {Level.very_satisfied, Level.satisfied, Level.neutral}


class TestBadFiles:
    def problems(self, text: str) -> list[str]:
        with pytest.raises(InvalidFile) as caught:
            parse_method(text, source="m.yaml")
        return caught.value.problems

    def test_every_field_path_is_named(self) -> None:
        text = (
            SHIPPED.replace("民意调查: 0.1", "民意调查: 0.3")
            .replace("min_sample: 385", "min_sample: 0")
            .replace("satisfied: 80,", "satisfied: 180,")
            .replace('shrinkage: "off"', "shrinkage: james_stein")
        )

        problems = self.problems(text)

        assert any(p.startswith("methods.B.points.satisfied:") for p in problems), problems
        assert any(p.startswith("min_sample:") for p in problems)
        assert any(p.startswith("shrinkage:") for p in problems)
        assert any(p.startswith("components:") and "sum to 1" in p for p in problems)

    def test_unknown_method_name(self) -> None:
        assert self.problems(SHIPPED.replace("method: A", "method: E")) == [
            "method: 'E' is not one of A, B, C, D"
        ]

    def test_a_bare_off_is_read_as_off(self) -> None:
        method = parse_method(SHIPPED.replace('shrinkage: "off"', "shrinkage: off"))

        assert method.shrinkage is Shrinkage.off

    def test_not_yaml_and_not_a_mapping(self, tmp_path: Path) -> None:
        assert "not valid YAML" in self.problems("a: [")[0]
        assert self.problems("- 1") == ["(top): expected a mapping of method fields"]
        with pytest.raises(InvalidFile, match="cannot read"):
            load_method(tmp_path / "missing.yaml")

    def test_unknown_fields_are_refused(self) -> None:
        assert any(p.startswith("weights:") for p in self.problems(SHIPPED + "weights: 1\n"))
