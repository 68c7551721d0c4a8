"""The `hotline call` softphone: it must treat the webhook server exactly as Twilio does.

Most tests play canned TwiML from a fake transport (the hotline's IVR is not needed); one calls
the real app through its test client, and a few go over real HTTP to a throwaway local server.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from config.settings import Settings, env_name
from tests.support import CALLER
from tools.softphone import (
    CallResult,
    FlaskTransport,
    HttpResult,
    HttpTransport,
    Softphone,
    call_command,
)
from tools.softphone_twiml import (
    dial_line,
    dial_targets,
    gather_result,
    parse_dial_outcome,
    parse_input,
    parse_officer_key,
)

PUBLIC = "https://hotline.example.org"
TOKEN = "softphone-test-token-0123456789"
ACCOUNT = "AC" + "1" * 32
HOTLINE = "+865996110110"
SID = re.compile(r"^CA[0-9a-f]{32}$")
RECORDING_URL = re.compile(
    rf"^https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE[0-9a-f]{{32}}$"
)
BASE_KEYS = {
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "Caller",
    "Called",
    "CallStatus",
    "Direction",
    "ApiVersion",
}


@dataclass(frozen=True)
class Posted:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


class FakeServer:
    """A Transport serving canned TwiML per path (with query); /voice/status answers 204."""

    def __init__(self, pages: Mapping[str, str | HttpResult]) -> None:
        self.pages = dict(pages)
        self.posts: list[Posted] = []

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        self.posts.append(Posted(path, dict(params), dict(headers)))
        page = self.pages.get(path)
        if isinstance(page, HttpResult):
            return page
        if page is not None:
            body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{page}</Response>'
            return HttpResult(200, "text/xml; charset=utf-8", body.encode())
        if path == "/voice/status":
            return HttpResult(204, "", b"")
        return HttpResult(404, "application/json", b'{"error": "Not Found", "reason": "no page"}')

    def to(self, path: str) -> list[Posted]:
        return [posted for posted in self.posts if posted.path == path]


def call(
    pages: Mapping[str, str | HttpResult],
    inputs: Sequence[str] | None = (),
    **options: Any,
) -> tuple[CallResult, FakeServer]:
    server = FakeServer(pages)
    arguments: dict[str, Any] = {
        "transport": server,
        "public_base_url": PUBLIC,
        "auth_token": TOKEN,
        "account_sid": ACCOUNT,
        "from_number": CALLER,
        "to_number": HOTLINE,
        "inputs": None if inputs is None else list(inputs),
        "output_func": lambda line: None,
        **options,
    }
    phone = Softphone(**arguments)
    result = phone.run()
    assert [(p.path, p.params) for p in server.posts] == result.requests
    return result, server


def test_every_request_is_signed_on_the_absolute_url_with_a_fresh_idempotency_token() -> None:
    result, server = call(
        {
            "/voice/incoming": '<Gather action="ivr/menu?step=1"><Say>Press 1</Say></Gather>',
            "/voice/ivr/menu?step=1": "<Hangup/>",
        },
        ["1"],
    )

    assert [p.path for p in server.posts] == [
        "/voice/incoming",
        "/voice/ivr/menu?step=1",
        "/voice/status",
    ]
    validator = RequestValidator(TOKEN)
    for posted in server.posts:
        signature = posted.headers["X-Twilio-Signature"]
        assert validator.validate(PUBLIC + posted.path, posted.params, signature)
        assert not validator.validate("http://localhost" + posted.path, posted.params, signature)
    tokens = {p.headers["I-Twilio-Idempotency-Token"] for p in server.posts}
    assert len(tokens) == 3
    assert all(uuid.UUID(token) for token in tokens)
    assert result.exit_code == 0


def test_first_request_carries_twilios_standard_parameters_then_in_progress() -> None:
    result, server = call(
        {"/voice/incoming": "<Redirect>/voice/next</Redirect>", "/voice/next": "<Hangup/>"}
    )

    first, second, _status = server.posts
    assert SID.match(result.call_sid)
    assert first.params == {
        "CallSid": result.call_sid,
        "AccountSid": ACCOUNT,
        "From": CALLER,
        "To": HOTLINE,
        "Caller": CALLER,
        "Called": HOTLINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    assert second.params == {**first.params, "CallStatus": "in-progress"}


def test_say_play_and_pause_are_printed() -> None:
    result, _ = call(
        {
            "/voice/incoming": '<Say language="cmn-CN" voice="Polly.Zhiyu">您好，民生110</Say>'
            "<Say>Hello</Say><Play>https://example.org/hold.mp3</Play>"
            '<Pause length="2"/><Leave/>'
        }
    )

    assert result.transcript[1:6] == [
        "🔊 [cmn-CN] 您好，民生110",
        "🔊 [en-US] Hello",
        "♪ https://example.org/hold.mp3",
        "… (pause 2s)",
        "(ignored <Leave>)",
    ]
    assert result.ended_how == "end-of-document"
    assert result.exit_code == 0


GATHER = (
    '<Gather input="dtmf speech" action="/voice/menu" numDigits="2">'
    '<Say language="cmn-CN">请按键或讲话</Say></Gather>'
    '<Say language="cmn-CN">没有听到</Say>'
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1", {"Digits": "1"}),
        ("12#", {"Digits": "12"}),
        ("123", {"Digits": "12"}),
        ("say:我家楼下漏水", {"SpeechResult": "我家楼下漏水", "Confidence": "0.92"}),
        ("say@0.35:救命", {"SpeechResult": "救命", "Confidence": "0.35"}),
    ],
)
def test_gather_posts_the_action_with_digits_or_speech(
    typed: str, expected: dict[str, str]
) -> None:
    result, server = call({"/voice/incoming": GATHER, "/voice/menu": "<Hangup/>"}, [typed])

    (menu,) = server.to("/voice/menu")
    assert menu.params.keys() - BASE_KEYS == expected.keys()
    assert {k: menu.params[k] for k in expected} == expected
    assert menu.params["CallStatus"] == "in-progress"
    assert "🔊 [cmn-CN] 请按键或讲话" in result.transcript
    assert "🔊 [cmn-CN] 没有听到" not in result.transcript
    assert result.ended_how == "hangup"


@pytest.mark.parametrize("inputs", [[""], ["silence"], []])
def test_gather_without_input_goes_on_with_the_next_verb(inputs: list[str]) -> None:
    result, server = call({"/voice/incoming": GATHER}, inputs)

    assert server.to("/voice/menu") == []
    assert result.transcript.index("🔊 [cmn-CN] 没有听到") > result.transcript.index(
        "🔊 [cmn-CN] 请按键或讲话"
    )
    assert result.ended_how == "end-of-document"


def test_gather_without_input_posts_the_action_when_action_on_empty_result() -> None:
    page = '<Gather action="/voice/menu" actionOnEmptyResult="true"><Say>Press</Say></Gather>'
    _, server = call({"/voice/incoming": page, "/voice/menu": "<Hangup/>"}, ["silence"])

    (menu,) = server.to("/voice/menu")
    assert menu.params.keys() == BASE_KEYS


def test_speech_to_a_keys_only_gather_is_no_input_as_on_twilio() -> None:
    page = '<Gather action="/voice/menu"><Say>Press 1</Say></Gather><Say>Bye</Say>'
    result, server = call({"/voice/incoming": page}, ["say:one"])

    assert server.to("/voice/menu") == []
    assert "🔊 [en-US] Bye" in result.transcript


def test_gather_action_defaults_to_the_current_document() -> None:
    pages = {
        "/voice/incoming": "<Redirect>/voice/menu?n=1</Redirect>",
        "/voice/menu?n=1": "<Gather/>",
    }
    _, server = call(pages, ["5", "hangup"])

    assert [p.path for p in server.posts].count("/voice/menu?n=1") == 2
    assert server.to("/voice/menu?n=1")[1].params["Digits"] == "5"


def test_caller_hanging_up_at_a_gather_ends_the_call_and_twilio_reports_it() -> None:
    result, server = call({"/voice/incoming": GATHER}, ["hangup"])

    assert result.ended_how == "caller-hung-up"
    assert result.exit_code == 0
    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/status"]


def test_redirect_resolves_relative_and_absolute_urls_like_twilio() -> None:
    pages = {
        "/voice/incoming": "<Redirect>ivr/one?x=1</Redirect>",
        "/voice/ivr/one?x=1": "<Redirect>two</Redirect>",
        "/voice/ivr/two": f"<Redirect>{PUBLIC}/voice/three?a=1&amp;b=2</Redirect>",
        "/voice/three?a=1&b=2": '<Redirect method="POST">/voice/four</Redirect>',
        "/voice/four": "<Hangup/>",
    }
    result, server = call(pages)

    assert [p.path for p in server.posts][:-1] == list(pages)
    validator = RequestValidator(TOKEN)
    for posted in server.posts:
        assert validator.validate(
            PUBLIC + posted.path, posted.params, posted.headers["X-Twilio-Signature"]
        )
    assert result.ended_how == "hangup"


def test_an_absolute_url_elsewhere_is_signed_on_that_url() -> None:
    elsewhere = "http://127.0.0.1:5000/voice/ivr/gather?step=1"
    _, server = call({"/voice/incoming": f"<Redirect>{elsewhere}</Redirect>"})

    posted = server.to("/voice/ivr/gather?step=1")[0]
    validator = RequestValidator(TOKEN)
    assert validator.validate(elsewhere, posted.params, posted.headers["X-Twilio-Signature"])
    assert not validator.validate(
        PUBLIC + posted.path, posted.params, posted.headers["X-Twilio-Signature"]
    )


def test_a_public_url_with_a_path_prefix_is_stripped_for_the_transport() -> None:
    _, server = call(
        {"/voice/incoming": "<Redirect>next</Redirect>", "/voice/next": "<Hangup/>"},
        public_base_url=PUBLIC + "/hotline",
    )

    _, second, _ = server.posts
    assert second.path == "/voice/next"
    validator = RequestValidator(TOKEN)
    assert validator.validate(
        PUBLIC + "/hotline/voice/next", second.params, second.headers["X-Twilio-Signature"]
    )


DIAL = (
    '<Dial timeout="20"{attrs}><Number>+8613800000001</Number>'
    "<Number>+8613800000002</Number></Dial><Say>after dial</Say>"
)


def test_dial_without_action_goes_on_with_the_next_verb() -> None:
    result, server = call({"/voice/incoming": DIAL.format(attrs="")})

    assert "☎ dialing +8613800000001, +8613800000002 (timeout 20s)" in result.transcript
    assert "🔊 [en-US] after dial" in result.transcript
    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/status"]


@pytest.mark.parametrize(
    ("inputs", "status", "duration"),
    [([], "completed", "42"), (["dial:busy"], "busy", "0"), (["dial:no-answer"], "no-answer", "0")],
)
def test_dial_action_gets_the_dial_outcome(inputs: list[str], status: str, duration: str) -> None:
    pages = {"/voice/incoming": DIAL.format(attrs=' action="dialed"'), "/voice/dialed": "<Hangup/>"}
    result, server = call(pages, inputs)

    (dialed,) = server.to("/voice/dialed")
    assert dialed.params["DialCallStatus"] == status
    assert dialed.params["DialCallDuration"] == duration
    assert SID.match(dialed.params["DialCallSid"])
    assert dialed.params["DialCallSid"] != result.call_sid
    assert "🔊 [en-US] after dial" not in result.transcript


def test_dial_whisper_plays_the_officers_leg_and_answers_its_gather() -> None:
    pages = {
        "/voice/incoming": '<Dial action="/voice/dialed" callerId="+865996110000">'
        '<Number url="/voice/whisper?case=7">+8613800000001</Number></Dial>',
        "/voice/whisper?case=7": '<Gather action="/voice/accept" numDigits="1">'
        '<Say language="cmn-CN">紧急警情，按1接听</Say></Gather><Hangup/>',
        "/voice/accept": '<Say language="cmn-CN">正在接通</Say>',
        "/voice/dialed": "<Hangup/>",
    }
    result, server = call(pages)

    assert [p.path for p in server.posts] == [
        "/voice/incoming",
        "/voice/whisper?case=7",
        "/voice/accept",
        "/voice/dialed",
        "/voice/status",
    ]
    whisper, accept = server.to("/voice/whisper?case=7")[0], server.to("/voice/accept")[0]
    officer_sid = whisper.params["CallSid"]
    assert SID.match(officer_sid)
    assert officer_sid != result.call_sid
    assert whisper.params == {
        "CallSid": officer_sid,
        "ParentCallSid": result.call_sid,
        "AccountSid": ACCOUNT,
        "From": "+865996110000",
        "To": "+8613800000001",
        "Caller": "+865996110000",
        "Called": "+8613800000001",
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "ApiVersion": "2010-04-01",
    }
    assert accept.params == {**whisper.params, "Digits": "1"}
    assert "   officer hears: 🔊 [cmn-CN] 紧急警情，按1接听" in result.transcript
    assert "   officer hears: 🔊 [cmn-CN] 正在接通" in result.transcript
    dialed = server.to("/voice/dialed")[0].params
    assert dialed["DialCallSid"] == officer_sid
    assert dialed["DialCallStatus"] == "completed"
    validator = RequestValidator(TOKEN)
    assert validator.validate(
        PUBLIC + "/voice/whisper?case=7", whisper.params, whisper.headers["X-Twilio-Signature"]
    )


def test_whisper_from_defaults_to_the_hotline_number_and_no_url_means_no_leg() -> None:
    pages = {
        "/voice/incoming": '<Dial><Number url="/voice/whisper">+8613800000001</Number>'
        "<Client>duty-desk</Client></Dial>",
        "/voice/whisper": "",
    }
    result, server = call(pages, ["dial:completed"])
    assert server.to("/voice/whisper")[0].params["From"] == HOTLINE
    assert "☎ dialing +8613800000001, Client:duty-desk (timeout 30s)" in result.transcript

    _, server = call(pages, ["dial:failed"])
    assert server.to("/voice/whisper") == []


def test_an_officer_leg_that_hangs_up_is_not_connected() -> None:
    pages = {
        "/voice/incoming": '<Dial action="/voice/dialed">'
        '<Number url="/voice/whisper">+8613800000001</Number></Dial>',
        "/voice/whisper": '<Say language="cmn-CN">无人接听</Say><Hangup/>',
        "/voice/dialed": "<Hangup/>",
    }
    result, server = call(pages)

    assert "   officer hears: 📴 the hotline hung up" in result.transcript
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "no-answer"
    assert result.ended_how == "hangup"


def test_record_posts_the_recording_and_the_recording_status_callback() -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": '<Record action="/voice/recorded" maxLength="120" finishOnKey="#"'
        ' recordingStatusCallback="recording-status?case=9"/>',
        "/voice/recorded": "<Say>Thanks</Say><Hangup/>",
        "/voice/recording-status?case=9": HttpResult(204, "", b""),
    }
    message = "我家楼下的下水道堵了三天了，请派人来看看"
    result, server = call(pages, [f"say:{message}"])

    assert "● recording (max 120s, finish with #) — speak now" in result.transcript
    recorded = server.to("/voice/recorded")[0].params
    assert RECORDING_URL.match(recorded["RecordingUrl"])
    assert recorded["RecordingUrl"].endswith(recorded["RecordingSid"])
    assert recorded["RecordingDuration"] == str(len(message) // 4)
    assert recorded["Digits"] == "#"
    assert recorded["CallStatus"] == "in-progress"
    callback = server.to("/voice/recording-status?case=9")[0]
    assert callback.params == {
        "RecordingSid": recorded["RecordingSid"],
        "RecordingUrl": recorded["RecordingUrl"],
        "RecordingStatus": "completed",
        "RecordingDuration": recorded["RecordingDuration"],
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "CallSid": result.call_sid,
        "AccountSid": ACCOUNT,
    }
    assert RequestValidator(TOKEN).validate(
        PUBLIC + callback.path, callback.params, callback.headers["X-Twilio-Signature"]
    )
    assert "🔊 [en-US] Thanks" in result.transcript
    assert result.ended_how == "hangup"


def test_caller_hanging_up_during_a_recording_posts_it_and_ends_the_call() -> None:
    pages = {
        "/voice/incoming": '<Record action="/voice/recorded"/>',
        "/voice/recorded": "<Say>never heard</Say>",
    }
    result, server = call(pages, ["hangup"])

    recorded = server.to("/voice/recorded")[0].params
    assert recorded["Digits"] == "hangup"
    assert recorded["RecordingDuration"] == "1"
    assert "🔊 [en-US] never heard" not in result.transcript
    assert result.ended_how == "caller-hung-up"
    assert server.posts[-1].path == "/voice/status"


@pytest.mark.parametrize("typed", ["silence", "", "say:", "say:   "])
def test_an_empty_recording_skips_the_action_and_the_next_verbs_run(typed: str) -> None:
    """'If Twilio receives an empty recording, it will not make a request to the action URL.'"""
    page = (
        '<Record action="/voice/recorded" recordingStatusCallback="/voice/rec-status"/>'
        "<Say>Nothing recorded</Say><Redirect>/voice/after</Redirect>"
    )
    pages = {"/voice/incoming": page, "/voice/after": "<Say>After</Say><Hangup/>"}
    result, server = call(pages, [typed])

    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/after", "/voice/status"]
    note = "(empty recording: Twilio does not request the action; the next verb runs)"
    assert result.transcript.index(note) < result.transcript.index("🔊 [en-US] Nothing recorded")
    assert "🔊 [en-US] After" in result.transcript
    assert (result.ended_how, result.exit_code) == ("hangup", 0)


@pytest.mark.parametrize("typed", ["dial:busy", "officer:1"])
def test_a_dial_or_officer_input_at_a_record_is_a_script_error(typed: str) -> None:
    result, server = call({"/voice/incoming": '<Record action="/voice/recorded"/>'}, [typed])

    assert (result.ended_how, result.exit_code) == ("error", 1)
    assert server.to("/voice/recorded") == []
    assert "a <Record> records" in result.transcript[-1]


@pytest.mark.parametrize(
    ("page", "how"),
    [
        ("<Say>Bye</Say><Hangup/><Say>never</Say>", "hangup"),
        ('<Reject reason="busy"/>', "hangup"),
        ("<Say>Bye</Say>", "end-of-document"),
        ("", "end-of-document"),
    ],
)
def test_the_call_ends_and_the_status_callback_reports_it(page: str, how: str) -> None:
    result, server = call({"/voice/incoming": page})

    assert result.ended_how == how
    assert result.exit_code == 0
    assert "🔊 [en-US] never" not in result.transcript
    status = server.posts[-1]
    assert status.path == "/voice/status"
    assert status.params["CallStatus"] == "completed"
    assert status.params["CallDuration"] == "3"
    assert status.params["CallSid"] == result.call_sid
    assert RequestValidator(TOKEN).validate(
        PUBLIC + "/voice/status", status.params, status.headers["X-Twilio-Signature"]
    )


def test_a_403_ends_the_call_with_an_error_naming_the_reason() -> None:
    forbidden = HttpResult(
        403, "application/json", b'{"error": "Forbidden", "reason": "invalid Twilio signature"}'
    )
    result, server = call({"/voice/incoming": forbidden})

    assert (result.ended_how, result.exit_code) == ("error", 1)
    assert any("403" in line and "invalid Twilio signature" in line for line in result.transcript)
    assert [p.path for p in server.posts] == ["/voice/incoming"]


@pytest.mark.parametrize(
    "body", [b"", b"hello, not xml", b"<html><body>Oops</body></html>", b"<Response><Say>"]
)
def test_a_body_that_is_not_twiml_ends_the_call_with_an_error(body: bytes) -> None:
    result, server = call({"/voice/incoming": HttpResult(200, "text/html", body)})

    assert (result.ended_how, result.exit_code) == ("error", 1)
    assert "not TwiML" in result.transcript[-1]
    assert [p.path for p in server.posts] == ["/voice/incoming"]


def test_a_failing_status_callback_is_an_error() -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": "<Hangup/>",
        "/voice/status": HttpResult(500, "text/plain", b""),
    }
    result, _ = call(pages)

    assert (result.ended_how, result.exit_code) == ("error", 1)


def test_a_redirect_loop_stops_after_max_steps() -> None:
    pages = {"/voice/incoming": "<Gather/><Redirect/>"}
    result, server = call(pages, max_steps=5)

    assert (result.ended_how, result.exit_code) == ("too-many-steps", 2)
    assert [p.path for p in server.posts] == ["/voice/incoming"] * 5 + ["/voice/status"]


def test_a_bad_scripted_input_is_an_error() -> None:
    result, _ = call({"/voice/incoming": GATHER}, ["press one"])

    assert (result.ended_how, result.exit_code) == ("error", 1)


def test_interactive_caller_is_prompted_and_can_retry_and_hang_up() -> None:
    typed = iter(["what?", "2", "dial:busy"])
    prompts: list[str] = []

    def keyboard(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    pages = {
        "/voice/incoming": GATHER,
        "/voice/menu": '<Dial action="/voice/dialed">+8613800000001</Dial>',
        "/voice/dialed": GATHER,
    }
    result, server = call(pages, None, input_func=keyboard)

    assert prompts[0] == "keys, say:words, or Enter for silence > "
    assert prompts[1] == prompts[0]
    assert "dial outcome" in prompts[2]
    assert server.to("/voice/menu")[0].params["Digits"] == "2"
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "busy"
    assert result.ended_how == "caller-hung-up"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", None),
        (" silence ", None),
        ("HANGUP", "hangup"),
        ("*9#", {"Digits": "*9#"}),
        ("say:", None),
        ("say:hello", {"SpeechResult": "hello", "Confidence": "0.92"}),
        ("say@1:hi", {"SpeechResult": "hi", "Confidence": "1"}),
    ],
)
def test_caller_inputs_are_parsed(raw: str, parsed: object) -> None:
    assert parse_input(raw) == parsed


@pytest.mark.parametrize("raw", ["abc", "say@1.5:hi", "say@x:hi", "1 2"])
def test_bad_caller_inputs_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"input|confidence"):
        parse_input(raw)


def test_the_real_app_answers_the_softphone(client: FlaskClient, settings: Settings) -> None:
    """Tolerant on purpose: the IVR is being rewritten; only the greeting and exit are checked."""
    phone = Softphone(
        transport=FlaskTransport(client),
        public_base_url=settings.public_base_url,
        auth_token=settings.twilio_auth_token,
        account_sid=settings.twilio_account_sid,
        from_number=CALLER,
        to_number=settings.hotline_number,
        inputs=["hangup"],
        output_func=lambda line: None,
    )
    result = phone.run()

    assert any(line.startswith("🔊 [cmn-CN]") for line in result.transcript), result.transcript
    assert result.exit_code == 0, result.transcript
    assert result.requests[-1][0] == "/voice/status"


# -- Twilio's documented semantics the softphone must follow -----------------------------------


def gather(**attrs: str) -> ET.Element:
    xml = "<Gather " + " ".join(f'{k}="{v}"' for k, v in attrs.items()) + "/>"
    return ET.fromstring(xml)  # noqa: S314 (XML written by the test)


@pytest.mark.parametrize(
    ("attrs", "keys", "digits"),
    [
        ({}, "12#", "12"),
        ({}, "12#34", "12"),
        ({}, "#", None),  # a lone finish key is swallowed: nothing is submitted
        ({}, "##", None),
        ({}, "#1#", "1"),  # swallowed, then a digit sequence ended by the key
        ({"numDigits": "1"}, "#", None),
        ({"numDigits": "1"}, "#5", "5"),
        ({"numDigits": "2"}, "123", "12"),
        ({"finishOnKey": ""}, "#", "#"),  # no finish key: # is an ordinary digit
        ({"finishOnKey": ""}, "1#2", "1#2"),
        ({"finishOnKey": "", "numDigits": "1"}, "#", "#"),
        ({"finishOnKey": "*"}, "#", "#"),
        ({"finishOnKey": "*"}, "*", None),
        ({"finishOnKey": "*"}, "9*1", "9"),
    ],
)
def test_gather_result_applies_finish_on_key_only_after_a_digit(
    attrs: dict[str, str], keys: str, digits: str | None
) -> None:
    params, note = gather_result(gather(**attrs), {"Digits": keys})

    assert params == (None if digits is None else {"Digits": digits})
    swallowed = keys[:1] == attrs.get("finishOnKey", "#")[:1] != ""
    assert ("swallowed" in note) == swallowed, note


def test_a_lone_pound_is_no_input_and_action_on_empty_result_decides() -> None:
    plain = '<Gather action="/voice/menu"><Say>Press</Say></Gather><Say>next verb</Say>'
    result, server = call({"/voice/incoming": plain, "/voice/menu": "<Hangup/>"}, ["#"])
    assert server.to("/voice/menu") == []
    assert "(no input)" in result.transcript
    assert "🔊 [en-US] next verb" in result.transcript

    empty = plain.replace("<Gather ", '<Gather actionOnEmptyResult="true" ')
    result, server = call({"/voice/incoming": empty, "/voice/menu": "<Hangup/>"}, ["#"])
    (menu,) = server.to("/voice/menu")
    assert "Digits" not in menu.params
    assert "🔊 [en-US] next verb" not in result.transcript

    keyed = plain.replace("<Gather ", '<Gather finishOnKey="" ')
    _, server = call({"/voice/incoming": keyed, "/voice/menu": "<Hangup/>"}, ["#"])
    assert server.to("/voice/menu")[0].params["Digits"] == "#"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("officer:#", "#"),
        ("officer:1", "1"),
        (" OFFICER: 12 ", "12"),
        ("officer:none", None),
        ("officer:", None),
        ("", None),
        ("none", None),
        ("*", "*"),
    ],
)
def test_officer_keys_are_parsed(raw: str, key: str | None) -> None:
    assert parse_officer_key(raw) == key


@pytest.mark.parametrize("raw", ["officer:yes", "officer:say:hi", "1 2"])
def test_bad_officer_keys_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="officer"):
        parse_officer_key(raw)


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        ("", "completed"),
        ("dial:busy", "busy"),
        ("no-answer", "no-answer"),
        (" DIAL:Hangup ", "hangup"),
        ("dial:canceled", "canceled"),
        ("dial:ringing", None),
    ],
)
def test_dial_outcomes_are_parsed(raw: str, outcome: str | None) -> None:
    assert parse_dial_outcome(raw) == outcome


def screened(whisper: str, accept: str = '<Say language="cmn-CN">正在接通</Say>') -> dict[str, str]:
    """One screened <Number>: the whisper, the officer's accept action, and the Dial action."""
    return {
        "/voice/incoming": '<Dial action="/voice/dialed">'
        '<Number url="/voice/whisper">+8613800000001</Number></Dial>',
        "/voice/whisper": whisper,
        "/voice/accept": accept,
        "/voice/dialed": "<Hangup/>",
    }


#: The product's screening: any key accepts, silence posts the action with no Digits.
SCREEN = (
    '<Gather action="/voice/accept" numDigits="1" actionOnEmptyResult="true"{attrs}>'
    "<Say>press any key</Say></Gather><Hangup/>"
)


@pytest.mark.parametrize(
    ("attrs", "typed", "digits"),
    [
        ("", "officer:1", "1"),
        ("", "officer:#", None),  # the default finishOnKey swallows a lone #
        (' finishOnKey=""', "officer:#", "#"),
        (' finishOnKey=""', "officer:none", None),
    ],
)
def test_the_officers_key_follows_the_gather_rules(
    attrs: str, typed: str, digits: str | None
) -> None:
    result, server = call(screened(SCREEN.format(attrs=attrs)), [typed])

    (accept,) = server.to("/voice/accept")
    assert accept.params.get("Digits") == digits
    pressed = typed.removeprefix("officer:").replace("none", "nothing")
    assert f"   officer hears: (the officer presses {pressed})" in result.transcript
    assert f"» {typed}" in result.transcript
    assert result.exit_code == 0


def test_an_officer_pressing_nothing_at_a_whisper_that_hangs_up_is_not_connected() -> None:
    whisper = '<Gather action="/voice/accept" numDigits="1"><Say>press</Say></Gather><Hangup/>'
    result, server = call(screened(whisper), ["officer:none"])

    assert server.to("/voice/accept") == []
    assert "   officer hears: (no input)" in result.transcript
    dialed = server.to("/voice/dialed")[0].params
    assert (dialed["DialCallStatus"], dialed["DialBridged"]) == ("no-answer", "false")


def test_the_officer_presses_1_once_by_default_then_nothing() -> None:
    whisper = '<Gather action="/voice/accept" actionOnEmptyResult="true"/>'
    result, server = call(screened(whisper, accept=whisper.replace("accept", "again")), [])

    assert server.to("/voice/accept")[0].params["Digits"] == "1"
    assert "Digits" not in server.to("/voice/again")[0].params
    assert "   officer hears: (the officer presses nothing)" in result.transcript


def test_a_bad_officer_input_is_an_error_and_a_misplaced_one_too() -> None:
    result, _ = call(screened(SCREEN.format(attrs="")), ["officer:yes"])
    assert (result.ended_how, result.exit_code) == ("error", 1)

    result, server = call({"/voice/incoming": GATHER}, ["officer:1"])
    assert (result.ended_how, result.exit_code) == ("error", 1)
    assert "the caller is asked here" in result.transcript[-1]
    assert server.to("/voice/menu") == []


def test_the_interactive_officer_is_asked_what_to_press() -> None:
    prompts: list[str] = []
    typed = iter(["", "yes", "#"])  # dial outcome (completed), a bad key, then #

    def keyboard(prompt: str) -> str:
        prompts.append(prompt)
        return next(typed)

    pages = screened(SCREEN.format(attrs=' finishOnKey=""'))
    _, server = call(pages, None, input_func=keyboard)

    assert prompts[1:] == ["officer presses (key, or Enter for nothing) > "] * 2
    assert server.to("/voice/accept")[0].params["Digits"] == "#"


DIAL_ERROR = (
    "   ✖ <Dial> is not allowed in a <Number url> whisper (Twilio error): the officer's leg fails"
)


@pytest.mark.parametrize(
    ("whisper", "accept"),
    [
        # the whisper itself dials
        ("<Say>whisper</Say><Dial>+865996110119</Dial><Say>never</Say>", "<Say>never</Say>"),
        # the officer's key is answered with an apology that dials (an error handler's TwiML)
        (SCREEN.format(attrs=""), "<Say>sorry</Say><Dial>+865996110119</Dial><Say>never</Say>"),
    ],
)
def test_a_dial_on_the_officers_leg_is_a_twilio_error_and_the_leg_fails(
    whisper: str, accept: str
) -> None:
    pages = screened(whisper, accept)
    pages["/voice/dialed"] = "<Say>trying the next tier</Say><Hangup/>"
    result, server = call(pages)

    assert DIAL_ERROR in result.transcript
    assert "   officer hears: 🔊 [en-US] never" not in result.transcript
    assert "   the officer's leg failed: not connected" in result.transcript
    assert not any("connected: the caller and the officer" in line for line in result.transcript)
    dialed = server.to("/voice/dialed")[0].params
    assert (dialed["DialCallStatus"], dialed["DialBridged"]) == ("failed", "false")
    assert "🔊 [en-US] trying the next tier" in result.transcript  # the caller's call goes on
    assert result.twilio_errors == [DIAL_ERROR.strip().removeprefix("✖ ")]
    assert (result.ended_how, result.exit_code) == ("hangup", 3)
    assert not any("+865996110119" in line for line in result.transcript)


def test_a_record_on_the_officers_leg_is_ignored_with_a_note() -> None:
    result, server = call(screened("<Say>whisper</Say><Record/>"))

    assert "   officer hears: (ignored <Record>: not played on the officer's leg)" in (
        result.transcript
    )
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "completed"
    assert (result.exit_code, result.twilio_errors) == (0, [])


def test_a_caller_hanging_up_during_a_dial_posts_the_action_and_ignores_its_twiml() -> None:
    pages = {
        "/voice/incoming": DIAL.format(attrs=' action="/voice/dialed"'),
        "/voice/dialed": "<Say>next tier</Say><Dial>+8613800000009</Dial>",
    }
    result, server = call(pages, ["dial:hangup"])

    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/dialed", "/voice/status"]
    dialed = server.to("/voice/dialed")[0].params
    assert dialed["CallStatus"] == "completed"
    assert dialed["DialCallStatus"] == "canceled"
    assert dialed["DialCallDuration"] == "0"
    assert dialed["DialBridged"] == "false"
    assert SID.match(dialed["DialCallSid"])
    assert dialed["CallSid"] == result.call_sid
    assert result.transcript.index(
        "☎ dial result: the caller hung up while the phones rang"
    ) < result.transcript.index("(the call is over: Twilio ignores the TwiML answered)")
    assert "🔊 [en-US] next tier" not in result.transcript
    assert "🔊 [en-US] after dial" not in result.transcript
    assert not any("+8613800000009" in line for line in result.transcript)
    assert server.posts[-1].params["CallStatus"] == "completed"
    assert (result.ended_how, result.exit_code) == ("caller-hung-up", 0)


def test_the_ignored_answer_to_a_hung_up_dial_must_still_be_twiml() -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": DIAL.format(attrs=' action="/voice/dialed"'),
        "/voice/dialed": HttpResult(200, "text/html", b"<html>oops</html>"),
    }
    result, _ = call(pages, ["dial:hangup"])
    assert (result.ended_how, result.exit_code) == ("error", 1)

    pages["/voice/dialed"] = HttpResult(500, "text/plain", b"boom")
    result, _ = call(pages, ["dial:hangup"])
    assert (result.ended_how, result.exit_code) == ("error", 1)


def test_a_caller_hanging_up_during_a_dial_without_action_just_ends() -> None:
    result, server = call({"/voice/incoming": DIAL.format(attrs="")}, ["dial:hangup"])

    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/status"]
    assert "🔊 [en-US] after dial" not in result.transcript
    assert result.ended_how == "caller-hung-up"


def two_screened(whisper: str) -> dict[str, str]:
    return {
        "/voice/incoming": '<Dial action="/voice/dialed" timeout="20">'
        '<Number url="/voice/whisper?n=1">+8613800000001</Number>'
        '<Number url="/voice/whisper?n=2">+8613800000002</Number></Dial>',
        "/voice/whisper?n=1": whisper,
        "/voice/whisper?n=2": whisper,
        "/voice/accept": "<Say>正在接通</Say>",
        "/voice/dialed": "<Hangup/>",
    }


WHISPER = (
    '<Gather action="/voice/accept" numDigits="1" finishOnKey="">'
    "<Say>press any key</Say></Gather><Hangup/>"
)


def test_exclusive_screening_ends_the_dial_when_the_first_answerer_declines() -> None:
    result, server = call(two_screened(WHISPER), ["officer:none", "officer:1"])

    assert server.to("/voice/whisper?n=2") == []
    dialed = server.to("/voice/dialed")[0].params
    assert dialed["DialCallStatus"] == "no-answer"
    assert dialed["DialCallSid"] == server.to("/voice/whisper?n=1")[0].params["CallSid"]
    assert result.requests[-1][0] == "/voice/status"


def test_parallel_screening_lets_the_next_phone_answer_when_the_first_declines() -> None:
    result, server = call(
        two_screened(WHISPER), ["officer:none", "officer:#"], screening="parallel"
    )

    first, second = server.to("/voice/whisper?n=1")[0], server.to("/voice/whisper?n=2")[0]
    assert (first.params["To"], second.params["To"]) == ("+8613800000001", "+8613800000002")
    assert first.params["CallSid"] != second.params["CallSid"]
    (accept,) = server.to("/voice/accept")
    assert accept.params["Digits"] == "#"
    assert accept.params["CallSid"] == second.params["CallSid"]
    dialed = server.to("/voice/dialed")[0].params
    assert dialed["DialCallStatus"] == "completed"
    assert dialed["DialCallSid"] == second.params["CallSid"]
    assert "   (parallel screening: the other phones kept ringing)" in result.transcript
    assert result.transcript.index("☎ +8613800000002 answered") > result.transcript.index(
        "   the officer's leg hung up: not connected"
    )


def test_parallel_screening_ends_no_answer_only_when_all_declined() -> None:
    _, server = call(two_screened(WHISPER), ["officer:none", "officer:none"], screening="parallel")

    assert len(server.to("/voice/whisper?n=2")) == 1
    assert server.to("/voice/accept") == []
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "no-answer"


def test_parallel_screening_does_not_reach_a_phone_after_one_accepted() -> None:
    _, server = call(two_screened(WHISPER), ["officer:1"], screening="parallel")

    assert server.to("/voice/whisper?n=2") == []
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "completed"


def test_an_unknown_screening_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="screening"):
        call({"/voice/incoming": "<Hangup/>"}, screening="sometimes")


CARRIERS = (
    '<Dial action="/voice/dialed" timeout="20" callerId="+865996110000">'
    '<Number byoc="BY0123456789abcdef0123456789abcdef">+8613805990103</Number>'
    '<Sip url="/voice/whisper?sip=1">sip:p003@pbx.example.cn</Sip></Dial>'
)


def test_byoc_and_sip_legs_are_shown_plainly() -> None:
    dial = ET.fromstring(CARRIERS)  # noqa: S314 (XML written by the test)
    targets, ignored = dial_targets(dial, PUBLIC + "/voice/incoming")

    assert ignored == []
    assert [(t.kind, t.name, t.byoc) for t in targets] == [
        ("Number", "+8613805990103", "BY0123456789abcdef0123456789abcdef"),
        ("Sip", "sip:p003@pbx.example.cn", None),
    ]
    assert targets[1].url == PUBLIC + "/voice/whisper?sip=1"
    assert dial_line(targets, "20") == (
        "☎ dialing +8613805990103 (via BYOC trunk BY0123456789abcdef0123456789abcdef), "
        "sip:p003@pbx.example.cn (SIP) (timeout 20s)"
    )
    assert dial_line([], None) == "☎ dialing nobody (timeout 30s)"


def test_a_sip_whisper_is_screened_like_a_number_whisper() -> None:
    sip = CARRIERS.replace("<Number byoc", '<Number url="/voice/whisper?n=1" byoc')
    pages = {
        "/voice/incoming": sip,
        "/voice/whisper?n=1": WHISPER,
        "/voice/whisper?sip=1": WHISPER,
        "/voice/accept": "<Say>正在接通</Say>",
        "/voice/dialed": "<Hangup/>",
    }
    result, server = call(pages, ["officer:none", "officer:5"], screening="parallel")

    assert any("(via BYOC trunk BY0123456789abcdef" in line for line in result.transcript)
    whisper = server.to("/voice/whisper?sip=1")[0].params
    assert (whisper["From"], whisper["To"]) == ("+865996110000", "sip:p003@pbx.example.cn")
    assert whisper["Direction"] == "outbound-dial"
    assert server.to("/voice/accept")[0].params["CallSid"] == whisper["CallSid"]
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "completed"


def test_a_dial_in_a_sip_whisper_names_the_sip_noun() -> None:
    pages = {
        "/voice/incoming": CARRIERS,
        "/voice/whisper?sip=1": "<Dial>+865996110119</Dial>",
        "/voice/dialed": "<Hangup/>",
    }
    result, server = call(pages, screening="parallel")

    assert server.to("/voice/whisper?sip=1") == []  # the BYOC number answered first, unscreened

    pages["/voice/incoming"] = CARRIERS.replace(
        '<Number byoc="BY0123456789abcdef0123456789abcdef">+8613805990103</Number>', ""
    )
    result, server = call(pages)
    assert any("<Dial> is not allowed in a <Sip url> whisper" in e for e in result.twilio_errors)
    assert server.to("/voice/dialed")[0].params["DialCallStatus"] == "failed"


# -- asynchronous answering-machine detection (survey calls) ------------------------------------

AMD = "/voice/amd?s=7&a=1"
NO_CONTENT = HttpResult(204, "", b"")
QUESTION = (
    '<Say>Welcome</Say><Gather action="/voice/q?n=1" actionOnEmptyResult="true">'
    "<Say>Press 1</Say></Gather>"
)


def test_the_detection_result_is_posted_once_signed_after_the_first_document() -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": QUESTION,
        "/voice/q?n=1": "<Redirect>/voice/q?n=2</Redirect>",
        "/voice/q?n=2": "<Hangup/>",
        AMD: HttpResult(200, "text/plain", b"thanks"),  # not TwiML: nobody plays it
    }
    result, server = call(
        pages, ["1"], amd_callback=(AMD, "human"), leg_extra={"Direction": "outbound-api"}
    )

    assert (result.exit_code, result.ended_how) == (0, "hangup")
    paths = [p.path for p in server.posts]
    assert paths == ["/voice/incoming", AMD, "/voice/q?n=1", "/voice/q?n=2", "/voice/status"]
    (detection,) = server.to(AMD)
    assert detection.params == {
        "CallSid": result.call_sid,
        "AccountSid": ACCOUNT,
        "AnsweredBy": "human",
        "MachineDetectionDuration": "1800",
    }
    signature = detection.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(PUBLIC + AMD, detection.params, signature)
    assert all("AnsweredBy" not in p.params for p in server.posts if p.path != AMD)
    assert server.posts[0].params["CallStatus"] == "ringing"
    verdict = result.transcript.index("🤖 answering-machine detection: human")
    assert verdict < result.transcript.index("🔊 [en-US] Welcome"), "before the verbs play"


@pytest.mark.parametrize(
    "machine", ["machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"]
)
def test_a_machines_verdict_ends_the_call_at_the_first_gather_without_input(machine: str) -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": QUESTION,
        "/voice/q?n=1": "<Hangup/>",
        AMD: NO_CONTENT,
    }
    result, server = call(pages, ["1"], amd_callback=(AMD, machine))

    assert (result.exit_code, result.ended_how) == (0, "api-hangup")
    assert [p.path for p in server.posts] == ["/voice/incoming", AMD, "/voice/status"]
    assert server.to(AMD)[0].params["AnsweredBy"] == machine
    assert server.to("/voice/status")[0].params["CallStatus"] == "completed"
    assert "🔊 [en-US] Press 1" in result.transcript, "the question plays to the machine"
    assert "» 1" not in result.transcript, "a machine gives no input"
    assert "📴 the hotline ended the call (answering machine)" in result.transcript


@pytest.mark.parametrize(
    "page",
    [
        "<Say>Hold on</Say><Redirect>/voice/q?n=1</Redirect>",
        "<Dial>+865996110119</Dial>",
        '<Record action="/voice/q?n=1"/>',
    ],
)
def test_a_fax_is_hung_up_on_before_any_further_webhook(page: str) -> None:
    pages: dict[str, str | HttpResult] = {
        "/voice/incoming": page,
        "/voice/q?n=1": "<Hangup/>",
        AMD: NO_CONTENT,
    }
    result, server = call(pages, ["dial:busy", "a message"], amd_callback=(AMD, "fax"))

    assert result.ended_how == "api-hangup"
    assert [p.path for p in server.posts] == ["/voice/incoming", AMD, "/voice/status"]


def test_a_machine_hung_up_on_by_the_twiml_is_a_twiml_hang_up() -> None:
    pages: dict[str, str | HttpResult] = {"/voice/incoming": "<Say>Bye</Say><Hangup/>"}
    pages[AMD] = NO_CONTENT
    result, _ = call(pages, amd_callback=(AMD, "machine_start"))

    assert result.ended_how == "hangup"


def test_a_refused_detection_result_is_an_error_and_no_verb_plays() -> None:
    refused = HttpResult(400, "application/json", b'{"reason": "AnsweredBy: missing"}')
    result, server = call({"/voice/incoming": QUESTION, AMD: refused}, amd_callback=(AMD, "human"))

    assert (result.ended_how, result.exit_code) == ("error", 1)
    assert "🔊 [en-US] Welcome" not in result.transcript
    assert server.to("/voice/status") == []


def test_without_detection_nothing_is_posted_for_it() -> None:
    _, server = call({"/voice/incoming": QUESTION, "/voice/q?n=1": "<Hangup/>"}, ["1"])

    assert [p.path for p in server.posts] == ["/voice/incoming", "/voice/q?n=1", "/voice/status"]


def test_an_unknown_answered_by_is_refused() -> None:
    with pytest.raises(ValueError, match="machine_end_silence"):
        call({}, amd_callback=(AMD, "robot"))


# -- over real HTTP, and the click command ------------------------------------------------------


@dataclass
class LocalServer:
    url: str
    received: list[Posted] = dataclasses.field(default_factory=list)


def _handler(pages: Mapping[str, tuple[int, str]], received: list[Posted]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            received.append(Posted(self.path, params, dict(self.headers.items())))
            status, text = pages.get(self.path, (404, '{"reason": "no page"}'))
            self.send_response(status)
            self.send_header("Content-Type", "text/xml" if status == 200 else "application/json")
            self.send_header("Content-Length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    received: list[Posted] = []
    pages = {
        "/voice/incoming": (
            200,
            '<Response><Gather action="/voice/menu"><Say language="cmn-CN">请按1</Say>'
            "</Gather></Response>",
        ),
        "/voice/menu": (200, "<Response><Hangup/></Response>"),
        "/voice/status": (204, ""),
        "/voice/forbidden": (403, '{"reason": "invalid Twilio signature"}'),
    }
    server = HTTPServer(("127.0.0.1", 0), _handler(pages, received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_transport_posts_forms_and_returns_errors(local_server: LocalServer) -> None:
    transport = HttpTransport(local_server.url)

    ok = transport.post("/voice/menu", {"Digits": "1", "城市": "邵武"}, {"X-Twilio-Signature": "s"})
    refused = transport.post("/voice/forbidden", {}, {})

    assert (ok.status, ok.content_type, ok.body) == (
        200,
        "text/xml",
        b"<Response><Hangup/></Response>",
    )
    assert (refused.status, refused.body) == (403, b'{"reason": "invalid Twilio signature"}')
    posted = local_server.received[0]
    assert posted.params == {"Digits": "1", "城市": "邵武"}
    assert posted.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert posted.headers["X-Twilio-Signature"] == "s"
    with pytest.raises(ValueError, match="http"):
        HttpTransport("file:///etc/passwd")


def test_call_command_places_a_scripted_call(local_server: LocalServer) -> None:
    args = ["--base-url", local_server.url, "--input", "1", "--auth-token", TOKEN]
    args += ["--account-sid", ACCOUNT, "--to", HOTLINE, "--from", "+8613900139000"]
    result = CliRunner().invoke(call_command, args)

    assert result.exit_code == 0, result.output
    assert "🔊 [cmn-CN] 请按1" in result.output
    paths = [p.path for p in local_server.received]
    assert paths == ["/voice/incoming", "/voice/menu", "/voice/status"]
    validator = RequestValidator(TOKEN)
    for posted in local_server.received:
        assert posted.params["From"] == "+8613900139000"
        signature = posted.headers["X-Twilio-Signature"]
        assert validator.validate(local_server.url + posted.path, posted.params, signature)


def _clean_env(**values: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {env_name(f.name): None for f in dataclasses.fields(Settings)}
    env.update(values)
    return env


def test_call_command_takes_its_defaults_from_the_settings(local_server: LocalServer) -> None:
    env = _clean_env(TWILIO_AUTH_TOKEN=TOKEN, HOTLINE_NUMBER="+865996110111")
    args = ["--base-url", local_server.url, "--public-url", PUBLIC, "--input", "hangup"]
    result = CliRunner(env=env).invoke(call_command, args)

    assert result.exit_code == 0, result.output
    first = local_server.received[0]
    assert first.params["To"] == "+865996110111"
    assert first.params["AccountSid"] == "AC" + "0" * 32
    assert RequestValidator(TOKEN).validate(
        PUBLIC + "/voice/incoming", first.params, first.headers["X-Twilio-Signature"]
    )


def test_call_command_reports_a_configuration_error() -> None:
    result = CliRunner(env=_clean_env(TIMEZONE="Mars/Base")).invoke(call_command, [])

    assert result.exit_code == 2
    assert "TIMEZONE" in result.stderr


def test_call_command_fails_when_nobody_answers() -> None:
    """The server is down: the command names the URL it could not reach and what to do."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["--base-url", f"http://127.0.0.1:{port}", "--auth-token", TOKEN]
    args += ["--account-sid", ACCOUNT, "--to", HOTLINE, "--input", "1"]
    result = CliRunner().invoke(call_command, args)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), "an exit, not a crash"
    assert result.output.splitlines()[-1] == (
        f"✖ POST http://127.0.0.1:{port}/voice/incoming failed: cannot reach the hotline "
        "(connection refused); is the service running? Start it with `make run` (or give its "
        "URL with --base-url)"
    )
    assert "Traceback" not in result.output


def test_call_command_fails_when_something_else_answers() -> None:
    """Not an HTTP server on that port: the same advice, no traceback."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def babble() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        thread = threading.Thread(target=babble, daemon=True)
        thread.start()
        args = ["--base-url", f"http://127.0.0.1:{port}", "--auth-token", TOKEN]
        args += ["--account-sid", ACCOUNT, "--to", HOTLINE, "--input", "1"]
        result = CliRunner().invoke(call_command, args)
        thread.join(5)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), "an exit, not a crash"
    last = result.output.splitlines()[-1]
    assert last.startswith(f"✖ POST http://127.0.0.1:{port}/voice/incoming failed: ")
    assert "no proper HTTP answer: BadStatusLine" in last and "make run" in last


def test_call_command_documents_the_new_inputs_and_refuses_a_bad_screening() -> None:
    help_text = " ".join(CliRunner().invoke(call_command, ["--help"]).output.split())
    for word in ("officer:#", "officer:none", "dial:hangup", "--screening", "parallel"):
        assert word in help_text
    for verdict in ("machine_end_silence", "machine_end_other", "fax", "unknown"):
        assert verdict in help_text

    result = CliRunner().invoke(call_command, ["--screening", "sometimes"])
    assert result.exit_code == 2
    assert "sometimes" in result.output


def test_call_command_accepts_a_screening_mode(local_server: LocalServer) -> None:
    args = ["--base-url", local_server.url, "--auth-token", TOKEN, "--account-sid", ACCOUNT]
    args += ["--to", HOTLINE, "--screening", "parallel", "--input", "1"]
    result = CliRunner().invoke(call_command, args)

    assert result.exit_code == 0, result.output
