"""Who a <Dial> rings and how: a phone number through Twilio (or the BYOC trunk), or a SIP URI.

Twilio's PSTN does not reach everywhere: Twilio has not carried outbound calls to Mainland China
since 30 November 2023, and a Chinese caller ID was refused before that (Twilio support,
"Calling Limitations to China"). A deployment there rings its officers through its own carrier:
a BYOC trunk (`<Number byoc="BY…">`, `Byoc` on calls.create) or a SIP gateway (`<Sip>`). Every
leg the hotline places is added here, so the choice is made in one place.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Dial

from config.settings import CallerIdPolicy, Settings, is_sip_uri


def ring(dial: Dial, address: str, settings: Settings, *, url: str | None = None) -> None:
    """Add one leg to `dial`: `<Sip>` for a SIP URI, else `<Number>` (via the BYOC trunk).

    `url` is the TwiML the answering party hears before the bridge (the screening whisper).
    """
    screen = {"url": url, "method": "POST"} if url else {}
    if is_sip_uri(address):
        dial.sip(address, **screen)
    elif settings.twilio_byoc_trunk_sid:
        dial.number(address, byoc=settings.twilio_byoc_trunk_sid, **screen)
    else:
        dial.number(address, **screen)


def caller_id(settings: Settings, caller: str | None) -> str:
    """The number officers' phones show: the hotline's, or the caller's own where allowed.

    A withheld or unusable caller number (`caller` None) always shows the hotline's number.
    """
    if settings.caller_id_policy is CallerIdPolicy.CALLER and caller:
        return caller
    return settings.hotline_number
