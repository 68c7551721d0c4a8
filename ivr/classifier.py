"""What did the caller say? A rule-based classifier biased toward safety.

Rules and phrases live in `config/classifier.yaml`, beside the categories they choose from (the
hotline's one list of categories, core.categories). The decision is deliberately asymmetric: a
single emergency phrase that is not negated makes the call an emergency, whatever else was said
(a missed emergency can cost a life; a false one costs a minute of an officer's time).
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.files import ConfigFileError, load_config_file
from core.categories import FALLBACK, Categories, Kind, parse_categories

_SEPARATOR = " | "
_LATIN = re.compile(r"[a-z]")


class RulesError(ConfigFileError):
    """The classifier rules file is invalid; the message names the section and entry."""


@dataclasses.dataclass(frozen=True)
class Classification:
    """The classifier's verdict on one utterance."""

    kind: Kind
    category: str
    confidence: float
    #: True when a rule matched; False means nothing was understood (category `other`).
    recognised: bool
    #: The caller asked for a person ("人工", "operator").
    wants_operator: bool = False
    matched: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Phrase:
    text: str
    pattern: re.Pattern[str]
    category: str
    weight: float
    #: Weak evidence ("help", "smoke", "受伤") stops counting when the caller is calm: says it
    #: is not an emergency, or speaks of the past, a routine or an application.
    weak: bool
    #: Generic cries ("救命", "help") are weak, and make an emergency without choosing its kind.
    generic: bool
    #: A claiming phrase is matched first and removed, so the emergency words inside it
    #: ("burning trash" → environment, not fire) are not counted again.
    claims: bool
    #: The phrase's longest word, which any text it matches contains: a text without it is
    #: passed over with a substring test instead of a regular expression (1,300 phrases).
    needle: str = ""


@dataclasses.dataclass(frozen=True)
class Rules:
    """Compiled classifier rules."""

    #: The categories of the rules file (the hotline's file: core.categories.CATEGORIES).
    categories: Categories
    phrases: tuple[_Phrase, ...]
    masks: tuple[re.Pattern[str], ...]
    negations: tuple[re.Pattern[str], ...]
    calm: tuple[re.Pattern[str], ...]
    prefix_negation: re.Pattern[str]
    operator: tuple[re.Pattern[str], ...]
    default_emergency: str

    def name(self, category: str, language: str) -> str:
        """The category's display name in `language` (its id if it has none)."""
        return self.categories.name(category, language)


def classify(text: str, rules: Rules) -> Classification:
    """Classify one utterance (Mandarin or English, often colloquial)."""
    clean = normalise(text)
    for mask in rules.masks:
        clean = mask.sub(_SEPARATOR, clean)
    calm = False
    for negation in rules.negations:
        clean, count = negation.subn(_SEPARATOR, clean)
        calm = calm or count > 0
    calm = calm or any(p.search(clean) for p in rules.calm)
    wants_operator = any(p.search(clean) for p in rules.operator)

    scores: dict[str, float] = {}
    generic: dict[str, float] = {}
    matched: list[str] = []
    for phrase in rules.phrases:  # claiming phrases first (sorted at load)
        if (phrase.weak and calm) or phrase.needle not in clean:
            continue
        if not any(
            not _negated_before(clean, m.start(), rules) for m in phrase.pattern.finditer(clean)
        ):
            continue
        # Generic cries ("救命", "help") make an emergency but don't pick its category.
        bucket = generic if phrase.generic else scores
        bucket[phrase.category] = bucket.get(phrase.category, 0.0) + phrase.weight
        matched.append(phrase.text)
        if phrase.claims:
            clean = phrase.pattern.sub(_SEPARATOR, clean)

    emergency = {c: s for c, s in scores.items() if rules.categories[c].kind is Kind.EMERGENCY}
    service = {c: s for c, s in scores.items() if rules.categories[c].kind is Kind.SERVICE}
    if not emergency and generic and not service:
        # A bare cry for help ("救命!") is an emergency; "can you help me with my pension" is not.
        emergency = {rules.default_emergency: sum(generic.values())}
    if emergency:
        category = max(emergency, key=lambda c: (emergency[c], c == rules.default_emergency))
        top, rest = emergency[category], sum(emergency.values()) - emergency[category]
        return Classification(
            kind=Kind.EMERGENCY,
            category=category,
            confidence=_confidence(top, rest + sum(service.values())),
            recognised=True,
            wants_operator=wants_operator,
            matched=tuple(matched),
        )
    if service:
        category = max(service, key=lambda c: service[c])
        top, rest = service[category], sum(service.values()) - service[category]
        return Classification(
            kind=Kind.SERVICE,
            category=category,
            confidence=_confidence(top, rest),
            recognised=True,
            wants_operator=wants_operator,
            matched=tuple(matched),
        )
    return Classification(
        kind=Kind.SERVICE,
        category=FALLBACK,
        confidence=0.0,
        recognised=False,
        wants_operator=wants_operator,
    )


def normalise(text: str) -> str:
    """Lower-case, half-width, punctuation to spaces, one space between words."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    text = "".join(
        " " if unicodedata.category(ch)[0] in "PSZC" and ch not in "'-" else ch for ch in text
    )
    return " ".join(text.split())


def _confidence(top: float, others: float) -> float:
    """More evidence raises confidence; evidence for other categories lowers it."""
    strength = 1.0 - math.pow(0.5, top + 1)
    return round(strength * top / (top + others), 2)


def _negated_before(text: str, start: int, rules: Rules) -> bool:
    """Does a negation word ("没有", "no") stand just before position `start`?"""
    window = text[max(0, start - 24) : start]
    return rules.prefix_negation.search(window) is not None


def load_rules(path: Path) -> Rules:
    """Read and compile the rules file at `path`."""
    return load_config_file(path, parse_rules, RulesError)


def parse_rules(raw: Any) -> Rules:
    """Compile rules given as plain data (what YAML gives)."""
    if not isinstance(raw, Mapping):
        raise RulesError("rules: must be a mapping")
    categories = parse_categories(raw, RulesError)
    default_emergency = str(raw.get("default_emergency", ""))
    if default_emergency not in categories.emergency:
        raise RulesError("default_emergency: must name an emergency category")

    phrases: list[_Phrase] = []
    for i, rule in enumerate(raw.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(rule, Mapping):
            raise RulesError(f"{where}: must be a mapping")
        category = rule.get("category")
        if category not in categories:
            raise RulesError(f"{where}.category: unknown category {category!r}")
        weight = rule.get("weight", 1.0)
        if not isinstance(weight, int | float) or not 0 < weight <= 5:
            raise RulesError(f"{where}.weight: must be a number above 0, at most 5")
        for text in _phrase_list(rule.get("phrases"), f"{where}.phrases"):
            phrases.append(
                _Phrase(
                    text=text,
                    pattern=_pattern(text, inflect=True),
                    category=str(category),
                    weight=float(weight),
                    weak=bool(rule.get("weak", False) or rule.get("generic", False)),
                    generic=bool(rule.get("generic", False)),
                    claims=bool(rule.get("claims", False)),
                    needle=max(text.split(), key=len),
                )
            )
    if not phrases:
        raise RulesError("rules: at least one rule is required")

    negation = raw.get("negation") or {}
    prefixes = _phrase_list(negation.get("prefixes"), "negation.prefixes")
    return Rules(
        categories=categories,
        phrases=tuple(sorted(phrases, key=lambda p: not p.claims)),
        masks=tuple(_pattern(t) for t in _phrase_list(raw.get("masks"), "masks")),
        negations=tuple(
            _pattern(t) for t in _phrase_list(negation.get("phrases"), "negation.phrases")
        ),
        prefix_negation=_prefix_pattern(prefixes),
        calm=tuple(_pattern(t) for t in _phrase_list(raw.get("calm"), "calm")),
        operator=tuple(_pattern(t) for t in _phrase_list(raw.get("operator"), "operator")),
        default_emergency=default_emergency,
    )


def _phrase_list(value: Any, where: str) -> list[str]:
    """Phrases given as a list, or as lists per language ({zh: [...], en: [...]})."""
    if value is None:
        return []
    items = [p for v in value.values() for p in v] if isinstance(value, Mapping) else value
    if not isinstance(items, list):
        raise RulesError(f"{where}: must be a list of phrases")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            # YAML reads a bare 120 as a number and a bare no as false: quote them.
            raise RulesError(f"{where}: {item!r} is not a phrase (quote it in the YAML)")
    return [normalise(p) for p in items]


def _pattern(phrase: str, *, inflect: bool = False) -> re.Pattern[str]:
    """Chinese phrases match anywhere; Latin ones as whole words (plural/-ing/-ed allowed)."""
    body = re.escape(phrase).replace(r"\ ", r"\s+")
    if not _LATIN.search(phrase):
        return re.compile(body)
    suffix = r"(?:s|es|ed|d|ing)?" if inflect else ""
    return re.compile(rf"(?<![a-z0-9]){body}{suffix}(?![a-z0-9])")


def _prefix_pattern(prefixes: list[str]) -> re.Pattern[str]:
    """Matches a negation word at most one word (or one character) before a phrase.

    Deliberately short: "nobody is hurt" and "没有人受伤" are negated, but in "no idea, there's
    smoke" or "不是我家着火" the emergency still counts.
    """
    if not prefixes:
        return re.compile(r"(?!x)x")
    latin = [re.escape(p) for p in prefixes if _LATIN.search(p)]
    han = [re.escape(p) for p in prefixes if not _LATIN.search(p)]
    alternatives = []
    if latin:
        alternatives.append(rf"(?<![a-z])(?:{'|'.join(latin)})(?:\s+[a-z']+)?\s+$")
    if han:
        alternatives.append(rf"(?:{'|'.join(han)})[^\s|]?$")
    return re.compile("|".join(alternatives))
