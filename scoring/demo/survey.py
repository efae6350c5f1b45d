"""Demo data: the units of domain.md §1 and the demo survey, dated to the current half-year."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from surveys.core.periods import half_year
from surveys.questionnaire.definitions import SurveyDefinition, parse_definition

DATA_DIR = Path(__file__).parent / "data"
UNITS_CSV = DATA_DIR / "units.csv"
SURVEY_YAML = DATA_DIR / "demo_survey.yaml"


def demo_survey(today: date) -> SurveyDefinition:
    """The demo survey, open for the whole half-year containing ``today``."""
    data = yaml.safe_load(SURVEY_YAML.read_text("utf-8"))
    period, opens_on, closes_on = half_year(today)
    data.update(
        code=f"szzf-{period.lower()}", period=period, opens_on=opens_on, closes_on=closes_on
    )
    return parse_definition(yaml.safe_dump(data, allow_unicode=True), source=str(SURVEY_YAML))
