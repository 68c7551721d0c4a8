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


def require_list(value: Any, where: str, error: type[ConfigFileError]) -> list[Any]:
    """`value` as a list, or `error` naming `where` (missing, or the wrong type)."""
    if value is None:
        raise error(f"{where}: missing")
    if not isinstance(value, list):
        raise error(f"{where}: must be a list, got {type(value).__name__}")
    return value


def require_text(value: Any, where: str, error: type[ConfigFileError]) -> str:
    """`value` as stripped non-empty text; a number is read as its text, a boolean is refused.

    YAML reads an unquoted `yes`/`no`/`on`/`off` as a boolean: the message says to quote it.
    """
    if value is None:
        raise error(f"{where}: missing")
    if isinstance(value, bool):
        raise error(f"{where}: YAML read {value!r} as true/false; quote it")
    if not isinstance(value, str | int | float) or not str(value).strip():
        raise error(f"{where}: must be non-empty text")
    return str(value).strip()


def require_string(value: Any, where: str, error: type[ConfigFileError]) -> str:
    """`value` as stripped non-empty text, which must be a YAML string (not a number)."""
    if value is None:
        raise error(f"{where}: missing")
    if not isinstance(value, str):
        hint = (
            " (quote it: YAML reads yes/no/on/off as booleans)" if isinstance(value, bool) else ""
        )
        raise error(f"{where}: must be text, got {value!r}{hint}")
    if not value.strip():
        raise error(f"{where}: must not be empty")
    return value.strip()


def require_phone(
    value: Any, where: str, error: type[ConfigFileError], normalise: Callable[[str], str]
) -> str:
    """`value` as a phone number normalised by `normalise` (e.g. to E.164 with core.phone).

    An unquoted number (YAML made it an int) is read as its digits. `normalise` raises
    ValueError for a number it refuses; its message follows `where`.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an unquoted number: YAML made it an int
    text = require_text(value, where, error)
    try:
        return normalise(text)
    except ValueError as exc:
        raise error(f"{where}: {exc}") from None


def reject_unknown_fields(
    spec: Mapping[Any, Any], known: tuple[str, ...], where: str, error: type[ConfigFileError]
) -> None:
    """`error` naming `where` and the first key of `spec` not in `known`.

    A misspelt field ("availble: false") must not be silently ignored.
    """
    for key in spec:
        if key not in known:
            raise error(f"{where}: unknown field {key!r} (known: {', '.join(known)})")
