"""/lang and /care: the citizen's language and care mode (关怀模式), kept on the respondent
so they hold from the next message on, in every chat and in what the bot sends later."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.middlewares import ChatContext
from surveys.core.i18n import N_, Translator, load_translations, locale_for
from surveys.questionnaire import respondents

router = Router(name=__name__)
# Each language is named in itself, so a reader finds theirs whatever the bot speaks now.
LANGUAGE_NAMES = {"zh_Hans": N_("lang.name.zh_Hans"), "en": N_("lang.name.en")}
FOLLOW_TELEGRAM = "-"  # LangCb.code of "as my Telegram is set"


class LangCb(CallbackData, prefix="l"):
    code: str  # a catalogue locale, or FOLLOW_TELEGRAM


def language_keyboard(t: Translator) -> InlineKeyboardMarkup:
    """One button per catalogue with a name, then "as my Telegram", one per row."""
    names = [(code, key) for code, key in LANGUAGE_NAMES.items() if code in load_translations()]
    rows = [
        [InlineKeyboardButton(text=t(key), callback_data=LangCb(code=code).pack())]
        for code, key in names
    ]
    follow = LangCb(code=FOLLOW_TELEGRAM).pack()
    rows.append([InlineKeyboardButton(text=t("lang.follow"), callback_data=follow)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("lang"))
async def ask_language(message: Message, ctx: ChatContext) -> None:
    await ctx.outbox.send(ctx.t("lang.ask"), language_keyboard(ctx.t))


@router.callback_query(LangCb.filter())
async def choose_language(query: CallbackQuery, callback_data: LangCb, ctx: ChatContext) -> None:
    chosen = None if callback_data.code == FOLLOW_TELEGRAM else callback_data.code
    await respondents.set_language(session=ctx.session, respondent=ctx.respondent, locale=chosen)
    # Confirmed in the language now in force, as everything after it will be.
    t = Translator(chosen or locale_for(ctx.language_code), care=ctx.care)
    await ctx.outbox.answer(query.id)
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await ctx.outbox.edit_markup(query.message.message_id)
    await ctx.outbox.send(t("lang.followed") if chosen is None else t("lang.set"))


@router.message(Command("care"))
async def toggle_care(message: Message, ctx: ChatContext) -> None:
    row = await respondents.set_care_mode(
        session=ctx.session, respondent=ctx.respondent, on=not ctx.care
    )
    t = Translator(ctx.t.locale, care=row.care_mode)
    await ctx.outbox.send(t("care.on") if row.care_mode else t("care.off"))
