"""`hotline call` in Twilio's queues (issue 18): the softphone waits as Twilio documents it
(twilio.com/docs/voice/twiml/enqueue, …/queue, …/leave) — the waitUrl again and again with the
queue's parameters, the caller's clock moved on by what they heard, <Gather> and <Redirect> in
the queue, <Leave>, the Enqueue action — and plays a call-taker answering the hotline's offer.

Most tests call the real app through its test client, with a call-taker signed in; every TwiML
document the softphone gets is checked against Twilio's definitions (tests/conftest.py). A few
play canned TwiML (tests/tools/test_softphone.py's FakeServer) for what the desk never sends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import threading
import wave
from collections.abc import Callable, Mapping, Sequence
from http.server import HTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs, twilio_rest
from core.db import utcnow
from desk import service
from desk.models import CallTaker, QueueResult, TakerState
from routing.models import CallbackKind
from tests.support import CALLER, TwilioSigner, path_of
from tests.support.desk import DESK_PHONE, entry_of, offer_leg, queue_a_caller, task_of
from tests.support.surveys import Posted as RestPosted
from tests.support.surveys import RecordingHttpClient
from tests.tools.test_softphone import ACCOUNT, PUBLIC, TOKEN, FakeServer, Posted, _handler, call
from tools.softphone import (
    QUEUE_PROMPT,
    CallResult,
    FlaskTransport,
    HttpResult,
    QueueOptions,
    Softphone,
    TakerLeg,
    Transport,
    call_command,
    desk_offer,
    offer_poller,
)

WAIT = "/voice/desk/wait?lang=zh"
LEFT = "/voice/desk/left?lang=zh"
OFFER = "不想等待请按1"


@pytest.fixture
def desk1(db_session: Session) -> CallTaker:
    """A call-taker signed in and available: a caller who presses 0 waits in the queue."""
    taker = service.set_state(db_session, "desk1", "available", phone=DESK_PHONE)
    db_session.commit()
    return taker


@pytest.fixture
def rest(
    app: Flask, settings: Settings, prism: str, monkeypatch: pytest.MonkeyPatch
) -> list[RestPosted]:
    """Twilio's REST API is Prism (the hotline rings call-takers through it); what it sent."""
    app.extensions["hotline.settings"] = dataclasses.replace(settings, twilio_api_base_url=prism)
    RecordingHttpClient.sent = []
    monkeypatch.setattr(twilio_rest, "TwilioHttpClient", RecordingHttpClient)
    return RecordingHttpClient.sent


class WorkerTransport(FlaskTransport):
    """The app through its test client, its job worker running the due jobs after each webhook
    (as `hotline worker` does a moment later): the offer rings the call-taker."""

    def __init__(self, client: FlaskClient, app: Flask) -> None:
        super().__init__(client)
        self.app = app

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        result = super().post(path, params, headers)
        jobs.run_due(self.app)
        return result


def place_call(
    client: FlaskClient,
    settings: Settings,
    inputs: Sequence[str],
    *,
    transport: Transport | None = None,
    taker_offer: Callable[[str], TakerLeg | None] | None = None,
    **queue: Any,
) -> CallResult:
    """A scripted call to the app (QueueOptions from `queue`), as `hotline call` places it."""
    phone = Softphone(
        transport=transport or FlaskTransport(client),
        public_base_url=settings.public_base_url,
        auth_token=settings.twilio_auth_token,
        account_sid=settings.twilio_account_sid,
        from_number=CALLER,
        to_number=settings.hotline_number,
        inputs=list(inputs),
        output_func=lambda line: None,
        queue=QueueOptions(**queue),
        taker_offer=taker_offer,
    )
    return phone.run()


def posted(result: CallResult, path: str) -> list[dict[str, str]]:
    return [params for where, params in result.requests if where == path]


def heard(result: CallResult) -> str:
    return "\n".join(result.transcript)


def test_a_caller_waits_hearing_their_place_and_takes_the_call_back_offer(
    client: FlaskClient, settings: Settings, db_session: Session, desk1: CallTaker
) -> None:
    result = place_call(client, settings, ["0", "1"])

    assert result.exit_code == 0, heard(result)
    rounds = posted(result, WAIT)
    assert rounds, "the softphone waits in the queue the hotline put it in"
    queue_sid = rounds[0]["QueueSid"]
    assert queue_sid.startswith("QU") and len(queue_sid) == 34
    for params in rounds:
        assert params["CallSid"] == result.call_sid
        assert {k: params[k] for k in ("QueuePosition", "CurrentQueueSize", "AvgQueueTime")} == {
            "QueuePosition": "1",
            "CurrentQueueSize": "1",
            "AvgQueueTime": "0",
        }
        assert params["QueueSid"] == queue_sid
    times = [int(params["QueueTime"]) for params in rounds]
    assert times[0] == 0
    # Each round lasts what the caller heard: the announcement and the hold audio, its 8 s
    # WAV (fetched as Twilio fetches it) twice.
    assert all(later - earlier >= 16 for earlier, later in itertools.pairwise(times))
    assert times[-1] >= settings.desk_callback_offer_s > times[-2], "offered at the first chance"

    transcript = result.transcript
    assert transcript.count("🔊 [cmn-CN] 您是下一位，请稍候。") == len(rounds)
    assert any(line.startswith("♪ (hold music: hold.wav, 8s ×2)") for line in transcript)
    offer = next(n for n, line in enumerate(transcript) if OFFER in line)
    assert transcript[offer + 1] == "» 1"
    assert "⏏ <Leave>: the caller leaves the queue" in transcript
    assert any("已为您保留排队位置" in line for line in transcript[offer:])
    assert result.ended_how == "hangup"

    (left,) = posted(result, LEFT)
    assert (left["QueueResult"], left["QueueSid"]) == ("leave", queue_sid)
    assert int(left["QueueTime"]) >= times[-1]
    assert left["CallStatus"] == "in-progress"
    status = posted(result, "/voice/status")[-1]
    assert status["CallStatus"] == "completed"
    assert int(status["CallDuration"]) >= int(left["QueueTime"]), "the wait is part of the call"

    caller = {"CallSid": result.call_sid}
    assert entry_of(db_session, caller).result is QueueResult.CALLBACK
    task = task_of(db_session, caller)
    assert task is not None and task.kind is CallbackKind.QUEUE_CALLBACK
    assert task.caller_number == CALLER


def test_a_caller_who_runs_out_of_rounds_hangs_up_and_is_called_back(
    client: FlaskClient, settings: Settings, db_session: Session, desk1: CallTaker
) -> None:
    result = place_call(client, settings, ["0"], position=3, avg_wait_s=130, rounds=3)

    assert result.exit_code == 0, heard(result)
    rounds = posted(result, WAIT)
    assert len(rounds) == 3
    assert {(p["QueuePosition"], p["CurrentQueueSize"], p["AvgQueueTime"]) for p in rounds} == {
        ("3", "3", "130")
    }
    text = heard(result)
    assert text.count("您前面还有2位来电，请稍候。") == 3
    assert "近期平均等待约2分钟" in text
    assert OFFER not in text, "three rounds are under DESK_CALLBACK_OFFER_S"
    assert "📴 the caller hangs up after 3 round(s)" in text
    assert result.ended_how == "caller-hung-up"

    (left,) = posted(result, LEFT)
    assert left["QueueResult"] == "hangup" and left["CallStatus"] == "completed"
    assert "(the call is over: Twilio ignores the TwiML answered)" in result.transcript
    assert result.requests[-1][0] == "/voice/status"
    assert result.requests[-1][1]["CallStatus"] == "completed"

    caller = {"CallSid": result.call_sid}
    found = entry_of(db_session, caller)
    assert (found.result, found.wait_s) == (QueueResult.HANGUP, int(left["QueueTime"]))
    task = task_of(db_session, caller)
    assert task is not None and task.kind is CallbackKind.ABANDONED_QUEUE


def test_a_call_taker_answers_the_hotlines_call_and_takes_the_caller(
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    db_session: Session,
    desk1: CallTaker,
    rest: list[RestPosted],
) -> None:
    result = place_call(
        client,
        settings,
        ["0"],
        transport=WorkerTransport(client, app),
        taker_offer=lambda queue: desk_offer(app, "desk1", queue),
        taker_after_s=30,
    )

    assert result.exit_code == 0, heard(result)
    # The call-taker's leg is the call the hotline placed, with the URLs it gave Twilio.
    leg = offer_leg(rest)
    taker_paths = [path for path, _ in result.requests if "/voice/desk/" in path]
    assert path_of(leg["Url"]) in taker_paths
    assert path_of(leg["StatusCallback"]) in taker_paths
    answered = next(params for path, params in result.requests if path == path_of(leg["Url"]))
    assert answered["To"] == leg["To"] == DESK_PHONE
    assert answered["From"] == leg["From"] and answered["Direction"] == "outbound-api"

    text = heard(result)
    assert "call-taker hears: 🔊 [cmn-CN] 民生110排队来电，按任意键接听。" in text
    assert "call-taker hears: (the call-taker presses 1)" in text
    assert "call-taker's leg: ☎ dialing Queue:desk" in text
    assert "🔊 [cmn-CN] 正在为您接通工作人员。" in result.transcript
    assert "simulated" in text, "the transcript says what is simulated"
    # The <Queue url> ran on the caller (their CallSid), dequeued by the call-taker's leg.
    connecting = next(p for path, p in result.requests if path.startswith("/voice/desk/connecting"))
    assert connecting["CallSid"] == result.call_sid
    assert connecting["DequeingCallSid"] == answered["CallSid"]

    rounds = posted(result, WAIT)
    (left,) = posted(result, LEFT)
    assert left["QueueResult"] == "bridged"
    assert 30 <= int(left["QueueTime"]) < 30 + 19, "put through at 30 s, mid-round"
    assert all(int(p["QueueTime"]) < 30 for p in rounds)
    assert result.ended_how == "end-of-document"

    caller = {"CallSid": result.call_sid}
    found = entry_of(db_session, caller)
    assert (found.result, found.answered_by) == (QueueResult.BRIDGED, "desk1")
    assert task_of(db_session, caller) is None, "answered: nobody to call back"
    db_session.expire_all()
    taker = db_session.get(CallTaker, desk1.id)
    assert taker is not None and taker.state is TakerState.WRAP_UP
    status = next(p for path, p in result.requests if path == path_of(leg["StatusCallback"]))
    assert status["CallStatus"] == "completed"


def test_a_desk_phone_that_takes_no_key_never_takes_the_caller(
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    db_session: Session,
    desk1: CallTaker,
    rest: list[RestPosted],
) -> None:
    """A voicemail answers the desk phone and presses nothing: the caller keeps waiting, the
    call-taker is taken off (on a break), and the caller, in the end, hangs up."""
    result = place_call(
        client,
        settings,
        ["0", "officer:none"],
        transport=WorkerTransport(client, app),
        taker_offer=lambda queue: desk_offer(app, "desk1", queue),
        taker_after_s=10,
        rounds=2,
    )

    assert result.exit_code == 0, heard(result)
    text = heard(result)
    assert "(the call-taker presses nothing)" in text
    assert "without taking the caller: they keep waiting" in text
    assert "正在为您接通工作人员" not in text
    (left,) = posted(result, LEFT)
    assert left["QueueResult"] == "hangup"
    db_session.expire_all()
    taker = db_session.get(CallTaker, desk1.id)
    assert taker is not None and (taker.state, taker.missed) == (TakerState.BREAK, 1)
    assert task_of(db_session, {"CallSid": result.call_sid}) is not None


def test_no_call_placed_to_the_call_taker_leaves_the_caller_waiting(
    client: FlaskClient, settings: Settings, db_session: Session, desk1: CallTaker
) -> None:
    """Without the job worker nobody is rung: the softphone invents no call-taker's leg."""
    result = place_call(
        client, settings, ["0"], taker_offer=lambda queue: None, taker_after_s=0, rounds=1
    )

    assert "the hotline has rung no call-taker" in heard(result)
    assert not [path for path, _ in result.requests if path.startswith("/voice/desk/taker")]
    assert posted(result, LEFT)[0]["QueueResult"] == "hangup"


def test_the_offer_is_read_from_the_database_as_the_hotline_placed_it(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    desk1: CallTaker,
    rest: list[RestPosted],
) -> None:
    with pytest.raises(LookupError, match="hotline desk state nobody available"):
        desk_offer(app, "nobody", "desk")
    assert desk_offer(app, "desk1", "desk") is None, "nobody waits: nothing rings"

    queue_a_caller(twilio, settings)
    jobs.run_due(app)
    leg = offer_leg(rest)
    offer = desk_offer(app, "desk1", "desk")
    assert offer is not None
    assert (offer.url, offer.status_callback) == (leg["Url"], leg["StatusCallback"])
    assert (offer.to_number, offer.from_number) == (leg["To"], leg["From"])
    db_session.expire_all()
    taker = db_session.get(CallTaker, desk1.id)
    assert taker is not None and offer.call_sid == taker.leg_sid

    # A call that rang past its Timeout has ended at Twilio; only its callback was lost.
    taker.state_since = utcnow() - dt.timedelta(seconds=settings.desk_ring_s + 30)
    db_session.commit()
    with pytest.raises(
        LookupError, match=r"past its Timeout.*`hotline desk state desk1 logged_out`"
    ):
        desk_offer(app, "desk1", "desk")


def test_the_offer_poller_waits_for_the_worker_in_real_time_then_gives_up(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    told: list[str] = []
    asked: list[str] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    def no_offer(app: Flask, username: str, queue: str) -> TakerLeg | None:
        asked.append(queue)
        return None

    monkeypatch.setattr("tools.softphone.desk_offer", no_offer)
    poll = offer_poller(
        app, "desk1", wait_s=1.0, output=told.append, sleep=sleep, now=lambda: clock[0]
    )

    assert poll("desk") is None
    assert clock[0] >= 1.0 and len(asked) > 1 and set(asked) == {"desk"}
    assert len(told) == 1 and "job worker" in told[0]


# -- Twilio's queue semantics, on canned TwiML ---------------------------------------------------

ENQUEUE = '<Enqueue action="/q/left" waitUrl="/q/wait">support</Enqueue><Say>not reached</Say>'


def canned(server: FakeServer, path: str) -> list[dict[str, str]]:
    return [p.params for p in server.to(path)]


@pytest.mark.parametrize("realtime", [False, True])
def test_each_round_moves_queue_time_on_by_what_was_heard_and_the_caller_hangs_up(
    realtime: bool,
) -> None:
    slept: list[float] = []
    result, server = call(
        {
            "/voice/incoming": ENQUEUE,
            "/q/wait": '<Say>Please hold</Say><Pause length="7"/>',
            "/q/left": "<Say>ignored</Say>",
        },
        [],
        queue=QueueOptions(rounds=3, realtime=realtime, position=2, avg_wait_s=45),
        sleep_func=slept.append,
    )

    rounds = canned(server, "/q/wait")
    assert [p["QueueTime"] for p in rounds] == ["0", "8", "16"], "a short <Say> is 1 s"
    assert rounds[0]["CallSid"] == result.call_sid and rounds[0]["CallStatus"] == "in-progress"
    assert {k: rounds[0][k] for k in ("QueuePosition", "CurrentQueueSize", "AvgQueueTime")} == {
        "QueuePosition": "2",
        "CurrentQueueSize": "2",
        "AvgQueueTime": "45",
    }
    (left,) = canned(server, "/q/left")
    assert (left["QueueResult"], left["QueueTime"], left["CallStatus"]) == (
        "hangup",
        "24",
        "completed",
    )
    assert left["QueueSid"] == rounds[0]["QueueSid"]
    assert "🔊 [en-US] not reached" not in result.transcript
    assert "🔊 [en-US] ignored" not in result.transcript, "the call is over"
    assert result.ended_how == "caller-hung-up" and result.exit_code == 0
    assert sum(slept) == (24 if realtime else 0)
    assert (
        "in real time" in result.transcript[1] if realtime else "simulated" in result.transcript[1]
    )


def test_a_gather_and_a_redirect_run_in_the_queue_and_leave_goes_on_after_enqueue() -> None:
    """Without an action, a <Leave> goes on with the verb after <Enqueue> (Twilio's docs)."""
    result, server = call(
        {
            "/voice/incoming": '<Enqueue waitUrl="/q/wait">support</Enqueue><Say>after</Say>',
            "/q/wait": '<Gather action="/q/key" numDigits="1" timeout="3"><Say>Press 1</Say>'
            "</Gather><Redirect>/q/more</Redirect><Say>not reached</Say>",
            "/q/more": '<Pause length="2"/>',
            "/q/key": "<Leave/><Say>not reached</Say>",
        },
        ["silence", "1"],
    )

    assert [p["QueueTime"] for p in canned(server, "/q/wait")] == ["0", "6"]
    (more,) = canned(server, "/q/more")
    assert (more["QueueTime"], more["QueueSid"][:2]) == ("4", "QU"), "still in the queue"
    (key,) = canned(server, "/q/key")
    assert key["Digits"] == "1"
    assert "🔊 [en-US] not reached" not in result.transcript
    assert result.transcript[-3:-1] == [
        "🔊 [en-US] after",
        "📴 end of the TwiML document: Twilio hangs up",
    ]
    assert result.exit_code == 0


class MediaServer(FakeServer):
    """Canned TwiML, and WAV files Twilio fetches with a plain GET."""

    def __init__(self, pages: Mapping[str, str | HttpResult], media: Mapping[str, bytes]) -> None:
        super().__init__(pages)
        self.media = dict(media)
        self.fetched: list[str] = []

    def get(self, path: str) -> HttpResult:
        self.fetched.append(path)
        body = self.media.get(path)
        return HttpResult(200, "audio/wav", body) if body else HttpResult(404, "", b"")


def wav(seconds: int, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\0\0" * rate * seconds)
    return buffer.getvalue()


def test_hold_audio_counts_its_length_resolved_against_the_document_and_fetched_once() -> None:
    server = MediaServer(
        {
            "/voice/incoming": ENQUEUE,
            "/q/wait": '<Play loop="2">audio/chime.wav</Play><Play digits="1"/>',
            "/q/left": "",
        },
        {"/q/audio/chime.wav": wav(3)},
    )
    phone = Softphone(
        transport=server,
        public_base_url=PUBLIC,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        from_number=CALLER,
        to_number="+865996110110",
        inputs=[],
        output_func=lambda line: None,
        queue=QueueOptions(rounds=3),
    )
    result = phone.run()

    assert [p["QueueTime"] for p in canned(server, "/q/wait")] == ["0", "7", "14"]
    assert server.fetched == ["/q/audio/chime.wav"], "relative to the waitUrl, fetched once"
    assert "♪ (hold music: chime.wav, 3s ×2)" in result.transcript
    assert "♪ (keys 1)" in result.transcript


def test_verbs_twilio_refuses_in_a_wait_document_are_twilio_errors() -> None:
    result, server = call(
        {
            "/voice/incoming": ENQUEUE,
            "/q/wait": "<Dial>+8613800000000</Dial><Hangup/>",
            "/q/left": "",
        },
        [],
    )

    assert any("<Dial> is not allowed in a waitUrl document" in e for e in result.twilio_errors)
    assert result.exit_code == 3
    (left,) = canned(server, "/q/left")
    assert (left["QueueResult"], left["CallStatus"]) == ("hangup", "completed")
    assert result.ended_how == "hangup", "the hotline hung up"


def taker_pages(queue_name: str = "support") -> dict[str, str | HttpResult]:
    return {
        "/voice/incoming": ENQUEUE,
        "/q/wait": '<Play loop="2">https://media.example.org/hold.mp3</Play>',
        "/q/left": "<Say>Bye</Say><Hangup/>",
        "/t/answer": '<Gather action="/t/key" numDigits="1"><Say>Press a key</Say></Gather>',
        "/t/key": f'<Dial><Queue url="/t/connect">{queue_name}</Queue></Dial>',
        "/t/connect": "<Say>Connecting</Say><Gather/><Redirect>/t/more</Redirect>",
        "/t/more": "<Play>https://media.example.org/beep.wav</Play>",
        "/t/status": HttpResult(204, "", b""),
    }


TAKER = TakerLeg(
    call_sid="CA" + "7" * 32,
    from_number="+865996110110",
    to_number=DESK_PHONE,
    url=PUBLIC + "/t/answer",
    status_callback=PUBLIC + "/t/status",
    name="desk1",
)


def test_the_call_taker_takes_the_caller_and_the_queue_url_runs_on_the_caller() -> None:
    result, server = call(
        taker_pages(),
        [],
        queue=QueueOptions(taker_after_s=25),
        taker_offer=lambda queue: TAKER if queue == "support" else None,
    )

    rounds = canned(server, "/q/wait")
    assert [p["QueueTime"] for p in rounds] == ["0", "20"], "audio from elsewhere counts 10 s"
    assert "♪ (hold music: hold.mp3, length unknown, counted as 10s ×2)" in result.transcript
    (answer,) = canned(server, "/t/answer")
    assert (answer["CallSid"], answer["To"], answer["Direction"]) == (
        TAKER.call_sid,
        DESK_PHONE,
        "outbound-api",
    )
    assert canned(server, "/t/key")[0]["Digits"] == "1", "the call-taker presses 1"
    (connect,) = canned(server, "/t/connect")
    assert connect["CallSid"] == result.call_sid, "run on the caller"
    assert connect["DequeingCallSid"] == TAKER.call_sid
    assert (connect["QueueSid"], connect["QueueTime"]) == (rounds[0]["QueueSid"], "25")
    assert canned(server, "/t/more")[0]["CallSid"] == result.call_sid
    assert any("<Gather> is not allowed in a <Queue url>" in e for e in result.twilio_errors)
    (status,) = canned(server, "/t/status")
    assert status["CallStatus"] == "completed"
    (left,) = canned(server, "/q/left")
    assert (left["QueueResult"], left["QueueTime"], left["CallStatus"]) == (
        "bridged",
        "25",
        "in-progress",
    )
    assert result.transcript[-3] == "🔊 [en-US] Bye"
    assert result.exit_code == 3


def test_a_reason_why_no_call_rings_the_call_taker_is_said_and_the_caller_waits_on() -> None:
    def stuck(queue: str) -> TakerLeg | None:
        raise LookupError("the hotline's call to desk1 has rung for 95s")

    result, server = call(
        taker_pages(), [], queue=QueueOptions(taker_after_s=5, rounds=1), taker_offer=stuck
    )

    assert "☎ the hotline's call to desk1 has rung for 95s: the caller keeps waiting" in (
        result.transcript
    )
    assert not canned(server, "/t/answer")
    assert canned(server, "/q/left")[0]["QueueResult"] == "hangup"


def test_a_call_taker_dialling_another_queue_takes_nobody() -> None:
    result, server = call(
        taker_pages("elsewhere"),
        [],
        queue=QueueOptions(taker_after_s=5, rounds=2),
        taker_offer=lambda queue: TAKER,
    )

    assert not canned(server, "/t/connect")
    assert canned(server, "/t/status")[0]["CallStatus"] == "completed"
    assert canned(server, "/q/left")[0]["QueueResult"] == "hangup"
    assert any("finds nobody" in line for line in result.transcript)


def test_an_interactive_caller_is_asked_after_each_round() -> None:
    prompts: list[str] = []
    answers = iter(["", "hangup"])

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    _, server = call(
        {"/voice/incoming": ENQUEUE, "/q/wait": '<Pause length="3"/>', "/q/left": ""},
        None,
        input_func=ask,
    )

    assert prompts == [QUEUE_PROMPT, QUEUE_PROMPT]
    assert len(canned(server, "/q/wait")) == 2
    assert canned(server, "/q/left")[0]["QueueResult"] == "hangup"


@pytest.mark.parametrize(
    "options",
    [QueueOptions(taker_after_s=5), QueueOptions(position=0), QueueOptions(rounds=0)],
)
def test_impossible_queue_options_are_refused(options: QueueOptions) -> None:
    with pytest.raises(ValueError, match=r"taker|queue options"):
        call({}, [], queue=options)


def test_call_command_waits_in_a_queue_with_the_options_given() -> None:
    received: list[Posted] = []
    pages = {
        "/voice/incoming": (200, f"<Response>{ENQUEUE}</Response>"),
        "/q/wait": (200, "<Response><Play>/hold.wav</Play></Response>"),
        "/q/left": (200, "<Response/>"),
        "/voice/status": (204, ""),
    }
    server = HTTPServer(("127.0.0.1", 0), _handler(pages, received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        args = ["--base-url", url, "--auth-token", TOKEN, "--account-sid", ACCOUNT]
        args += ["--to", "+865996110110", "--input", "silence"]
        args += ["--queue-position", "4", "--avg-queue-time", "90", "--queue-rounds", "2"]
        result = CliRunner().invoke(call_command, args)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert result.exit_code == 0, result.output
    assert "position 4 of 4" in result.output
    assert "hold.wav, length unknown, counted as 10s" in result.output, "no WAV served"
    waits = [p.params for p in received if p.path == "/q/wait"]
    assert [(p["QueuePosition"], p["AvgQueueTime"], p["QueueTime"]) for p in waits] == [
        ("4", "90", "0"),
        ("4", "90", "10"),
    ]


def test_call_command_documents_the_queue_options_and_needs_a_taker_to_answer() -> None:
    help_text = " ".join(CliRunner().invoke(call_command, ["--help"]).output.split())
    for option in ("--queue-position", "--avg-queue-time", "--queue-rounds", "--realtime"):
        assert option in help_text
    assert "--taker NAME" in help_text and "--taker-answers-after S" in help_text

    result = CliRunner().invoke(call_command, ["--taker-answers-after", "30"])
    assert result.exit_code == 2
    assert "--taker-answers-after needs --taker NAME" in result.output
    result = CliRunner().invoke(call_command, ["--taker", "desk1", "--survey", "MS-1"])
    assert result.exit_code == 2
    assert "not --survey" in result.output
