"""The category vocabulary: what a call or a case is about, one list for the whole hotline.

The categories are the `categories` section of the classifier file (config/classifier.yaml):
each has a stable id (stored on cases, a route of the routing table for an emergency), a kind
(emergency or service) and its names (zh, en) as callers and staff see them. `CATEGORIES` is
that list, read once when this module is imported; the classifier (ivr/classifier.py) parses
the same section with `parse_categories` and adds its phrases. Policies about categories stay
with their owners: which are complaints (cases.deadlines), which unit takes each (cases.units).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from config.files import ConfigFileError, load_config_file
from config.settings import CONFIG_DIR

#: The classifier file that holds the hotline's categories.
FILE: Final = CONFIG_DIR / "classifier.yaml"
#: What nobody understood (and the service request that fits no other category): always there.
FALLBACK = "other"


class Kind(enum.StrEnum):
    EMERGENCY = "emergency"
    SERVICE = "service"


class CategoriesError(ConfigFileError):
    """The categories are invalid; the message names the entry."""


@dataclasses.dataclass(frozen=True)
class Category:
    code: str
    kind: Kind
    #: Display names by language ("zh", "en").
    names: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Categories(Mapping[str, Category]):
    """Categories by id, in the file's order (emergencies first in the hotline's file)."""

    by_code: Mapping[str, Category]

    def __getitem__(self, code: str) -> Category:
        return self.by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_code)

    def __len__(self) -> int:
        return len(self.by_code)

    @functools.cached_property
    def emergency(self) -> tuple[str, ...]:
        """The emergency categories' ids (each is a route of the routing table)."""
        return tuple(c.code for c in self.by_code.values() if c.kind is Kind.EMERGENCY)

    @functools.cached_property
    def service(self) -> tuple[str, ...]:
        """The service categories' ids (the services Open311 offers)."""
        return tuple(c.code for c in self.by_code.values() if c.kind is Kind.SERVICE)

    def name(self, code: str, language: str) -> str:
        """The category's display name in `language` (its id if it has none)."""
        category = self.by_code.get(code)
        return category.names.get(language, code) if category is not None else code


def parse_categories(raw: Any, error: type[ConfigFileError] = CategoriesError) -> Categories:
    """The `categories` section of a classifier document (what YAML gives), validated.

    Errors are raised as `error` (the classifier raises its own), naming the entry.
    """
    section = raw.get("categories") if isinstance(raw, Mapping) else None
    if not isinstance(section, Mapping) or not section:
        raise error("categories: must be a non-empty mapping")
    by_code: dict[str, Category] = {}
    for cid, spec in section.items():
        if not isinstance(spec, Mapping) or spec.get("kind") not in {k.value for k in Kind}:
            raise error(f"categories.{cid}.kind: must be 'emergency' or 'service'")
        names = {str(k): str(v) for k, v in (spec.get("name") or {}).items()}
        by_code[str(cid)] = Category(code=str(cid), kind=Kind(spec["kind"]), names=names)
    if FALLBACK not in by_code:
        raise error(f"categories: the fallback category {FALLBACK!r} is required")
    return Categories(by_code)


def load_categories(path: Path) -> Categories:
    """The categories of the classifier file at `path`."""
    return load_config_file(path, parse_categories, CategoriesError)


#: The hotline's categories. Their ids are stable: cases store them, the roster routes them.
CATEGORIES: Final = load_categories(FILE)


def name(code: str, language: str) -> str:
    """A category's display name in `language` (its id if it has none: `desk`, say)."""
    return CATEGORIES.name(code, language)
