"""The survey call's webhook URLs: every one carries the survey and the attempt (`?s=…&a=…`),
so a webhook for an attempt that is no longer the one on the line changes nothing.

Twilio signs each URL as it was given: they are built here only, by the dialer placing the call
and by the webhooks asking the next question.
"""

from __future__ import annotations

from urllib.parse import urlencode

from config.settings import Settings

PREFIX = "/voice/survey"


def url(settings: Settings, path: str, survey_id: int, attempt: int, **extra: int) -> str:
    """The public URL of the survey webhook `path` for one attempt, with `extra` in its query."""
    query = urlencode({"s": survey_id, "a": attempt, **extra})
    return settings.public_url(f"{PREFIX}/{path}?{query}")


def call_urls(settings: Settings, survey_id: int, attempt: int) -> tuple[str, str]:
    """The answer URL and the status callback URL of one attempt."""
    return url(settings, "answer", survey_id, attempt), url(settings, "status", survey_id, attempt)


def amd_url(settings: Settings, survey_id: int, attempt: int) -> str:
    """Where Twilio posts the attempt's answering-machine detection result (AsyncAmd)."""
    return url(settings, "amd", survey_id, attempt)
