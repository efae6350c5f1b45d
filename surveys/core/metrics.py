"""Prometheus metrics of the whole process (``/metrics``): counted where things happen.

Names follow Prometheus conventions; labels never carry a chat id, a user or any text.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UPDATES = Counter("minyi_bot_updates_total", "Telegram updates handled", ["result"])
ANSWERS = Counter("minyi_answers_stored_total", "Survey answers and ratings stored", ["channel"])
SENDS = Counter(
    "minyi_outbox_sends_total",
    "Bot API calls made by the outbox sender, by result",
    ["method", "result"],
)
RETRY_AFTER = Counter("minyi_outbox_429_total", "429 Too Many Requests answers from Telegram")
OUTBOX_WAITING = Gauge("minyi_outbox_waiting", "Messages queued and not yet delivered")
OUTBOX_OLDEST = Gauge("minyi_outbox_oldest_age_seconds", "Age of the oldest queued message")
OUTBOX_FAILED = Gauge("minyi_outbox_failed", "Messages given up on, kept for admins")
OUTBOX_UNREACHABLE = Gauge("minyi_outbox_unreachable", "Messages to chats that blocked the bot")
