"""Saved queue views: a staff member's named filters of the case queue (CaseView).

A view stores the queue's query string with only the filter parameters (never a page
position); the queue checks it again each time it is applied, as any typed filter, so a
view naming a state or unit that no longer fits shows the queue's message, not an error.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor
from surveys.cases.models import CaseView
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_

NAME_MAX = 40
QUERY_MAX = 500
VALUE_MAX = 64
# The queue's filter parameters, in the order a stored query lists them.
FILTER_KEYS = ("q", "unit", "state", "assignee", "overdue", "opened_from", "opened_to")
VIEWS_MAX = 50  # per person


class InvalidView(DomainError):
    key = N_("caseview.error.invalid")
    status_code = 422


class ViewNameTaken(DomainError):
    key = N_("caseview.error.taken")
    status_code = 409

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


class PersonalOnly(DomainError):
    """Views belong to a person: an integration's token has none."""

    key = N_("caseview.error.personal")
    status_code = 403


class TooManyViews(DomainError):
    key = N_("caseview.error.too_many")
    status_code = 409

    def __init__(self) -> None:
        super().__init__(max=VIEWS_MAX)


def clean_query(query: str) -> str:
    """The filter part of a queue query string, in a fixed order; empty values dropped.

    Anything that is not a filter (a page, a cursor, an unknown name) is left out; a query
    with no filter left, or a value longer than any filter takes, is :class:`InvalidView`.
    """
    text = query.strip().lstrip("?")
    if len(text) > QUERY_MAX * 2:
        raise InvalidView()
    given = {k: v.strip() for k, v in parse_qsl(text, keep_blank_values=False)}
    kept = [(k, given[k]) for k in FILTER_KEYS if given.get(k)]
    if not kept or any(len(v) > VALUE_MAX for _, v in kept):
        raise InvalidView()
    cleaned = urlencode(kept)
    if len(cleaned) > QUERY_MAX:
        raise InvalidView()
    return cleaned


def _owner(actor: Actor) -> int:
    if actor.user_id is None:
        raise PersonalOnly()
    return actor.user_id


def _clean_name(name: str) -> str:
    text = " ".join(name.split())
    if not text or len(text) > NAME_MAX:
        raise InvalidView()
    return text


async def list_views(*, session: AsyncSession, actor: Actor) -> list[CaseView]:
    """The actor's saved views by name; none for a token."""
    if actor.user_id is None:
        return []
    statement = select(CaseView).where(CaseView.user_id == actor.user_id)
    return list((await session.exec(statement.order_by(col(CaseView.name)))).all())


async def get_view(*, session: AsyncSession, actor: Actor, name: str) -> CaseView:
    """One of the actor's views by name; another person's is NotFound."""
    statement = select(CaseView).where(
        CaseView.user_id == _owner(actor), CaseView.name == _clean_name(name)
    )
    found = (await session.exec(statement)).first()
    if found is None:
        raise NotFound(view=name[:NAME_MAX])
    return found


async def save_view(*, session: AsyncSession, actor: Actor, name: str, query: str) -> CaseView:
    """Save the queue's filter under a name of the actor's; a name in use is refused."""
    owner, clean = _owner(actor), _clean_name(name)
    cleaned = clean_query(query)
    mine = await list_views(session=session, actor=actor)
    if any(v.name == clean for v in mine):
        raise ViewNameTaken(name=clean)
    if len(mine) >= VIEWS_MAX:
        raise TooManyViews()
    view = CaseView(user_id=owner, name=clean, query=cleaned)
    session.add(view)
    await session.flush()
    return view


async def delete_view(*, session: AsyncSession, actor: Actor, name: str) -> CaseView:
    """Delete one of the actor's views by name; the row as it was."""
    view = await get_view(session=session, actor=actor, name=name)
    await session.delete(view)
    await session.flush()
    return view
