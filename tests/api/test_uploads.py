"""The upload cache: content-addressed files in a directory, bounded in size and age."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from helmguard.api.uploads import UploadCache


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_put_get_and_the_directory_is_private(tmp_path: Path) -> None:
    cache = UploadCache(tmp_path / "uploads").open()
    assert stat.S_IMODE((tmp_path / "uploads").stat().st_mode) == 0o700
    path = cache.put("a" * 64, b"archive")
    assert path.read_bytes() == b"archive"
    assert cache.get("a" * 64) == path
    assert cache.get("b" * 64) is None
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [path.name]  # no .part left


def test_old_uploads_expire_and_using_one_keeps_it(tmp_path: Path) -> None:
    cache = UploadCache(tmp_path, max_age=3600).open()
    old, used = cache.put("1" * 64, b"x"), cache.put("2" * 64, b"y")
    _age(old, 7200)
    _age(used, 7200)
    assert cache.get("2" * 64) == used  # using it resets its age
    cache.prune()
    assert not old.exists() and used.exists()
    _age(used, 7200)
    UploadCache(tmp_path, max_age=3600).open()  # a restart prunes too
    assert not used.exists()


def test_the_least_recently_used_go_first_when_over_the_size(tmp_path: Path) -> None:
    cache = UploadCache(tmp_path, max_bytes=250).open()
    first = cache.put("1" * 64, b"a" * 100)
    second = cache.put("2" * 64, b"b" * 100)
    _age(first, 20)
    _age(second, 10)
    assert cache.get("1" * 64) == first  # now the most recently used
    third = cache.put("3" * 64, b"c" * 100)  # 300 bytes > 250: the oldest use goes
    assert first.exists() and third.exists() and not second.exists()
    huge = cache.put("4" * 64, b"d" * 1000)  # over the bound alone: kept, the others go
    assert huge.exists() and not first.exists() and not third.exists()
