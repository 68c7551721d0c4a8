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
        line = json.dumps({"kind": kind, **record}, ensure_ascii=False, default=str) + "\n"
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
        """Apply every pending record to the database; returns how many were applied."""
        applied = 0
        for path in self.pending():
            claimed = self._claim(path)
            if claimed is None:
                continue
            records = self._read(claimed)
            with sessions() as session:
                for record in records:
                    handler = handlers.get(record.get("kind", ""))
                    if handler is None:
                        session.rollback()
                        raise LookupError(f"no spool handler for {record.get('kind')!r}")
                    handler(session, record)
                session.commit()
            claimed.unlink()
            applied += len(records)
            log.info("spool: replayed %d records from %s", len(records), claimed.name)
        return applied

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
            quarantine = path.with_name(path.name.split(".")[0] + f".{int(time.time())}.bad")
            quarantine.write_text("\n".join(bad) + "\n", encoding="utf-8")
            log.error("spool %s: %d unreadable line(s) set aside", path.name, len(bad))
        return records

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
