"""Transport-neutral errors. Each carries a catalogue key; adapters pick the HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    key = "error.generic"
    status_code = 400

    def __init__(self, **params: Any) -> None:
        super().__init__(self.key, params)
        self.params = params


class NotFound(DomainError):
    key = "error.not_found"
    status_code = 404


class DatabaseBusy(DomainError):
    """Another write held the database past the wait (SQLite has one writer): try again."""

    key = "error.database_busy"
    status_code = 503


class DatabaseUnavailable(DomainError):
    """The database server could not be reached (stopped, restarting, network): try again."""

    key = "error.database_unavailable"
    status_code = 503


class UnknownSurvey(NotFound):
    key = "error.unknown_survey"


class UnknownUnit(NotFound):
    key = "error.unknown_unit"


class SurveyClosed(DomainError):
    key = "error.survey_closed"
    status_code = 409


class NoTargetUnits(DomainError):
    key = "error.no_target_units"
    status_code = 409


class AlreadyResponded(DomainError):
    key = "error.already_responded"
    status_code = 409


class BadCursor(DomainError):
    """An ``after=`` cursor this server did not hand out (or one cut short)."""

    key = "error.bad_cursor"
    status_code = 422


class BadDeepLink(DomainError):
    key = "error.bad_deep_link"


class InvalidFile(DomainError):
    """A file an administrator gave is wrong; ``problems`` name where and what."""

    key = "error.invalid_file"
    status_code = 422

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source=source, count=len(problems))
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"{self.source}: {len(self.problems)} problem(s)\n{lines}"


class DefinitionInvalid(InvalidFile):
    key = "error.invalid_survey_file"
