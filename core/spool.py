"""A durable local spool: what happened while the database was unreachable, replayed later.

Records are JSON lines appended to a file per process and fsync'ed before the webhook answers,
so a crash loses nothing that a caller was told. Replay claims a file by renaming it under a
lock (so no append lands in a file already read, and two processes never replay one file; a
file claimed by a process that died is taken over), applies every record in one transaction,
and deletes the file only after the commit. A torn line is set aside in a `.bad` file instead of
blocking the rest. Handlers must be idempotent: a crash between the commit and the delete
replays the file again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict[str, Any]], None]
_PENDING = ".jsonl"
_CLAIMED = ".replaying"


class Spool:
    """Append-only record files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._next_replay = 0.0

    def write(self, kind: str, record: Mapping[str, Any]) -> None:
        """Append one record durably (flushed and fsync'ed), never into a file being replayed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # The record goes in an envelope: a record's own fields (an alert's "kind") must never
        # overwrite the spool's.
        envelope = {"kind": kind, "record": dict(record)}
        line = json.dumps(envelope, ensure_ascii=False, default=str) + "\n"
        path = self.directory / f"spool-{os.getpid()}{_PENDING}"
        with self._lock:
            while True:
                with path.open("a", encoding="utf-8") as f:
                    fcntl.flock(f, fcntl.LOCK_EX)
                    try:
                        # A replay may have claimed (renamed) the file while we waited for
                        # the lock: then write to a fresh one instead.
                        if not path.exists() or os.stat(path).st_ino != os.fstat(f.fileno()).st_ino:
                            continue
                        f.write(line)
                        f.flush()
                        os.fsync(f.fileno())
                        return
                    finally:
                        fcntl.flock(f, fcntl.LOCK_UN)

    def pending(self) -> list[Path]:
        """Files to replay: pending ones, and claimed ones whose replaying process is gone."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            if path.suffix == _PENDING or (path.suffix == _CLAIMED and _orphaned(path)):
                found.append(path)
        return found

    def replay(self, sessions: sessionmaker[Session], handlers: Mapping[str, Handler]) -> int:
        """Apply every pending record to the database; returns how many were applied.

        Every process on the machine spools to a file of its own, and one call's webhooks may
        land in several (an officer's key press in one worker, the dial that preceded it in
        another): the files are claimed together and their records applied in the order they
        happened, in one transaction. A failure gives every file back for the next replay.
        """
        claimed = [c for c in (self._claim(p) for p in self.pending()) if c is not None]
        if not claimed:
            return 0
        records: list[dict[str, Any]] = []
        try:
            for path in claimed:
                records += self._read(path)
            unknown = [r for r in records if r.get("kind") not in handlers]
            if unknown:  # set aside, never blocking the rest (a newer version's kinds, say)
                self._set_aside(claimed[0], [json.dumps(r, ensure_ascii=False) for r in unknown])
                log.error("spool: %d record(s) of unknown kind set aside", len(unknown))
                records = [r for r in records if r.get("kind") in handlers]
            records.sort(key=_when)  # stable: records without a time keep their file's order
            with sessions() as session:
                for line in records:
                    # New lines carry the record in an envelope; older ones were flat.
                    record = line["record"] if isinstance(line.get("record"), dict) else line
                    handlers[line["kind"]](session, record)
                session.commit()
        except BaseException:
            for path in claimed:
                self._release(path)
            raise
        for path in claimed:
            path.unlink()
        log.info("spool: replayed %d records from %d file(s)", len(records), len(claimed))
        return len(records)

    def _claim(self, path: Path) -> Path | None:
        """Rename `path` to a name that says which process replays it (None: someone else did)."""
        stem = path.name.split(".")[0]
        claimed = path.with_name(f"{stem}.{os.getpid()}.{int(time.time())}{_CLAIMED}")
        try:
            with path.open("a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # wait for a writer mid-append
                path.rename(claimed)
                fcntl.flock(f, fcntl.LOCK_UN)
        except FileNotFoundError:
            return None
        return claimed

    def _release(self, claimed: Path) -> None:
        """A replay that failed gives its file back at once, under a new pending name (no writer
        appends to it any more), so the next replay — by any process — takes it again, instead
        of it waiting, claimed, until its claim goes stale."""
        stem = claimed.name.split(".")[0]
        claimed.rename(claimed.with_name(f"{stem}.{os.getpid()}-{time.time_ns()}{_PENDING}"))

    def _read(self, path: Path) -> list[dict[str, Any]]:
        """The file's records; a torn or corrupt line is set aside rather than block the rest."""
        records, bad = [], []
        for line in path.read_text("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                bad.append(line)
        if bad:
            self._set_aside(path, bad)
            log.error("spool %s: %d unreadable line(s) set aside", path.name, len(bad))
        return records

    def _set_aside(self, path: Path, lines: list[str]) -> None:
        """Keep lines that cannot be replayed in a `.bad` file beside the spool, for a person."""
        quarantine = path.with_name(path.name.split(".")[0] + f".{time.time_ns()}.bad")
        quarantine.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def replay_soon(
        self,
        sessions: sessionmaker[Session],
        handlers: Mapping[str, Handler],
        *,
        every_s: float = 5.0,
    ) -> None:
        """Replay if anything is pending, at most once every `every_s`; never raises."""
        now = time.monotonic()
        if now < self._next_replay:
            return
        self._next_replay = now + every_s
        if not self.pending():
            return
        try:
            self.replay(sessions, handlers)
        except Exception:  # the database may still be down: keep the files, try later
            log.warning("spool: replay failed, will retry", exc_info=True)


def _when(line: dict[str, Any]) -> str:
    """A record's time (ISO 8601 UTC sorts as text), or "" to keep it in file order."""
    record = line.get("record") if isinstance(line.get("record"), dict) else line
    at = record.get("at") if isinstance(record, dict) else None
    return at if isinstance(at, str) else ""


def _orphaned(path: Path, stale_after_s: float = 300.0) -> bool:
    """A claimed file whose replaying process died (or that has been claimed for too long)."""
    parts = path.name.split(".")
    try:
        pid, claimed_at = int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return True
    if time.time() - claimed_at > stale_after_s:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
