"""Who may do what, to which units: one rule set for the API and the console.

An :class:`Actor` is a signed-in staff member or an integration's token. Every service that
reads or changes unit data takes the actor and checks here, so no adapter can disagree.
Refusals: a missing permission is 403 (:class:`Forbidden`); another unit's object is 404
(:class:`~surveys.exceptions.NotFound`), so ids of other units' cases reveal nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_


class StaffRole(StrEnum):
    admin = "admin"
    supervisor = "supervisor"  # 牵头考核单位: decides 申诉, is told of overdue cases
    staff = "staff"
    viewer = "viewer"


class Perm(StrEnum):
    public = "public"  # no sign-in: health, login page, static files
    signed_in = "signed_in"  # any account: own password, sign-out
    view = "view"  # read the data of the actor's units (cases, results, indicators)
    export = "export"  # download CSV/XLSX of the actor's units
    work_cases = "work_cases"  # 核实/整改/反馈 and replies (the unit's own staff)
    decide_appeal = "decide_appeal"  # 申诉 decisions (牵头考核单位)
    push = "push"  # integrations: push 办件 and ratings for the actor's units
    manage = "manage"  # users, tokens, units, surveys, imports, scoring, audit log


ROLE_PERMS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.admin: frozenset(Perm),
    StaffRole.supervisor: frozenset(
        {Perm.public, Perm.signed_in, Perm.view, Perm.export, Perm.decide_appeal}
    ),
    StaffRole.staff: frozenset(
        {Perm.public, Perm.signed_in, Perm.view, Perm.export, Perm.work_cases, Perm.push}
    ),
    StaffRole.viewer: frozenset({Perm.public, Perm.signed_in, Perm.view}),
}
# Roles that may be created without units and then see every unit (city-wide readers).
CITY_WIDE_ROLES = frozenset({StaffRole.admin, StaffRole.supervisor, StaffRole.viewer})


class Forbidden(DomainError):
    key = N_("error.forbidden")
    status_code = 403


class NotSignedIn(DomainError):
    key = N_("error.not_signed_in")
    status_code = 401


class UnitRequired(DomainError):
    key = N_("error.unit_required")
    status_code = 422


@dataclass(frozen=True)
class Actor:
    """The caller: ``units`` is None for every unit, else the unit ids it serves."""

    name: str
    role: StaffRole
    units: frozenset[int] | None
    address: str | None = None
    user_id: int | None = None
    token_id: int | None = None

    @classmethod
    def scoped(
        cls, *, name: str, role: StaffRole, unit_ids: Iterable[int], **more: object
    ) -> Actor:
        ids = frozenset(unit_ids)
        if role is StaffRole.admin or (not ids and role in CITY_WIDE_ROLES):
            return cls(name=name, role=role, units=None, **more)  # type: ignore[arg-type]
        return cls(name=name, role=role, units=ids, **more)  # type: ignore[arg-type]

    @property
    def kind(self) -> str:
        return "token" if self.token_id is not None else "user"

    def can(self, perm: Perm) -> bool:
        return perm in ROLE_PERMS[self.role]

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise Forbidden(action=perm.value)

    def sees(self, unit_id: int | None) -> bool:
        return self.units is None or (unit_id is not None and unit_id in self.units)

    def require_unit(self, unit_id: int | None, **what: object) -> None:
        """Refuse another unit's object as if it did not exist."""
        if not self.sees(unit_id):
            raise NotFound(**what)

    def unit_filter(self, unit_id: int | None = None) -> frozenset[int] | None:
        """The units a query may cover: all of the actor's, or one of them if asked."""
        if unit_id is None:
            return self.units
        self.require_unit(unit_id, unit=unit_id)
        return frozenset({unit_id})


def check_role_units(role: StaffRole, unit_count: int) -> None:
    """Unit staff must serve at least one unit; others without units see all units."""
    if role is StaffRole.staff and unit_count == 0:
        raise UnitRequired(role=role.value)
