"""`hotline classify`: the speech classifier on the command line."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from ivr.classifier import classify
from ivr.views import config


@click.command("classify")
@with_appcontext
def classify_command() -> None:
    """Classify one utterance per line of stdin; write one JSON object per line to stdout."""
    rules = config().rules
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        verdict = classify(text, rules)
        record = {
            "text": text,
            "kind": verdict.kind.value,
            "category": verdict.category,
            "confidence": verdict.confidence,
        }
        click.echo(json.dumps(record, ensure_ascii=False))
