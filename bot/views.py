"""Showing service replies in Telegram. Presentation only: no decisions about answers.

Everything is queued in the update's outbox (:mod:`bot.outbox`), in its transaction; the
question on screen is remembered by its outbox row, so it can be edited before it is sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import render
from bot.middlewares import ChatContext
from bot.outbox import Outbox, Ref
from surveys.core.i18n import Translator
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.engine import STALE
from surveys.questionnaire.models import SurveyVersion

PROMPT_KEY = "prompt_ref"  # the outbox row of the question with live buttons


async def present(
    ctx: ChatContext,
    event: Message | CallbackQuery,
    reply: Reply,
    *,
    opening: Sequence[str] | None = None,
) -> None:
    """Show a service's reply where it was asked for.

    Without ``opening`` the reply answers the question on screen: a pressed button is
    acknowledged and its question edited, a typed or spoken answer edits the question it
    answered; then the next question. With ``opening`` a dialogue begins: a pressed button
    is acknowledged, the ``opening`` lines are sent, then the intro, any notice and the
    first question.
    """
    if opening is None:
        if isinstance(event, CallbackQuery):
            await show_button_reply(ctx, event, reply)
        else:
            await show_text_reply(ctx, reply)
        return
    if isinstance(event, CallbackQuery):
        await ctx.outbox.answer(event.id)
    for line in opening:
        await ctx.outbox.send(line)
    await show_reply(ctx, reply)


async def show_survey_list(outbox: Outbox, versions: list[SurveyVersion], t: Translator) -> None:
    if not versions:
        await outbox.send(t("surveys.none_open"))
        return
    await outbox.send(t("surveys.pick"), render.survey_list_keyboard(versions))


async def show_reply(ctx: ChatContext, reply: Reply) -> None:
    """A survey (re)started: intro, any notice, then the current question."""
    if reply.intro is not None:
        title, intro = reply.intro
        lines = [f"《{ctx.t.label(title)}》", ctx.t.label(intro)]
        if reply.about is not None:
            lines.append(ctx.t.label(reply.about))
        await ctx.outbox.send("\n".join(line for line in lines if line))
    if reply.notice is not None:
        await ctx.outbox.send(ctx.t.label(reply.notice))
    await _send_next(ctx, reply)


async def show_button_reply(ctx: ChatContext, query: CallbackQuery, reply: Reply) -> None:
    t, outbox = ctx.t, ctx.outbox
    message = query.message if isinstance(query.message, Message) else None
    if reply.notice is not None:
        await outbox.answer(query.id, t.label(reply.notice), show_alert=True)
        if reply.notice == STALE and message is not None:
            if message.reply_markup is not None:
                await outbox.edit_markup(message.message_id)
            await _send_next(ctx, reply)
        return
    await outbox.answer(query.id)
    if message is None:
        return
    if reply.toggled and reply.prompt is not None and reply.version_id is not None:
        keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
        await outbox.edit_markup(message.message_id, keyboard)
        return
    if reply.answered is not None:
        # The pressed question loses its buttons with this edit: it is no longer live.
        await outbox.edit_text(message.message_id, render.answered_text(t, reply.answered))
        await _forget_prompt(ctx.state, outbox)
    await _send_next(ctx, reply)


async def show_text_reply(ctx: ChatContext, reply: Reply) -> None:
    t, outbox = ctx.t, ctx.outbox
    if reply.notice is not None:
        await outbox.send(t.label(reply.notice))
        await _send_next(ctx, reply)
        return
    if reply.answered is not None:
        prompt = await _live_prompt(ctx.state, outbox)
        if prompt is not None:
            await _forget_prompt(ctx.state, outbox)
            await outbox.edit_text(prompt, render.answered_text(t, reply.answered))
    await _send_next(ctx, reply)


async def _send_next(ctx: ChatContext, reply: Reply) -> None:
    t, outbox = ctx.t, ctx.outbox
    if reply.finished is not None:
        await _forget_prompt(ctx.state, outbox)
        await outbox.send(t.label(reply.finished))
        return
    if reply.prompt is None or reply.version_id is None:
        return
    # One question with live buttons at a time: a re-asked question replaces the last one.
    await drop_prompt_buttons(ctx.state, outbox)
    keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
    sent = await outbox.send(render.prompt_text(t, reply.prompt, reply.dialogue), keyboard)
    _set_prompt(ctx.state, outbox, sent)


async def drop_prompt_buttons(state: FSMContext, outbox: Outbox) -> None:
    """Take the buttons off the last question so no live stale buttons remain."""
    prompt = await _live_prompt(state, outbox)
    if prompt is None:
        return
    await _forget_prompt(state, outbox)
    await outbox.edit_markup(prompt)


async def drop_buttons(outbox: Outbox, message: Message) -> None:
    """Take the buttons off one message, e.g. a question already answered."""
    if message.reply_markup is not None:
        await outbox.edit_markup(message.message_id)


async def _live_prompt(state: FSMContext, outbox: Outbox) -> Ref | None:
    """The question with live buttons, as this update has left it so far."""
    if PROMPT_KEY in outbox.scratch:
        live: Ref | None = outbox.scratch[PROMPT_KEY]
        return live
    outbox_id = (await state.get_data()).get(PROMPT_KEY)
    return Ref(int(outbox_id)) if outbox_id is not None else None


def _set_prompt(state: FSMContext, outbox: Outbox, prompt: Ref | None) -> None:
    """Remember the live question: at once for this update, in the scratch state once the
    update has committed (once, as this update left it: its row is written by then)."""
    if PROMPT_KEY not in outbox.scratch:
        outbox.after_commit(_store_prompt, state, outbox)
    outbox.scratch[PROMPT_KEY] = prompt


async def _store_prompt(state: FSMContext, outbox: Outbox) -> None:
    prompt: Ref | None = outbox.scratch.get(PROMPT_KEY)
    await state.update_data({PROMPT_KEY: prompt.outbox_id if prompt is not None else None})


async def _forget_prompt(state: FSMContext, outbox: Outbox) -> None:
    _set_prompt(state, outbox, None)
