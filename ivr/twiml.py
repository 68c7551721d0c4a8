"""Pure builders of what a caller hears at the front door."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

MANDARIN_VOICE = "Polly.Zhiyu"
MANDARIN_LANGUAGE = "cmn-CN"
ENGLISH_VOICE = "Polly.Joanna"
ENGLISH_LANGUAGE = "en-US"


def greeting() -> VoiceResponse:
    """The bilingual greeting of the hotline."""
    response = VoiceResponse()
    response.say(
        "您好，这里是民生110，有事请讲，我们来办。",
        language=MANDARIN_LANGUAGE,
        voice=MANDARIN_VOICE,
    )
    response.say(
        "This is the Minsheng hotline. Tell us what happened, we will take care of the rest.",
        language=ENGLISH_LANGUAGE,
        voice=ENGLISH_VOICE,
    )
    return response


def apology(fallback_number: str | None) -> VoiceResponse:
    """What a caller hears when the hotline itself fails: sorry, and a human if one is set."""
    response = VoiceResponse()
    response.say(
        "抱歉，系统繁忙。正在为您转接人工。",
        language=MANDARIN_LANGUAGE,
        voice=MANDARIN_VOICE,
    )
    response.say(
        "Sorry, we are having trouble. Connecting you to an operator.",
        language=ENGLISH_LANGUAGE,
        voice=ENGLISH_VOICE,
    )
    if fallback_number:
        response.dial(fallback_number, timeout=30)
    else:
        # Only in development: production refuses to start without FALLBACK_NUMBER.
        response.say("请稍后再拨。", language=MANDARIN_LANGUAGE, voice=MANDARIN_VOICE)
        response.say("Please call again later.", language=ENGLISH_LANGUAGE, voice=ENGLISH_VOICE)
    return response
