"""Bridging a caller to people on duty, as pure TwiML builders.

A bridge is a plan of <Dial> steps (`routing.roster.plan`): tier by tier, then the last-resort
number. Every URL carries the route, the moment the bridge started (`at`) and the step, so any
web process can recompute the same plan from the roster and answer a retried webhook exactly
as before: a retry never skips a tier or rings one twice.

Each number is screened: the officer hears who is calling and must press a key; a voicemail
box cannot, so it is hung up on and the next tier rings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from config.settings import Settings
from core.voice import ZH, say
from routing.roster import DialStep

#: DialCallStatus values with which a person may have taken the call.
CONNECTED = frozenset({"completed", "answered"})
DESK = "desk"
#: How long an officer has to press a key after hearing the whisper.
SCREEN_TIMEOUT_S = 8
MESSAGE_MAX_S = 120

_TRYING_NEXT = {
    "zh": "请不要挂机，正在为您转接其他值班人员。",
    "en": "Please stay on the line, we are connecting you to another officer.",
}
_LEAVE_MESSAGE = {
    "zh": "值班人员暂时无法接听。请在提示音后说出您的位置和情况，说完请按井号键。"
    "我们会立即安排人员回拨。",
    "en": "Nobody could take your call just now. After the tone, say where you are and what "
    "happened, then press the pound key. We will call you back at once.",
}
_MESSAGE_TAKEN = {
    "zh": "已收到您的留言，我们正在安排人员回拨。如情况危急，请再次拨打。",
    "en": "We have your message and are arranging a call back. If it gets worse, call again.",
}


@dataclasses.dataclass(frozen=True)
class Bridge:
    """Which bridge a webhook belongs to: enough to recompute its plan anywhere."""

    route: str
    at: int
    language: str
    #: The roster version the plan was made from (0: none): the plan stays that roster's.
    version: int = 0

    def query(self, **extra: str | int) -> str:
        return urlencode(
            {"route": self.route, "at": self.at, "lang": self.language, "v": self.version, **extra}
        )


def url(settings: Settings, path: str, bridge: Bridge, **extra: str | int) -> str:
    """An absolute URL (what Twilio calls and signs) for a bridge webhook."""
    return settings.public_url(f"{path}?{bridge.query(**extra)}")


def dial(
    response: VoiceResponse,
    settings: Settings,
    bridge: Bridge,
    steps: tuple[DialStep, ...],
    index: int,
) -> VoiceResponse:
    """Ring step `index` of the plan, each number screened; the caller hears ringback."""
    step = steps[index]
    recording: dict[str, str] = {}
    if settings.record_bridged_calls:
        recording = {
            "record": "record-from-answer-dual",
            "recording_status_callback": settings.public_url("/voice/recording-status"),
            "recording_status_callback_event": "completed",
        }
    verb = response.dial(
        action=url(settings, "/voice/route/dialed", bridge, step=index),
        method="POST",
        timeout=step.ring_seconds,
        ring_tone=settings.default_region.lower(),
        **recording,
    )
    for phone, officer in step.numbers:
        verb.number(
            phone,
            url=url(settings, "/voice/route/screen", bridge, step=index, officer=officer),
            method="POST",
        )
    return response


def after_dial(
    settings: Settings,
    bridge: Bridge,
    steps: tuple[DialStep, ...],
    index: int,
    *,
    connected: bool,
) -> VoiceResponse:
    """After step `index`: done if a person took the call, else the next step, else a message."""
    response = VoiceResponse()
    if connected:
        response.hangup()
        return response
    if index + 1 < len(steps):
        say(response, bridge.language, _TRYING_NEXT)
        return dial(response, settings, bridge, steps, index + 1)
    return leave_message(settings, bridge)


def leave_message(settings: Settings, bridge: Bridge) -> VoiceResponse:
    """Every number failed: take the caller's message rather than lose them."""
    response = VoiceResponse()
    say(response, bridge.language, _LEAVE_MESSAGE)
    response.record(
        action=url(settings, "/voice/route/message", bridge),
        method="POST",
        max_length=MESSAGE_MAX_S,
        finish_on_key="#",
        play_beep=True,
        trim="trim-silence",
        recording_status_callback=settings.public_url("/voice/recording-status"),
    )
    say(response, bridge.language, _MESSAGE_TAKEN)
    return response


def message_taken(bridge: Bridge) -> VoiceResponse:
    response = VoiceResponse()
    say(response, bridge.language, _MESSAGE_TAKEN)
    response.hangup()
    return response


def was_connected(status: str, bridged: str | None, accepted: Callable[[], bool]) -> bool:
    """Did a person take the call? Twilio's DialBridged when it says; else our own record.

    A screened leg that hung up (a voicemail box) can still report `completed`, so the
    status alone is never trusted. `accepted` reads our record, only when it is needed.
    """
    if status not in CONNECTED:
        return False
    if bridged is not None and bridged.strip().lower() in {"true", "false"}:
        return bridged.strip().lower() == "true"
    return accepted()


def screen(settings: Settings, bridge: Bridge, step: int, officer: str, what: str) -> VoiceResponse:
    """What an officer hears on answering: who calls, press any key; silence hangs up."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        timeout=SCREEN_TIMEOUT_S,
        action=url(settings, "/voice/route/accept", bridge, step=step, officer=officer),
        method="POST",
        action_on_empty_result=True,
    )
    kind = "来电，转人工服务" if bridge.route == DESK else f"紧急来电，类别：{what}"
    gather.say(f"民生110{kind}，按任意键接听。", **ZH, loop=2)
    response.hangup()
    return response


def accepted(pressed: bool) -> VoiceResponse:
    """The officer's answer to the whisper: a key bridges the call, nothing hangs up."""
    response = VoiceResponse()
    if pressed:
        response.say("正在接通来电人。", **ZH)
    else:
        response.hangup()
    return response
