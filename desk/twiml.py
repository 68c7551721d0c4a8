"""What the desk queue says, and how a caller joins it (for the IVR's hand-over)."""

from __future__ import annotations

from typing import Any

from flask import request
from twilio.twiml.voice_response import VoiceResponse

from core import db, voice, webhooks
from core.phone import InvalidPhoneNumber, to_e164
from desk import service

TEXT = {
    "next": {"zh": "您是下一位，请稍候。", "en": "You are next. Please hold."},
    "position": {
        "zh": "您前面还有{ahead}位来电，请稍候。",
        "en": "There are {ahead} callers ahead of you. Please hold.",
    },
    "average": {
        "zh": "近期平均等待约{minutes}分钟。",
        "en": "Callers have recently waited about {minutes} minutes.",
    },
    "offer": {
        "zh": "不想等待请按1，保留您的排队位置，我们会按顺序给您回电。"
        "紧急情况请挂断后直接拨打110。",
        "en": "To keep your place and be called back instead, press 1. "
        "In an emergency, hang up and dial 110.",
    },
    "callback": {
        "zh": "好的，已为您保留排队位置，我们会按顺序给您回电。再见。",
        "en": "Thank you. Your place is kept and we will call you back in turn. Goodbye.",
    },
    "callback_taker": {
        "zh": "民生110回拨任务，按任意键回拨来电人。",
        "en": "Minsheng hotline call-back: press any key to call the caller.",
    },
    "calling_back": {
        "zh": "民生110回拨：正在为您接通来电人。",
        "en": "Minsheng hotline call-back: connecting you to the caller.",
    },
    "callback_gone": {
        "zh": "这个回拨任务已关闭，无需回拨。",
        "en": "This call-back is closed: nobody to call.",
    },
    "connecting": {"zh": "正在为您接通工作人员。", "en": "Putting you through to a call-taker."},
    "offer_taker": {
        "zh": "民生110排队来电，按任意键接听。",
        "en": "Minsheng hotline: a caller is waiting. Press any key to take the call.",
    },
    "urgent_taker": {
        "zh": "民生110来电，系统未能识别，可能是紧急情况，按任意键接听。",
        "en": "Minsheng hotline: a caller the system could not understand, possibly urgent. "
        "Press any key to take the call.",
    },
}


def language() -> str:
    asked = request.args.get("lang", "zh")
    return asked if asked in voice.languages() else voice.languages().default


def say(response: Any, language: str, key: str, **values: Any) -> None:
    texts = TEXT[key]
    spoken = voice.line(language, {k: v.format(**values) for k, v in texts.items()})
    voice.say_lines(response, voice.languages(), [spoken])


def enqueue(
    response: VoiceResponse,
    call_sid: str,
    caller: str,
    language: str,
    *,
    urgent: bool,
) -> VoiceResponse:
    """Put the caller in the desk's queue (`desk-urgent` if `urgent`), noted for the board and
    the offers; what they hear while waiting comes from /voice/desk/wait."""
    settings = webhooks.settings()
    try:
        number: str | None = to_e164(caller, settings.default_region) if caller else None
    except InvalidPhoneNumber:
        number = None
    queue = service.enqueue(
        db.session(), call_sid, caller_number=number, language=language, urgent=urgent
    )
    response.enqueue(
        queue,
        action=settings.public_url(f"/voice/desk/left?lang={language}"),
        method="POST",
        wait_url=settings.public_url(f"/voice/desk/wait?lang={language}"),
        wait_url_method="POST",
    )
    return response
