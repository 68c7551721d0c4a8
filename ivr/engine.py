"""The IVR's decisions, as pure functions of the tree, the call's state and what the caller did."""

from __future__ import annotations

import dataclasses
import math
import re

from core.categories import Kind
from ivr.classifier import Classification, Rules, classify
from ivr.tree import Prompt, Target, Tree

MAX_SPEECH_CHARS = 500
_DIGITS = re.compile(r"^[0-9*#]{1,32}$")


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a call stands in the IVR."""

    node: str
    language: str
    no_input: int = 0
    no_match: int = 0


@dataclasses.dataclass(frozen=True)
class CallerInput:
    """What one Gather heard, cleaned: garbage becomes 'unrecognised', never an error."""

    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None

    @classmethod
    def from_params(
        cls, digits: str | None, speech: str | None, confidence: str | None
    ) -> CallerInput:
        """Build from Twilio's Digits, SpeechResult and Confidence, whatever they contain."""
        digits = (digits or "").strip() or None
        speech = " ".join((speech or "").split())[:MAX_SPEECH_CHARS] or None
        return cls(digits=digits, speech=speech, confidence=_confidence(confidence))

    @property
    def silent(self) -> bool:
        return self.digits is None and self.speech is None


@dataclasses.dataclass(frozen=True)
class Ask:
    """Ask (again) at `position.node`; `reprompt` replaces the node's prompt when set."""

    reprompt: Prompt | None = None


@dataclasses.dataclass(frozen=True)
class Handover:
    """Leave the IVR to a branch: emergency, service or desk."""

    branch: str


@dataclasses.dataclass(frozen=True)
class Step:
    """The result of one input: where the call is now, what to do, and why."""

    position: Position
    action: Ask | Handover
    reason: str
    classification: Classification | None = None


def start(tree: Tree) -> Step:
    """A new call: the start node, in the default language."""
    return Step(Position(tree.start, tree.default_language), Ask(), reason="start")


def next_step(tree: Tree, rules: Rules, position: Position, heard: CallerInput) -> Step:
    """Decide what happens after the caller pressed keys, spoke, or stayed silent."""
    node = tree.node(position.node)
    if heard.digits is not None:
        target = node.keys.get(heard.digits[0]) if _DIGITS.match(heard.digits) else None
        if target is not None:
            return _follow(position, target, reason=f"key {heard.digits[0]}")
        return _unrecognised(tree, position, reason="unknown key")
    if heard.speech is not None and node.classify_speech:
        verdict = classify(heard.speech, rules)
        if verdict.kind is Kind.EMERGENCY:
            # Safety first: an emergency goes through whatever the recogniser's confidence.
            return Step(position, Handover("emergency"), "speech: emergency", verdict)
        if verdict.wants_operator:
            return Step(position, Handover("desk"), "speech: asked for a person", verdict)
        sure = heard.confidence is None or heard.confidence >= tree.min_confidence
        if verdict.recognised and sure:
            return Step(position, Handover("service"), "speech: service", verdict)
        # Words nothing understood (or heard too poorly to trust) may be a frightened caller's:
        # never a second question first, but a person at once (the node's no_match `then`).
        reason = "speech: low confidence" if verdict.recognised else "speech: not understood"
        gone = _follow(position, node.no_match.then, reason=reason)
        return dataclasses.replace(gone, classification=verdict)
    if heard.speech is not None:
        return _unrecognised(tree, position, reason="speech not accepted here")
    return _silence(tree, position)


def _follow(position: Position, target: Target, *, reason: str) -> Step:
    if target.node is None:  # the tree loader guarantees a branch then
        return Step(position, Handover(target.branch or "desk"), reason)
    moved = Position(node=target.node, language=target.language or position.language)
    return Step(moved, Ask(), reason)


def _silence(tree: Tree, position: Position) -> Step:
    fallback = tree.node(position.node).no_input
    count = position.no_input + 1
    if count > fallback.retries:
        return _follow(position, fallback.then, reason="no input, retries used up")
    moved = dataclasses.replace(position, no_input=count)
    return Step(moved, Ask(reprompt=fallback.prompt), reason="no input")


def _unrecognised(
    tree: Tree, position: Position, *, reason: str, classification: Classification | None = None
) -> Step:
    fallback = tree.node(position.node).no_match
    count = position.no_match + 1
    if count > fallback.retries:
        gone = _follow(position, fallback.then, reason=f"{reason}, retries used up")
        return dataclasses.replace(gone, classification=classification)
    moved = dataclasses.replace(position, no_match=count)
    return Step(moved, Ask(reprompt=fallback.prompt), reason, classification)


def _confidence(raw: str | None) -> float | None:
    """Twilio's Confidence as a number in [0, 1], or None when absent or absurd."""
    try:
        value = float((raw or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None
