"""OpenAPI links: which value of one answer a following call takes (a listed case's ``id``
into ``GET /api/v1/cases/{case_id}``, a listed unit's ``code`` into ``GET /api/v1/units/{code}``).

Clients read them from ``/openapi.json``; the stateful API test follows them. A route
declares ``responses={200: {"links": links("$response.body#/data/0/id", *CASE)}}``;
``tests/api/routes/test_api_contract.py`` checks every target names a real operation.
"""

from __future__ import annotations

from typing import Any

# name: (operationId as FastAPI derives it from the function, path and method, parameter)
TARGETS: dict[str, tuple[str, str]] = {
    "GetCase": ("get_case_api_v1_cases__case_id__get", "case_id"),
    "ReplyToCase": ("reply_api_v1_cases__case_id__reply_post", "case_id"),
    "MoveCase": ("transition_api_v1_cases__case_id__transition_post", "case_id"),
    "GetUnit": ("get_unit_api_v1_units__code__get", "code"),
    "CasesOfUnit": ("list_cases_api_v1_cases_get", "unit_id"),
    "RatingsOfUnit": ("list_ratings_api_v1_ratings_get", "unit_id"),
    "IndicatorsOfUnit": ("list_indicators_api_v1_indicators_get", "unit_id"),
    "ResponsesOfUnit": ("list_responses_api_v1_responses_get", "unit_id"),
    "SurveyResults": ("survey_results_api_v1_surveys__code__results_get", "code"),
    "SurveyFreeText": ("survey_free_text_api_v1_surveys__code__free_text_get", "code"),
    "PublishSurvey": ("publish_survey_api_v1_surveys__code__publish_post", "code"),
    "CloseSurvey": ("close_survey_api_v1_surveys__code__close_post", "code"),
}
CASE = ("GetCase", "ReplyToCase", "MoveCase")  # by the case's id
UNIT_ID = ("CasesOfUnit", "RatingsOfUnit", "IndicatorsOfUnit", "ResponsesOfUnit")
SURVEY = ("SurveyResults", "SurveyFreeText", "PublishSurvey", "CloseSurvey")  # by its code


def links(value: str, *names: str) -> dict[str, Any]:
    """OpenAPI ``links`` passing ``value`` (a runtime expression) to each named target."""
    found: dict[str, Any] = {}
    for name in names:
        operation_id, parameter = TARGETS[name]
        found[name] = {"operationId": operation_id, "parameters": {parameter: value}}
    return found


__all__ = ["CASE", "SURVEY", "TARGETS", "UNIT_ID", "links"]
