"""The audit log in staff words: every action's label from the catalogue (``ACTION_LABELS``)
and each row described as staff read it (:func:`describe`). Read-only: the flows write the
log through :mod:`surveys.accounts.audit`; adapters may import this module, not that one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.i18n import N_, Translator

# Reading the log ------------------------------------------------------------------------

# Written outside a registered flow (surveys.flows.registry.FLOWS): a sign-in, good or bad,
# happens before there is an actor to run a flow with.
SIGN_IN_ACTIONS = frozenset({"login", "login.failed"})

# The staff wording of every action written to the log (tests hold FLOWS and SIGN_IN_ACTIONS
# to it); an action missing here reads as its code.
ACTION_LABELS: dict[str, str] = {
    "login": N_("audit.action.login"),
    "login.failed": N_("audit.action.login.failed"),
    "logout": N_("audit.action.logout"),
    "password.change": N_("audit.action.password.change"),
    "user.create": N_("audit.action.user.create"),
    "user.reset": N_("audit.action.user.reset"),
    "user.disable": N_("audit.action.user.disable"),
    "user.enable": N_("audit.action.user.enable"),
    "user.link_code": N_("audit.action.user.link_code"),
    "staff.add": N_("audit.action.staff.add"),
    "staff.link_code": N_("audit.action.staff.link_code"),
    "token.create": N_("audit.action.token.create"),
    "token.revoke": N_("audit.action.token.revoke"),
    "units.load": N_("audit.action.units.load"),
    "calendar.set": N_("audit.action.calendar.set"),
    "privacy.purge": N_("audit.action.privacy.purge"),
    "survey.load": N_("audit.action.survey.load"),
    "survey.publish": N_("audit.action.survey.publish"),
    "survey.close": N_("audit.action.survey.close"),
    "broadcast.start": N_("audit.action.broadcast.start"),
    "broadcast.pause": N_("audit.action.broadcast.pause"),
    "broadcast.resume": N_("audit.action.broadcast.resume"),
    "case.transition": N_("audit.action.case.transition"),
    "case.reply": N_("audit.action.case.reply"),
    "case.escalate": N_("audit.action.case.escalate"),
    "case.assign": N_("audit.action.case.assign"),
    "case.claim": N_("audit.action.case.claim"),
    "case.bulk_assign": N_("audit.action.case.bulk_assign"),
    "case.bulk_escalate": N_("audit.action.case.bulk_escalate"),
    "case.close": N_("audit.action.case.close"),
    "case.close_unrerated": N_("audit.action.case.close_unrerated"),
    "case.view_save": N_("audit.action.case.view_save"),
    "case.view_delete": N_("audit.action.case.view_delete"),
    "import.ratings": N_("audit.action.import.ratings"),
    "import.monitoring": N_("audit.action.import.monitoring"),
    "import.monitoring.refused": N_("audit.action.import.monitoring.refused"),
    "import.outside": N_("audit.action.import.outside"),
    "import.outside.refused": N_("audit.action.import.outside.refused"),
    "ratings.push": N_("audit.action.ratings.push"),
    "import.hotline": N_("audit.action.import.hotline"),
    "hotline.push": N_("audit.action.hotline.push"),
    "service_event.push": N_("audit.action.service_event.push"),
    "export.results": N_("audit.action.export.results"),
    "export.scores": N_("audit.action.export.scores"),
    "export.feedback": N_("audit.action.export.feedback"),
    "export.circular": N_("audit.action.export.circular"),
    "export.ledger": N_("audit.action.export.ledger"),
    "export.analysis": N_("audit.action.export.analysis"),
    "export.haochaping": N_("audit.action.export.haochaping"),
}

# The staff wording of the facts a row may hold; a fact missing here reads as its name.
DETAIL_LABELS: dict[str, str] = {
    "role": N_("audit.detail.role"),
    "units": N_("audit.detail.units"),
    "unit": N_("audit.detail.unit"),
    "unit_id": N_("audit.detail.unit_id"),
    "version": N_("audit.detail.version"),
    "created": N_("audit.detail.created"),
    "updated": N_("audit.detail.updated"),
    "opens_on": N_("audit.detail.opens_on"),
    "opens_on_before": N_("audit.detail.opens_on_before"),
    "workday": N_("audit.detail.workday"),
    "reason": N_("audit.detail.reason"),
    "deleted": N_("audit.detail.deleted"),
    "days": N_("audit.detail.days"),
    "survey": N_("audit.detail.survey"),
    "period": N_("audit.detail.period"),
    "channel": N_("audit.detail.channel"),
    "queued": N_("audit.detail.queued"),
    "rows": N_("audit.detail.rows"),
    "duplicates": N_("audit.detail.duplicates"),
    "refused": N_("audit.detail.refused"),
    "cases_opened": N_("audit.detail.cases_opened"),
    "flagged": N_("audit.detail.flagged"),
    "retired": N_("audit.detail.retired"),
    "import_id": N_("audit.detail.import_id"),
    "event_id": N_("audit.detail.event_id"),
    "sha256": N_("audit.detail.sha256"),
    "fingerprint": N_("audit.detail.fingerprint"),
    "fmt": N_("audit.detail.fmt"),
    "formats": N_("audit.detail.formats"),
    "on": N_("audit.detail.on"),
    "cases": N_("audit.detail.cases"),
    "frm": N_("audit.detail.frm"),
    "to": N_("audit.detail.to"),
    "assignee": N_("audit.detail.assignee"),
    "filters": N_("audit.detail.filters"),
    "query": N_("audit.detail.query"),
    "file": N_("audit.detail.file"),
    "number": N_("audit.detail.number"),
    "problems": N_("audit.detail.problems"),
    "size": N_("audit.detail.size"),
    "forced": N_("audit.detail.forced"),
}
# Why a sign-in failed, as recorded (the sign-in page's message keys), in a word or two.
REASON_LABELS: dict[str, str] = {
    "login.error.invalid": N_("audit.reason.invalid"),
    "login.error.locked": N_("audit.reason.locked"),
    "login.error.throttled": N_("audit.reason.throttled"),
}
# A move's states read in its target (案件 #12：核实中 → 整改中); the timeline entry's id is
# an internal detail.
MOVE = frozenset({"frm", "to"})
HIDDEN = frozenset({"event"})
HASH_SHOWN = 12  # characters of a digest: enough to tell two files apart on the page
IDS_SHOWN = 10  # case ids listed before "等 N 件"
TARGET = re.compile(r"^(case|broadcast|case_view):(.+)$")


@dataclass(frozen=True)
class AuditLine:
    """One row of the log in the reader's words: what was done to what, and the facts."""

    event: AuditEvent
    action: str  # the action's label
    role: str
    target: str
    details: list[str]


def action_label(action: str, translate: Translator) -> str:
    """The action in staff words (登录失败 for ``login.failed``); the code if it has none."""
    key = ACTION_LABELS.get(action)
    return translate(key) if key else action


def _name(key: str, translate: Translator) -> str:
    return translate(DETAIL_LABELS[key]) if key in DETAIL_LABELS else key


def _catalogued(value: str, translate: Translator) -> str | None:
    """A recorded message key (a refusal's reason, a close reason's code) in words, if it
    reads whole without parameters; else None."""
    for key in (REASON_LABELS.get(value), f"caseclose.reason.{value}", value):
        if key and (text := translate(key)) != key and "{" not in text:
            return text
    return None


def _value(key: str, value: Any, translate: Translator) -> str:
    if isinstance(value, bool):
        return translate(N_("audit.value.yes") if value else N_("audit.value.no"))
    if key == "role" and value in set(StaffRole):
        return translate(f"role.{value}")
    if key in {"sha256", "fingerprint"} and isinstance(value, str):
        return value[:HASH_SHOWN]
    if key in {"cases", "refused"} and isinstance(value, list):
        shown = "、".join(f"#{case}" for case in value[:IDS_SHOWN])
        if len(value) > IDS_SHOWN:
            return translate(N_("audit.value.more"), shown=shown, total=len(value))
        return shown or "—"
    if isinstance(value, list | tuple):
        return "、".join(str(item) for item in value) or "—"
    if isinstance(value, dict):
        return "；".join(
            translate(N_("audit.fact"), name=_name(k, translate), value=_value(k, v, translate))
            for k, v in value.items()
        )
    if key == "reason" and isinstance(value, str):
        return _catalogued(value, translate) or value
    return str(value)


def _is_move(event: AuditEvent) -> bool:
    return (event.target or "").startswith("case:") and bool(event.detail.get("to"))


def _target(event: AuditEvent, translate: Translator) -> str:
    match = TARGET.match(event.target or "")
    if match is None:
        return event.target or ""
    kind, name = match.groups()
    if kind == "case" and _is_move(event):
        frm, to = event.detail.get("frm") or "—", event.detail["to"]
        return translate(N_("audit.target.case_move"), id=name, frm=frm, to=to)
    if kind == "case":
        return translate(N_("audit.target.case"), id=name)
    if kind == "case_view":
        return translate(N_("audit.target.case_view"), name=name)
    return translate(N_("audit.target.broadcast"), id=name)


def describe(event: AuditEvent, translate: Translator) -> AuditLine:
    """The row as staff read it: 案件 #12：核实中 → 整改中, 角色：管理员, never raw codes.

    The log holds ids, counts and staff names, never citizens' words (a ledger's search
    is masked before it is recorded), so nothing here needs masking.
    """
    left_out = HIDDEN | MOVE if _is_move(event) else HIDDEN
    details = [
        translate(
            N_("audit.fact"), name=_name(key, translate), value=_value(key, value, translate)
        )
        for key, value in sorted(event.detail.items())
        if key not in left_out and value not in (None, "", [], {})
    ]
    role = translate(f"role.{event.role}") if event.role in set(StaffRole) else "—"
    return AuditLine(
        event=event,
        action=action_label(event.action, translate),
        role=role,
        target=_target(event, translate),
        details=details,
    )
