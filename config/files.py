"""Configuration files an operator edits (YAML), read with errors that name file and field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigFileError(ValueError):
    """A configuration file is invalid; the message names the file, the entry and the field."""


def load_config_file(path: Path, parse: Callable[[Any], T], error: type[ConfigFileError]) -> T:
    """Read the YAML file at `path` and validate it with `parse`, prefixing errors with the path."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse(raw)
    except ConfigFileError as exc:
        raise error(f"{path}: {exc}") from None


def require_mapping(value: Any, where: str, error: type[ConfigFileError]) -> Mapping[str, Any]:
    """`value` as a mapping, or `error` naming `where` (missing, or the wrong type)."""
    if value is None:
        raise error(f"{where}: missing")
    if not isinstance(value, Mapping):
        raise error(f"{where}: must be a mapping, got {type(value).__name__}")
    return value
