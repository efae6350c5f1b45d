"""The cases API makes its moves and replies through the flows: the same audit row as the
console, naming the token (the integration's person goes on the timeline only)."""

from __future__ import annotations

from httpx import AsyncClient
from sqlmodel import col, select

from surveys.accounts.models import AuditEvent
from surveys.cases.models import CaseEvent
from surveys.core.db import SessionMaker
from tests.api.routes.test_integrations import app, client, make_token, rating  # noqa: F401


async def case_audit(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(col(AuditEvent.action).startswith("case."))
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


async def last_event(sessionmaker: SessionMaker, case_id: int) -> CaseEvent:
    async with sessionmaker() as session:
        statement = select(CaseEvent).where(CaseEvent.case_id == case_id)
        found = (await session.exec(statement.order_by(col(CaseEvent.id).desc()))).first()
    assert found is not None
    return found


async def test_moves_and_replies_are_audited_like_the_consoles(
    client: AsyncClient,  # noqa: F811
    sessionmaker: SessionMaker,
) -> None:
    headers = await make_token(sessionmaker, "spj")
    body = rating("pj-audit", level="dissatisfied", comment="请回电13812345678")
    await client.post("/api/v1/ratings", json=body, headers=headers)
    (listed,) = (await client.get("/api/v1/cases", headers=headers)).json()["data"]
    case_id = int(listed["id"])

    shown = await client.get(f"/api/v1/cases/{case_id}", headers=headers)
    moved = await client.post(
        f"/api/v1/cases/{case_id}/transition",
        json={"actor": "spj-li", "to": "核实中", "note": "已电话回访"},
        headers=headers,
    )
    move_event = await last_event(sessionmaker, case_id)
    replied = await client.post(
        f"/api/v1/cases/{case_id}/reply",
        json={"actor": "spj-li", "text": "已联系窗口整改"},
        headers=headers,
    )
    reply_event = await last_event(sessionmaker, case_id)
    refused = await client.post(
        f"/api/v1/cases/{case_id}/transition", json={"to": "已关闭"}, headers=headers
    )

    assert shown.json() == {**listed, "undeliverable": False}  # the detail adds 无法送达
    assert (moved.status_code, moved.json()["state"]) == (200, "核实中")
    assert moved.json()["reference"] == listed["reference"]
    assert replied.status_code == 200
    assert refused.status_code == 409
    assert (move_event.actor, move_event.to_state) == ("spj-li", "核实中")
    assert (reply_event.actor, reply_event.kind) == ("spj-li", "reply")
    entries = await case_audit(sessionmaker)
    assert [(e.actor, e.action, e.target, e.detail) for e in entries] == [
        (
            "token:t-spj",
            "case.transition",
            f"case:{case_id}",
            {"event": move_event.id, "frm": "待核实", "to": "核实中"},
        ),
        ("token:t-spj", "case.reply", f"case:{case_id}", {"event": reply_event.id}),
    ]


async def test_a_refused_move_without_its_note_has_the_documented_422_shape(
    client: AsyncClient,  # noqa: F811
    sessionmaker: SessionMaker,
) -> None:
    """A rule of the case loop (不属实 needs a reason) answers 422 like a request that does not
    match the schema: code, message, problems and detail, as /openapi.json says."""
    headers = await make_token(sessionmaker, "spj")
    await client.post(
        "/api/v1/ratings", json=rating("pj-note", level="dissatisfied"), headers=headers
    )
    (listed,) = (await client.get("/api/v1/cases", headers=headers)).json()["data"]
    url = f"/api/v1/cases/{listed['id']}/transition"
    await client.post(url, json={"to": "核实中"}, headers=headers)
    refused = await client.post(url, json={"to": "不属实"}, headers=headers)
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "error.note_required"
    assert body["problems"] == [body["message"]]
    assert "不属实" in body["message"]
    assert body["detail"] == []
    assert (await last_event(sessionmaker, listed["id"])).to_state == "核实中"  # nothing stored
