"""The hotline number's voice webhooks: the front door, with a path that needs no database.

With the database up, IVR state lives in `ivr_sessions` (retries, language, what was said).
When it is down or slow, the same tree runs without state: the webhook is spooled, an
emergency is still bridged from the cached roster, and anything else goes to a person.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from twilio.twiml.voice_response import VoiceResponse

from calls.durable import accept_call_durably
from calls.webhook import accept_call_webhook_reading
from cases import capture, progress
from core import db, durable, webhooks
from core.categories import Kind
from core.inputs import BadInput, whole_number
from core.phone import caller_e164, mask
from desk import service as desk
from desk import twiml as desk_twiml
from ivr import engine, service, twiml
from ivr.classifier import Classification
from ivr.config import config
from ivr.engine import Ask, CallerInput, Handover, Position, Step
from routing import service as routing
from routing.bridge import DOUBT

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("ivr", __name__, url_prefix="/voice"))

MAX_STEP = 1000
#: Branches that work without the database (service requests are spooled and numbered later).
WITHOUT_DB = frozenset({"emergency", "service", "desk", "doubt"})


def _incoming_without_db() -> Response:
    accept_call_durably()
    tree = config().tree
    return webhooks.twiml(
        twiml.ask(tree, webhooks.settings(), engine.start(tree).position, 0, None)
    )


@bp.post("/incoming")
@durable.unless_db_down(_incoming_without_db)
def incoming() -> Response:
    """A call to the hotline number: open its IVR session and ask the one question.

    Two round trips for a new call on PostgreSQL: the call, its log and the caller's open case
    in one, then the session created with its answer. A retried or repeated incoming webhook
    gets the call's newest answer, not a restart.
    """
    tree = config().tree
    first = engine.start(tree)
    report, found = accept_call_webhook_reading(
        progress.OPEN_CASE_OF_CALLER, language=first.position.language
    )
    session, settings = db.session(), webhooks.settings()
    mine = found.scalars().first()
    notice = [progress.notice(mine, first.position.language)] if mine else []
    answer = str(twiml.ask(tree, settings, first.position, 0, None, notice))
    response = answer
    if not service.begin(session, report.call_sid, first.position, answer):
        # A retry or duplicate: the session's newest answer, not a restart.
        response = getattr(service.get(session, report.call_sid), "last_twiml", "") or answer
    session.commit()
    return webhooks.twiml(response)


def _gather_without_db() -> Response:
    issued_at = _query_int("step", MAX_STEP)
    report = accept_call_durably()
    tree, rules = config().tree, config().rules
    language = request.args.get("lang", tree.default_language)
    if language not in tree.languages:
        language = tree.default_language
    here = Position(tree.start, language)
    step = engine.next_step(tree, rules, here, _heard())
    if isinstance(step.action, Ask) and step.position.language != language:
        answer = twiml.ask(tree, webhooks.settings(), step.position, issued_at + 1, None)
        return webhooks.twiml(answer)
    if not isinstance(step.action, Handover) or step.action.branch not in WITHOUT_DB:
        # Without state there is no counting retries, and no case to look up: hand the
        # caller to a person at once.
        step = Step(here, Handover("desk"), f"{step.reason} (database down)")
    assert isinstance(step.action, Handover)  # noqa: S101 (narrowing; set just above)
    return webhooks.twiml(
        _handover(report.call_sid, report.from_raw, step, step.action, queue=False)
    )


@bp.post("/ivr/gather")
@durable.unless_db_down(_gather_without_db)
def gather() -> Response:
    """What the caller pressed or said (or silence): decide, remember, answer."""
    issued_at = _query_int("step", MAX_STEP)
    report, found = accept_call_webhook_reading(service.BY_CALL)
    tree, rules, settings = config().tree, config().rules, webhooks.settings()
    session = db.session()
    ivr = found.scalars().one_or_none()
    if ivr is None:  # the incoming webhook never reached us: start the tree here
        service.begin(session, report.call_sid, engine.start(tree).position)
        ivr = service.get(session, report.call_sid)
        if ivr is None:  # pragma: no cover - only if the row was deleted in between
            raise RuntimeError(f"IVR session of {report.call_sid} vanished")
    if issued_at != ivr.step and ivr.last_twiml:
        # A retry of a webhook already answered, or a stale one: repeat the newest answer.
        session.commit()
        return webhooks.twiml(ivr.last_twiml)

    heard = _heard()
    step = engine.next_step(tree, rules, service.position(ivr), heard)
    if isinstance(step.action, Ask):
        answer = twiml.ask(tree, settings, step.position, ivr.step + 1, step.action.reprompt)
    else:
        answer = _handover(report.call_sid, report.from_raw, step, step.action)
    response = str(answer)
    if not service.advance(
        session, ivr, expected_step=ivr.step, heard=heard, step=step, twiml=response
    ):
        # Another delivery of this webhook got there first: answer what it answered.
        response = (service.get(session, report.call_sid) or ivr).last_twiml
    session.commit()
    return webhooks.twiml(response)


def _heard() -> CallerInput:
    params = webhooks.params()
    return CallerInput.from_params(
        params.get("Digits"), params.get("SpeechResult"), params.get("Confidence")
    )


def _handover(
    call_sid: str, caller: str, step: Step, handover: Handover, *, queue: bool = True
) -> VoiceResponse:
    """Leave the IVR: say where the caller is going, then bridge them to people on duty — or,
    for the desk while call-takers are signed in, queue them for the next free call-taker (a
    caller nothing understood only when one is free now: they never wait behind others).
    `queue=False` when the database is down: the queue needs it, the bridge does not."""
    tree = config().tree
    branch, language = handover.branch, step.position.language
    route = _route(branch, step.classification)
    log.info("call %s from %s → %s on %s (%s)", call_sid, mask(caller), branch, route, step.reason)
    response = VoiceResponse()
    twiml.say(response, tree, tree.branch_prompts[branch][language])
    if branch == "service":
        return capture.ask_for_details(response, webhooks.settings(), language)
    if branch == "status":
        return progress.start(
            response, caller_e164(caller, webhooks.settings().default_region), language
        )
    if queue and branch in ("desk", "doubt"):
        session = db.session()
        settings = webhooks.settings()
        urgent = branch == "doubt"
        takers = desk.free_takers(session, settings) if urgent else desk.signed_in(session)
        if takers:
            return desk_twiml.enqueue(response, call_sid, caller, language, urgent=urgent)
    return routing.start_bridge(response, call_sid, route, language)


def _route(branch: str, verdict: Classification | None) -> str:
    """Which route a branch rings: an emergency's category, DOUBT for a caller nothing
    understood (the desk's people, then the emergency last resort), the desk for the rest."""
    if branch == "doubt":
        return DOUBT
    if branch != "emergency":
        return "desk"
    if verdict is not None and verdict.kind is Kind.EMERGENCY:
        return verdict.category
    return config().rules.default_emergency


def _query_int(name: str, maximum: int) -> int:
    """The query parameter `name` as a whole number from 0 to `maximum` (ASCII digits, read by
    core.inputs.whole_number); missing or anything else is a 400."""
    try:
        return whole_number(request.args.get(name, ""), name, 0, maximum)
    except BadInput:
        abort(400, description=f"{name}: must be a whole number from 0 to {maximum}")
