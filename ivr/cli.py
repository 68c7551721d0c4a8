"""`hotline classify`: the speech classifier on the command line; and `hotline roster
answer-times`, the time from the IVR's hand-over to an officer (a figure that starts here)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask.cli import with_appcontext

from core import db
from ivr import figures
from ivr.classifier import classify
from ivr.config import config
from routing import store
from routing.cli import roster_cli


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


@roster_cli.command("answer-times")
@click.option("--hours", default=24, show_default=True, help="Look back this many hours.")
def answer_times(hours: int) -> None:
    """Time from the caller's key press to an officer accepting, and the calls abandoned.

    Only calls an officer accepted have an answer time; callers who hung up while the phones
    rang are counted apart (with the abandon rate), never as answered nor as unanswered.
    """
    since = db.utcnow() - dt.timedelta(hours=hours)
    session = db.session()
    rows = figures.answer_times(session, since)
    if not rows:
        click.echo(f"no bridged call was answered in the last {hours} h")
    for call_sid, route, seconds in rows:
        click.echo(f"  {call_sid}  {route:<9} {seconds:6.1f} s")
    values = [seconds for _, _, seconds in rows]

    def pct(p: float) -> float:
        return values[min(len(values) - 1, round(p * (len(values) - 1)))]

    if values:
        within = sum(1 for v in values if v <= 15) / len(values)
        click.echo(
            f"{len(values)} calls: p50 {pct(0.5):.1f} s, p90 {pct(0.9):.1f} s, "
            f"p99 {pct(0.99):.1f} s; answered within 15 s: {within:.1%}"
        )
    outcomes = store.bridge_outcomes(session, since)
    if outcomes:
        click.echo(_outcome_line("all routes", sum(outcomes.values(), store.BridgeCounts())))
        for route, counts in sorted(outcomes.items()):
            click.echo("  " + _outcome_line(route, counts))


def _outcome_line(label: str, c: store.BridgeCounts) -> str:
    rate = "-" if c.abandon_rate is None else f"{c.abandon_rate:.1%}"
    line = (
        f"{label}: {c.ended} bridged calls ended: {c.answered} answered, {c.abandoned} abandoned "
        f"(abandon rate {rate}), {c.unanswered} nobody answered"
    )
    return line + (f"; {c.ringing} still ringing" if c.ringing else "")
