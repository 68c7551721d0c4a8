"""The duty roster, kept where an emergency can reach it when the database cannot.

Each process keeps the roster in memory, re-checks the database's roster version every
`ttl_s` seconds (an import bumps it), and writes each new version to a snapshot file, so a
process that starts while the database is down still knows who is on duty.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import yaml

from core.db import UNREACHABLE, Database
from routing import store
from routing.roster import Roster, RosterError
from routing.rosterdump import roster_to_dict
from routing.rosterfile import parse_roster

log = logging.getLogger(__name__)
HISTORY = 8


class RosterCache:
    """The current roster from the database, memory or the snapshot file, in that order."""

    def __init__(self, database: Database, snapshot: Path, region: str, ttl_s: float = 30.0):
        self.database = database
        self.snapshot = snapshot
        self.region = region
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._roster: Roster | None = None
        self._version: int | None = None
        self._check_after = 0.0
        #: Recent versions, so a bridge keeps ringing from the roster it started with.
        self._history: dict[int, Roster] = {}

    def version(self) -> int | None:
        """The version of the roster `get()` last returned (None before any import)."""
        self.get()
        return self._version

    def get(self, version: int | None = None) -> Roster | None:
        """The roster to route with now (None: nobody was ever imported and no snapshot).

        With `version`, that version if this process still has it: a bridge that started
        before an import keeps its plan, so a tier is neither skipped nor rung twice.
        """
        if version is not None and version in self._history:
            return self._history[version]
        now = time.monotonic()
        with self._lock:
            if now < self._check_after:
                return self._roster
            self._check_after = now + self.ttl_s
            if self.database.available():
                try:
                    self._refresh()
                    return self._roster
                except UNREACHABLE as exc:
                    self.database.mark_down(exc)
            if self._roster is None:
                self._roster = self._read_snapshot()
            return self._roster

    def invalidate(self) -> None:
        """Re-check the database on the next `get` (after an import in this process)."""
        with self._lock:
            self._check_after = 0.0

    def _refresh(self) -> None:
        with self.database.sessions() as session:
            version = store.roster_version(session)
            if version is None or version == self._version:
                return
            roster = store.load_roster(session)
        self._roster, self._version = roster, version
        if roster is not None:
            self._history[version] = roster
            for old in sorted(self._history)[:-HISTORY]:
                del self._history[old]
            self._write_snapshot(roster)

    def _write_snapshot(self, roster: Roster) -> None:
        try:
            self.snapshot.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.snapshot.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(
                yaml.safe_dump(roster_to_dict(roster), allow_unicode=True, sort_keys=False),
                encoding="utf-8",
            )
            os.replace(tmp, self.snapshot)
        except OSError:
            log.warning("could not write the roster snapshot %s", self.snapshot, exc_info=True)

    def _read_snapshot(self) -> Roster | None:
        if not self.snapshot.is_file():
            log.error("no roster in memory and no snapshot at %s", self.snapshot)
            return None
        try:
            raw = yaml.safe_load(self.snapshot.read_text(encoding="utf-8"))
            return parse_roster(raw, self.region)
        except (OSError, yaml.YAMLError, RosterError):
            log.exception("the roster snapshot %s is unreadable", self.snapshot)
            return None
