"""Pure builders of what a caller hears at the front door (TwiML via VoiceResponse)."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import Gather, VoiceResponse

from config.settings import Settings
from core import dialing
from core.voice import EN, ZH, Line, say_lines
from ivr.engine import Position
from ivr.tree import Prompt, Tree


def say(target: VoiceResponse | Gather, tree: Tree, lines: Sequence[Line]) -> None:
    """Speak `lines`, each in its own language's voice (the tree's languages)."""
    say_lines(target, tree.languages, lines)


def ask(
    tree: Tree,
    settings: Settings,
    position: Position,
    step: int,
    reprompt: Prompt | None,
    notice: Sequence[Line] = (),
) -> VoiceResponse:
    """A Gather that listens to keys and speech while the prompt plays (the caller may barge in).

    Silence posts to the same action (actionOnEmptyResult), so every outcome is decided in one
    place; the Redirect after it covers a Gather that ends without posting.
    """
    node = tree.node(position.node)
    language = tree.languages[position.language]
    inputs = [
        name for name, on in (("dtmf", bool(node.keys)), ("speech", node.classify_speech)) if on
    ]
    lang = "" if position.language == tree.default_language else f"&lang={position.language}"
    action = settings.public_url(f"/voice/ivr/gather?step={step}{lang}")
    response = VoiceResponse()
    gather = response.gather(
        input=" ".join(inputs),
        action=action,
        method="POST",
        timeout=node.timeout_s,
        num_digits=1,
        speech_timeout=tree.speech_timeout,
        speech_model=tree.speech_model,
        language=language.speech_language,
        hints=language.hints or None,
        action_on_empty_result=True,
        barge_in=True,
    )
    say(gather, tree, [*notice, *(reprompt or node.prompt)[position.language]])
    response.redirect(action, method="POST")
    return response


def apology(settings: Settings) -> VoiceResponse:
    """What a caller hears when the hotline itself fails: sorry, and a person if one is set.

    Built without the tree on purpose: it must work when nothing else does.
    """
    response = VoiceResponse()
    if settings.fallback_number:
        response.say("抱歉，系统繁忙，正在为您转接人工。", **ZH)
        response.say("Sorry, we are having trouble. Connecting you to an operator.", **EN)
        dial = response.dial(timeout=30, caller_id=settings.hotline_number)
        dialing.ring(dial, settings.fallback_number, settings)
        return response
    response.say("抱歉，线路全忙，请稍后再拨。", **ZH)
    response.say("Sorry, all lines are busy. Please call again later.", **EN)
    response.hangup()
    return response
