"""Settings from the environment: defaults that run, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import (
    DEV_AUTH_TOKEN,
    DEV_SECRET_KEY,
    Environment,
    Settings,
    SettingsError,
)

PRODUCTION_OK = {
    "HOTLINE_ENV": "production",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "a-real-looking-auth-token-value",
    "SECRET_KEY": "a-real-looking-secret-key-value",
    "PUBLIC_BASE_URL": "https://hotline.example.org",
    "FALLBACK_NUMBER": "+8613900139000",
    "SERVICE_DESK_NUMBER": "+8613900139001",
    "HOTLINE_NUMBER": "+8613900139110",
    "DATABASE_URL": "postgresql://hotline@db.example.org/hotline",
}


def test_empty_environment_gives_a_runnable_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings.from_env({})
    assert s.env is Environment.DEVELOPMENT
    assert s.database_url.startswith("sqlite:///")
    assert s.database_url.endswith("/instance/hotline.db")
    assert s.twilio_auth_token == DEV_AUTH_TOKEN
    assert s.default_region == "CN"
    assert s.timezone == "Asia/Shanghai"
    assert s.redis_url is None
    assert s.tz.key == "Asia/Shanghai"


def test_values_are_read_and_typed() -> None:
    s = Settings.from_env(
        {
            "HOTLINE_NUMBER": "+14155550100",
            "DEFAULT_REGION": "US",
            "TIMEZONE": "America/New_York",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "RECORDINGS_DIR": "/var/lib/hotline/recordings",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:4010",
            "PROXY_HOPS": "1",
            "RECORD_BRIDGED_CALLS": "true",
            "DB_TIMEOUT_S": "2",
            "PUBLIC_BASE_URL": "https://hotline.example.org/",
            "DATABASE_URL": "  ",  # blank means default
        }
    )
    assert s.recordings_dir == Path("/var/lib/hotline/recordings")
    assert s.proxy_hops == 1
    assert s.record_bridged_calls is True
    assert s.db_timeout_s == 2
    assert s.public_url("/voice/incoming") == "https://hotline.example.org/voice/incoming"
    assert s.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOTLINE_ENV", "staging"),
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql://root@localhost/hotline"),
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_AUTH_TOKEN", "short"),
        ("HOTLINE_NUMBER", "110"),
        ("HOTLINE_NUMBER", "13800138000"),
        ("HOTLINE_NUMBER", "+86123"),
        ("FALLBACK_NUMBER", "call the chief"),
        ("PUBLIC_BASE_URL", "hotline.example.org"),
        ("PUBLIC_BASE_URL", "https://hotline.example.org/?x=1"),
        ("DEFAULT_REGION", "XX"),
        ("TIMEZONE", "Asia/Nowhere"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("TWILIO_API_BASE_URL", "ftp://mock"),
        ("SECRET_KEY", "tiny"),
        ("PROXY_HOPS", "-1"),
        ("PROXY_HOPS", "many"),
        ("LOG_LEVEL", "CHATTY"),
        ("SERVICE_DESK_NUMBER", "desk"),
        ("IVR_FILE", "/nonexistent/ivr.yaml"),
        ("CLASSIFIER_FILE", "/nonexistent/classifier.yaml"),
        ("RECORD_BRIDGED_CALLS", "maybe"),
        ("DB_TIMEOUT_S", "60"),
    ],
)
def test_invalid_value_fails_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: "):
        Settings.from_env({variable: value})


def test_production_accepts_real_values() -> None:
    assert Settings.from_env(PRODUCTION_OK).is_production


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TWILIO_AUTH_TOKEN", DEV_AUTH_TOKEN),
        ("SECRET_KEY", DEV_SECRET_KEY),
        ("PUBLIC_BASE_URL", "http://hotline.example.org"),
        ("FALLBACK_NUMBER", "+865996110119"),
        ("SERVICE_DESK_NUMBER", "+865996112345"),
        ("HOTLINE_NUMBER", "+865996110110"),
    ],
)
def test_production_refuses_development_values(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: "):
        Settings.from_env({**PRODUCTION_OK, variable: value})


def test_secrets_stay_out_of_repr_and_errors() -> None:
    s = Settings.from_env(PRODUCTION_OK)
    assert PRODUCTION_OK["TWILIO_AUTH_TOKEN"] not in repr(s)
    assert PRODUCTION_OK["SECRET_KEY"] not in repr(s)
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**PRODUCTION_OK, "TWILIO_AUTH_TOKEN": "short"})
    assert "short" not in str(info.value)
