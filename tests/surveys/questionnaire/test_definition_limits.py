"""A survey file nested too deeply, too large or full of aliases is refused, never followed."""

from __future__ import annotations

import pytest

from surveys.core.exceptions import DefinitionInvalid
from surveys.questionnaire.definitions import MAX_BYTES, MAX_DEPTH, parse_definition
from tests.fakes import bombs


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(text, source="deep.yaml")
    return caught.value.problems


def test_20000_nested_brackets_are_refused_with_a_clear_problem() -> None:
    assert problems(bombs.deep_yaml(20_000)) == [
        "第 1 行：嵌套超过 20 层，调查文件用不到这么深的结构，未解析。"
    ]


def test_deep_block_nesting_is_refused_at_its_line() -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(MAX_DEPTH + 5))

    # Line 20 opens the 20th mapping; its key is the 21st level.
    assert problems(text) == ["第 20 行：嵌套超过 20 层，调查文件用不到这么深的结构，未解析。"]


def test_nesting_up_to_the_limit_is_parsed_and_then_checked_as_usual() -> None:
    found = problems(bombs.deep_yaml(MAX_DEPTH))

    assert found == ["(top): expected a mapping of survey fields"]


def test_many_aliases_are_refused() -> None:
    text = "a: &x [1, 2, 3]\nb: [" + ", ".join(["*x"] * 101) + "]\n"

    assert problems(text) == ["调查文件使用了超过 100 个 YAML 别名（*名称），未解析。"]


def test_a_document_over_256_kb_is_refused_before_it_is_parsed() -> None:
    text = "# " + "x" * MAX_BYTES + "\n"

    assert problems(text) == ["调查文件有 257 KB，超过上限 256 KB，未解析。"]
