"""Scheduled jobs, run by one worker at a time (its ``scheduler`` leadership) whether or not the
bot is configured: staff replies, reminders and staff notices queued in the outbox, 督办 of
overdue cases, closing the cases left without 复评, and the daily retention purge and pruning."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot import jobs as bot_jobs
from bot.log_privacy import describe, summary
from surveys.cases import closing, workdays
from surveys.core.db import AsyncSession, SessionMaker, unit_of_work
from surveys.core.exceptions import DatabaseBusy, DatabaseUnavailable, DomainError
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.delivery import leases, outbox
from surveys.questionnaire import respondents

log = logging.getLogger(__name__)
LEASE = "scheduler"
DAY = 86400.0
Job = Callable[[AsyncSession], Awaitable[int]]


async def close_unrerated(session: AsyncSession, settings: Settings) -> int:
    """已反馈 cases past their 复评 window (已关闭（未复评）) or whose citizen is gone (无法联系),
    closed as the system on today's local date."""
    calendar = await workdays.load_calendar(session=session, tz=settings.tz)
    now = utcnow()
    done = await closing.close_unrerated(
        session=session,
        calendar=calendar,
        today=now.astimezone(settings.tz).date(),
        now=now,
        days=settings.case_rerating_days,
    )
    return len(done)


class Jobs:
    """The scheduled jobs of one process; ``notify`` wakes the sender after a queueing round."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: SessionMaker,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.notify = notify
        self.leadership = leases.Leadership(sessionmaker.kw["bind"], LEASE)
        self._daily_at: float | None = None

    def frequent(self) -> list[tuple[str, Job]]:
        """Every RELAY_INTERVAL_SECONDS; staff notices also mark overdue cases 督办."""
        settings = self.settings
        return [
            ("relay", bot_jobs.queue_replies),
            ("reminders", lambda session: bot_jobs.queue_reminders(session, settings)),
            ("notices", lambda session: bot_jobs.queue_staff_notices(session, settings)),
            ("closing", lambda session: close_unrerated(session, settings)),
            ("invitations", lambda session: bot_jobs.queue_invitations(session, settings)),
        ]

    def daily(self) -> list[tuple[str, Job]]:
        settings = self.settings
        return [
            (
                "retention",
                lambda session: respondents.purge_stale_identities(
                    session=session, now=utcnow(), days=settings.identity_retention_days
                ),
            ),
            (
                "updates-pruned",
                lambda session: respondents.prune_events(session=session, now=utcnow()),
            ),
            ("outbox-pruned", lambda session: outbox.prune(session, now=utcnow())),
        ]

    async def run(self) -> None:
        """Run until cancelled, when this worker holds the lease."""
        try:
            while True:
                try:
                    if await self.leadership.hold():
                        await self.round()
                except DatabaseUnavailable:
                    log.warning("jobs: the database cannot be reached; next round")
                except Exception as exc:  # the next round tries again
                    log.error("jobs round failed: %s\n%s", summary(exc), describe(exc))
                await asyncio.sleep(self.settings.relay_interval_seconds)
        finally:
            await self.leadership.release()

    async def round(self) -> dict[str, int]:
        """One round: each job in its own transaction; the daily ones once a day."""
        jobs = self.frequent()
        now = time.monotonic()
        if self._daily_at is None or now - self._daily_at >= DAY:
            jobs += self.daily()
            self._daily_at = now
        done: dict[str, int] = {}
        for name, job in jobs:
            try:
                async with unit_of_work(self.sessionmaker) as session:
                    done[name] = await job(session)
            except (DatabaseBusy, DatabaseUnavailable):  # busy or away: the next round
                log.warning("job %s: database busy or unreachable; next round", name)
            except DomainError as refused:  # e.g. next year's working-day calendar missing
                log.warning("job %s refused: %s %s", name, refused.key, dict(refused.params))
            except Exception as exc:  # one job failing does not stop the others
                log.error("job %s failed: %s\n%s", name, summary(exc), describe(exc))
        if any(done.get(name) for name, _ in self.frequent()):
            self.notify()
        for name in ("retention", "updates-pruned", "outbox-pruned"):
            if name in done:
                log.info("%s: %d row(s)", name, done[name])
        return done
