"""Twilio's TwiML definitions (core/twiml_spec/), the checker built on them, and the test hook.

The definitions are twilio-node's generated `VoiceResponse.d.ts`/`.js`, vendored; the checker
must read them right (tags, nesting, enumerations, lists, booleans, numbers), and the hook in
tests/conftest.py must really fail a test whose request got TwiML Twilio would misread.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from flask import Flask, Response
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from app import STATIC_APOLOGY, create_app
from core import twiml_contract, voice
from core.twiml_contract import allowed_values, check_value, contract, violations
from tests.support import OFFICER_LEG_PATHS, make_settings, twiml_problems
from tests.support.prism import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "core" / "twiml_spec"
NODE_TWILIO = REPO_ROOT / "node_modules" / "twilio"
#: Vendored file → its path in the npm package.
VENDORED = {
    "VoiceResponse.d.ts": "lib/twiml/VoiceResponse.d.ts",
    "VoiceResponse.js": "lib/twiml/VoiceResponse.js",
    "LICENSE-twilio-node": "LICENSE",
}
XML = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml(body: str) -> str:
    return f"{XML}<Response>{body}</Response>"


# --- the vendored copy -------------------------------------------------------------------------


def test_the_vendored_definitions_are_twilio_nodes_own_bytes() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["twilio"]
    installed = NODE_TWILIO / "package.json"
    if not installed.is_file():
        unavailable(f"{installed.relative_to(REPO_ROOT)} is missing (run `make install`)")
    assert json.loads(installed.read_text())["version"] == pinned
    for name, upstream in VENDORED.items():
        vendored, original = (SPEC_DIR / name).read_bytes(), (NODE_TWILIO / upstream).read_bytes()
        assert vendored == original, f"core/twiml_spec/{name} differs from twilio@{pinned}"


def test_the_source_notice_names_the_pinned_version() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["twilio"]
    notice = (SPEC_DIR / "SOURCE.md").read_text()

    assert f"version **{pinned}**" in notice
    assert "MIT" in notice
    assert (SPEC_DIR / "LICENSE-twilio-node").read_text().startswith("MIT License")


def test_the_definitions_are_package_data() -> None:
    # The app reads them at start-up, so an installed wheel must carry them.
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["core"]
    for name in (twiml_contract.DEFINITIONS, twiml_contract.BUILDER, *VENDORED, "SOURCE.md"):
        assert any(fnmatch.fnmatch(f"twiml_spec/{name}", p) for p in patterns), name


# --- the model ---------------------------------------------------------------------------------


def test_the_model_knows_verbs_nouns_and_their_nesting() -> None:
    model = contract()
    assert model.root.tag == "Response"
    assert {"Say", "Gather", "Dial", "Record", "Redirect", "Hangup", "Pause"} <= set(
        model.root.children
    )
    assert set(model.root.children) & {"Number", "Sip", "break"} == set()
    dial = model.elements[model.root.children["Dial"]]
    assert {"Number", "Sip", "Client", "Conference", "Queue"} <= set(dial.children)
    gather = model.elements[model.root.children["Gather"]]
    assert set(gather.children) == {"Say", "Play", "Pause"}
    say = model.elements["Say"]
    assert {"say-as", "break", "prosody", "lang"} <= set(say.children)  # SSML, tags as written
    assert model.elements["Sip"].children["Uri"] == "SipUri"
    assert [spec.class_name for spec in model.by_tag("Sip")] == ["ReferSip", "Sip"]


def test_the_model_reads_attribute_types() -> None:
    gather = contract().elements["Gather"].attributes
    assert (gather["input"].kind, gather["input"].many) == ("enum", True)
    assert gather["input"].values == {"dtmf", "speech"}
    assert gather["actionOnEmptyResult"].kind == "boolean"
    assert gather["timeout"].kind == "number"
    assert gather["hints"].kind == "string"
    assert contract().elements["SsmlLang"].attributes["xml:lang"].kind == "enum"
    assert contract().elements["SsmlSayAs"].attributes["interpret-as"].kind == "enum"


def test_gather_and_say_have_different_language_lists() -> None:
    gather, say = allowed_values("Gather", "language"), allowed_values("Say", "language")
    assert gather is not None and say is not None
    assert {"cmn-Hans-CN", "zh", "zh-TW", "cmn-Hant-TW", "yue-Hant-HK", "en-US"} <= gather
    assert "zh-CN" not in gather
    assert {"cmn-CN", "zh-CN", "en-US"} <= say
    assert allowed_values("Gather", "speechModel") is None  # free text in the definitions
    events = frozenset({"initiated", "ringing", "answered", "completed"})
    assert allowed_values("Number", "statusCallbackEvent") == events


def test_allowed_values_of_an_unknown_attribute_is_an_error() -> None:
    with pytest.raises(KeyError, match="no attribute 'lang'"):
        allowed_values("Say", "lang")
    with pytest.raises(KeyError, match="not an element"):
        allowed_values("Speak", "language")


def test_the_model_is_parsed_once() -> None:
    assert contract() is contract()


def test_an_unknown_definition_format_is_refused() -> None:
    with pytest.raises(twiml_contract.ContractError, match="not a union of strings"):
        twiml_contract._aliases("    type X = string | number;")


# --- documents ---------------------------------------------------------------------------------


def test_a_known_good_document_passes() -> None:
    response = VoiceResponse()
    gather = Gather(
        input="dtmf speech",
        language="cmn-Hans-CN",
        hints="着火, 救命",
        speech_timeout="auto",
        action_on_empty_result=True,
        action="/voice/ivr/gather",
        method="POST",
        timeout=5,
        num_digits=1,
    )
    gather.say("您好，民生110。", language="cmn-CN", voice="Polly.Zhiyu")
    gather.pause(length=1)
    response.append(gather)
    dial = Dial(action="/voice/route/dialed", timeout=20, answer_on_bridge=True, ring_tone="cn")
    dial.number("+8613900139000", url="/voice/route/screen", status_callback_event="answered")
    response.append(dial)
    response.record(max_length=120, play_beep=True, trim="trim-silence", finish_on_key="#")
    response.redirect("/voice/incoming")
    response.hangup()

    assert violations(str(response)) == []
    assert violations(str(response).encode()) == []


def test_gather_language_zh_cn_fails_naming_what_twilio_defines() -> None:
    [problem] = violations(twiml('<Gather language="zh-CN"/>'))

    assert "<Gather language>" in problem and "'zh-CN'" in problem
    assert "GatherLanguage" in problem and "cmn-Hans-CN" in problem


def test_say_language_cmn_cn_passes() -> None:
    assert violations(twiml('<Say language="cmn-CN" voice="Polly.Zhiyu">您好</Say>')) == []
    assert violations(twiml('<Say language="zh-CN">您好</Say>')) == []


def test_a_bad_voice_fails() -> None:
    [problem] = violations(twiml('<Say voice="Polly.Zhiyuu">您好</Say>'))
    assert "'Polly.Zhiyuu'" in problem and "Polly.Zhiyu," in problem


def test_an_unknown_attribute_fails() -> None:
    [problem] = violations(twiml('<Say langauge="cmn-CN">您好</Say>'))
    assert "unknown attribute langauge='cmn-CN'" in problem
    assert "language" in problem  # what Say does take


def test_an_attribute_of_another_element_fails() -> None:
    [problem] = violations(twiml('<Gather voice="Polly.Zhiyu"/>'))
    assert problem.startswith("Response > Gather: unknown attribute voice=")


def test_dial_on_the_officers_leg_fails() -> None:
    document = twiml("<Say>有紧急求助</Say><Dial>+8613900139000</Dial>")

    assert violations(document) == []
    [problem] = violations(document, officer_leg=True)
    assert problem.startswith("Response > Dial:")
    assert "not allowed to contain <Dial>" in problem


def test_dial_nested_anywhere_on_the_officers_leg_fails() -> None:
    document = twiml("<Gather><Dial>+8613900139000</Dial></Gather>")
    problems = violations(document, officer_leg=True)
    assert any("not allowed to contain <Dial>" in p for p in problems)
    assert any("not allowed in <Gather>" in p for p in problems)


def test_screening_without_dial_passes_on_the_officers_leg() -> None:
    document = twiml(
        '<Gather action="/voice/route/accept" numDigits="1" finishOnKey="" timeout="8">'
        '<Say language="cmn-CN" voice="Polly.Zhiyu">请按任意键接听</Say></Gather><Hangup/>'
    )
    assert violations(document, officer_leg=True) == []


def test_empty_finish_on_key_passes() -> None:
    assert violations(twiml('<Gather finishOnKey="" input="dtmf"/>')) == []


@pytest.mark.parametrize("value", ["dtmf speech", "speech dtmf", "speech", "dtmf"])
def test_gather_input_as_a_space_separated_list_passes(value: str) -> None:
    assert violations(twiml(f'<Gather input="{value}"/>')) == []


@pytest.mark.parametrize("value", ["dtmf,speech", "['dtmf', 'speech']", "voice", ""])
def test_gather_input_that_is_not_such_a_list_fails(value: str) -> None:
    [problem] = violations(twiml(f'<Gather input="{value}"/>'))
    assert "<Gather input>" in problem


def test_dial_ring_tone_is_an_enumeration() -> None:
    assert violations(twiml('<Dial ringTone="cn">+8613900139000</Dial>')) == []
    [problem] = violations(twiml('<Dial ringTone="xx">+8613900139000</Dial>'))
    assert "'xx' is not a <Dial ringTone>" in problem and "DialRingTone" in problem


def test_byoc_number_and_sip_inside_dial_pass() -> None:
    document = twiml(
        '<Dial callerId="+865996110110" answerOnBridge="true">'
        '<Number byoc="BY0123456789abcdef0123456789abcdef" url="/voice/route/screen">'
        "+8613900139000</Number>"
        '<Sip username="hotline" password="secret">sip:13900139000@carrier.example.cn</Sip>'
        "</Dial>"
    )
    assert violations(document) == []


def test_a_noun_outside_its_verb_fails() -> None:
    [problem] = violations(twiml("<Number>+8613900139000</Number>"))
    assert problem.startswith("Response > Number: not allowed in <Response>")
    [problem] = violations(twiml("<Dial><Say>hi</Say></Dial>"))
    assert problem.startswith("Response > Dial > Say: not allowed in <Dial>")


def test_an_unknown_element_fails() -> None:
    [problem] = violations(twiml("<Speak>hi</Speak>"))
    assert problem == "Response > Speak: unknown element <Speak>"


def test_booleans_and_numbers_are_checked() -> None:
    problems = violations(twiml('<Dial answerOnBridge="True" timeout="20s">+8613900139000</Dial>'))
    assert problems == [
        "Response > Dial: 'True' is not a <Dial answerOnBridge>: must be true or false",
        "Response > Dial: '20s' is not a <Dial timeout>: must be a number",
    ]
    assert (
        violations(twiml('<Pause length="1.5"/><Dial timeout="20" record="do-not-record"/>')) == []
    )


def test_ssml_inside_say_is_checked() -> None:
    good = twiml(
        '<Say voice="Polly.Zhiyu"><say-as interpret-as="digits">110</say-as>'
        '<lang xml:lang="cmn-CN">您好</lang><break time="1s"/></Say>'
    )
    assert violations(good) == []
    [problem] = violations(twiml('<Say><lang xml:lang="xx-XX">hi</lang></Say>'))
    assert "<lang xml:lang>" in problem


def test_not_xml_and_a_wrong_root_fail() -> None:
    [problem] = violations("<Response><Say>")
    assert problem.startswith("not well-formed XML: no element found")
    assert violations(f"{XML}<Responses/>") == ["the root element is <Responses>, not <Response>"]


def test_check_value_for_configuration() -> None:
    assert check_value("Say", "language", "cmn-CN") is None
    assert check_value("Gather", "language", "cmn-Hans-CN") is None
    assert check_value("Gather", "speechModel", "phone_call") is None
    message = check_value("Gather", "language", "zh-CN")
    assert message is not None
    assert message.startswith("'zh-CN' is not a <Gather language> Twilio defines")
    assert "cmn-Hans-CN" in message
    assert check_value("Gather", "numDigits", "one") == (
        "'one' is not a <Gather numDigits>: must be a number"
    )
    assert check_value("Say", "speed", "1") == (
        "<Say> has no attribute 'speed' in Twilio's Voice TwiML"
    )


# --- the app's own fixed TwiML -----------------------------------------------------------------


def test_the_static_apology_obeys_the_contract_on_any_leg() -> None:
    assert violations(STATIC_APOLOGY) == []
    assert violations(STATIC_APOLOGY, officer_leg=True) == []


@pytest.mark.parametrize("speaker", [voice.ZH, voice.EN], ids=["zh", "en"])
def test_the_voices_are_say_values_twilio_defines(speaker: dict[str, str]) -> None:
    assert check_value("Say", "language", speaker["language"]) is None
    assert check_value("Say", "voice", speaker["voice"]) is None


# --- the hook in tests/conftest.py -------------------------------------------------------------

BAD_SCREEN = twiml("<Say>有紧急求助</Say><Dial>+8613900139000</Dial>")


def _app(path: str, body: str, mimetype: str = "text/xml") -> Flask:
    app = Flask(__name__)
    app.add_url_rule(path, "view", lambda: Response(body, mimetype=mimetype), methods=["POST"])
    return app


def test_the_officer_leg_paths_are_the_apps_routes(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path))

    assert {rule.rule for rule in app.url_map.iter_rules()} >= OFFICER_LEG_PATHS


def test_the_check_finds_dial_on_the_officers_leg() -> None:
    response = Response(BAD_SCREEN, mimetype="text/xml")

    assert twiml_problems("/voice/incoming", response) == []
    [problem] = twiml_problems("/voice/route/screen", response)
    assert "not allowed to contain <Dial>" in problem


def test_the_check_skips_what_is_not_twiml() -> None:
    georeport = Response(
        f"{XML}<service_requests><request/></service_requests>", mimetype="text/xml"
    )

    assert twiml_problems("/open311/v2/requests.xml", georeport) == []
    # Under /voice/ Twilio reads whatever XML it gets as TwiML.
    assert twiml_problems("/voice/incoming", georeport) == [
        "the root element is <service_requests>, not <Response>"
    ]
    assert (
        twiml_problems("/voice/status", Response('{"ok": true}', mimetype="application/json")) == []
    )
    streamed = Response(iter([BAD_SCREEN]), mimetype="text/xml")
    assert twiml_problems("/voice/route/screen", streamed) == []
    assert streamed.get_data(as_text=True) == BAD_SCREEN  # not consumed by the check


def test_any_apps_response_is_recorded_for_the_test(
    twiml_violations: list[tuple[str, list[str]]],
) -> None:
    client = _app("/voice/route/screen", BAD_SCREEN).test_client()

    assert client.post("/voice/route/screen?call=1").status_code == 200

    assert [where for where, _ in twiml_violations] == ["POST /voice/route/screen?call=1"]
    assert "not allowed to contain <Dial>" in twiml_violations[0][1][0]
    twiml_violations.clear()  # recorded as it should be: this test must not fail for it


def test_xml_without_the_mimetype_is_checked_too(
    twiml_violations: list[tuple[str, list[str]]],
) -> None:
    client = _app("/hooks/x", twiml('<Gather language="zh-CN"/>'), "text/plain").test_client()

    client.post("/hooks/x")

    assert len(twiml_violations) == 1
    twiml_violations.clear()


def test_the_hook_fails_a_test_at_teardown(tmp_path: Path) -> None:
    # A real pytest run of a tiny suite with this project's conftest as its plugin.
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            from flask import Flask, Response

            def answer(body):
                app = Flask("inner")
                app.add_url_rule(
                    "/voice/route/screen", "screen",
                    lambda: Response(body, mimetype="text/xml"), methods=["POST"],
                )
                return app.test_client().post("/voice/route/screen")

            def test_bad():
                assert answer({BAD_SCREEN!r}).status_code == 200

            def test_good():
                assert answer({twiml("<Hangup/>")!r}).status_code == 200
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rE", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    # test_bad's call passed; its teardown is where the hook failed it.
    assert "2 passed, 1 error" in result.stdout, result.stdout
    assert "ERROR at teardown of test_bad" in result.stdout
    assert "POST /voice/route/screen" in result.stdout
    assert "not allowed to contain <Dial>" in result.stdout
