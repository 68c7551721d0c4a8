"""A durable local spool: what happened while the database was unreachable, replayed later.

Records are JSON lines appended to a file per process and fsync'ed before the webhook answers,
so a crash loses nothing that a caller was told. Replay claims a file by renaming it (so two
processes never replay the same file), applies every record in one transaction, and deletes
the file only after the commit. Handlers must be idempotent: a crash between the commit and the
delete replays the file again.
"""

from __future__ import annotations

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
        """Append one record durably (flushed and fsync'ed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"kind": kind, **record}, ensure_ascii=False, default=str) + "\n"
        path = self.directory / f"spool-{os.getpid()}{_PENDING}"
        with self._lock, path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def pending(self) -> list[Path]:
        """Spool files waiting for replay (including ones a crashed replay left claimed)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.iterdir() if p.suffix in (_PENDING, _CLAIMED) and p.is_file()
        )

    def replay(self, sessions: sessionmaker[Session], handlers: Mapping[str, Handler]) -> int:
        """Apply every pending record to the database; returns how many were applied."""
        applied = 0
        for path in self.pending():
            claimed = path if path.suffix == _CLAIMED else path.with_suffix(_CLAIMED)
            if claimed != path:
                try:
                    path.rename(claimed)
                except FileNotFoundError:
                    continue  # another process claimed it
            records = [json.loads(line) for line in claimed.read_text("utf-8").splitlines() if line]
            with sessions() as session:
                for record in records:
                    handler = handlers.get(record.get("kind", ""))
                    if handler is None:
                        log.error(
                            "spool %s: no handler for %r, kept", claimed.name, record.get("kind")
                        )
                        session.rollback()
                        raise LookupError(f"no spool handler for {record.get('kind')!r}")
                    handler(session, record)
                session.commit()
            claimed.unlink()
            applied += len(records)
            log.info("spool: replayed %d records from %s", len(records), claimed.name)
        return applied

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
