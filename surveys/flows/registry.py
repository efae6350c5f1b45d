"""The register of staff flows: one function per staff action, known by its audit action.

``@flow("case.transition", perm=Perm.work_cases)`` registers the function and checks the
actor's permission before it runs; the flow itself calls the services and writes its audit
row (:func:`surveys.accounts.audit.record` with the same action). The adapters that offer
the action are declared here too, so the parity test (tests/surveys/flows/test_parity.py)
can hold every adapter to the same state change and the same audit row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from surveys.accounts.access import Actor, Perm

P = ParamSpec("P")
R = TypeVar("R")


class Adapter(StrEnum):
    console = "console"
    api = "api"
    cli = "cli"


ALL_ADAPTERS = frozenset(Adapter)


@dataclass(frozen=True)
class FlowSpec:
    action: str  # also the audit row's action
    perm: Perm | None  # None: the flow decides (e.g. a move is work or a 申诉 decision)
    adapters: frozenset[Adapter]
    func: Callable[..., Awaitable[Any]]


FLOWS: dict[str, FlowSpec] = {}


def flow(
    action: str, *, perm: Perm | None, adapters: frozenset[Adapter] = ALL_ADAPTERS
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a staff flow; its keyword ``actor`` must hold ``perm`` before it runs."""

    def register(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(func)
        async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            actor = kwargs.get("actor")
            if not isinstance(actor, Actor):
                raise TypeError(f"flow {action} needs actor=Actor(...)")
            if perm is not None:
                actor.require(perm)
            return await func(*args, **kwargs)

        if action in FLOWS:
            raise ValueError(f"flow {action} registered twice")
        FLOWS[action] = FlowSpec(action, perm, frozenset(adapters), checked)
        return checked

    return register
