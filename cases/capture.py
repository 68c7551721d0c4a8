"""Taking a service request on the phone: what the caller hears (pure TwiML builders)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from config.settings import Settings
from core.voice import say

#: Long enough to say where and what, short enough that nobody talks to a machine for ages.
MAX_RECORDING_S = 120
SILENCE_TIMEOUT_S = 5
#: Empty recordings before a person takes the request (the caller gets one second chance).
MAX_EMPTY_RECORDINGS = 2

_DIGITS_ZH = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_PHRASES = {
    "ask": {
        "zh": "请在提示音后说出具体地点和事情经过，说完请按井号键。",
        "en": "After the tone, please say where it is and what happened, then press the pound key.",
    },
    "number": {"zh": "您的工单号是：", "en": "Your case number is: "},
    "again": {"zh": "再说一遍：", "en": "Again: "},
    "sms": {
        "zh": "工单号稍后将通过短信发送给您。",
        "en": "We will also send it to you by text message.",
    },
    "no_sms": {"zh": "请记下工单号。", "en": "Please note the number."},
    "progress": {
        "zh": "查询办理进度，请拨打本热线后按8。我们会尽快办理并给您回复。感谢您的来电，再见。",
        "en": "To hear its progress, call this hotline and press 8. We will handle it and get "
        "back to you. Thank you for calling, goodbye.",
    },
    "later": {
        "zh": "我们已记录下您反映的事项，会尽快办理。",
        "en": "We have recorded your request and will handle it.",
    },
    "later_sms": {
        "zh": "工单号稍后将通过短信发送给您。",
        "en": "We will send you its case number by text message.",
    },
    "later_progress": {
        "zh": "稍后拨打本热线后按8，可以查询工单号和办理进度。",
        "en": "Later, call this hotline and press 8 to hear its case number and progress.",
    },
    "bye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling, goodbye."},
    "not_heard": {"zh": "我们没有听到您的声音。", "en": "We did not hear anything."},
}


def ask_for_details(
    response: VoiceResponse, settings: Settings, language: str, attempt: int = 0
) -> VoiceResponse:
    """After the IVR's "we'll take care of it": record where and what happened.

    Twilio does not request the action of an empty recording; the verbs after <Record> run
    instead, so they must be true for a caller who said nothing: we say so, ask once more
    (`attempt` 0 → 1, counted in the URL), and after that hand the caller to a person.
    """
    say(response, language, _PHRASES["ask"])
    action = settings.public_url(f"/voice/cases/recorded?lang={language}")
    response.record(
        action=action,
        method="POST",
        max_length=MAX_RECORDING_S,
        timeout=SILENCE_TIMEOUT_S,
        finish_on_key="#",
        play_beep=True,
        trim="trim-silence",
        recording_status_callback=settings.public_url("/voice/recording-status"),
        recording_status_callback_event="completed absent",
    )
    # Reached only when nothing was recorded.
    say(response, language, _PHRASES["not_heard"])
    if attempt < MAX_EMPTY_RECORDINGS - 1:
        again = settings.public_url(f"/voice/cases/details?lang={language}&try={attempt + 1}")
        response.redirect(again, method="POST")
    else:
        response.redirect(f"{action}&nothing=1", method="POST")
    return response


def spoken_number(number: str, language: str) -> str:
    """A case number read digit by digit: "MS-20261125-0042" → "M S，二，零，二，六，…"."""
    letters, _, digits = number.partition("-")
    digits = digits.replace("-", "")
    if language == "en":
        return " ".join(letters) + ", " + ", ".join(digits)
    return " ".join(letters) + "，" + "，".join(_DIGITS_ZH.get(d, d) for d in digits)


def case_taken(number: str, language: str, *, sms: bool) -> VoiceResponse:
    """Read the case number twice, say how the caller hears back, and end the call.

    `sms` is whether a text was queued: then it "will be sent" (never "has been": it goes out
    later, and may not arrive). Key 8 always tells the caller their case's number and state.
    """
    response = VoiceResponse()
    for lead in ("number", "again"):
        texts = {lang: _PHRASES[lead][lang] + spoken_number(number, lang) for lang in ("zh", "en")}
        say(response, language, texts)
    say(response, language, _PHRASES["sms" if sms else "no_sms"])
    say(response, language, _PHRASES["progress"])
    response.hangup()
    return response


def sms_text(number: str, language: str) -> str:
    if language == "en":
        return f"Minsheng hotline: we have your request. Case number {number}."
    return f"【民生110】您反映的事项已受理，工单号 {number}，我们会尽快办理并回复您。"


def say_later(
    response: VoiceResponse, language: str, *, sms: bool, known_caller: bool
) -> VoiceResponse:
    """When the case can't be numbered now (database down): it will be, once it is back.

    The number then goes out by text (`sms`: one will be queued) and key 8 finds the caller's
    open case by their number (`known_caller`); nobody calls back, so nobody says so.
    """
    say(response, language, _PHRASES["later"])
    if sms:
        say(response, language, _PHRASES["later_sms"])
    if known_caller:
        say(response, language, _PHRASES["later_progress"])
    say(response, language, _PHRASES["bye"])
    response.hangup()
    return response


def case_number(digits: str) -> str | None:
    """ "202611250042" (what a phone keypad can send) → "MS-20261125-0042"."""
    digits = digits.strip().rstrip("#")
    if not (digits.isascii() and digits.isdigit() and len(digits) == 12):
        return None
    return f"MS-{digits[:8]}-{digits[8:]}"
