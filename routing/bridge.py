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
import functools
from collections.abc import Callable
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from config.settings import Settings
from core import dialing, twiml_contract
from core.voice import ZH, say
from routing.roster import DialStep

#: DialCallStatus values with which a person may have taken the call.
CONNECTED = frozenset({"completed", "answered"})
DESK = "desk"
#: A caller the front door could not understand: the desk's people answer (they hear that it may
#: be urgent), and past them the emergency last resort, never the service desk's line; if the
#: caller hangs up while it rings, the call-back is as urgent as an emergency's.
DOUBT = "doubt"
#: How long an officer has to press a key after hearing the whisper.
SCREEN_TIMEOUT_S = 8
MESSAGE_MAX_S = 120

_TRYING_NEXT = {
    "zh": "请不要挂机，正在为您转接其他值班人员。",
    "en": "Please stay on the line, we are connecting you to another officer.",
}
#: What a caller hears when every number failed, by whether we can call them back (their
#: number is known) or must ask for one: a promise of a call-back must be true.
_LEAVE_MESSAGE = {
    True: {
        "zh": "值班人员暂时无法接听。请在提示音后说出您的位置和情况，说完请按井号键。"
        "我们会立即安排人员回拨。",
        "en": "Nobody could take your call just now. After the tone, say where you are and what "
        "happened, then press the pound key. We will call you back at once.",
    },
    False: {
        "zh": "值班人员暂时无法接听。您的号码没有显示，我们无法回拨。请在提示音后说出您的位置、"
        "情况和联系电话，说完请按井号键。",
        "en": "Nobody could take your call just now, and your number is hidden, so we cannot "
        "call you back. After the tone, say where you are, what happened and a number to "
        "call, then press the pound key.",
    },
}
#: After an empty recording (Twilio then skips the action and runs the next verb).
_NO_MESSAGE = {
    True: {
        "zh": "我们没有听到您的留言。值班人员会尽快回拨您。如情况危急，请再次拨打。",
        "en": "We did not hear a message. An officer will call you back as soon as possible. "
        "If it gets worse, call again.",
    },
    False: {
        "zh": "我们没有听到您的留言，也无法回拨隐藏的号码。请再次拨打。",
        "en": "We did not hear a message and cannot call a hidden number back. Please call again.",
    },
}
_MESSAGE_TAKEN = {
    True: {
        "zh": "已收到您的留言，我们正在安排人员回拨。如情况危急，请再次拨打。",
        "en": "We have your message and are arranging a call back. If it gets worse, call again.",
    },
    False: {
        "zh": "已收到您的留言，我们会按您留下的信息联系您。如情况危急，请再次拨打。",
        "en": "We have your message and will contact you as you told us. If it gets worse, "
        "call again.",
    },
}
_GENERIC_WHISPER = "民生110来电，按任意键接听。"


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
    *,
    caller: str | None = None,
) -> VoiceResponse:
    """Ring step `index` of the plan, each leg screened; the caller hears ringback.

    `caller` is the caller's E.164 number (None: withheld), shown to officers when the caller ID
    policy allows it. Legs go out as `core.dialing.ring` decides (Number, BYOC trunk, or SIP).
    """
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
        caller_id=dialing.caller_id(settings, caller),
        ring_tone=ring_tone(settings.default_region),
        **recording,
    )
    screened = is_screened(settings, bridge, step)
    for phone, officer in step.numbers:
        whisper = url(settings, "/voice/route/screen", bridge, step=index, officer=officer)
        dialing.ring(verb, phone, settings, url=whisper if screened else None)
    return response


@functools.lru_cache(maxsize=8)
def ring_tone(region: str) -> str | None:
    """The caller's ringback for `region`, if Twilio defines one (else Twilio's default)."""
    tone = {"GB": "uk"}.get(region, region.lower())
    return tone if twiml_contract.check_value("Dial", "ringTone", tone) is None else None


def is_screened(settings: Settings, bridge: Bridge, step: DialStep) -> bool:
    """Whether the legs of `step` must accept with a key (all but an unscreened last resort).

    FALLBACK_UNSCREENED marks the emergency last resort as an automated dispatch system that
    answers without a key press; the desk's last resort and every officer are always screened.
    """
    return not (settings.fallback_unscreened and step.tier == -1 and bridge.route != DESK)


def after_dial(
    settings: Settings,
    bridge: Bridge,
    steps: tuple[DialStep, ...],
    index: int,
    *,
    connected: bool,
    caller: str | None = None,
) -> VoiceResponse:
    """After step `index`: done if a person took the call, else the next step, else a message.

    `caller` is the caller's E.164 number (None: withheld), as for `dial`.
    """
    response = VoiceResponse()
    if connected:
        response.hangup()
        return response
    if index + 1 < len(steps):
        say(response, bridge.language, _TRYING_NEXT)
        return dial(response, settings, bridge, steps, index + 1, caller=caller)
    return leave_message(settings, bridge, caller=caller)


def leave_message(settings: Settings, bridge: Bridge, *, caller: str | None) -> VoiceResponse:
    """Every number failed: take the caller's message rather than lose them."""
    response = VoiceResponse()
    say(response, bridge.language, _LEAVE_MESSAGE[caller is not None])
    response.record(
        action=url(settings, "/voice/route/message", bridge),
        method="POST",
        max_length=MESSAGE_MAX_S,
        finish_on_key="#",
        play_beep=True,
        trim="trim-silence",
        recording_status_callback=settings.public_url("/voice/recording-status"),
    )
    # Twilio skips the action after an empty recording and runs what follows: this is what a
    # caller who said nothing hears (the unanswered alert and its call-back task already exist).
    say(response, bridge.language, _NO_MESSAGE[caller is not None])
    response.hangup()
    return response


def message_taken(bridge: Bridge, *, caller: str | None) -> VoiceResponse:
    """The caller's message is stored: a call-back is promised only to a known number."""
    response = VoiceResponse()
    say(response, bridge.language, _MESSAGE_TAKEN[caller is not None])
    response.hangup()
    return response


def was_connected(
    status: str, bridged: str | None, accepted: Callable[[], bool], *, screened: bool = True
) -> bool:
    """Did a person take the call? Twilio's DialBridged when it says; else our own record.

    A screened leg that hung up (a voicemail box) can still report `completed`, so the
    status alone is never trusted. `accepted` reads our record, only when it is needed. An
    unscreened leg (see `is_screened`) that answered was bridged: nobody presses a key there.
    """
    if status not in CONNECTED:
        return False
    if not screened and bridged is None:
        return True
    if bridged is not None and bridged.strip().lower() in {"true", "false"}:
        return bridged.strip().lower() == "true"
    return accepted()


def screen(settings: Settings, bridge: Bridge, step: int, officer: str, what: str) -> VoiceResponse:
    """What an officer hears on answering: who calls, press any key; silence hangs up."""
    if bridge.route == DESK:
        kind = "来电，转人工服务"
    elif bridge.route == DOUBT:
        kind = "来电，系统未能识别，可能是紧急情况"
    else:
        kind = f"紧急来电，类别：{what}"
    accept = url(settings, "/voice/route/accept", bridge, step=step, officer=officer)
    return _screening(accept, f"民生110{kind}，按任意键接听。")


def screen_failed(settings: Settings, query: str) -> VoiceResponse:
    """The whisper when building the real one failed: still screened, and never a <Dial>.

    TwiML on a <Number url> leg may not contain <Dial> (twilio.com/docs/voice/twiml/number), so
    the caller's fallback answer is wrong here; this one is fixed text and posts the same
    accept URL (the screen URL's query is the accept URL's).
    """
    return _screening(settings.public_url(f"/voice/route/accept?{query}"), _GENERIC_WHISPER)


def _screening(accept_url: str, text: str) -> VoiceResponse:
    # finishOnKey="" makes every key a digit: with Gather's default "#", a lone # is swallowed
    # and submits nothing (Twilio: finishOnKey "only works when a digit sequence precedes it"),
    # so an officer who presses # as told ("any key") would be hung up on.
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        finish_on_key="",
        timeout=SCREEN_TIMEOUT_S,
        action=accept_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.say(text, **ZH, loop=2)
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
