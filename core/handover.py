"""What the front door hands over with a call, for the packages below the IVR that take the call
on (the cases' intake and its way to the service desk): they read it here, never importing the IVR.

The IVR provides it at start-up (`provide`, from ivr.init_app): what a caller said at the front
door and how it was classified (`heard`), and what it says when it puts a caller through to the
service desk (`desk_prompt`), so a caller sent to the desk later hears the same words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Select
from sqlalchemy.orm import Session

from core.voice import Line

#: Where the app keeps its FrontDoor.
EXTENSION = "hotline.front_door"


@dataclasses.dataclass(frozen=True)
class Heard:
    """What a caller told the front door before it handed them over."""

    #: What they said, in order, joined by " / " ("" if nothing).
    transcript: str = ""
    #: The service category the classifier placed it in (None: none, or not a service request).
    category: str | None = None


@dataclasses.dataclass(frozen=True)
class FrontDoor:
    """What the front door provides (see the module's docstring)."""

    #: The SELECT of a call's front-door state (parameter `call_sid`, built once), read on its
    #: own or in a webhook's round trip, and what its row (None: the call never reached the
    #: front door) says was heard.
    heard_query: Select[Any]
    heard_of: Callable[[Any], Heard]
    #: The lines said when a caller is put through to the desk, in a language (the default
    #: language's lines if it has none in that one).
    desk_prompt: Callable[[str], tuple[Line, ...]]


def provide(app: Flask, front_door: FrontDoor) -> None:
    """Install the app's front door (the IVR does, at start-up)."""
    app.extensions[EXTENSION] = front_door


def heard(session: Session, call_sid: str) -> Heard:
    """What the caller of `call_sid` said at the front door, and how it was classified."""
    front_door = _front_door()
    row = session.scalars(front_door.heard_query, {"call_sid": call_sid}).one_or_none()
    return front_door.heard_of(row)


def heard_query() -> Select[Any]:
    """The SELECT that `heard_of` reads (calls.webhook.accept_call_webhook_reading)."""
    return _front_door().heard_query


def heard_of(row: Any) -> Heard:
    """What the row `heard_query` found (or None) says the caller said and how it was heard."""
    return _front_door().heard_of(row)


def desk_prompt(language: str) -> tuple[Line, ...]:
    """What the front door says when it puts a caller through to the desk, in `language`."""
    return _front_door().desk_prompt(language)


def _front_door() -> FrontDoor:
    front_door: FrontDoor = current_app.extensions[EXTENSION]
    return front_door
