"""How the hotline speaks and listens: its languages, one table for the IVR, the cases' webhooks
and the surveys; and the fixed voices of what must be said when nothing else works.

The table is the `languages` section of the IVR file (config/ivr.yaml, `Settings.ivr_file`) with
its `default_language`: for each language, the <Say language> and <Say voice> it is spoken in and
the <Gather language> it is listened to in, values Twilio's TwiML definitions allow
(core.twiml_contract). `init_app` loads it at start-up and `languages()` is the app's; the IVR tree
(ivr.tree) parses the same section with `parse_languages`, to check its prompts against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from flask import Flask, current_app
from twilio.twiml.voice_response import Gather, VoiceResponse

from config.files import ConfigFileError, load_config_file, require_mapping
from core import twiml_contract

#: The fixed voices: apologies and messages that must not depend on a configuration file.
ZH = {"language": "cmn-CN", "voice": "Polly.Zhiyu"}
EN = {"language": "en-US", "voice": "Polly.Joanna"}
#: Where the app keeps its Languages.
EXTENSION: Final = "hotline.languages"


class LanguagesError(ConfigFileError):
    """The languages are invalid; the message names the language and the field."""


@dataclasses.dataclass(frozen=True)
class Language:
    """How the hotline speaks and listens in one language (voices are settings, not constants)."""

    code: str
    say_language: str
    voice: str
    speech_language: str
    #: Phrases that help Twilio's speech recognition, comma-separated ("" for none).
    hints: str


@dataclasses.dataclass(frozen=True)
class Line:
    """One sentence a caller hears, in a language of the table."""

    text: str
    language: str


@dataclasses.dataclass(frozen=True)
class Languages(Mapping[str, Language]):
    """The languages by code, in the file's order, and the one a call starts in."""

    by_code: Mapping[str, Language]
    default: str

    def __getitem__(self, code: str) -> Language:
        return self.by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_code)

    def __len__(self) -> int:
        return len(self.by_code)

    def of(self, code: str) -> Language:
        """How to speak and listen in `code`: the default language's way if the table lacks it."""
        return self.by_code.get(code) or self.by_code[self.default]


def parse_languages(raw: Any, error: type[ConfigFileError] = LanguagesError) -> Languages:
    """The `languages` and `default_language` of an IVR document (what YAML gives), validated.

    Errors are raised as `error` (the IVR tree raises its own), naming the language and field.
    """
    doc = require_mapping(raw, "tree", error)
    section = require_mapping(doc.get("languages"), "languages", error)
    by_code = {
        str(code): _language(str(code), require_mapping(spec, f"languages.{code}", error), error)
        for code, spec in section.items()
    }
    if not by_code:
        raise error("languages: at least one language is required")
    default = _text(doc.get("default_language"), "default_language", error)
    if default not in by_code:
        raise error(f"default_language: {default!r} is not in languages")
    return Languages(by_code=by_code, default=default)


def load_languages(path: Path) -> Languages:
    """The languages of the IVR file at `path`."""
    return load_config_file(path, parse_languages, LanguagesError)


def init_app(app: Flask) -> None:
    """Load the app's languages from its IVR file (once: every package that speaks calls this)."""
    if EXTENSION not in app.extensions:
        app.extensions[EXTENSION] = load_languages(app.extensions["hotline.settings"].ivr_file)


def languages() -> Languages:
    """The current app's languages."""
    table: Languages = current_app.extensions[EXTENSION]
    return table


def line(language: str, texts: Mapping[str, str]) -> Line:
    """`texts["en"]` as an English line for an English-speaking caller, `texts["zh"]` as a
    Chinese one for anyone else (the hotline's own phrases come in these two languages)."""
    code = "en" if language == "en" else "zh"
    return Line(text=texts[code], language=code)


def say_lines(target: VoiceResponse | Gather, table: Languages, lines: Sequence[Line]) -> None:
    """Speak `lines`, each in its own language's voice (the default's, if `table` lacks it)."""
    for spoken in lines:
        language = table.of(spoken.language)
        target.say(spoken.text, language=language.say_language, voice=language.voice)


def say(
    target: VoiceResponse | Gather, language: str, texts: Mapping[str, str], **extra: Any
) -> None:
    """Say `texts["en"]` to an English-speaking caller, `texts["zh"]` to anyone else, in the
    fixed voices."""
    if language == "en":
        target.say(texts["en"], **EN, **extra)
    else:
        target.say(texts["zh"], **ZH, **extra)


def _language(code: str, spec: Mapping[str, Any], error: type[ConfigFileError]) -> Language:
    where = f"languages.{code}"
    hints = spec.get("hints", [])
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise error(f"{where}.hints: must be a list of phrases")
    return Language(
        code=code,
        say_language=_twiml_value(
            spec.get("say_language"), f"{where}.say_language", "Say", "language", error
        ),
        voice=_twiml_value(spec.get("voice"), f"{where}.voice", "Say", "voice", error),
        speech_language=_twiml_value(
            spec.get("speech_language"), f"{where}.speech_language", "Gather", "language", error
        ),
        hints=", ".join(hints),
    )


def _twiml_value(
    value: Any, where: str, element: str, attribute: str, error: type[ConfigFileError]
) -> str:
    """`value` as text that Twilio's TwiML definitions allow for `<element attribute>`.

    Twilio doesn't refuse a wrong value when the call runs: it logs a warning and, for a
    `<Gather language>`, the gather fails and the caller's speech is lost. So refuse it here.
    """
    text = _text(value, where, error)
    problem = twiml_contract.check_value(element, attribute, text)
    if problem:
        raise error(f"{where}: {problem}")
    return text


def _text(value: Any, where: str, error: type[ConfigFileError]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise error(f"{where}: must be non-empty text")
    return value.strip()
