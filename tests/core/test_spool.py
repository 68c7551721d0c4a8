"""The outage spool: durable appends, claims that lose nothing, torn lines set aside."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.spool import Spool


class FakeSession:
    def __init__(self, sink: list[dict[str, Any]]) -> None:
        self.sink = sink
        self.pending: list[dict[str, Any]] = []

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pending = []

    def commit(self) -> None:
        self.sink.extend(self.pending)

    def rollback(self) -> None:
        self.pending = []


def sessions_into(sink: list[dict[str, Any]]) -> Any:
    return lambda: FakeSession(sink)


def handler(session: Any, record: dict[str, Any]) -> None:
    session.pending.append(record)


def test_records_survive_and_replay_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write("note", {"n": 1})
    spool.write("note", {"n": 2})
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"note": handler}) == 2
    assert [r["n"] for r in sink] == [1, 2]
    assert spool.pending() == []
    assert spool.replay(sessions_into(sink), {"note": handler}) == 0


def test_a_torn_line_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write("note", {"n": 1})
    with (tmp_path / f"spool-{os.getpid()}.jsonl").open("a") as f:
        f.write('{"kind": "note", "n": 2')  # the process died mid-write
    other = tmp_path / "spool-999999.jsonl"
    other.write_text(json.dumps({"kind": "note", "n": 3}) + "\n")
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"note": handler}) == 2
    assert sorted(r["n"] for r in sink) == [1, 3]
    (bad,) = tmp_path.glob("*.bad")
    assert '"n": 2' in bad.read_text()


def test_a_file_claimed_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    orphan = tmp_path / "spool-123.999999.1700000000.replaying"
    orphan.write_text(json.dumps({"kind": "note", "n": 7}) + "\n")
    busy = tmp_path / f"spool-124.{os.getpid()}.{int(__import__('time').time())}.replaying"
    busy.write_text(json.dumps({"kind": "note", "n": 8}) + "\n")
    spool = Spool(tmp_path)
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"note": handler}) == 1
    assert [r["n"] for r in sink] == [7], "a live replayer's file is left to it"
    assert busy.exists()


def test_a_write_after_a_claim_goes_to_a_fresh_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write("note", {"n": 1})
    (path,) = spool.pending()
    claimed = spool._claim(path)
    assert claimed is not None
    spool.write("note", {"n": 2})
    assert [p.suffix for p in spool.pending()] == [".jsonl"]
    assert '"n": 2' not in claimed.read_text()


def test_a_record_of_unknown_kind_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write("mystery", {"n": 1})
    spool.write("event", {"n": 2})
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"event": handler}) == 1
    assert [r["n"] for r in sink] == [2]
    (bad,) = tmp_path.glob("*.bad")
    assert json.loads(bad.read_text(encoding="utf-8"))["kind"] == "mystery"


def test_a_records_own_kind_field_does_not_change_how_it_is_replayed(tmp_path: Path) -> None:
    """An alert record has a `kind` of its own ("unanswered"): it must replay as an alert."""
    spool = Spool(tmp_path)
    spool.write("alert", {"kind": "unanswered", "priority": 0})
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"alert": handler}) == 1
    assert sink == [{"kind": "unanswered", "priority": 0}]


def test_a_failed_replay_gives_the_file_back_for_the_next_one(tmp_path: Path) -> None:
    """The database answers again, but the first replay meets a dead pooled connection: the
    file must not stay claimed (until its claim goes stale) by a process that is still alive."""
    spool = Spool(tmp_path)
    spool.write("event", {"n": 1})
    spool.write("event", {"n": 2})
    failures = [OSError("server closed the connection unexpectedly")]

    def flaky(session: Any, record: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()
        handler(session, record)

    with pytest.raises(OSError, match="server closed"):
        spool.replay(sessions_into([]), {"event": flaky})
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"event": flaky}) == 2
    assert [r["n"] for r in sink] == [1, 2]
    assert list(tmp_path.iterdir()) == []


def test_records_of_several_processes_replay_in_the_order_they_happened(tmp_path: Path) -> None:
    """A dial spooled by one worker and the key press that followed it by another."""
    spool = Spool(tmp_path)
    spool.write("event", {"n": "accept", "at": "2026-11-25T20:00:02.000000+00:00"})
    other = tmp_path / "spool-999999.jsonl"  # another worker's file
    line = {"kind": "event", "record": {"n": "dial", "at": "2026-11-25T20:00:01.000000+00:00"}}
    other.write_text(json.dumps(line) + "\n", encoding="utf-8")
    sink: list[dict[str, Any]] = []
    assert spool.replay(sessions_into(sink), {"event": handler}) == 2
    assert [r["n"] for r in sink] == ["dial", "accept"]
