"""Where recordings are kept. Local files by default; anything with `put`/`open`/`delete` and
the same guarantees (an object is visible only once complete) can replace it, e.g. S3."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,199}$")


class StorageError(RuntimeError):
    """An object could not be written or read back intact."""


@dataclasses.dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


class Storage(Protocol):
    def put(self, key: str, chunks: Iterable[bytes]) -> Stored: ...
    def open(self, key: str) -> BinaryIO: ...
    def checksum(self, key: str) -> Stored: ...
    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under one directory, written atomically: temp file, fsync, rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise StorageError(f"bad storage key {key!r}")
        return self.root / key

    def put(self, key: str, chunks: Iterable[bytes]) -> Stored:
        """Write the object; it appears under `key` only once complete and on disk."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with tmp.open("wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return Stored(size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def checksum(self, key: str) -> Stored:
        """Read the stored object back and hash it."""
        digest, size = hashlib.sha256(), 0
        with self.open(key) as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                digest.update(chunk)
                size += len(chunk)
        return Stored(size=size, sha256=digest.hexdigest())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
