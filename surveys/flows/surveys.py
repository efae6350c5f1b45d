"""Flows for surveys: load a YAML file, publish, close. Admin only, every step audited.

A survey is offered while :func:`surveys.catalog.is_open` holds for its latest version:
``closed_at`` unset and ``opens_on <= today <= closes_on``.

* **publish** opens it today: ``opens_on`` moves to today if it lay in the future, and a
  close is undone (``closed_at`` cleared). A survey whose ``closes_on`` has passed cannot be
  published; load a new version of the file with a later ``closes_on``.
* **close** stops it at once by setting ``closed_at`` (the bot stops offering it on its
  next look-up); ``closes_on`` keeps the planned date, so publishing again is possible
  while the period lasts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.flows.registry import Adapter, flow
from surveys.questionnaire import catalog
from surveys.questionnaire.definitions import parse_definition
from surveys.questionnaire.models import SurveyVersion

MAX_YAML_BYTES = 256 * 1024
API_AND_CLI = frozenset({Adapter.api, Adapter.cli})


class SurveyEnded(DomainError):
    key = N_("error.survey_ended")
    status_code = 409


@flow("survey.load", perm=Perm.manage, adapters=API_AND_CLI)
async def load_yaml(
    *, session: AsyncSession, actor: Actor, text: str, source: str = "api"
) -> catalog.LoadResult:
    """Parse and store a survey file; :class:`DefinitionInvalid` names every problem."""
    definition = parse_definition(text, source=source)
    result = await catalog.load_survey(session=session, definition=definition, source=source)
    await audit.record(
        session=session,
        actor=actor,
        action="survey.load",
        target=definition.code,
        version=result.version.version,
        created=result.created,
    )
    return result


@flow("survey.publish", perm=Perm.manage, adapters=API_AND_CLI)
async def publish(*, session: AsyncSession, actor: Actor, code: str, today: date) -> SurveyVersion:
    """Open the latest version today (see the module text)."""
    version = await catalog.get_latest_version_or_raise(session=session, code=code)
    if version.closes_on < today:
        raise SurveyEnded(title=version.title, closes_on=str(version.closes_on))
    before = str(version.opens_on)
    if version.opens_on > today:
        version.opens_on = today
    version.closed_at = None
    session.add(version)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="survey.publish",
        target=code,
        version=version.version,
        opens_on_before=before,
        opens_on=str(version.opens_on),
    )
    return version


@flow("survey.close", perm=Perm.manage, adapters=API_AND_CLI)
async def close(
    *, session: AsyncSession, actor: Actor, code: str, now: datetime | None = None
) -> SurveyVersion:
    """Stop offering the latest version now; answers given so far stay."""
    version = await catalog.get_latest_version_or_raise(session=session, code=code)
    if version.closed_at is None:
        version.closed_at = now or utcnow()
        session.add(version)
        await session.flush()
    await audit.record(
        session=session, actor=actor, action="survey.close", target=code, version=version.version
    )
    return version
