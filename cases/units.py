"""The units that receive cases (departments, townships, teams, market service providers).

Read from `config/units.yaml` (the format is documented there) and validated whole: the first
problem raises `UnitsError` naming the entry and field, e.g.
"units[3] (water_supply 自来水公司): duty_contact: not a valid phone number: '12345'".

Each unit has a PIN for the phone report-back line (反馈). The file may give it plain (`pin`,
fine for the demo) or already hashed (`pin_hash`, see `hash_pin` and `hotline cases pin-hash`);
either way only a salted PBKDF2-SHA256 hash is kept once the file is loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from flask import Flask

from config.files import (
    ConfigFileError,
    load_config_file,
    reject_unknown_fields,
    require_mapping,
    require_phone,
    require_text,
)
from config.settings import CONFIG_DIR, Settings
from core.categories import CATEGORIES
from core.phone import to_e164

UnitKind = Literal["department", "township", "team", "provider"]

#: PBKDF2-SHA256 rounds for a new PIN hash (a hash records its own rounds when checked). A PIN
#: of 4 to 8 digits cannot withstand an offline search whatever the rounds; the hash keeps plain
#: PINs out of memory, dumps and logs, while loading ~15 units stays near a second.
PIN_ITERATIONS = 100_000
_PIN = re.compile(r"^[0-9]{4,8}$")
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_HASH_SCHEME = "pbkdf2_sha256"
_UNIT_FIELDS: tuple[str, ...] = ("code", "name", "kind", "categories", "duty_contact")
_UNIT_FIELDS += ("supervisor", "pin", "pin_hash")
_SECTIONS = ("default_unit", "units")


class UnitsError(ConfigFileError):
    """The units file is invalid; the message names the entry and field."""


@dataclass(frozen=True)
class PinHash:
    """A salted PBKDF2-SHA256 hash of a PIN; `str()` gives the form `pin_hash` accepts."""

    iterations: int
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)

    def check(self, pin: str) -> bool:
        """Whether `pin` is the PIN (constant time in the digest comparison)."""
        if not isinstance(pin, str) or not _PIN.match(pin):
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), self.salt, self.iterations)
        return hmac.compare_digest(candidate, self.digest)

    def __str__(self) -> str:
        return f"{_HASH_SCHEME}${self.iterations}${self.salt.hex()}${self.digest.hex()}"

    @classmethod
    def parse(cls, text: str) -> PinHash:
        """Read `pbkdf2_sha256$<iterations>$<salt hex>$<digest hex>`; ValueError if malformed."""
        parts = text.strip().split("$")
        if len(parts) != 4 or parts[0] != _HASH_SCHEME:
            raise ValueError(f"expected '{_HASH_SCHEME}$<iterations>$<salt hex>$<digest hex>'")
        try:
            iterations = int(parts[1])
            salt, digest = bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
        except ValueError:
            raise ValueError("iterations must be a number, salt and digest hexadecimal") from None
        if iterations < 1 or len(salt) < 8 or len(digest) != 32:
            raise ValueError("needs iterations ≥ 1, a salt of 8+ bytes and a 32-byte digest")
        return cls(iterations, salt, digest)


def hash_pin(pin: str, *, iterations: int = PIN_ITERATIONS) -> PinHash:
    """A new salted hash of `pin` (4 to 8 digits); ValueError for anything else."""
    if not isinstance(pin, str) or not _PIN.match(pin):
        raise ValueError("a PIN is 4 to 8 digits")
    salt = secrets.token_bytes(16)
    return PinHash(iterations, salt, hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations))


@dataclass(frozen=True)
class Unit:
    """A unit that receives cases and reports back on them."""

    code: str
    name_zh: str
    name_en: str
    kind: UnitKind
    #: Classifier category ids this unit handles (file order).
    categories: tuple[str, ...]
    #: E.164: whoever is on duty at the unit, 24 h.
    duty_contact: str
    #: E.164: whom overdue cases are escalated to.
    supervisor: str
    pin_hash: PinHash = field(repr=False)

    def check_pin(self, pin: str) -> bool:
        """Whether `pin` is this unit's report-back PIN."""
        return self.pin_hash.check(pin)


@dataclass(frozen=True)
class Units:
    """Every unit by code (file order) and the one that takes what no unit lists."""

    units: Mapping[str, Unit]
    default_unit: str

    @property
    def default(self) -> Unit:
        return self.units[self.default_unit]

    def get(self, code: str) -> Unit | None:
        return self.units.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def __getitem__(self, code: str) -> Unit:
        return self.units[code]

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units.values())

    def __len__(self) -> int:
        return len(self.units)


def unit_for(units: Units, category: str) -> Unit:
    """The first unit (in file order) listing `category`, else the default unit."""
    for unit in units.units.values():
        if category in unit.categories:
            return unit
    return units.default


def load_units(path: Path, region: str, *, iterations: int = PIN_ITERATIONS) -> Units:
    """Read and validate the units file; national phone numbers are read for `region`."""
    return load_config_file(
        path, lambda raw: parse_units(raw, region, iterations=iterations), UnitsError
    )


def parse_units(raw: Any, region: str, *, iterations: int = PIN_ITERATIONS) -> Units:
    """Validate units given as plain data (what YAML gives)."""
    doc = require_mapping(raw, "units file", UnitsError)
    _known_fields(doc, _SECTIONS, "units file")
    entries = doc.get("units")
    if entries is None:
        raise UnitsError("units: missing")
    if not isinstance(entries, list):
        raise UnitsError(f"units: must be a list of units, got {type(entries).__name__}")
    units: dict[str, Unit] = {}
    labels: dict[str, str] = {}
    for i, entry in enumerate(entries):
        unit = _unit(entry, i, region, iterations, labels)
        units[unit.code] = unit
    if not units:
        raise UnitsError("units: at least one unit is required")
    default = doc.get("default_unit")
    if default is None:
        raise UnitsError("default_unit: missing (the code of the unit that takes the rest)")
    default = _text(default, "default_unit")
    if default not in units:
        raise UnitsError(f"default_unit: unknown unit {default!r}")
    return Units(units=MappingProxyType(units), default_unit=default)


def _unit(entry: Any, i: int, region: str, iterations: int, labels: dict[str, str]) -> Unit:
    spec = require_mapping(entry, f"units[{i}]", UnitsError)
    code = _text(spec.get("code"), f"units[{i}]: code")
    if not _CODE.match(code):
        raise UnitsError(f"units[{i}]: code: 1 to 32 letters, digits, '_', '.' or '-': {code!r}")
    if code in labels:
        raise UnitsError(f"units[{i}] ({code}): code: duplicate of {labels[code]}")
    name = require_mapping(spec.get("name"), f"units[{i}] ({code}): name", UnitsError)
    _known_fields(name, ("zh", "en"), f"units[{i}] ({code}): name")
    name_zh = _text(name.get("zh"), f"units[{i}] ({code}): name.zh")
    label = f"units[{i}] ({code} {name_zh})"
    labels[code] = label
    name_en = _text(name["en"], f"{label}: name.en") if "en" in name else name_zh
    _known_fields(spec, _UNIT_FIELDS, label)
    kind = _kind(spec.get("kind"), f"{label}: kind")
    return Unit(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        categories=_categories(spec.get("categories", []), f"{label}: categories"),
        duty_contact=_phone(spec.get("duty_contact"), region, f"{label}: duty_contact"),
        supervisor=_phone(spec.get("supervisor"), region, f"{label}: supervisor"),
        pin_hash=_pin(spec, iterations, label),
    )


def _kind(value: Any, where: str) -> UnitKind:
    for kind in get_args(UnitKind):
        if value == kind:
            result: UnitKind = kind
            return result
    raise UnitsError(f"{where}: must be one of {', '.join(get_args(UnitKind))}, got {value!r}")


def _categories(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise UnitsError(f"{where}: must be a list of category ids")
    seen: list[str] = []
    for j, item in enumerate(value):
        category = _text(item, f"{where}[{j}]")
        if category not in CATEGORIES:
            raise UnitsError(
                f"{where}[{j}]: unknown category {category!r} (known: {', '.join(CATEGORIES)})"
            )
        if category in seen:
            raise UnitsError(f"{where}[{j}]: {category!r} is listed twice")
        seen.append(category)
    return tuple(seen)


def _phone(value: Any, region: str, where: str) -> str:
    return require_phone(value, where, UnitsError, lambda text: to_e164(text, region))


def _pin(spec: Mapping[str, Any], iterations: int, label: str) -> PinHash:
    if ("pin" in spec) == ("pin_hash" in spec):
        raise UnitsError(f"{label}: pin: give exactly one of pin (4 to 8 digits) or pin_hash")
    if "pin_hash" in spec:
        text = _text(spec["pin_hash"], f"{label}: pin_hash")
        try:
            return PinHash.parse(text)
        except ValueError as exc:
            raise UnitsError(f"{label}: pin_hash: {exc}") from None
    pin = spec["pin"]
    if not isinstance(pin, str):
        # Never echo the value: it is a secret. Unquoted, YAML turns 0123 into 83.
        raise UnitsError(f'{label}: pin: must be quoted text of 4 to 8 digits, e.g. pin: "0417"')
    if not _PIN.match(pin):
        raise UnitsError(f"{label}: pin: must be 4 to 8 digits")
    return hash_pin(pin, iterations=iterations)


def _text(value: Any, where: str) -> str:
    return require_text(value, where, UnitsError)


def _known_fields(spec: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    reject_unknown_fields(spec, known, where, UnitsError)


# ------------------------------------------------------------------------------ one per app

_lock = threading.Lock()
_loaded: dict[tuple[str, int, int, str], Units] = {}


def units_file(app: Flask) -> Path:
    """Where the app's units are: the UNITS_FILE setting when there is one, else the demo file."""
    return _units_path(app.extensions["hotline.settings"])


def _units_path(settings: Settings) -> Path:
    configured = getattr(settings, "units_file", None)
    return Path(configured) if configured else CONFIG_DIR / "units.yaml"


def units_for_app(app: Flask) -> Units:
    """The app's units, loaded (and validated) on first use, then kept for the app's life."""
    cached: Units | None = app.extensions.get("hotline.units")
    if cached is not None:
        return cached
    units = units_for_settings(app.extensions["hotline.settings"])
    app.extensions["hotline.units"] = units
    return units


def units_for_settings(settings: Settings) -> Units:
    """The units of UNITS_FILE, loaded once per process while the file is unchanged.

    Loading hashes every plain PIN, which is deliberately slow; a process that builds several
    apps on the same unchanged file (tests), or a job worker, loads it once.
    """
    path = _units_path(settings).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise UnitsError(f"{path}: cannot read ({exc})") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size, settings.default_region)
    with _lock:
        units = _loaded.get(key)
        if units is None:
            units = _loaded[key] = load_units(path, settings.default_region)
    return units
