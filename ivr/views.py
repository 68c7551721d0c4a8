"""The hotline number's voice webhooks: the front door and its handovers."""

from __future__ import annotations

import dataclasses
import logging

from flask import Blueprint, Flask, Response, abort, current_app, request

from calls.webhook import accept_call_webhook
from core import db, webhooks
from core.phone import mask
from ivr import engine, service, twiml
from ivr.classifier import Rules, load_rules
from ivr.engine import Ask, CallerInput
from ivr.tree import BRANCHES, Tree, load_tree

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("ivr", __name__, url_prefix="/voice"))

MAX_STEP = 1000


@dataclasses.dataclass(frozen=True)
class IvrConfig:
    """The tree and classifier rules an app serves, loaded and validated at start-up."""

    tree: Tree
    rules: Rules


def init_app(app: Flask) -> None:
    """Load the IVR tree and classifier rules (a bad file stops start-up with its reason)."""
    settings = app.extensions["hotline.settings"]
    app.extensions["hotline.ivr"] = IvrConfig(
        tree=load_tree(settings.ivr_file), rules=load_rules(settings.classifier_file)
    )
    app.register_blueprint(bp)
    from ivr.cli import classify_command

    app.cli.add_command(classify_command)


def config() -> IvrConfig:
    ivr: IvrConfig = current_app.extensions["hotline.ivr"]
    return ivr


@bp.post("/incoming")
def incoming() -> Response:
    """A call to the hotline number: open its IVR session and ask the one question."""
    report = accept_call_webhook()
    tree, session = config().tree, db.session()
    first = engine.start(tree)
    ivr = service.begin(session, report.call_sid, first.position)
    if not ivr.last_twiml:
        response = str(twiml.ask(tree, webhooks.settings(), first.position, 0, None))
        service.set_call_language(session, report.call_sid, first.position.language)
        if not service.save_first_response(session, ivr, response):
            ivr = service.get(session, report.call_sid) or ivr
    session.commit()
    # A retried or repeated incoming webhook gets the call's newest answer, not a restart.
    return webhooks.twiml(ivr.last_twiml or response)


@bp.post("/ivr/gather")
def gather() -> Response:
    """What the caller pressed or said (or silence): decide, remember, answer."""
    issued_at = _query_int("step", MAX_STEP)
    report = accept_call_webhook()
    tree, rules, settings = config().tree, config().rules, webhooks.settings()
    session = db.session()
    ivr = service.get(session, report.call_sid) or service.begin(
        session, report.call_sid, engine.start(tree).position
    )
    if issued_at != ivr.step and ivr.last_twiml:
        # A retry of a webhook already answered, or a stale one: repeat the newest answer.
        session.commit()
        return webhooks.twiml(ivr.last_twiml)

    params = webhooks.params()
    heard = CallerInput.from_params(
        params.get("Digits"), params.get("SpeechResult"), params.get("Confidence")
    )
    step = engine.next_step(tree, rules, service.position(ivr), heard)
    if isinstance(step.action, Ask):
        answer = twiml.ask(tree, settings, step.position, ivr.step + 1, step.action.reprompt)
    else:
        answer = twiml.handover(tree, settings, step.position.language, step.action.branch)
        log.info(
            "call %s from %s → %s (%s)",
            report.call_sid,
            mask(report.from_raw),
            step.action.branch,
            step.reason,
        )
    response = str(answer)
    if not service.advance(
        session, ivr, expected_step=ivr.step, heard=heard, step=step, twiml=response
    ):
        # Another delivery of this webhook got there first: answer what it answered.
        ivr = service.get(session, report.call_sid) or ivr
        response = ivr.last_twiml
    session.commit()
    return webhooks.twiml(response)


@bp.post("/ivr/dialed")
def dialed() -> Response:
    """A handover number was rung: finish if answered, else ring the next one."""
    branch = request.args.get("branch", "")
    if branch not in BRANCHES:
        abort(400, description=f"branch: must be one of {', '.join(BRANCHES)}")
    attempt = _query_int("attempt", 10)
    report = accept_call_webhook()
    tree = config().tree
    ivr = service.get(db.session(), report.call_sid)
    language = ivr.language if ivr and ivr.language in tree.languages else tree.default_language
    db.session().commit()
    status = webhooks.params().get("DialCallStatus", "")
    return webhooks.twiml(
        twiml.after_dial(tree, webhooks.settings(), language, branch, attempt, status)
    )


def _query_int(name: str, maximum: int) -> int:
    raw = request.args.get(name, "")
    if not raw.isascii() or not raw.isdigit() or int(raw) > maximum:
        abort(400, description=f"{name}: must be a whole number from 0 to {maximum}")
    return int(raw)
