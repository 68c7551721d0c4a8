"""The speech classifier: safety-first on a labelled set, negation, harmless look-alikes."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from core import categories
from core.categories import CATEGORIES, Kind
from ivr.classifier import RulesError, classify, load_rules, parse_rules
from routing.roster import ROUTE_KEYS

DATA = Path(__file__).resolve().parents[1] / "data"
RULES = load_rules(CONFIG_DIR / "classifier.yaml")


def labelled(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def measure(rows: list[dict[str, str]]) -> tuple[dict[str, dict[str, float]], float, list[str]]:
    """Precision and recall per kind, category accuracy, and the emergencies missed."""
    counts: Counter[tuple[str, str]] = Counter()
    right_category = 0
    missed = []
    for row in rows:
        verdict = classify(row["text"], RULES)
        counts[(row["kind"], verdict.kind.value)] += 1
        right_category += verdict.category == row["category"]
        if row["kind"] == "emergency" and verdict.kind is not Kind.EMERGENCY:
            missed.append(row["text"])
    figures = {}
    for kind in ("emergency", "service"):
        true_pos = counts[(kind, kind)]
        predicted = sum(n for (_, got), n in counts.items() if got == kind)
        actual = sum(n for (want, _), n in counts.items() if want == kind)
        figures[kind] = {
            "precision": true_pos / predicted if predicted else 0.0,
            "recall": true_pos / actual if actual else 0.0,
            "n": actual,
        }
    return figures, right_category / len(rows), missed


@pytest.mark.parametrize("name", ["utterances.tsv", "utterances_holdout.tsv"])
def test_labelled_set_never_misses_an_emergency(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (DATA / name).exists():
        pytest.skip(f"{name} not present")
    rows = labelled(name)
    figures, category_accuracy, missed = measure(rows)
    with capsys.disabled():
        print(f"\nclassifier on {name} ({len(rows)} utterances):")
        for kind, f in figures.items():
            print(
                f"  {kind:<9} precision {f['precision']:.3f}  recall {f['recall']:.3f}"
                f"  (n={f['n']:.0f})"
            )
        print(f"  category accuracy {category_accuracy:.3f}")
    assert missed == [], f"emergencies classified as service: {missed}"
    assert figures["service"]["recall"] >= 0.85
    assert category_accuracy >= 0.8


@pytest.mark.parametrize(
    ("text", "kind", "category"),
    [
        ("我家着火了", Kind.EMERGENCY, "fire"),
        ("救命", Kind.EMERGENCY, "police"),
        ("help", Kind.EMERGENCY, "police"),
        ("不是紧急情况，就是路灯坏了", Kind.SERVICE, "city_management"),
        (
            "this is not an emergency, the street light on my corner is out",
            Kind.SERVICE,
            "city_management",
        ),
        ("消防栓漏水", Kind.SERVICE, "utilities"),
        ("the fire hydrant is leaking all over the road", Kind.SERVICE, "utilities"),
        ("不是我，是我邻居家着火了", Kind.EMERGENCY, "fire"),
        ("不是紧急情况，但是楼下着火了", Kind.EMERGENCY, "fire"),
        ("没有人受伤，就是车被刮了一下", Kind.SERVICE, "transport"),
        ("nobody is hurt, someone scratched my car in the parking lot", Kind.SERVICE, "transport"),
        ("I got fired and my boss won't pay my wages", Kind.SERVICE, "social_assistance"),
        ("no idea what happened but there's smoke everywhere", Kind.EMERGENCY, "fire"),
        ("ＨＥＬＰ！！", Kind.EMERGENCY, "police"),
    ],
)
def test_tricky_utterances(text: str, kind: Kind, category: str) -> None:
    verdict = classify(text, RULES)
    assert (verdict.kind, verdict.category) == (kind, category), verdict.matched
    assert 0.0 < verdict.confidence <= 1.0


def test_nothing_understood_is_service_other_and_not_recognised() -> None:
    verdict = classify("嗯 那个 就是", RULES)
    assert (verdict.kind, verdict.category, verdict.recognised) == (Kind.SERVICE, "other", False)
    assert verdict.confidence == 0.0


def test_asking_for_a_person_is_noticed() -> None:
    assert classify("帮我转人工", RULES).wants_operator
    assert classify("can I talk to a real person", RULES).wants_operator
    assert not classify("路灯坏了", RULES).wants_operator


def test_more_evidence_means_more_confidence() -> None:
    one = classify("路灯坏了", RULES).confidence
    two = classify("路灯坏了 井盖也没了 垃圾也没人清", RULES).confidence
    assert two > one


def test_the_hotlines_categories_are_the_classifier_files() -> None:
    """One list (core.categories): the classifier, cases, providers and routing all use it."""
    assert RULES.categories == CATEGORIES
    assert CATEGORIES.emergency == ("police", "fire", "medical", "traffic", "disaster")
    assert CATEGORIES.service[-1] == "other" and len(CATEGORIES) == 16
    assert (*CATEGORIES.emergency, "desk") == ROUTE_KEYS, "every emergency is a route"
    assert (categories.name("fire", "zh"), categories.name("fire", "en")) == ("火警", "Fire")
    assert categories.name("desk", "zh") == "desk", "not a category: its id"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "categories: must be a non-empty mapping"),
        ({"categories": {"x": {"kind": "urgent"}}}, "categories.x.kind: must be"),
        (
            {"categories": {"other": {"kind": "service"}}, "default_emergency": "other"},
            "default_emergency: must name an emergency category",
        ),
        (
            {
                "categories": {"other": {"kind": "service"}, "fire": {"kind": "emergency"}},
                "default_emergency": "fire",
                "rules": [{"category": "flood", "phrases": ["water"]}],
            },
            "rules[0].category: unknown category 'flood'",
        ),
        (
            {
                "categories": {"other": {"kind": "service"}, "fire": {"kind": "emergency"}},
                "default_emergency": "fire",
                "rules": [{"category": "fire", "phrases": {"zh": [120]}}],
            },
            "rules[0].phrases: 120 is not a phrase (quote it in the YAML)",
        ),
    ],
)
def test_bad_rules_are_rejected_naming_the_entry(raw: object, message: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(raw)
    assert str(info.value).startswith(message)


def test_hotline_classify_reads_lines_and_writes_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.main()", "classify"],
        input="我家着火了\n\n路灯坏了一个月没人修\nthe fire hydrant is leaking\n",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["text"], x["kind"], x["category"]) for x in lines] == [
        ("我家着火了", "emergency", "fire"),
        ("路灯坏了一个月没人修", "service", "city_management"),
        ("the fire hydrant is leaking", "service", "utilities"),
    ]
    assert all(0 <= x["confidence"] <= 1 for x in lines)


def test_passing_over_phrases_by_their_longest_word_changes_no_verdict() -> None:
    """The substring test in front of each phrase's pattern only skips phrases that could not
    match: with it switched off (every needle empty), every verdict is the same."""
    unfiltered = dataclasses.replace(
        RULES, phrases=tuple(dataclasses.replace(p, needle="") for p in RULES.phrases)
    )
    texts = [row["text"] for row in labelled("utterances.tsv")]
    texts += [p.text for p in RULES.phrases]  # each phrase, which must find itself
    assert all(p.needle and p.needle in p.text for p in RULES.phrases)
    assert [classify(t, RULES) for t in texts] == [classify(t, unfiltered) for t in texts]
