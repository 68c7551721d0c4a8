"""The bare-Flask ceiling: the least a Twilio webhook can cost on the same server settings.

One route that does what every hotline webhook must (parse the form, validate X-Twilio-Signature
against the public URL) and answers the hotline's greeting built with VoiceResponse — no
database, no state. `hotline bench` serves it with the same gunicorn settings as the hotline and
reports the hotline's webhook throughput as a share of this one's.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse


def create_app() -> Flask:
    app = Flask(__name__)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    public = os.environ["PUBLIC_BASE_URL"].rstrip("/")

    @app.post("/voice/incoming")
    def incoming() -> Response:
        url = public + request.path
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf speech",
            action=public + "/voice/ivr/gather?step=0",
            method="POST",
            timeout=5,
            num_digits=1,
            speech_timeout="auto",
            language="cmn-Hans-CN",
            action_on_empty_result=True,
            barge_in=True,
        )
        gather.say(
            "您好，民生110。请直接说您遇到的事情。紧急求助请按1，办事和投诉请按2，人工服务请按0。",
            language="cmn-CN",
            voice="Polly.Zhiyu",
        )
        gather.say("For English, press 9.", language="en-US", voice="Polly.Joanna")
        response.redirect(public + "/voice/ivr/gather?step=0", method="POST")
        return Response(str(response), mimetype="text/xml")

    return app
