"""Where the `helm` binary is, for `--renderer helm`: without importing the sandbox.

Looked for in order: `$HELMGUARD_HELM`, `helm` on PATH, then the sandbox's build folder
(`$HELMGUARD_SANDBOX_BIN`, the variable `helmguard sandbox` itself reads, or a folder the
caller names). The sandbox is a development tool; the product only reads its folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from helmguard.chart.source import ChartError

ENV_VAR = "HELMGUARD_HELM"
SANDBOX_BIN_ENV_VAR = "HELMGUARD_SANDBOX_BIN"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_helm(sandbox_bin: Path | None = None) -> Path:
    """The `helm` binary to run; ChartError naming every place looked in when there is none."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not _executable(path):
            raise ChartError(f"{ENV_VAR}={override} is not an executable file")
        return path
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    folders = [Path(d).expanduser() for d in (os.environ.get(SANDBOX_BIN_ENV_VAR),) if d]
    if sandbox_bin is not None:
        folders.append(sandbox_bin)
    for folder in folders:
        if _executable(folder / "helm"):
            return folder / "helm"
    looked = ", ".join(str(f) for f in folders)
    raise ChartError(
        f"no helm binary: {ENV_VAR} is not set, no `helm` on PATH"
        + (f", none in {looked}" if looked else "")
        + f"; set {ENV_VAR} to a helm v4 binary (or {SANDBOX_BIN_ENV_VAR} to the folder "
        "`helmguard sandbox build` filled), or use --renderer sdk"
    )
