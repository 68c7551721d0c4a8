"""Typed, frozen settings built from the environment (12-factor).

Every value has a default that lets a fresh checkout run the demo on SQLite. Invalid values fail
at start-up with a `SettingsError` that names the variable; secrets never appear in messages.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: Development credentials. They work only outside production and say so in their value.
DEV_AUTH_TOKEN = "dev-auth-token-NOT-FOR-PRODUCTION"  # noqa: S105
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_SECRET_KEY = "dev-secret-key-NOT-FOR-PRODUCTION"  # noqa: S105
#: Fictional Shaowu (0599) numbers of the demo configuration; production refuses them.
DEMO_HOTLINE_NUMBER = "+865996110110"
DEMO_FALLBACK_NUMBER = "+865996110119"
DEMO_SERVICE_DESK_NUMBER = "+865996112345"
CONFIG_DIR = Path(__file__).resolve().parent

_ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
_BYOC_SID_RE = re.compile(r"^BY[0-9a-fA-F]{32}$")
_MESSAGING_SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: A SIP URI Twilio's <Sip> noun can dial: sip:user@host, optionally ;transport=… parameters.
_SIP_URI_RE = re.compile(
    r"^sips?:[A-Za-z0-9._~+%!$&'()*,;=:-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[A-Za-z0-9=._-]+)*$"
)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class CallerIdPolicy(enum.StrEnum):
    """Which number an officer's phone shows when the hotline rings it."""

    #: The hotline's own number (always allowed: it belongs to the account).
    HOTLINE = "hotline"
    #: The caller's own number, where the carrier allows presenting it (officers can call back).
    CALLER = "caller"


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service needs to know about its deployment."""

    env: Environment = Environment.DEVELOPMENT
    database_url: str = ""
    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: str = dataclasses.field(default=DEV_AUTH_TOKEN, repr=False)
    hotline_number: str = DEMO_HOTLINE_NUMBER
    public_base_url: str = "http://127.0.0.1:5000"
    default_region: str = "CN"
    timezone: str = "Asia/Shanghai"
    redis_url: str | None = None
    recordings_dir: Path = Path("instance/recordings")
    #: Durable local spool: what happened while the database was unreachable, replayed later;
    #: also holds the last known duty roster.
    spool_dir: Path = Path("instance/spool")
    #: Record bridged emergency calls (both sides, from answer).
    record_bridged_calls: bool = False
    #: Delete Twilio's copy of a recording once ours is stored and verified.
    delete_recordings_at_twilio: bool = False
    #: How long a webhook waits for the database before taking the path that works without it.
    db_timeout_s: int = 3
    #: How long a worker holds a job before another may take it over (a crashed worker's jobs
    #: run again after this).
    job_lease_s: int = 300
    twilio_api_base_url: str | None = None
    secret_key: str = dataclasses.field(default=DEV_SECRET_KEY, repr=False)
    #: Bearer token for staff tools reading /api/v1 (recordings); unset: no staff API access.
    staff_api_token: str | None = dataclasses.field(default=None, repr=False)
    #: Where a caller is put through when the hotline itself fails, and the emergency line's
    #: last resort (E.164).
    fallback_number: str | None = DEMO_FALLBACK_NUMBER
    #: The service center's desk: callers asking for a person, and callers the IVR can't place.
    service_desk_number: str = DEMO_SERVICE_DESK_NUMBER
    #: The last resort answers without a key press (an automated dispatch system), so its leg
    #: is not screened. Only for a number that never goes to voicemail.
    fallback_unscreened: bool = False
    #: A BYOC trunk (your own carrier's SIP trunk at Twilio) for every officer leg and survey
    #: call: where Twilio's PSTN does not reach (Mainland China), calls go out through it.
    twilio_byoc_trunk_sid: str | None = None
    #: The browser softphone on the desk page (Twilio's Voice JS SDK): an API key of the
    #: account (SK…) and its secret sign the access tokens; the TwiML App (AP…) is the grant's
    #: outgoing application. Unset: the desk uses phones only.
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: str | None = None
    twilio_twiml_app_sid: str | None = None
    #: The caller ID officers' phones show: the hotline's number, or the caller's own.
    caller_id_policy: CallerIdPolicy = CallerIdPolicy.HOTLINE
    #: Text messages go out through this Messaging Service (preferred), else from `sms_from`.
    twilio_messaging_service_sid: str | None = None
    #: The sender of text messages when no Messaging Service is set: a number hosted in the
    #: Twilio account (unset: the hotline number).
    sms_from: str | None = None
    #: The IVR tree and the speech classifier's rules (YAML files an operator edits).
    ivr_file: Path = CONFIG_DIR / "ivr.yaml"
    classifier_file: Path = CONFIG_DIR / "classifier.yaml"
    #: The units cases are dispatched to, by category (YAML).
    units_file: Path = CONFIG_DIR / "units.yaml"
    #: The callback survey: questions, delay, calling hours, attempts, pace (YAML).
    survey_file: Path = CONFIG_DIR / "survey.yaml"
    #: How many reverse proxies in front of the app set X-Forwarded-* (0: trust none).
    proxy_hops: int = 0
    #: Rate limits (limits' notation: "N per minute", several joined by ";"). Open311 filings
    #: per API key and per client address, API writes per user, console logins per address.
    rate_limit_open311_key: str = "30 per minute;300 per hour"
    rate_limit_open311_address: str = "60 per minute;600 per hour"
    rate_limit_api_writes: str = "120 per minute"
    rate_limit_login: str = "10 per minute;60 per hour"
    #: Where the limits count: "memory://" (one process; the embedded default) or a Redis URL
    #: (unset: REDIS_URL if set, else memory).
    rate_limit_storage: str | None = None
    #: Texts the hotline sends to one number in 24 hours at most (no client can make it spam).
    sms_daily_limit_per_number: int = 10
    #: The call-taker queue (desk.): a caller who asks for a person waits in it while a
    #: call-taker is signed in; past this many seconds they are offered a call-back instead.
    desk_callback_offer_s: int = 60
    #: Seconds of wrap-up after each call before a call-taker is offered the next one.
    desk_wrap_up_s: int = 30
    #: How long a call-taker's phone rings before they are set unavailable and the next is tried.
    desk_ring_s: int = 15
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", default_database_url())
        _validate(self)

    @property
    def tz(self) -> ZoneInfo:
        """The hotline's timezone, for shifts, calling hours and displays."""
        return ZoneInfo(self.timezone)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def public_url(self, path: str) -> str:
        """Absolute URL Twilio uses for `path` (signatures and callback URLs)."""
        return self.public_base_url.rstrip("/") + "/" + path.lstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (unset or empty means the default)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = _ENV_NAMES[field.name]
            raw = get(name)
            if raw is None:
                continue
            if field.name == "env":
                try:
                    values["env"] = Environment(raw.lower())
                except ValueError:
                    allowed = ", ".join(e.value for e in Environment)
                    raise SettingsError(f"{name}: must be one of {allowed}, got {raw!r}") from None
            elif field.name in _INT_RANGES:
                low, high = _INT_RANGES[field.name]
                if not raw.isdigit() or not low <= int(raw) <= high:
                    raise SettingsError(
                        f"{name}: must be a whole number from {low} to {high}, got {raw!r}"
                    )
                values[field.name] = int(raw)
            elif field.name == "caller_id_policy":
                try:
                    values[field.name] = CallerIdPolicy(raw.lower())
                except ValueError:
                    allowed = ", ".join(p.value for p in CallerIdPolicy)
                    raise SettingsError(f"{name}: must be one of {allowed}, got {raw!r}") from None
            elif field.type in {"Path", Path}:
                values[field.name] = Path(raw)
            elif field.type in {"bool", bool}:
                if raw.lower() not in _BOOLEANS:
                    raise SettingsError(f"{name}: must be true or false, got {raw!r}")
                values[field.name] = _BOOLEANS[raw.lower()]
            else:
                values[field.name] = raw
        return cls(**values)


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
#: Whole-number settings and their allowed range.
_INT_RANGES = {
    "proxy_hops": (0, 5),
    "db_timeout_s": (1, 10),
    "job_lease_s": (1, 86400),
    "sms_daily_limit_per_number": (1, 1000),
    "desk_callback_offer_s": (10, 3600),
    "desk_wrap_up_s": (0, 600),
    "desk_ring_s": (5, 60),
}

_ENV_NAMES = {
    "env": "HOTLINE_ENV",
    "database_url": "DATABASE_URL",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "hotline_number": "HOTLINE_NUMBER",
    "public_base_url": "PUBLIC_BASE_URL",
    "default_region": "DEFAULT_REGION",
    "timezone": "TIMEZONE",
    "redis_url": "REDIS_URL",
    "recordings_dir": "RECORDINGS_DIR",
    "spool_dir": "SPOOL_DIR",
    "record_bridged_calls": "RECORD_BRIDGED_CALLS",
    "delete_recordings_at_twilio": "DELETE_RECORDINGS_AT_TWILIO",
    "db_timeout_s": "DB_TIMEOUT_S",
    "job_lease_s": "JOB_LEASE_S",
    "twilio_api_base_url": "TWILIO_API_BASE_URL",
    "secret_key": "SECRET_KEY",
    "staff_api_token": "STAFF_API_TOKEN",
    "fallback_number": "FALLBACK_NUMBER",
    "service_desk_number": "SERVICE_DESK_NUMBER",
    "fallback_unscreened": "FALLBACK_UNSCREENED",
    "twilio_byoc_trunk_sid": "TWILIO_BYOC_TRUNK_SID",
    "twilio_api_key_sid": "TWILIO_API_KEY_SID",
    "twilio_api_key_secret": "TWILIO_API_KEY_SECRET",
    "twilio_twiml_app_sid": "TWILIO_TWIML_APP_SID",
    "caller_id_policy": "CALLER_ID_POLICY",
    "twilio_messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
    "sms_from": "SMS_FROM",
    "ivr_file": "IVR_FILE",
    "classifier_file": "CLASSIFIER_FILE",
    "units_file": "UNITS_FILE",
    "survey_file": "SURVEY_FILE",
    "proxy_hops": "PROXY_HOPS",
    "rate_limit_open311_key": "RATE_LIMIT_OPEN311_KEY",
    "rate_limit_open311_address": "RATE_LIMIT_OPEN311_ADDRESS",
    "rate_limit_api_writes": "RATE_LIMIT_API_WRITES",
    "rate_limit_login": "RATE_LIMIT_LOGIN",
    "rate_limit_storage": "RATE_LIMIT_STORAGE",
    "sms_daily_limit_per_number": "SMS_DAILY_LIMIT_PER_NUMBER",
    "desk_callback_offer_s": "DESK_CALLBACK_OFFER_S",
    "desk_wrap_up_s": "DESK_WRAP_UP_S",
    "desk_ring_s": "DESK_RING_S",
    "log_level": "LOG_LEVEL",
}


def env_name(field_name: str) -> str:
    """The environment variable that sets `field_name`."""
    return _ENV_NAMES[field_name]


def default_database_url() -> str:
    """A SQLite file under ./instance, the embedded default."""
    return f"sqlite:///{Path('instance').resolve() / 'hotline.db'}"


def _validate(s: Settings) -> None:
    def fail(field: str, message: str) -> SettingsError:
        return SettingsError(f"{env_name(field)}: {message}")

    try:
        url = make_url(s.database_url)
    except ArgumentError:
        raise fail("database_url", "not a database URL (sqlite:///… or postgresql://…)") from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise fail("database_url", f"unsupported database {url.get_backend_name()!r}")

    if not _ACCOUNT_SID_RE.match(s.twilio_account_sid):
        raise fail("twilio_account_sid", "must be 'AC' followed by 32 hex digits")
    if not s.twilio_auth_token or len(s.twilio_auth_token) < 16:
        raise fail("twilio_auth_token", "must be at least 16 characters")
    if s.is_production and s.twilio_auth_token == DEV_AUTH_TOKEN:
        raise fail("twilio_auth_token", "the development token is refused in production")
    if s.is_production and s.secret_key == DEV_SECRET_KEY:
        raise fail("secret_key", "the development key is refused in production")
    if s.is_production:
        for field, demo in (
            ("hotline_number", DEMO_HOTLINE_NUMBER),
            ("fallback_number", DEMO_FALLBACK_NUMBER),
            ("service_desk_number", DEMO_SERVICE_DESK_NUMBER),
        ):
            if getattr(s, field) in (None, demo):
                raise fail(field, "must be set to a real number in production")
    for field, prefix in (("twilio_api_key_sid", "SK"), ("twilio_twiml_app_sid", "AP")):
        value = getattr(s, field)
        if value is not None and not re.fullmatch(prefix + "[0-9a-f]{32}", value):
            raise fail(field, f"must be '{prefix}' followed by 32 lowercase hex digits")
    if (s.twilio_api_key_sid is None) != (s.twilio_api_key_secret is None):
        raise fail("twilio_api_key_secret", "give TWILIO_API_KEY_SID and its secret together")
    if s.twilio_api_key_secret is not None and len(s.twilio_api_key_secret) < 32:
        raise fail("twilio_api_key_secret", "an API key's secret has 32 characters")
    if s.staff_api_token is not None and len(s.staff_api_token) < 24:
        raise fail("staff_api_token", "must be at least 24 characters")
    if len(s.secret_key) < 16:
        raise fail("secret_key", "must be at least 16 characters")

    if s.default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise fail("default_region", f"unknown phone-number region {s.default_region!r}")
    for field in ("hotline_number", "sms_from"):
        value = getattr(s, field)
        if value is not None and not _is_e164(value):
            raise fail(field, f"must be a valid phone number in E.164 form (+86…), got {value!r}")
    for field in ("fallback_number", "service_desk_number"):
        value = getattr(s, field)
        if value is not None and not (_is_e164(value) or is_sip_uri(value)):
            raise fail(
                field,
                f"must be a phone number in E.164 form (+86…) or a SIP URI (sip:user@host), "
                f"got {value!r}",
            )
    if s.twilio_byoc_trunk_sid is not None and not _BYOC_SID_RE.match(s.twilio_byoc_trunk_sid):
        raise fail("twilio_byoc_trunk_sid", "must be 'BY' followed by 32 hex digits")
    if s.twilio_messaging_service_sid is not None and not _MESSAGING_SERVICE_SID_RE.match(
        s.twilio_messaging_service_sid
    ):
        raise fail("twilio_messaging_service_sid", "must be 'MG' followed by 32 hex digits")

    _check_url(s.public_base_url, "public_base_url", fail, schemes={"http", "https"})
    if s.is_production and not s.public_base_url.startswith("https://"):
        raise fail("public_base_url", "must be https:// in production")
    if urlsplit(s.public_base_url).query or urlsplit(s.public_base_url).fragment:
        raise fail("public_base_url", "must not carry a query or fragment")
    if s.twilio_api_base_url is not None:
        _check_url(s.twilio_api_base_url, "twilio_api_base_url", fail, schemes={"http", "https"})
    if s.redis_url is not None:
        _check_url(s.redis_url, "redis_url", fail, schemes={"redis", "rediss", "unix"})
    if s.rate_limit_storage is not None and s.rate_limit_storage != "memory://":
        _check_url(s.rate_limit_storage, "rate_limit_storage", fail, schemes={"redis", "rediss"})
    for field in (
        "rate_limit_open311_key",
        "rate_limit_open311_address",
        "rate_limit_api_writes",
        "rate_limit_login",
    ):
        try:
            parse_many(getattr(s, field))
        except ValueError:
            raise fail(field, "must read like '30 per minute;300 per hour'") from None

    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", f"unknown IANA timezone {s.timezone!r}") from None

    for field in ("ivr_file", "classifier_file", "units_file", "survey_file"):
        if not getattr(s, field).is_file():
            raise fail(field, f"no such file: {getattr(s, field)}")

    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise fail("log_level", "must be DEBUG, INFO, WARNING or ERROR")


def _check_url(value: str, field: str, fail: Any, *, schemes: set[str]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.hostname):
        allowed = ", ".join(sorted(f"{scheme}://" for scheme in schemes))
        raise fail(field, f"must be a URL starting with {allowed}, got {value!r}")


def is_sip_uri(value: str) -> bool:
    """Whether `value` is a SIP URI that Twilio's <Sip> noun can dial (sip:user@host…)."""
    return len(value) <= 255 and _SIP_URI_RE.match(value) is not None


def _is_e164(value: str) -> bool:
    if not value.startswith("+"):
        return False
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return bool(phonenumbers.is_valid_number(number) and e164 == value)
