"""The IVR tree: loaded from YAML and validated, with errors that name the node and field."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.files import ConfigFileError, load_config_file, require_mapping
from core import twiml_contract
from core.voice import Languages, Line, parse_languages

#: Where the IVR can hand a caller over; the code behind each lives in its own domain package.
BRANCHES = ("emergency", "service", "desk", "doubt", "status")
DTMF_KEY = re.compile(r"^[0-9*#]$")


class TreeError(ConfigFileError):
    """The IVR tree file is invalid; the message names the file, node and field."""


#: Per tree language, the lines a caller hears.
Prompt = Mapping[str, tuple[Line, ...]]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where an outcome leads: another node (optionally switching language) or a branch."""

    node: str | None = None
    branch: str | None = None
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class Fallback:
    """What happens on silence or on input the IVR can't place: re-ask, then give up."""

    retries: int
    prompt: Prompt
    then: Target


@dataclasses.dataclass(frozen=True)
class Node:
    """One question: a prompt that listens to keys and speech at once."""

    id: str
    prompt: Prompt
    timeout_s: int
    keys: Mapping[str, Target]
    classify_speech: bool
    no_input: Fallback
    no_match: Fallback


@dataclasses.dataclass(frozen=True)
class Tree:
    """The whole front door."""

    #: How the front door speaks and listens (the hotline's one table: core.voice).
    languages: Languages
    default_language: str
    start: str
    nodes: Mapping[str, Node]
    branch_prompts: Mapping[str, Prompt]
    speech_model: str | None
    speech_timeout: str
    min_confidence: float

    def node(self, node_id: str) -> Node:
        return self.nodes.get(node_id) or self.nodes[self.start]


def load_tree(path: Path) -> Tree:
    """Read and validate the tree file at `path`."""
    return load_config_file(path, parse_tree, TreeError)


def parse_tree(raw: Any) -> Tree:
    """Validate a tree given as plain data (what YAML gives)."""
    doc = _mapping(raw, "tree")
    languages = parse_languages(doc, TreeError)

    speech = _mapping(doc.get("speech", {}), "speech")
    speech_model = speech.get("model")
    if speech_model is not None:
        speech_model = _twiml_value(speech_model, "speech.model", "Gather", "speechModel")
    speech_timeout = str(speech.get("timeout", "auto"))
    if speech_timeout != "auto" and not (
        speech_timeout.isdigit() and 1 <= int(speech_timeout) <= 10
    ):
        raise TreeError("speech.timeout: must be 'auto' or whole seconds from 1 to 10")
    if speech_model is not None and speech_timeout == "auto":
        # Twilio warning 13335: with a speechModel, speechTimeout must be a number.
        raise TreeError("speech.timeout: must be whole seconds when speech.model is set")
    min_confidence = speech.get("min_confidence", 0.4)
    if not isinstance(min_confidence, int | float) or not 0 <= min_confidence <= 1:
        raise TreeError("speech.min_confidence: must be a number from 0 to 1")

    raw_nodes = _mapping(doc.get("nodes"), "nodes")
    if not raw_nodes:
        raise TreeError("nodes: at least one node is required")
    ctx = _Context(languages=languages, node_ids=set(raw_nodes))
    nodes = {
        nid: ctx.node(str(nid), _mapping(spec, f"nodes.{nid}")) for nid, spec in raw_nodes.items()
    }
    start = _str(doc.get("start"), "start")
    if start not in nodes:
        raise TreeError(f"start: no node named {start!r}")

    raw_branches = _mapping(doc.get("branches"), "branches")
    branch_prompts = {}
    for name in BRANCHES:
        spec = _mapping(raw_branches.get(name), f"branches.{name}")
        branch_prompts[name] = ctx.prompt(spec.get("prompt"), f"branches.{name}.prompt")
    unknown = set(raw_branches) - set(BRANCHES)
    if unknown:
        raise TreeError(f"branches: unknown branch {sorted(unknown)[0]!r} (known: {BRANCHES})")

    return Tree(
        languages=languages,
        default_language=languages.default,
        start=start,
        nodes=nodes,
        branch_prompts=branch_prompts,
        speech_model=speech_model,
        speech_timeout=speech_timeout,
        min_confidence=float(min_confidence),
    )


@dataclasses.dataclass
class _Context:
    languages: Languages
    node_ids: set[str]

    def node(self, nid: str, spec: Mapping[str, Any]) -> Node:
        where = f"nodes.{nid}"
        timeout = spec.get("timeout", 5)
        if not isinstance(timeout, int) or not 1 <= timeout <= 30:
            raise TreeError(f"{where}.timeout: must be whole seconds from 1 to 30")
        keys = {}
        for key, target in _mapping(spec.get("keys", {}), f"{where}.keys").items():
            key = str(key)
            if not DTMF_KEY.match(key):
                raise TreeError(f"{where}.keys: {key!r} is not a phone key (0-9, *, #)")
            keys[key] = self.target(target, f"{where}.keys.{key}")
        speech = spec.get("speech", "classify")
        if speech not in ("classify", None, False):
            raise TreeError(f"{where}.speech: must be 'classify' or false")
        if not keys and not speech:
            raise TreeError(f"{where}: accepts neither keys nor speech")
        return Node(
            id=nid,
            prompt=self.prompt(spec.get("prompt"), f"{where}.prompt"),
            timeout_s=timeout,
            keys=keys,
            classify_speech=speech == "classify",
            no_input=self.fallback(spec.get("no_input"), f"{where}.no_input"),
            no_match=self.fallback(spec.get("no_match"), f"{where}.no_match"),
        )

    def fallback(self, raw: Any, where: str) -> Fallback:
        spec = _mapping(raw, where)
        retries = spec.get("retries", 1)
        if not isinstance(retries, int) or not 0 <= retries <= 3:
            raise TreeError(f"{where}.retries: must be a whole number from 0 to 3")
        then = self.target(spec.get("then"), f"{where}.then")
        if then.node is not None:
            # Giving up must leave the IVR, or a silent caller could loop forever.
            raise TreeError(f"{where}.then: must be a branch, not another node")
        return Fallback(
            retries=retries, prompt=self.prompt(spec.get("prompt"), f"{where}.prompt"), then=then
        )

    def target(self, raw: Any, where: str) -> Target:
        spec = _mapping(raw, where)
        branch, goto = spec.get("branch"), spec.get("goto")
        if (branch is None) == (goto is None):
            raise TreeError(f"{where}: needs exactly one of 'branch' or 'goto'")
        if branch is not None and branch not in BRANCHES:
            raise TreeError(f"{where}.branch: unknown branch {branch!r} (known: {BRANCHES})")
        if goto is not None and goto not in self.node_ids:
            raise TreeError(f"{where}.goto: no node named {goto!r}")
        language = spec.get("language")
        if language is not None and language not in self.languages:
            raise TreeError(f"{where}.language: {language!r} is not in languages")
        return Target(node=goto, branch=branch, language=language)

    def prompt(self, raw: Any, where: str) -> Prompt:
        spec = _mapping(raw, where)
        prompt = {}
        for code in self.languages:
            if code not in spec:
                raise TreeError(f"{where}: no text for language {code!r}")
            items = spec[code] if isinstance(spec[code], list) else [spec[code]]
            lines = []
            for i, item in enumerate(items):
                line_where = f"{where}.{code}[{i}]"
                if isinstance(item, str):
                    item = {"say": item}
                item = _mapping(item, line_where)
                text = _str(item.get("say"), f"{line_where}.say")
                language = item.get("language", code)
                if language not in self.languages:
                    raise TreeError(f"{line_where}.language: {language!r} is not in languages")
                lines.append(Line(text=text, language=language))
            if not lines:
                raise TreeError(f"{where}.{code}: empty prompt")
            prompt[code] = tuple(lines)
        unknown = set(spec) - set(self.languages)
        if unknown:
            raise TreeError(f"{where}: {sorted(unknown)[0]!r} is not in languages")
        return prompt


def _twiml_value(value: Any, where: str, element: str, attribute: str) -> str:
    """`value` as text that Twilio's TwiML definitions allow for `<element attribute>`.

    Twilio doesn't refuse a wrong value when the call runs: it logs a warning and, for a
    `<Gather language>`, the gather fails and the caller's speech is lost. So refuse it here.
    """
    text = _str(value, where)
    problem = twiml_contract.check_value(element, attribute, text)
    if problem:
        raise TreeError(f"{where}: {problem}")
    return text


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    return require_mapping(value, where, TreeError)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TreeError(f"{where}: must be non-empty text")
    return value.strip()
