"""Sending service replies to Telegram. Presentation only: no decisions about answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import render
from bot.log_privacy import mask_ids
from bot.middlewares import ChatContext
from surveys.core.i18n import Translator
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.engine import STALE
from surveys.questionnaire.models import SurveyVersion

log = logging.getLogger(__name__)
PROMPT_KEY = "prompt_message_id"


def present(
    ctx: ChatContext,
    event: Message | CallbackQuery,
    reply: Reply,
    *,
    opening: Sequence[str] | None = None,
) -> None:
    """Show a service's reply where it was asked for, once the update has committed.

    Without ``opening`` the reply answers the question on screen: a pressed button is
    acknowledged and its question edited, a typed or spoken answer edits the question it
    answered; then the next question. With ``opening`` a dialogue begins: a pressed button
    is acknowledged, the ``opening`` lines are sent, then the intro, any notice and the
    first question.
    """
    later = ctx.outbox.later
    if opening is None:
        if isinstance(event, CallbackQuery):
            later(show_button_reply, event, reply, ctx.state, ctx.t)
        else:
            later(show_text_reply, event, reply, ctx.state, ctx.t)
        return
    message: Message | None = event if isinstance(event, Message) else None
    if isinstance(event, CallbackQuery):
        later(event.answer)
        message = event.message if isinstance(event.message, Message) else None
    if message is None:
        return
    for line in opening:
        later(message.answer, line)
    later(show_reply, message, reply, ctx.state, ctx.t)


async def show_survey_list(message: Message, versions: list[SurveyVersion], t: Translator) -> None:
    if not versions:
        await message.answer(t("surveys.none_open"))
        return
    await message.answer(t("surveys.pick"), reply_markup=render.survey_list_keyboard(versions))


async def show_reply(message: Message, reply: Reply, state: FSMContext, t: Translator) -> None:
    """A survey (re)started: intro, any notice, then the current question."""
    if reply.intro is not None:
        title, intro = reply.intro
        await message.answer(f"《{title}》\n{intro}".strip())
    if reply.notice is not None:
        await message.answer(t.label(reply.notice))
    await _send_next(message, reply, state, t)


async def show_button_reply(
    query: CallbackQuery, reply: Reply, state: FSMContext, t: Translator
) -> None:
    message = query.message if isinstance(query.message, Message) else None
    if reply.notice is not None:
        await query.answer(t.label(reply.notice), show_alert=True)
        if reply.notice == STALE and message is not None:
            if message.reply_markup is not None:
                await _edit(message.edit_reply_markup(reply_markup=None))
            await _send_next(message, reply, state, t)
        return
    await query.answer()
    if message is None:
        return
    if reply.toggled and reply.prompt is not None and reply.version_id is not None:
        keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
        await _edit(message.edit_reply_markup(reply_markup=keyboard))
        return
    if reply.answered is not None:
        await _edit(message.edit_text(render.answered_text(t, reply.answered)))
        if (await state.get_data()).get(PROMPT_KEY) == message.message_id:
            await state.update_data({PROMPT_KEY: None})
    await _send_next(message, reply, state, t)


async def show_text_reply(
    message: Message, reply: Reply, state: FSMContext, t: Translator
) -> None:
    if reply.notice is not None:
        await message.answer(t.label(reply.notice))
        await _send_next(message, reply, state, t)
        return
    if reply.answered is not None:
        prompt_id = (await state.get_data()).get(PROMPT_KEY)
        if prompt_id is not None and message.bot is not None:
            await state.update_data({PROMPT_KEY: None})
            text = render.answered_text(t, reply.answered)
            await _edit(
                message.bot.edit_message_text(text, chat_id=message.chat.id, message_id=prompt_id)
            )
    await _send_next(message, reply, state, t)


async def _send_next(message: Message, reply: Reply, state: FSMContext, t: Translator) -> None:
    if reply.finished is not None:
        await state.update_data({PROMPT_KEY: None})
        await message.answer(t.label(reply.finished))
        return
    if reply.prompt is None or reply.version_id is None:
        return
    # One question with live buttons at a time: a re-asked question replaces the last one.
    await drop_prompt_buttons(message.bot, message.chat.id, state)
    keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
    sent = await message.answer(render.prompt_text(t, reply.prompt), reply_markup=keyboard)
    await state.update_data({PROMPT_KEY: sent.message_id})


async def drop_prompt_buttons(bot: Bot | None, chat_id: int, state: FSMContext) -> None:
    """Take the buttons off the last question so no live stale buttons remain."""
    prompt_id = (await state.get_data()).get(PROMPT_KEY)
    if prompt_id is None or bot is None:
        return
    await state.update_data({PROMPT_KEY: None})
    await _edit(bot.edit_message_reply_markup(chat_id=chat_id, message_id=prompt_id))


async def drop_buttons(message: Message) -> None:
    """Take the buttons off one message, e.g. a question already answered."""
    if message.reply_markup is not None:
        await _edit(message.edit_reply_markup(reply_markup=None))


async def _edit(call: object) -> None:
    """Run an edit; an old or unchanged message is not worth failing the update for."""
    try:
        await call  # type: ignore[misc]
    except TelegramBadRequest as exc:
        log.info("edit skipped: %s", mask_ids(exc.message))
