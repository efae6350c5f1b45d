"""The words and the button of a survey invitation sent by a broadcast.

:func:`surveys.delivery.broadcasts.step` asks this renderer for each invitation and queues
what it returns in the outbox; the button opens the survey as the /surveys list's does.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import OpenSurveyCb
from surveys.core.i18n import Translator
from surveys.delivery.broadcasts import Invitation


def render_invitation(invitation: Invitation, t: Translator) -> tuple[str, dict[str, Any]]:
    """("sendMessage", its parameters): the invitation naming the survey, one button."""
    button = InlineKeyboardButton(
        text=t("invite.button"),
        callback_data=OpenSurveyCb(code=invitation.survey_code).pack(),
    )
    markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    text = t("invite.text", title=invitation.survey_title)
    return "sendMessage", {"text": text, "reply_markup": markup.model_dump(exclude_none=True)}
