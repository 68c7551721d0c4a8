"""One language per page: every word the console shows comes from its catalogue, on every page,
in both languages, for every role — states, classifications, units, teams, officers, actors,
errors and the board's live rows by name, never as codes.

The pages are the console's GET routes from the app's URL map (a new page is covered, or fails
here until it is), opened over a world with something on every page: a call in the IVR, an
emergency whose caller hung up while officers' phones rang, cases in several states (one filed
by a city app with a place and a filer, one reopened by an unsatisfied survey, one escalated by
the deadline sweep), call-back tasks, alerts, an error page.

What people wrote or said is data, not interface: the transcript, notes, feedback, names and
numbers are marked `translate="no"` (HTML's own way to say "do not translate this") and are
skipped, as is text in an element whose `lang` differs from the page's (the language switch).
Everything else on a Chinese page must hold no Latin word but CSV and YAML; on an English page,
no Chinese character at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any, ClassVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from cases.models import Case
from cases.service import apply
from cases.supervision import supervise
from config.settings import CONFIG_DIR
from core.alerts import raise_alert
from core.db import utcnow
from recordings.models import RecordingState
from routing import callbacks, store
from routing.rosterfile import load_roster
from staff.models import Role
from surveys.models import CaseSurvey, SurveyAnswer, SurveyState
from tests.support import TwilioSigner, call_params, gather_of, path_of, twiml
from tests.support.recordings import attach_recording
from tests.support.staff import add_user, login, open_case, token_for

#: Latin words a Chinese page may show: names of file formats the page offers.
LATIN_ALLOWED = {"CSV", "YAML"}
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
#: Identifiers, whatever the language: case numbers (MS-20261201-0001).
IDENTIFIER = re.compile(r"\bMS-[0-9]{8}-[0-9]{4,}\b")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: Attributes a person reads (or hears from a screen reader).
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
#: Pages that are not pages: data, files, or a form's target.
NOT_PAGES = {
    "console.static",
    "console.board_json",
    "console.figures_csv",
    "console.recording_media",
    "console.desk_token",
    "console.desk_json",
}
ROLES = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.UNIT)


class VisibleText(HTMLParser):
    """The text of a page a person reads in the page's language: text nodes and read
    attributes, outside <script>/<style> and outside elements marked translate="no" or in
    another language. <template> content counts: the board's script shows it."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        {"meta", "link", "input", "br", "img", "hr", "source", "area", "col", "wbr"}
    )

    def __init__(self, language: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.stack: list[bool] = []  # per open element: is its content skipped?
        self.found: list[str] = []

    def _skipped(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        lang = (values.get("lang") or "").lower()
        skip = (
            tag in ("script", "style")
            or values.get("translate") == "no"
            or (lang != "" and not lang.startswith(self.language) and tag != "html")
        )
        if not self._skipped() and not skip:
            for name in READ_ATTRIBUTES:
                if values.get(name):
                    self.found.append(values[name] or "")
            if (
                tag == "input"
                and values.get("type") in ("submit", "button")
                and values.get("value")
            ):
                self.found.append(values["value"] or "")
        if tag not in self.VOID:
            self.stack.append(skip)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipped() and data.strip():
            self.found.append(data.strip())


def foreign_words(text: str, language: str) -> list[str]:
    """What in `text` is not in `language`."""
    text = IDENTIFIER.sub("", text)
    if language == "zh":
        return [w for w in LATIN_WORD.findall(text) if w not in LATIN_ALLOWED]
    return CJK.findall(text)


def untranslated(html: str, language: str) -> list[str]:
    parser = VisibleText(language)
    parser.feed(html)
    return [piece for piece in parser.found if foreign_words(piece, language)]


# ------------------------------------------------------------------------------- the world


@pytest.fixture
def world(app: Flask, db_session: Session, twilio: TwilioSigner) -> dict[str, Any]:
    """Something on every page, made the way the service makes it."""
    settings = app.extensions["hotline.settings"]
    units = app.extensions["hotline.units"]
    store.save_roster(db_session, load_roster(CONFIG_DIR / "roster.yaml", "CN"))
    db_session.commit()
    app.extensions["hotline.roster"].invalidate()
    for role in ROLES:
        add_user(
            db_session, role.value, role, unit="city_management" if role is Role.UNIT else None
        )

    # A caller still in the IVR, and an emergency whose caller hung up while officers' phones
    # rang (a danger row, an alert and a priority-0 call-back task).
    in_ivr = call_params(settings)
    twilio.post("/voice/incoming", in_ivr)
    fire = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", fire))
    twilio.post(
        path_of(gather_of(door).get("action") or ""),
        {**fire, "CallStatus": "in-progress", "SpeechResult": "我家着火了", "Confidence": "0.9"},
    )
    twilio.post("/voice/status", {**fire, "CallStatus": "completed", "CallDuration": "40"})
    callbacks.open_callback(
        db_session,
        {
            "call_sid": "CA" + "5" * 32,
            "kind": "abandoned_ivr",
            "priority": 2,
            "caller_number": "+8613800138005",
            "at": utcnow().isoformat(),
            "language": "zh",
        },
    )

    # Cases: dispatched (with a pending recording), confidential, overdue and escalated by the
    # sweep, reopened by an unsatisfied survey, and one filed by a city app.
    plain = open_case(app, db_session)
    attach_recording(db_session, plain, "4", RecordingState.PENDING)
    open_case(app, db_session, confidential=True)
    late = open_case(app, db_session)
    db_session.execute(
        update(Case)
        .where(Case.number == late)
        .values(due_at=utcnow() - dt.timedelta(hours=2), remind_at=utcnow() - dt.timedelta(days=1))
    )
    db_session.commit()
    with app.app_context():
        assert supervise(db_session, units, settings.tz)[1] >= 1, "the sweep escalates it"
    raise_alert(
        db_session,
        {
            "call_sid": None,
            "priority": 2,
            "kind": "unit-pin",
            "message": "three wrong PINs",
            "at": utcnow().isoformat(),
        },
    )
    redone = _reopened_by_survey(app, db_session)

    filer = token_for(db_session, add_user(db_session, "city-app", Role.CLIENT))
    filed = app.test_client().post(
        "/open311/v2/requests.json",
        data={
            "api_key": filer,
            "service_code": "city_management",
            "lat": "27.3375",
            "long": "117.4921",
            "address_string": "中山路 12 号",
            "description": "路灯不亮",
            "first_name": "明",
            "last_name": "李",
            "email": "li.ming@shaowu.example.cn",
        },
    )
    assert filed.status_code == 201
    db_session.commit()
    return {
        "cases": [plain, late, redone, filed.get_json()[0]["service_request_id"]],
        "settings": settings,
    }


def _reopened_by_survey(app: Flask, db_session: Session) -> str:
    """A resolved case whose survey found it unresolved: the answers, the reopen and the
    dispatch back, as surveys.outcome writes them (tests/surveys drive the calls)."""
    units = app.extensions["hotline.units"]
    settings = app.extensions["hotline.settings"]
    number = open_case(app, db_session)
    apply(db_session, number, "accept", actor="unit:city_management")
    apply(db_session, number, "resolve", actor="console:unit", note="已更换灯泡")
    survey = CaseSurvey(
        case_number=number,
        round=0,
        caller_number="+8613800138000",
        state=SurveyState.COMPLETED,
        due_at=utcnow(),
        attempts=1,
        outcome="answered",
        negative=True,
    )
    db_session.add(survey)
    db_session.flush()
    for question, value, positive, text in (
        ("resolved", "no", False, "没有解决"),
        ("satisfaction", "1", False, "1"),
        ("comment", None, None, "路灯还是不亮"),
    ):
        db_session.add(
            SurveyAnswer(
                survey_id=survey.id,
                attempt=1,
                question=question,
                value=value,
                positive=positive,
                text=text,
                via="speech",
            )
        )
    found = {
        "survey": {
            "state": "completed",
            "outcome": "answered",
            "resolved": False,
            "score": "1",
            "comment": "路灯还是不亮",
        }
    }
    apply(
        db_session,
        number,
        "reopen",
        actor="survey",
        note="回访：未解决",
        tz=settings.tz,
        holidays={},
        data=found,
    )
    apply(
        db_session,
        number,
        "dispatch",
        actor="survey",
        note="回访不满意，退回原单位重办",
        unit_code="city_management",
        units=units,
        data={"survey_redo": True},
    )
    db_session.commit()
    return number


def _pages(app: Flask, numbers: list[str]) -> Iterator[str]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/console/") or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in NOT_PAGES:
            continue
        if "number" in rule.arguments:
            yield from (rule.rule.replace("<number>", n) for n in numbers)
        else:
            assert not rule.arguments, f"{rule.rule}: give this page's arguments here"
            yield rule.rule


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_speaks_one_language_for_every_role(
    app: Flask, client: FlaskClient, world: dict[str, Any], language: str
) -> None:
    seen: dict[str, list[str]] = {}
    pages = list(_pages(app, world["cases"]))
    assert len(pages) >= 10
    for role in (None, *ROLES):
        browser = app.test_client()
        if role is not None:
            login(browser, role.value)
        for path in [*pages, "/console/cases/MS-19990101-0001", "/console/no-such-page"]:
            response = browser.get(f"{path}?lang={language}", follow_redirects=True)
            assert response.status_code < 500, path
            html = response.get_data(as_text=True)
            assert f'<html lang="{"zh-CN" if language == "zh" else "en"}">' in html
            for piece in untranslated(html, language):
                seen.setdefault(piece, []).append(f"{role.value if role else '-'} {path}")
    assert not seen, "\n".join(f"{text!r}: {where[:3]}" for text, where in seen.items())


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_boards_live_data_speaks_the_pages_language(
    app: Flask, world: dict[str, Any], language: str
) -> None:
    browser = app.test_client()
    login(browser, Role.DISPATCHER.value)
    browser.get(f"/console/board?lang={language}")
    data = browser.get("/console/board.json").get_json()
    assert data["danger"] and data["recent"] and data["live"], "every part has something"
    shown = [
        str(value)
        for row in (*data["live"], *data["recent"])
        for key, value in row.items()
        if key in ("stage_label", "branch", "classification", "route", "answered_by")
        and value is not None
    ]
    shown += [str(e[key]) for e in data["danger"] for key in ("text", "route") if e[key]]
    assert [s for s in shown if foreign_words(s, language)] == []


def test_an_error_says_what_happened_in_the_pages_language(
    app: Flask, world: dict[str, Any]
) -> None:
    browser = app.test_client()
    login(browser, Role.UNIT.value)
    refused = browser.get("/console/board?lang=zh")
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "403 · 无权访问" in page and "您的角色不能查看此页面" in page
    english = browser.get("/console/figures?lang=en").get_data(as_text=True)
    assert "403 · Not allowed" in english


def test_a_refused_action_is_told_in_the_pages_language(app: Flask, world: dict[str, Any]) -> None:
    browser = app.test_client()
    login(browser, Role.SUPERVISOR.value)
    number = world["cases"][0]
    page = browser.get(f"/console/cases/{number}?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    refused = browser.post(
        f"/console/cases/{number}/act",
        data={"action": "resolve", "csrf": token.group(1)},  # no feedback: refused
        follow_redirects=True,
    )
    html = refused.get_data(as_text=True)
    assert (
        '<p class="flash error" role="alert">The case&#39;s state does not allow this</p>' in html
    )
    assert "cannot resolve a case that is dispatched" in html, "the precise reason, as detail"
    assert untranslated(html, "en") == []


def test_names_not_codes(app: Flask, client: FlaskClient, world: dict[str, Any]) -> None:
    browser = app.test_client()
    login(browser, Role.SUPERVISOR.value)
    cases = browser.get("/console/cases?lang=zh").get_data(as_text=True)
    assert "城管执法大队" in cases and "city_management" not in untranslated_free(cases)
    roster = browser.get("/console/roster?lang=zh").get_data(as_text=True)
    assert ">暂停呼叫<" in roster, "the button says what it does"
    assert 'class="badge on">可呼叫<' in roster, "the state is a badge, not a button"
    redone = browser.get(f"/console/cases/{world['cases'][2]}?lang=en").get_data(as_text=True)
    assert "Survey: not resolved; satisfaction 1 of 5" in redone
    assert "Unsatisfied survey: back to " in redone
    assert re.search(r'<li class="bad" data-question="comment">', redone), "a complaint is red"
    escalated = browser.get(f"/console/cases/{world['cases'][1]}?lang=zh").get_data(as_text=True)
    assert "超过办理时限，自动督办" in escalated and ">系统<" in escalated


def untranslated_free(html: str) -> str:
    """The page's text outside elements marked translate="no"."""
    parser = VisibleText("zh")
    parser.feed(html)
    return " ".join(parser.found)
