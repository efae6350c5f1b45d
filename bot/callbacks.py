"""Every callback-data factory. Ids and indexes only, never text; each packs to ≤ 64 bytes."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from surveys.questionnaire import engine


class Act(StrEnum):
    pick = "p"
    done = "d"
    skip = "s"
    back = "b"


class AnswerCb(CallbackData, prefix="a"):
    """A button under a question: survey version, question position, action, option index."""

    v: int
    q: int
    k: Act
    o: int = 0


class RateCb(CallbackData, prefix="r"):
    """A button of a 好差评 rating in chat: rating dialogue id, question position, action."""

    v: int
    q: int
    k: Act
    o: int = 0


class RerateCb(CallbackData, prefix="f"):
    """The citizen's 复评 of a follow-up case: case id and choice index."""

    c: int
    o: int


class AnswerUnitCb(CallbackData, prefix="u"):
    """Write back to the unit handling a case (保密联络)."""

    c: int


class OpenSurveyCb(CallbackData, prefix="o"):
    code: str


class InvitesCb(CallbackData, prefix="i"):
    """The citizen's answer to /invites: 1 = invite me to new surveys, 0 = do not."""

    on: int


class Erase(StrEnum):
    confirm = "y"
    cancel = "n"


class ForgetCb(CallbackData, prefix="e"):
    """The answer to /forget's question: confirm or cancel, and when it was asked (Unix
    seconds), so an old question's confirm erases nothing."""

    k: Erase
    at: int


def engine_input(data: AnswerCb | RateCb) -> engine.Input:
    """The engine input a pressed answer button stands for."""
    if data.k is Act.done:
        return engine.Done(data.q)
    if data.k is Act.skip:
        return engine.Skip(data.q)
    if data.k is Act.back:
        return engine.Back(data.q)
    return engine.Pick(data.q, data.o)
