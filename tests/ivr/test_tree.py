"""The IVR tree file: the shipped one is valid, a bad one is refused naming node and field."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from config.files import ConfigFileError
from config.settings import CONFIG_DIR
from core.twiml_contract import allowed_values, check_value
from ivr.tree import TreeError, load_tree, parse_tree
from tests.support import make_settings

DEFAULT = yaml.safe_load((CONFIG_DIR / "ivr.yaml").read_text(encoding="utf-8"))
Mutation = Callable[[dict[str, Any]], None]


def test_the_shipped_tree_is_a_single_bilingual_front_door() -> None:
    tree = load_tree(CONFIG_DIR / "ivr.yaml")
    assert set(tree.languages) == {"zh", "en"}
    door = tree.nodes[tree.start]
    assert {k: (t.branch, t.node) for k, t in door.keys.items()} == {
        "1": ("emergency", None),
        "2": ("service", None),
        "0": ("desk", None),
        "9": (None, tree.start),
        "8": ("status", None),
    }
    assert door.keys["9"].language == "en"
    assert door.classify_speech
    assert (door.no_input.retries, door.no_input.then.branch) == (1, "doubt")
    assert (door.no_match.retries, door.no_match.then.branch) == (1, "doubt")
    assert [line.language for line in door.prompt["zh"]] == ["zh", "en"]


def test_every_question_the_shipped_tree_asks_keeps_the_emergency_key() -> None:
    # Whatever the caller is asked — first, after a silence, after an unknown key — key 1 is
    # said, in the question's language: a caller who cannot be understood can still press it.
    tree = load_tree(CONFIG_DIR / "ivr.yaml")
    hint = {"zh": "按1", "en": "press 1"}
    for name, node in tree.nodes.items():
        for prompt in (node.prompt, node.no_input.prompt, node.no_match.prompt):
            for language, lines in prompt.items():
                text = " ".join(line.text for line in lines if line.language == language)
                assert hint[language] in text, (name, language, text)


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            _set("nodes.front_door.prompt.en", _DELETE),
            "nodes.front_door.prompt: no text for language 'en'",
        ),
        (
            _set("nodes.front_door.keys.9", {"goto": "nowhere"}),
            "nodes.front_door.keys.9.goto: no node named 'nowhere'",
        ),
        (
            _set("nodes.front_door.keys.A", {"branch": "desk"}),
            "nodes.front_door.keys: 'A' is not a phone key",
        ),
        (
            _set("nodes.front_door.keys.1", {"branch": "pizza"}),
            "nodes.front_door.keys.1.branch: unknown branch 'pizza'",
        ),
        (
            _set("nodes.front_door.keys.1", {"branch": "desk", "goto": "front_door"}),
            "nodes.front_door.keys.1: needs exactly one of",
        ),
        (
            _set("nodes.front_door.no_input.retries", 9),
            "nodes.front_door.no_input.retries: must be a whole number",
        ),
        (
            _set("nodes.front_door.no_match.then", {"goto": "front_door"}),
            "nodes.front_door.no_match.then: must be a branch",
        ),
        (_set("nodes.front_door.no_input", _DELETE), "nodes.front_door.no_input: missing"),
        (_set("nodes.front_door.timeout", 0), "nodes.front_door.timeout: must be whole seconds"),
        (
            _set("nodes.front_door.prompt.zh", [{"say": "hi", "language": "fr"}]),
            "nodes.front_door.prompt.zh[0].language: 'fr' is not in languages",
        ),
        (_set("start", "lobby"), "start: no node named 'lobby'"),
        (_set("default_language", "fr"), "default_language: 'fr' is not in languages"),
        (_set("languages.zh.voice", ""), "languages.zh.voice: must be non-empty text"),
        (
            _set("speech.model", "phone_call"),
            "speech.timeout: must be whole seconds when speech.model is set",
        ),
        (_set("speech.min_confidence", 2), "speech.min_confidence: must be a number from 0 to 1"),
        (_set("branches.desk", _DELETE), "branches.desk: missing"),
    ],
)
def test_a_bad_tree_is_rejected_naming_node_and_field(mutation: Mutation, message: str) -> None:
    doc = copy.deepcopy(DEFAULT)
    mutation(doc)
    with pytest.raises(TreeError) as info:
        parse_tree(doc)
    assert str(info.value).startswith(message)


def test_a_speech_model_with_numeric_timeout_is_accepted() -> None:
    doc = copy.deepcopy(DEFAULT)
    doc["speech"].update(model="phone_call", timeout=2)
    tree = parse_tree(doc)
    assert (tree.speech_model, tree.speech_timeout) == ("phone_call", "2")


def test_a_changed_tree_file_changes_what_callers_hear(tmp_path: Path) -> None:
    doc = copy.deepcopy(DEFAULT)
    doc["nodes"]["front_door"]["prompt"]["zh"] = ["欢迎致电测试热线。"]
    path = tmp_path / "ivr.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    tree = load_tree(path)
    assert tree.nodes["front_door"].prompt["zh"][0].text == "欢迎致电测试热线。"


def test_unreadable_yaml_is_rejected_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text("nodes: [unclosed", encoding="utf-8")
    with pytest.raises(TreeError, match=rf"^{path}: not valid YAML"):
        load_tree(path)


def test_the_app_refuses_to_start_with_a_bad_tree(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    doc = copy.deepcopy(DEFAULT)
    doc["start"] = "lobby"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, ivr_file=path)
    with pytest.raises(TreeError, match="start: no node named 'lobby'"):
        create_app(settings)


def test_the_cli_reports_a_bad_tree_as_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text("languages: {}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.main()", "routes"],
        env={"IVR_FILE": str(path), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert "languages: at least one language is required" in result.stderr


def test_the_shipped_languages_are_values_twilio_defines() -> None:
    tree = load_tree(CONFIG_DIR / "ivr.yaml")

    assert tree.languages["zh"].speech_language == "cmn-Hans-CN"
    for language in tree.languages.values():
        assert check_value("Say", "language", language.say_language) is None
        assert check_value("Say", "voice", language.voice) is None
        assert check_value("Gather", "language", language.speech_language) is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            "languages.zh.speech_language",
            "zh-CN",
            "languages.zh.speech_language: 'zh-CN' is not a <Gather language> Twilio defines",
            id="speech-language-is-a-say-value",
        ),
        pytest.param(
            "languages.zh.say_language",
            "cmn-Hans-CN",
            "languages.zh.say_language: 'cmn-Hans-CN' is not a <Say language> Twilio defines",
            id="say-language-is-a-gather-value",
        ),
        pytest.param(
            "languages.en.voice",
            "Polly.Joana",
            "languages.en.voice: 'Polly.Joana' is not a <Say voice> Twilio defines",
            id="misspelt-voice",
        ),
    ],
)
def test_a_language_twilio_does_not_define_is_rejected(path: str, value: str, message: str) -> None:
    doc = copy.deepcopy(DEFAULT)
    _set(path, value)(doc)

    with pytest.raises(TreeError) as info:
        parse_tree(doc)

    assert str(info.value).startswith(message)


def test_the_error_names_the_file_and_what_twilio_would_take(tmp_path: Path) -> None:
    doc = copy.deepcopy(DEFAULT)
    doc["languages"]["zh"]["speech_language"] = "zh-CN"
    path = tmp_path / "ivr.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")

    with pytest.raises(TreeError) as info:
        load_tree(path)

    assert str(info.value).startswith(f"{path}: languages.zh.speech_language: 'zh-CN' is not")
    assert "cmn-Hans-CN" in str(info.value) and "zh-TW" in str(info.value)


def test_the_app_refuses_to_start_with_a_gather_language_twilio_lacks(tmp_path: Path) -> None:
    doc = copy.deepcopy(DEFAULT)
    doc["languages"]["zh"]["speech_language"] = "zh-CN"
    path = tmp_path / "ivr.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, ivr_file=path)

    with pytest.raises(
        ConfigFileError, match="speech_language: 'zh-CN' is not a <Gather language>"
    ):
        create_app(settings)


def test_a_free_text_speech_model_is_not_checked_against_a_list() -> None:
    # The definitions type speechModel as a string; Twilio's docs list models that change.
    doc = copy.deepcopy(DEFAULT)
    doc["speech"].update(model="experimental_conversations", timeout=2)

    assert parse_tree(doc).speech_model == "experimental_conversations"
    assert allowed_values("Gather", "speechModel") is None
