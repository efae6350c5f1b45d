"""Scoring errors; each carries a catalogue key like the errors of :mod:`surveys.exceptions`."""

from __future__ import annotations

from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_


class InvalidPeriod(DomainError):
    """A period code that is not ``2026H1``/``2026H2`` or a year that is not ``2026``."""

    key = N_("error.invalid_period")


class NoUnits(DomainError):
    """There is no active unit to score or to put in a template."""

    key = N_("error.no_active_units")
    status_code = 409


class UnknownComponent(DomainError):
    """Not one of the imported components (日常监测, 实地调研, 第三方评估)."""

    key = N_("error.unknown_component")
    status_code = 422
