"""Why a case move, reply or re-rating is refused, and the limits those refusals name.

Kept apart from :mod:`surveys.cases.service` so that the adapters can tell a refusal (shown
on the case page) from other errors without importing the service; the service raises them
and re-exports them (``service.InvalidTransition`` keeps working).
"""

from __future__ import annotations

from surveys.cases.models import CaseState
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_

TEXT_MAX = 2000  # a staff reply or citizen message, after stripping
SEARCH_MAX = 64  # characters of a queue search (case number, 办件编号, 事项 or text)
# Moves whose note is required: the reason is shown to the citizen (NoteRequired otherwise);
# the note of 已反馈 is the 反馈 itself, sent to the citizen with the 复评 question.
NOTE_REQUIRED = frozenset({CaseState.unfounded, CaseState.appealing, CaseState.replied})


class InvalidTransition(DomainError):
    key = N_("error.invalid_transition")
    status_code = 409

    def __init__(self, *, frm: str, to: str) -> None:
        super().__init__(frm=str(frm), to=str(to))


class NoteRequired(DomainError):
    key = N_("error.note_required")
    status_code = 422

    def __init__(self, *, to: str) -> None:
        super().__init__(to=str(to))


class SupervisorOnly(DomainError):
    key = N_("error.supervisor_only")
    status_code = 403

    def __init__(self, *, to: str) -> None:
        super().__init__(to=str(to))


class CaseClosed(DomainError):
    key = N_("error.case_closed")
    status_code = 409


class RereratingNotAllowed(DomainError):
    key = N_("error.rerating_not_allowed")
    status_code = 409

    def __init__(self, *, state: str) -> None:
        super().__init__(state=str(state))


class InvalidText(DomainError):
    """A reply or citizen message that is empty or longer than :data:`TEXT_MAX`."""

    key = N_("error.invalid_text")
    status_code = 422

    def __init__(self, *, got: int) -> None:
        super().__init__(max=TEXT_MAX, got=got)
