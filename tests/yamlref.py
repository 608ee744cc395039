"""The reference YAML converter (tools/yamlref, built by `helmguard sandbox build`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helmguard.sandbox.build import YAMLREF, find_binary, yamlref_digest
from helmguard.sandbox.errors import SandboxError

ERROR = "error"


def yamlref_binary() -> Path:
    """The built converter; skips the test without it (fails in CI, which builds it)."""
    try:
        binary = find_binary(YAMLREF)
    except SandboxError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no yamlref binary: {exc}")
        pytest.skip(f"no yamlref binary: {exc}")
    stamp = binary.with_name(f"{YAMLREF}.sha256")
    built = stamp.read_text().strip() if stamp.is_file() else "none"
    if built != yamlref_digest():
        pytest.fail(
            f"{binary} was built from other sources than tools/yamlref (stamp {built}): "
            "run `helmguard sandbox build`"
        )
    return binary


def go_documents(binary: Path, mode: str, data: bytes) -> list[Any]:
    """What Go reads from `data` in yamlref `mode`: JSON values, null documents left out,
    and (ERROR, message) for the first document Go refuses (nothing after it)."""
    done = subprocess.run(
        [str(binary), mode], input=data, capture_output=True, check=True, timeout=60
    )
    values: list[Any] = []
    for entry in json.loads(done.stdout):
        if "error" in entry:
            values.append((ERROR, entry["error"]))
            break
        if entry["json"] is not None:
            values.append(entry["json"])
    return values
