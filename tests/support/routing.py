"""Emergency calls through the bridge: a roster with everyone on duty, and a caller who dialled
in, posting what Twilio posts while the officers' phones ring."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from config.settings import Settings
from tests.support import TwilioSigner, call_params, gather_of, new_call_sid, path_of, twiml

POLICE = ["+8613805991001", "+8613805991002", "+8613805991003"]
FIRE = ["+8613805992001", "+8613805992002"]
DESK = ["+8613805996001", "+8613805996002"]

ROSTER = {
    "timezone": "Asia/Shanghai",
    "teams": [
        {"code": "police_command", "name": {"zh": "公安110指挥中心", "en": "Police"}},
        {"code": "fire_brigade", "name": {"zh": "消防救援大队", "en": "Fire"}},
        {"code": "service_desk", "name": {"zh": "服务台", "en": "Desk"}},
    ],
    "officers": [
        *(
            {"code": f"P{i}", "name": f"民警{i}", "team": "police_command", "phone": n}
            for i, n in enumerate(POLICE, 1)
        ),
        *(
            {"code": f"F{i}", "name": f"消防员{i}", "team": "fire_brigade", "phone": n}
            for i, n in enumerate(FIRE, 1)
        ),
        *(
            {"code": f"D{i}", "name": f"坐席{i}", "team": "service_desk", "phone": n}
            for i, n in enumerate(DESK, 1)
        ),
    ],
    "shifts": [
        {
            "officers": ["P1", "P2", "P3", "F1", "F2", "D1", "D2"],
            "days": "daily",
            "start": "00:00",
            "end": "00:00",
        },
    ],
    "routing": {
        "police": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "fire": [
            {"team": "fire_brigade", "strategy": "all", "ring_seconds": 20},
            {"team": "police_command", "strategy": "all", "ring_seconds": 15},
        ],
        "medical": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "traffic": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "disaster": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "desk": [{"team": "service_desk", "strategy": "sequential", "ring_seconds": 15}],
    },
}


def dial(root: ET.Element) -> ET.Element:
    found = root.find("Dial")
    assert found is not None, ET.tostring(root, encoding="unicode")
    return found


def rung(root: ET.Element) -> list[str]:
    return [(n.text or "").strip() for n in dial(root).iter("Number")]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class BridgeCall:
    """A caller who dialled in and chose a branch; posts what Twilio posts afterwards."""

    def __init__(self, twilio: TwilioSigner, settings: Settings, **overrides: str) -> None:
        self.twilio, self.settings = twilio, settings
        self.params = call_params(settings, **overrides)
        self.root = twiml(twilio.post("/voice/incoming", self.params))

    @property
    def sid(self) -> str:
        return self.params["CallSid"]

    def respond(self, **extra: str) -> ET.Element:
        action = gather_of(self.root).get("action") or ""
        params = {**self.params, "CallStatus": "in-progress", **extra}
        self.root = twiml(self.twilio.post(path_of(action), params))
        return self.root

    def dial_action(self) -> str:
        """The path (with its query) of the current <Dial>'s action URL."""
        return path_of(dial(self.root).get("action") or "")

    def dial_ends(self, status: str, call_status: str = "in-progress", **extra: str) -> ET.Element:
        """The <Dial> ends with `status`; `call_status` is the caller's own leg (completed: they
        hung up while the phones rang)."""
        params = {**self.params, "CallStatus": call_status, "DialCallStatus": status, **extra}
        self.root = twiml(self.twilio.post(self.dial_action(), params))
        return self.root

    def ends(self, duration_s: int, status: str = "completed") -> int:
        """The call's final status callback; returns the HTTP status."""
        params = {**self.params, "CallStatus": status, "CallDuration": str(duration_s)}
        return self.twilio.post("/voice/status", params).status_code

    def officer_answers(self, number: str, digits: str | None) -> ET.Element:
        """The officer at `number` picks up, hears the whisper, and presses `digits` (or not)."""
        (element,) = [n for n in dial(self.root).iter("Number") if (n.text or "").strip() == number]
        leg = call_params(
            self.settings,
            CallSid=new_call_sid(),
            ParentCallSid=self.sid,
            Direction="outbound-dial",
            From=self.settings.hotline_number,
            To=number,
            CallStatus="in-progress",
        )
        whisper = twiml(self.twilio.post(path_of(element.get("url") or ""), leg))
        gather = gather_of(whisper)
        answer = {**leg, "Digits": digits} if digits else leg
        return twiml(self.twilio.post(path_of(gather.get("action") or ""), answer))
