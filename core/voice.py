"""The voices the hotline speaks in outside the IVR tree (bridging, cases, fallbacks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.twiml.voice_response import Gather, VoiceResponse

ZH = {"language": "cmn-CN", "voice": "Polly.Zhiyu"}
EN = {"language": "en-US", "voice": "Polly.Joanna"}


def say(
    target: VoiceResponse | Gather, language: str, texts: Mapping[str, str], **extra: Any
) -> None:
    """Say `texts["en"]` to an English-speaking caller, `texts["zh"]` to anyone else."""
    if language == "en":
        target.say(texts["en"], **EN, **extra)
    else:
        target.say(texts["zh"], **ZH, **extra)
