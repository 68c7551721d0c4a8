"""Where a call is, or how it ended, from what the IVR, the bridge and the call-backs recorded
(console.board.stage_of): the rules the board's rows are built on, one case per line."""

from __future__ import annotations

import datetime as dt

import pytest

from console import board
from desk.models import QueueResult
from routing.models import BridgeAttempt, CallbackKind

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def attempt(route: str = "fire", *, ended: bool = False, accepted: bool = False) -> BridgeAttempt:
    return BridgeAttempt(
        call_sid="CA" + "1" * 32,
        route=route,
        step=0,
        tier=0,
        numbers=[],
        started_at=NOW,
        ended_at=NOW if ended else None,
        accepted_at=NOW if accepted else None,
    )


@pytest.mark.parametrize(
    ("live", "branch", "attempts", "missed", "stage"),
    [
        (True, None, [], None, board.IN_IVR),
        (True, "emergency", [], None, board.RINGING_OFFICERS),
        (True, "emergency", [attempt()], None, board.RINGING_OFFICERS),
        (True, "doubt", [attempt("doubt", ended=True)], None, board.RINGING_OFFICERS),
        (True, "emergency", [attempt(accepted=True)], None, board.TALKING),
        (
            True,
            "emergency",
            [attempt(ended=True), attempt(ended=True)],
            CallbackKind.UNANSWERED,
            board.RECORDING,
        ),
        (True, "service", [], None, board.RECORDING),
        (True, "status", [], None, board.STATUS_LOOKUP),
        (False, "emergency", [attempt(ended=True, accepted=True)], None, board.ANSWERED),
        (
            False,
            "emergency",
            [attempt(ended=True)],
            CallbackKind.ABANDONED_BRIDGE,
            board.ABANDONED_EMERGENCY,
        ),
        (
            False,
            "doubt",
            [attempt("doubt", ended=True)],
            CallbackKind.ABANDONED_BRIDGE,
            board.ABANDONED_EMERGENCY,
        ),
        (
            False,
            "desk",
            [attempt("desk", ended=True)],
            CallbackKind.ABANDONED_BRIDGE,
            board.ABANDONED_DESK,
        ),
        (
            False,
            "emergency",
            [attempt(ended=True)],
            CallbackKind.UNANSWERED,
            board.UNANSWERED_EMERGENCY,
        ),
        (False, None, [], CallbackKind.ABANDONED_IVR, board.HUNG_UP_IN_IVR),
        (False, None, [], None, board.HUNG_UP_IN_IVR),
        (False, "service", [], None, board.ENDED),
    ],
)
def test_a_calls_stage(
    live: bool,
    branch: str | None,
    attempts: list[BridgeAttempt],
    missed: CallbackKind | None,
    stage: str,
) -> None:
    assert board.stage_of(live, branch, attempts, missed) == stage


@pytest.mark.parametrize(
    ("live", "queued", "missed", "stage"),
    [
        (True, QueueResult.WAITING, None, board.IN_QUEUE),
        (True, QueueResult.BRIDGED, None, board.TALKING),
        (False, QueueResult.BRIDGED, None, board.ANSWERED),
        (False, QueueResult.HANGUP, CallbackKind.ABANDONED_QUEUE, board.ABANDONED_QUEUE),
        (False, QueueResult.CALLBACK, CallbackKind.QUEUE_CALLBACK, board.QUEUE_CALLBACK),
    ],
)
def test_a_queued_calls_stage(
    live: bool, queued: QueueResult, missed: CallbackKind | None, stage: str
) -> None:
    assert board.stage_of(live, "desk", [], missed, queued) == stage
