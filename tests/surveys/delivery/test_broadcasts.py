"""Broadcasts of survey invitations: who is eligible, step queues each citizen once (across
steps, pause and resume), progress counts, refusals in Chinese, and the bot's renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import OpenSurveyCb
from bot.invitations import render_invitation
from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent, Unit, UnitKind
from surveys.core.exceptions import DomainError, UnknownUnit
from surveys.core.i18n import Translator
from surveys.core.models import pk
from surveys.delivery import broadcasts
from surveys.delivery.broadcast_models import Broadcast, BroadcastRecipient, BroadcastStatus
from surveys.delivery.models import OutboxMessage, UnreachableChat
from surveys.flows import broadcasts as broadcast_flows
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.questionnaire import catalog, respondents
from surveys.questionnaire.models import (
    Identity,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)
from tests.surveys.builders import make_definition

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 29)
PERIOD = "2026H2"
CODE = "sat"
TITLE = "政务服务满意度调查"
T = Translator()


def render(invitation: broadcasts.Invitation) -> tuple[str, dict[str, Any]]:
    return "sendMessage", {"text": f"{invitation.survey_title} {invitation.survey_code}"}


def message(exc: DomainError) -> str:
    return T(exc.key, **exc.params)


@dataclass
class World:
    session: AsyncSession
    version: SurveyVersion
    units: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)  # name → respondent id
    chats: dict[str, int] = field(default_factory=dict)  # name → chat id

    async def person(
        self, name: str, *, consent: bool = True, channel: str = "telegram"
    ) -> Respondent:
        chat_id = 5000 + len(self.people)
        respondent = await respondents.get_or_create_respondent(
            session=self.session, secret=b"t", channel=channel, external_id=chat_id
        )
        await respondents.remember_contact(
            session=self.session,
            respondent=respondent,
            channel=channel,
            chat_id=chat_id,
            language_code="zh-hans",
        )
        if consent:
            assert await respondents.set_invite_consent(
                session=self.session, respondent=respondent, consent=True, now=NOW
            )
        self.people[name] = pk(respondent)
        self.chats[name] = chat_id
        return respondent

    async def response(
        self,
        name: str,
        *,
        status: ResponseStatus = ResponseStatus.completed,
        period: str = PERIOD,
        unit: str | None = None,
    ) -> None:
        self.session.add(
            Response(
                respondent_id=self.people[name],
                survey_id=self.version.survey_id,
                survey_version_id=pk(self.version),
                period=period,
                unit_id=self.units[unit] if unit else None,
                status=status,
            )
        )
        await self.session.flush()

    async def start(self, *units: str) -> Broadcast:
        return await broadcasts.start(
            session=self.session,
            survey_code=CODE,
            unit_codes=units,
            created_by="boss",
            today=TODAY,
            now=NOW,
        )

    async def step(self, limit: int = 100, now: datetime = NOW) -> int:
        return await broadcasts.step(session=self.session, now=now, limit=limit, render=render)

    async def invited(self, broadcast: Broadcast | None = None) -> list[str]:
        """Names invited (by one broadcast, or any), in order, each once per recipient row."""
        query = select(BroadcastRecipient.respondent_id).order_by(col(BroadcastRecipient.id))
        if broadcast is not None:
            query = query.where(col(BroadcastRecipient.broadcast_id) == broadcast.id)
        by_id = {rid: name for name, rid in self.people.items()}
        return [by_id[rid] for rid in (await self.session.exec(query)).all()]

    async def outbox_chats(self) -> list[int]:
        found = await self.session.exec(
            select(OutboxMessage.chat_id).order_by(col(OutboxMessage.id))
        )
        return list(found.all())


@pytest.fixture
async def world(session: AsyncSession) -> World:
    for code, name in (("spj", "市审批服务局"), ("gaj", "市公安局")):
        session.add(Unit(code=code, name=name, kind=UnitKind.department))
    await session.flush()
    definition = make_definition(
        code=CODE,
        title=TITLE,
        period=PERIOD,
        opens_on=date(2026, 11, 1),
        closes_on=date(2026, 12, 31),
    )
    loaded = await catalog.load_survey(session=session, definition=definition, source="test")
    units = {u.code: pk(u) for u in (await session.exec(select(Unit))).all()}
    return World(session, loaded.version, units)


async def _progress(world: World, broadcast: Broadcast) -> tuple[int, int, int, str]:
    p = await broadcasts.progress(session=world.session, broadcast_id=pk(broadcast))
    return p.eligible, p.queued, p.remaining, p.status.value


class TestEligibility:
    async def test_only_consenting_linked_citizens_who_have_not_answered(
        self, world: World
    ) -> None:
        await world.person("ok")
        await world.person("no_consent", consent=False)
        await world.person("answered")
        await world.response("answered")
        await world.person("half_way")
        await world.response("half_way", status=ResponseStatus.in_progress)
        await world.person("answered_last_period")
        await world.response("answered_last_period", period="2026H1")
        await world.person("web", channel="web")
        forgotten = await world.person("forgotten")
        await respondents.forget_respondent(session=world.session, respondent=forgotten)
        withdrawn = await world.person("withdrawn")
        await respondents.set_invite_consent(
            session=world.session, respondent=withdrawn, consent=False, now=NOW
        )
        await world.person("blocked")
        world.session.add(UnreachableChat(chat_id=world.chats["blocked"], since=NOW))
        await world.session.flush()
        broadcast = await world.start()

        queued = await world.step()

        assert queued == 3
        assert await world.invited() == ["ok", "half_way", "answered_last_period"]
        assert await world.outbox_chats() == [
            world.chats["ok"],
            world.chats["half_way"],
            world.chats["answered_last_period"],
        ]
        rows = (await world.session.exec(select(OutboxMessage))).all()
        assert {(r.purpose, r.method) for r in rows} == {("invite", "sendMessage")}
        assert rows[0].payload == {"text": f"{TITLE} {CODE}"}
        assert await _progress(world, broadcast) == (3, 3, 0, "done")

    async def test_the_unit_filter_keeps_citizens_known_at_those_units(self, world: World) -> None:
        for name in ("rated_spj", "event_spj", "answered_at_spj", "rated_gaj", "unknown"):
            await world.person(name)
        spj, gaj = world.units["spj"], world.units["gaj"]
        for source_id, unit_id, name in (("R1", spj, "rated_spj"), ("R2", gaj, "rated_gaj")):
            world.session.add(
                Rating(
                    source=RatingSource.bot,
                    source_id=source_id,
                    unit_id=unit_id,
                    channel=1,
                    respondent_id=world.people[name],
                    level="satisfied",
                    period=PERIOD,
                    rated_at=NOW,
                )
            )
        world.session.add(
            ServiceEvent(
                case_no="BJ1",
                item_code="I1",
                item_name="事项",
                unit_id=spj,
                channel=4,
                finished_at=NOW,
                link_token="tok-1",
                respondent_id=world.people["event_spj"],
            )
        )
        await world.response("answered_at_spj", status=ResponseStatus.in_progress, unit="spj")
        broadcast = await world.start("spj")

        assert await _progress(world, broadcast) == (3, 0, 3, "running")
        await world.step()

        assert sorted(await world.invited()) == ["answered_at_spj", "event_spj", "rated_spj"]

    async def test_consent_needs_a_contact(self, world: World, session: AsyncSession) -> None:
        respondent = await respondents.get_or_create_respondent(
            session=session, secret=b"t", channel="telegram", external_id=42
        )

        stored = await respondents.set_invite_consent(
            session=session, respondent=respondent, consent=True, now=NOW
        )

        assert stored is False
        assert (await session.exec(select(Identity))).all() == []


class TestStep:
    async def test_nobody_is_queued_twice_across_steps(self, world: World) -> None:
        for n in range(5):
            await world.person(f"p{n}")
        broadcast = await world.start()

        counts = [await world.step(limit=2) for _ in range(4)]

        assert counts == [2, 2, 1, 0]
        assert await world.invited() == ["p0", "p1", "p2", "p3", "p4"]
        assert len(await world.outbox_chats()) == 5
        await world.session.refresh(broadcast)
        assert broadcast.queued == 5
        assert broadcast.status == BroadcastStatus.done
        assert broadcast.reason == broadcasts.EXHAUSTED

    async def test_progress_counts_as_it_goes(self, world: World) -> None:
        for n in range(3):
            await world.person(f"p{n}")
        broadcast = await world.start()
        assert await _progress(world, broadcast) == (3, 0, 3, "running")

        await world.step(limit=2)
        assert await _progress(world, broadcast) == (3, 2, 1, "running")

        await world.person("late")  # consents while the broadcast runs
        assert await _progress(world, broadcast) == (4, 2, 2, "running")
        await world.response("p2")  # answers before being invited
        assert await _progress(world, broadcast) == (3, 2, 1, "running")

        await world.step(limit=2)
        assert await _progress(world, broadcast) == (3, 3, 0, "done")
        assert await world.invited() == ["p0", "p1", "late"]

    async def test_pause_stops_step_and_resume_goes_on_without_repeats(self, world: World) -> None:
        for n in range(4):
            await world.person(f"p{n}")
        broadcast = await world.start()
        assert await world.step(limit=1) == 1

        await broadcasts.pause(session=world.session, broadcast_id=pk(broadcast))
        assert await world.step() == 0
        assert await _progress(world, broadcast) == (4, 1, 3, "paused")

        await broadcasts.resume(session=world.session, broadcast_id=pk(broadcast), today=TODAY)
        assert await world.step(limit=2) == 2
        await broadcasts.pause(session=world.session, broadcast_id=pk(broadcast))
        await broadcasts.resume(session=world.session, broadcast_id=pk(broadcast), today=TODAY)
        assert await world.step() == 1
        assert await world.step() == 0

        assert await world.invited() == ["p0", "p1", "p2", "p3"]
        assert len(await world.outbox_chats()) == 4
        assert await _progress(world, broadcast) == (4, 4, 0, "done")

    async def test_a_done_broadcast_cannot_be_paused_or_resumed(self, world: World) -> None:
        broadcast = await world.start()
        await world.step()  # nobody eligible: done at once

        for action in (broadcasts.pause, broadcasts.resume):
            kwargs: dict[str, Any] = {"today": TODAY} if action is broadcasts.resume else {}
            with pytest.raises(broadcasts.BroadcastDone) as refused:
                await action(session=world.session, broadcast_id=pk(broadcast), **kwargs)
            assert message(refused.value) == f"邀请任务 #{pk(broadcast)} 已结束，不能暂停或恢复。"

    async def test_a_recorded_recipient_is_never_queued_again(self, world: World) -> None:
        """As after a concurrent step: the row is there, the unique key holds."""
        await world.person("a")
        await world.person("b")
        broadcast = await world.start()
        world.session.add(
            BroadcastRecipient(broadcast_id=pk(broadcast), respondent_id=world.people["a"])
        )
        await world.session.flush()

        assert await world.step() == 1
        assert await world.outbox_chats() == [world.chats["b"]]

    async def test_two_running_broadcasts_share_the_limit(self, world: World) -> None:
        other = make_definition(
            code="other",
            title="另一调查",
            period=PERIOD,
            opens_on=date(2026, 11, 1),
            closes_on=date(2026, 12, 31),
        )
        await catalog.load_survey(session=world.session, definition=other, source="test")
        for n in range(3):
            await world.person(f"p{n}")
        first = await world.start()
        second = await broadcasts.start(
            session=world.session,
            survey_code="other",
            created_by="boss",
            today=TODAY,
            now=NOW,
        )

        assert await world.step(limit=4) == 4
        assert len(await world.invited(first)) == 3
        assert len(await world.invited(second)) == 1


class TestTheSurveyMovesOn:
    async def test_a_closed_survey_pauses_the_broadcast_until_it_is_open_again(
        self, world: World
    ) -> None:
        await world.person("a")
        broadcast = await world.start()
        world.version.closed_at = NOW
        world.session.add(world.version)
        await world.session.flush()

        assert await world.step() == 0
        await world.session.refresh(broadcast)
        assert (broadcast.status, broadcast.reason) == (BroadcastStatus.paused, "survey_closed")
        with pytest.raises(broadcasts.BroadcastSurveyNotOpen) as refused:
            await broadcasts.resume(session=world.session, broadcast_id=pk(broadcast), today=TODAY)
        assert message(refused.value) == (
            f"《{TITLE}》不在开放时间内（2026-11-01 至 2026-12-31），"
            "不能发送邀请；请先发布该调查。"
        )

        world.version.closed_at = None
        world.session.add(world.version)
        await broadcasts.resume(session=world.session, broadcast_id=pk(broadcast), today=TODAY)
        assert await world.step() == 1

    async def test_a_new_period_ends_a_stale_broadcast(self, world: World) -> None:
        await world.person("a")
        broadcast = await world.start()
        await broadcasts.pause(session=world.session, broadcast_id=pk(broadcast))
        newer = make_definition(
            code=CODE,
            title=TITLE,
            period="2027H1",
            opens_on=date(2026, 11, 1),
            closes_on=date(2027, 6, 30),
        )
        await catalog.load_survey(session=world.session, definition=newer, source="test")

        with pytest.raises(broadcasts.BroadcastStale) as refused:
            await broadcasts.resume(session=world.session, broadcast_id=pk(broadcast), today=TODAY)
        assert message(refused.value) == (
            f"邀请任务 #{pk(broadcast)} 面向 2026H2 期，该调查现已是 2027H1 期，不能继续；"
            "请为新一期重新发起邀请。"
        )

        await world.session.exec(
            update(Broadcast).values(status=BroadcastStatus.running)  # as if never paused
        )
        await world.session.refresh(broadcast)
        assert await world.step() == 0
        assert (broadcast.status, broadcast.reason) == (BroadcastStatus.done, "new_period")
        assert await world.invited() == []


class TestStartRefusals:
    async def test_an_unknown_survey(self, world: World) -> None:
        with pytest.raises(broadcasts.UnknownBroadcastSurvey) as refused:
            await broadcasts.start(
                session=world.session, survey_code="nope", created_by="boss", today=TODAY, now=NOW
            )

        assert refused.value.status_code == 404
        assert message(refused.value) == "未找到调查（nope），未发起邀请。"

    async def test_an_unknown_unit(self, world: World) -> None:
        with pytest.raises(UnknownUnit) as refused:
            await world.start("spj", "zzz")

        assert message(refused.value) == "未找到该地区或部门（zzz）。"
        assert (await world.session.exec(select(Broadcast))).all() == []

    async def test_a_survey_not_open_today(self, world: World) -> None:
        with pytest.raises(broadcasts.BroadcastSurveyNotOpen) as refused:
            await broadcasts.start(
                session=world.session,
                survey_code=CODE,
                created_by="boss",
                today=date(2027, 1, 1),
                now=NOW,
            )

        assert message(refused.value).startswith(f"《{TITLE}》不在开放时间内")

    async def test_a_second_broadcast_of_the_same_survey_and_period(self, world: World) -> None:
        first = await world.start()
        await broadcasts.pause(session=world.session, broadcast_id=pk(first))

        with pytest.raises(broadcasts.BroadcastExists) as refused:
            await world.start()

        assert message(refused.value) == (
            f"调查 {CODE} 本期已有邀请任务 #{pk(first)}（进行中或已暂停），请恢复或查看该任务，"
            "勿重复发起。"
        )

    async def test_an_unknown_broadcast(self, world: World) -> None:
        with pytest.raises(broadcasts.UnknownBroadcast) as refused:
            await broadcasts.progress(session=world.session, broadcast_id=99)

        assert message(refused.value) == "未找到邀请任务 #99。"


class TestFlows:
    ADMIN = Actor(name="boss", role=StaffRole.admin, units=None, address="cli")

    async def test_each_writes_one_audit_row_without_personal_data(self, world: World) -> None:
        await world.person("a")
        started = await broadcast_flows.start(
            session=world.session,
            actor=self.ADMIN,
            survey_code=CODE,
            unit_codes=["spj", "spj"],
            today=TODAY,
            now=NOW,
        )
        await broadcast_flows.pause(
            session=world.session, actor=self.ADMIN, broadcast_id=pk(started)
        )
        await broadcast_flows.resume(
            session=world.session, actor=self.ADMIN, broadcast_id=pk(started), today=TODAY
        )

        rows = (await world.session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        target = f"broadcast:{pk(started)}"
        assert [(r.action, r.actor, r.target, r.detail) for r in rows] == [
            (
                "broadcast.start",
                "boss",
                target,
                {"survey": CODE, "period": PERIOD, "units": ["spj"]},
            ),
            ("broadcast.pause", "boss", target, {"survey": CODE, "queued": 0}),
            ("broadcast.resume", "boss", target, {"survey": CODE, "queued": 0}),
        ]
        assert started.created_by == "boss"
        assert started.unit_ids == [world.units["spj"]]

    @pytest.mark.parametrize("role", [StaffRole.supervisor, StaffRole.staff, StaffRole.viewer])
    async def test_only_admins_start_one(self, world: World, role: StaffRole) -> None:
        actor = Actor(name="x", role=role, units=None)

        with pytest.raises(Forbidden):
            await broadcast_flows.start(
                session=world.session, actor=actor, survey_code=CODE, today=TODAY, now=NOW
            )


class TestRenderer:
    async def test_the_invitation_names_the_survey_and_opens_it(self, world: World) -> None:
        await world.person("a")
        await world.start()

        await broadcasts.step(
            session=world.session,
            now=NOW,
            limit=10,
            render=lambda invitation: render_invitation(invitation, T),
        )

        (row,) = (await world.session.exec(select(OutboxMessage))).all()
        assert row.method == "sendMessage"
        assert row.payload["text"].startswith(f"您好！《{TITLE}》正在进行")
        assert row.payload["reply_markup"] == {
            "inline_keyboard": [
                [{"text": "开始作答", "callback_data": OpenSurveyCb(code=CODE).pack()}]
            ]
        }
        assert str(row.chat_id) not in str(row.payload)

    def test_returns_the_method_and_a_json_ready_payload(self) -> None:
        invitation = broadcasts.Invitation(
            broadcast_id=1, respondent_id=2, survey_code=CODE, survey_title=TITLE, period=PERIOD
        )

        method, payload = render_invitation(invitation, T)

        assert method == "sendMessage"
        assert set(payload) == {"text", "reply_markup"}
        assert OpenSurveyCb.unpack(
            payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        ) == OpenSurveyCb(code=CODE)
