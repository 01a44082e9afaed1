"""Parse a file once per version: the cache key is its modification time and size."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """Re-parse a file as soon as it changes on disk; never serve a stale parse.

    If the new version fails to parse, the error propagates: callers decide whether to fall back
    to the last good version (see `last_good`).
    """

    def __init__(self, parse: Callable[[str, Path], T]) -> None:
        self._parse = parse
        self._entries: dict[Path, tuple[Hashable, T]] = {}
        self._last_good: dict[Path, T] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, *depends_on: Path, version: Hashable = None) -> T:
        """Return the parse of `path`, redone when it or any file it `depends_on` changes.

        `version` stands for anything else the parse depends on (such as the day's model
        lifecycles): a new value parses again.
        """
        stats = tuple((s.st_mtime_ns, s.st_size) for s in map(Path.stat, (path, *depends_on)))
        key = (stats, version)
        entry = self._entries.get(path)
        if entry and entry[0] == key:
            return entry[1]
        value = self._parse(path.read_text(encoding="utf-8"), path)
        with self._lock:
            self._entries[path] = (key, value)
            self._last_good[path] = value
        return value

    def last_good(self, path: Path) -> T | None:
        return self._last_good.get(path)

    def keep_good(self, path: Path, value: T) -> None:
        """Remember a good version found elsewhere (e.g. stored by an earlier run)."""
        with self._lock:
            self._last_good.setdefault(path, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._last_good.clear()
