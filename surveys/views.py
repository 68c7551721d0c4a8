"""The survey call's webhooks: answer, each question's <Gather> action, the answering machine
detection result and the status callback.

Every URL carries the survey and the attempt (`surveys.urls`); a webhook for an attempt that is
no longer the one on the line changes nothing. Answers are stored as they arrive
(one per question: a retried webhook finds its answer already there), and the survey ends once,
by a conditional UPDATE (`surveys.outcome.finish`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.datastructures import MultiDict

from core import db, webhooks
from core.db import insert_if_missing
from core.inputs import BadInput, whole_number
from core.voice import languages, line, say, say_lines
from core.webhooks import BadWebhook
from surveys import attempts, detection, schedule, urls
from surveys.definition import Ask, Question, QuestionKind
from surveys.models import CaseSurvey, SurveyAnswer, SurveyOutcome, SurveyState
from surveys.outcome import Context, answers_of, finish
from surveys.service import opt_out

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("surveys", __name__, url_prefix=urls.PREFIX))

#: Seconds of silence before a question counts as unanswered.
QUESTION_TIMEOUT_S = 6
MAX_SPEECH = 500
#: The bounds of the numbers in the webhooks' query strings (`surveys.urls`): survey ids are
#: BIGINTs, attempts and question indexes small.
MAX_SURVEY_ID = 2**63 - 1
MAX_ATTEMPT = 1000
MAX_QUESTION = 1000

_PHRASES = {
    "again": {"zh": "抱歉，没有听清。", "en": "Sorry, I did not catch that."},
    "thanks": {
        "zh": "感谢您的配合，祝您生活愉快，再见。",
        "en": "Thank you for your time. Goodbye.",
    },
    "sorry_thanks": {
        "zh": "感谢您的反馈，我们已安排重新办理，办理结果会再次回访您。再见。",
        "en": "Thank you. We will have your request handled again and call you back. Goodbye.",
    },
    "opted_out": {
        "zh": "好的，今后不再给您打回访电话。再见。",
        "en": "All right, you will not get these calls again. Goodbye.",
    },
    "over": {"zh": "本次回访已结束，感谢您的配合。再见。", "en": "This survey is over. Goodbye."},
    "apology": {
        "zh": "抱歉，回访系统暂时繁忙，我们稍后再联系您。再见。",
        "en": "Sorry, we are having trouble. We will call you another time. Goodbye.",
    },
}


def apology() -> VoiceResponse:
    """What the callee hears when the survey itself fails (no database, a bug): sorry, goodbye.

    Spoken in the fixed voices on purpose: it must work when nothing else does.
    """
    response = VoiceResponse()
    say(response, "zh", _PHRASES["apology"])
    response.hangup()
    return response


@bp.post("/answer")
def answer() -> Response:
    """The callee picked up: the first question at once (machine detection runs meanwhile and
    reports to /amd; an AnsweredBy here is ignored)."""
    found = _attempt(_checked_ids())
    if found is None:
        return webhooks.twiml(_goodbye("zh", "over"))
    survey, attempt, ctx = found
    params = MultiDict(
        [(k, v) for k, v in webhooks.params().items(multi=True) if k != "AnsweredBy"]
    )
    row = attempts.report(db.session(), survey.id, attempt, params, schedule.now())
    db.session().commit()
    if row is not None and attempts.is_machine(row.answered_by):
        return webhooks.twiml(_hang_up())  # detection was quicker than this webhook
    return webhooks.twiml(_ask(ctx, survey, attempt, 0, retry=False))


@bp.post("/amd")
def amd() -> Response:
    """Twilio's answering machine detection result (AsyncAmd): a machine is hung up on by a job
    (a REST call has no place in a webhook) and the attempt ends as a machine's (204)."""
    report = attempts.CallbackReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid, need="AnsweredBy"
    )
    ids = _survey_ids()  # BadWebhook (400) before anything is written
    session = db.session()
    try:
        found = _attempt(ids, lookup_only=True)
        if found is not None:
            survey, attempt, _ = found
            detection.detected(session, survey, attempt, report)
        session.commit()
    except Exception:
        # Nobody listens to this answer: a 503 lets Twilio deliver the result again.
        session.rollback()
        log.exception("survey detection result for %s not recorded", report.call_sid)
        return Response(status=503)
    return Response(status=204)


@bp.post("/reply")
def reply() -> Response:
    """A question's <Gather> action: a key, speech, or nothing."""
    ids = _checked_ids()
    index, tried = _query_number("q", 0, MAX_QUESTION, 0), _query_number("t", 0, 1, 1)
    found = _attempt(ids)
    if found is None:
        return webhooks.twiml(_goodbye("zh", "over"))
    survey, attempt, ctx = found
    p, session = webhooks.params(), db.session()
    if _machine(survey, attempt):
        return webhooks.twiml(_hang_up())  # its greeting answers nothing; the job hangs up
    question = ctx.survey.question(index)
    digits = p.get("Digits", "").strip()[:8]
    speech = p.get("SpeechResult", "").strip()[:MAX_SPEECH]
    if digits[:1] == ctx.survey.opt_out_key and survey.caller_number:
        opt_out(session, survey.caller_number, "survey key")
        finish(session, survey, attempt, SurveyState.COMPLETED, SurveyOutcome.OPTED_OUT, ctx)
        session.commit()
        return webhooks.twiml(_goodbye(survey.language, "opted_out"))
    if question is None:
        return webhooks.twiml(_end(ctx, survey, attempt))
    understood = _store(ctx, survey, attempt, question, digits, speech)
    session.commit()
    if not understood and tried == 0:
        return webhooks.twiml(_ask(ctx, survey, attempt, index, retry=True))
    return webhooks.twiml(_ask(ctx, survey, attempt, index + 1, retry=False))


@bp.post("/status")
def status() -> Response:
    """Twilio's status callback: record it; a final status ends the attempt."""
    attempts.CallbackReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid, need="CallStatus"
    )  # BadWebhook (400) before anything is written
    found = _attempt(_survey_ids(), lookup_only=True)
    if found is not None:
        survey, attempt, ctx = found
        session, now = db.session(), schedule.now()
        row = attempts.report(session, survey.id, attempt, webhooks.params(), now)
        final = webhooks.params().get("CallStatus", "")
        on_the_line = survey.state is SurveyState.DIALING and survey.attempts == attempt
        if row is not None and final in attempts.FINAL and on_the_line:
            attempts.end_attempt(session, survey, attempt, final, ctx, now)
        session.commit()
    return Response(status=204)


# ------------------------------------------------------------------------------------ helpers


def _checked_ids() -> tuple[int, int] | None:
    """For a webhook the callee is on: the call is ours (CallSid, AccountSid) and the query's
    ids are well formed (`_survey_ids`), else BadWebhook (400: a forged request)."""
    attempts.our_call(webhooks.params(), account_sid=webhooks.settings().twilio_account_sid)
    return _survey_ids()


def _survey_ids() -> tuple[int, int] | None:
    """The survey id and attempt of the query string (`surveys.urls`); None when there is
    neither (no survey on the line), BadWebhook when one is missing or not an ASCII whole
    number."""
    if "s" not in request.args and "a" not in request.args:
        return None
    return _query_number("s", 1, MAX_SURVEY_ID), _query_number("a", 1, MAX_ATTEMPT)


def _query_number(name: str, low: int, high: int, default: int | None = None) -> int:
    """The query's `name` as a whole number in [low, high] (core.inputs), `default` when it is
    absent (required if None); else BadWebhook (Twilio posts to the URLs we built, signed as
    given: anything else is forged)."""
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        return whole_number(raw or "", name, low, high)
    except BadInput as exc:
        raise BadWebhook(f"query {exc}") from None


def _attempt(
    ids: tuple[int, int] | None, *, lookup_only: bool = False
) -> tuple[CaseSurvey, int, Context] | None:
    """The survey and attempt `ids` names (`_survey_ids`), if it is the one on the line."""
    if ids is None:
        return None
    survey_id, attempt = ids
    survey = db.session().get(CaseSurvey, survey_id)
    if survey is None:
        return None
    ctx = Context.of(webhooks.settings())
    if lookup_only:
        return survey, attempt, ctx
    if survey.state is not SurveyState.DIALING or survey.attempts != attempt:
        return None
    return survey, attempt, ctx


def _machine(survey: CaseSurvey, attempt: int) -> bool:
    """Whether detection already said a machine took this attempt."""
    row = attempts.attempt_row(db.session(), survey.id, attempt)
    return row is not None and attempts.is_machine(row.answered_by)


def _hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()  # no message on a machine: the next attempt tries for a person
    return response


def _store(
    ctx: Context, survey: CaseSurvey, attempt: int, question: Question, digits: str, speech: str
) -> bool:
    """Keep the answer (the first one per question wins); False when nothing was understood."""
    if question.kind is QuestionKind.COMMENT:
        if not speech:
            return False
        value, positive, text, via = None, None, speech, "speech"
    else:
        choice = question.by_key(digits[:1]) if digits else question.understand(speech)
        if choice is None:
            return False
        value, positive = choice.value, choice.positive
        text, via = (digits[:1], "dtmf") if digits else (speech, "speech")
    insert_if_missing(
        db.session(),
        SurveyAnswer,
        {
            "survey_id": survey.id,
            "question": question.id,
            "value": value,
            "positive": positive,
            "text": text,
            "via": via,
            "attempt": attempt,
            "at": schedule.now(),
        },
        unique=("survey_id", "question"),
    )
    return True


def _ask(
    ctx: Context, survey: CaseSurvey, attempt: int, index: int, *, retry: bool
) -> VoiceResponse:
    """Question `index` (or the next one worth asking), or the end of the survey."""
    definition = ctx.survey
    negative = any(a.positive is False for a in answers_of(db.session(), survey.id))
    while (question := definition.question(index)) is not None:
        if question.ask is Ask.ALWAYS or negative:
            break
        index += 1
    if question is None:
        return _end(ctx, survey, attempt)
    action = _url("reply", survey, attempt, q=index, t=int(retry))
    response = VoiceResponse()
    speech_language = languages().of(survey.language).speech_language
    if question.kind is QuestionKind.COMMENT:
        gather = response.gather(
            input="speech",
            action=action,
            method="POST",
            timeout=QUESTION_TIMEOUT_S,
            speech_timeout="auto",
            language=speech_language,
            action_on_empty_result=True,
        )
    else:
        gather = response.gather(
            input="dtmf speech",
            action=action,
            method="POST",
            timeout=QUESTION_TIMEOUT_S,
            num_digits=1,
            speech_timeout="auto",
            language=speech_language,
            hints=", ".join(_hints(question)) or None,
            action_on_empty_result=True,
            barge_in=True,
        )
    if retry:
        _say(gather, survey.language, _PHRASES["again"])
    _say(gather, survey.language, question.prompt)
    response.redirect(action, method="POST")  # a Gather that ends without posting
    return response


def _end(ctx: Context, survey: CaseSurvey, attempt: int) -> VoiceResponse:
    """All questions asked: end the survey now (the status callback would, a little later)."""
    session = db.session()
    if _machine(survey, attempt):
        return _hang_up()  # a machine got through the questions: never a completed survey
    finish(session, survey, attempt, SurveyState.COMPLETED, SurveyOutcome.ANSWERED, ctx)
    session.commit()
    negative = any(a.positive is False for a in answers_of(session, survey.id))
    return _goodbye(survey.language, "sorry_thanks" if negative else "thanks")


def _goodbye(language: str, phrase: str) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, language, _PHRASES[phrase])
    response.hangup()
    return response


def _say(target: VoiceResponse | Gather, language: str, texts: Mapping[str, str]) -> None:
    """Say `texts["en"]` to an English-speaking callee, `texts["zh"]` to anyone else, in the
    hotline's voices (core.voice: one table for the front door and the surveys)."""
    say_lines(target, languages(), [line(language, texts)])


def _hints(question: Question) -> list[str]:
    return [word for answer in question.answers for word in answer.words][:50]


def _url(path: str, survey: CaseSurvey, attempt: int, **extra: int) -> str:
    return urls.url(webhooks.settings(), path, survey.id, attempt, **extra)
