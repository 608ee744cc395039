"""Uploaded chart archives: a content-addressed cache in the data directory, bounded in
total size and in age, so uploads survive a restart but never fill the disk."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

MAX_CACHE_BYTES = 512 << 20  # all uploads together
MAX_AGE_SECONDS = 7 * 24 * 3600.0  # an upload unused this long is removed


def default_upload_dir() -> Path:
    """`uploads` in the user's data directory (e.g. ~/.local/share/helmguard/uploads)."""
    return Path(platformdirs.user_data_dir("helmguard")) / "uploads"


@dataclass(frozen=True)
class UploadCache:
    """Archives named by their sha256; using one refreshes its age (least recently used go
    first when the cache is over `max_bytes`)."""

    directory: Path
    max_bytes: int = MAX_CACHE_BYTES
    max_age: float = MAX_AGE_SECONDS

    def open(self) -> UploadCache:
        """Create the directory (mode 0700) and drop what is expired or over the bounds."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.prune()
        return self

    def put(self, digest: str, data: bytes) -> Path:
        """Store `data` as `<digest>.tgz` atomically (no half-written archive is ever seen)."""
        path = self._path(digest)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.prune(keep=path)
        return path

    def get(self, digest: str) -> Path | None:
        """The archive's path, its age reset; None if it was never uploaded or has expired."""
        path = self._path(digest)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def prune(self, keep: Path | None = None) -> None:
        """Remove archives older than `max_age`, then the least recently used ones until the
        total is within `max_bytes` (`keep`, the one just stored, stays)."""
        now = time.time()
        entries: list[tuple[float, int, Path]] = []
        for path in self.directory.iterdir():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            stale_part = path.name.endswith(".part") and now - info.st_mtime > 3600
            if path != keep and (now - info.st_mtime > self.max_age or stale_part):
                path.unlink(missing_ok=True)
            elif path.suffix == ".tgz":
                entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

    def _path(self, digest: str) -> Path:
        return self.directory / f"{digest}.tgz"
