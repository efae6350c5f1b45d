"""Webhook glue for FastAPI: check Telegram's secret token, then feed the dispatcher."""

from __future__ import annotations

import hmac
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, Header, HTTPException, Request

WEBHOOK_PATH = "/telegram/webhook"


def webhook_router(dp: Dispatcher, bot: Bot, secret: str) -> APIRouter:
    router = APIRouter(tags=["telegram"])

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(
        request: Request,
        x_telegram_bot_api_secret_token: str | None = Header(default=None),
    ) -> dict[str, Any]:
        """Receive one update from Telegram."""
        given = x_telegram_bot_api_secret_token or ""
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(status_code=401, detail="bad secret token")
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except ValueError:  # not JSON, not UTF-8, or not an Update
            raise HTTPException(status_code=400, detail="malformed update") from None
        await dp.feed_webhook_update(bot, update)
        return {"ok": True}

    return router


async def set_webhook(bot: Bot, url: str, secret: str, dp: Dispatcher) -> None:
    await bot.set_webhook(
        url.rstrip("/") + WEBHOOK_PATH,
        secret_token=secret,
        allowed_updates=dp.resolve_used_update_types(),
    )
