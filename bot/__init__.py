"""The Telegram adapter: aiogram routers over the services in :mod:`surveys`."""
