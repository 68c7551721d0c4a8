"""core.inputs: exactly what each reader documents, and a reason for everything else."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from core.inputs import (
    BadInput,
    day,
    decimal,
    digits_or_none,
    email,
    has_control_characters,
    moment,
    whole_number,
    xml_safe,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("raw", ["²", "５", "٣", "-1", "+1", " 1", "1 ", "1.0", "", "0x1", "1_0"])
def test_only_ascii_digits_are_a_whole_number(raw: str) -> None:
    with pytest.raises(BadInput, match="limit: a whole number from 1 to 200"):
        whole_number(raw, "limit", 1, 200)


def test_a_whole_number_is_bounded_before_it_is_converted() -> None:
    assert whole_number("200", "limit", 1, 200) == 200
    assert whole_number("007", "limit", 1, 200) == 7
    for raw in ("0", "201", "9" * 5000):
        with pytest.raises(BadInput):
            whole_number(raw, "limit", 1, 200)


def test_optional_digits_are_ignored_when_garbled() -> None:
    assert digits_or_none("42", 6) == 42
    assert [digits_or_none(raw, 6) for raw in (None, "", "²", "1234567", "4 2")] == [None] * 5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01T00:00:00Z", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        ("2026-11-01T08:00:00+08:00", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        ("2026-11-01T08:00:00", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),  # local (Shanghai)
    ],
)
def test_a_moment_is_read_in_utc(raw: str, expected: dt.datetime) -> None:
    assert moment(raw, "start_date", SHANGHAI) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00Z",  # overflowed on conversion before
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2300-01-01T00:00:00Z",
        "２０２６-11-01T00:00:00Z",
        "yesterday",
        "",
    ],
)
def test_absurd_or_malformed_moments_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(BadInput, match="end_date: "):
        moment(raw, "end_date", SHANGHAI)


def test_a_day_is_an_iso_date_in_range() -> None:
    assert day("2026-12-01", "from") == dt.date(2026, 12, 1)
    for raw in ("2026-12-1", "0001-01-01", "2026-13-01", "２０２６-12-01", "x"):
        with pytest.raises(BadInput, match="from: "):
            day(raw, "from")


@pytest.mark.parametrize("bad", ["\x0b", "\x07", "\x00", "\x1f", "\ufffe", "\x85"])
def test_control_characters_are_found_and_removed_so_xml_parses(bad: str) -> None:
    text = f"路灯{bad}坏了\ttab\nline"
    assert has_control_characters(text)
    clean = xml_safe(text)
    assert clean == "路灯坏了\ttab\nline"
    element = ET.Element("description")
    element.text = clean
    assert ET.fromstring(ET.tostring(element)).text == clean  # noqa: S314 (our own XML)
    assert not has_control_characters("路灯坏了\ttab\r\nline")


@pytest.mark.parametrize("raw", ["٣", "５", "²", "nan", "inf", "1e1", "+27.3", "0x1A", "1_17", ""])
def test_a_decimal_is_ascii_and_plain(raw: str) -> None:
    with pytest.raises(BadInput, match="lat: a decimal number"):
        decimal(raw, "lat", -90, 90)


def test_a_decimal_is_bounded() -> None:
    assert decimal("-27.3375", "lat", -90, 90) == -27.3375
    assert decimal("90", "lat", -90, 90) == 90.0
    with pytest.raises(BadInput, match="lat: from -90 to 90"):
        decimal("90.0001", "lat", -90, 90)


@pytest.mark.parametrize(
    "raw", ["li.ming@shaowu.gov.cn", " a@b.cn ", "张三@例子.中国", "x+tag@mail.example.org"]
)
def test_an_email_address_is_trimmed_and_kept(raw: str) -> None:
    assert email(raw, "email") == raw.strip()


@pytest.mark.parametrize(
    "raw",
    ["", "li.ming", "a@b", "@b.cn", "a@@b.cn", "a b@c.cn", "<a@b.cn>", "a@b.c", "x" * 65 + "@b.cn"],
)
def test_anything_else_is_not_an_email_address(raw: str) -> None:
    with pytest.raises(BadInput, match="email: an e-mail address"):
        email(raw, "email")
