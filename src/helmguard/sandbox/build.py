"""Build the sandbox's binaries from published Go modules into a per-version cache.

kube-apiserver, kube-controller-manager and kube-scheduler come from k8s.io/kubernetes
through a wrapper module (its go.mod replaces the staging modules with local paths, so
`go install` refuses it); etcd and kwok get wrapper modules of their own so their newer
dependencies never change kube-apiserver's build. helm is built the same way for
renderer parity and side-by-side comparisons.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from helmguard.sandbox.errors import SandboxError

KUBERNETES_VERSION = "1.37.2"
# The etcd client version that Kubernetes 1.37 pins is 3.7.x; the server follows it.
ETCD_VERSION = "3.7.3"
KWOK_VERSION = "0.8.0"
HELM_VERSION = "4.3.1"
MIN_GO = (1, 26, 0)

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES = ("etcd", *KUBE_BINARIES, "kwok", "helm")
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat/node-heartbeat.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
STAGES_FILE = "kwok-stages.yaml"
# The reference YAML converter the differential tests compare helmguard's reader with:
# its own small module in the source tree, rebuilt when its sources change.
YAMLREF = "yamlref"
YAMLREF_SOURCE = Path(__file__).resolve().parents[3] / "tools" / "yamlref"

Progress = Callable[[str], None]


def cache_root() -> Path:
    """The per-version cache: binaries, wrapper modules and build logs."""
    tag = f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}_helm-{HELM_VERSION}"
    return Path(platformdirs.user_cache_dir("helmguard")) / "sandbox" / tag


def bin_dir() -> Path:
    """Where the binaries are: `HELMGUARD_SANDBOX_BIN` if set, else the cache."""
    override = os.environ.get("HELMGUARD_SANDBOX_BIN")
    return Path(override) if override else cache_root() / "bin"


def missing_binaries() -> list[str]:
    """Names of the binaries (and the kwok stages file) not yet present."""
    directory = bin_dir()
    wanted = [*BINARIES, STAGES_FILE]
    return [name for name in wanted if not (directory / name).is_file()]


def find_binary(name: str) -> Path:
    """The path of a built binary, or a SandboxError saying how to build it."""
    path = bin_dir() / name
    if not path.is_file():
        raise SandboxError(
            f"{name} is not built (looked in {path.parent}); run `helmguard sandbox build`"
            " or point HELMGUARD_SANDBOX_BIN at a folder that has it"
        )
    return path


@dataclass(frozen=True)
class GoToolchain:
    go: Path
    version: tuple[int, int, int]


def find_go() -> GoToolchain:
    """The machine's Go, checked to be new enough for Kubernetes 1.37."""
    go = shutil.which("go")
    if go is None:
        raise SandboxError(
            "Go is not installed (no `go` on PATH); Go >= "
            f"{'.'.join(map(str, MIN_GO))} is needed to build the sandbox"
        )
    out = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False
    ).stdout.strip()
    match = re.fullmatch(r"go(\d+)\.(\d+)(?:\.(\d+))?.*", out)
    if not match:
        raise SandboxError(f"cannot read the Go version from `go env GOVERSION`: {out!r}")
    version = (int(match[1]), int(match[2]), int(match[3] or 0))
    if version < MIN_GO:
        raise SandboxError(
            f"Go {'.'.join(map(str, version))} is too old: Kubernetes {KUBERNETES_VERSION} "
            f"needs Go >= {'.'.join(map(str, MIN_GO))}"
        )
    return GoToolchain(Path(go), version)


class _GoRunner:
    """Runs go commands with a fixed environment, logging their output to one file."""

    def __init__(self, go: GoToolchain, log: Path, progress: Progress) -> None:
        self.go = go
        self.log = log
        self.progress = progress
        self.env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=mod",
        }

    def run(self, args: list[str], cwd: Path) -> str:
        started = time.monotonic()
        with self.log.open("a") as log, tempfile.TemporaryFile("w+") as out:
            log.write(f"\n$ go {' '.join(args)}  (in {cwd})\n")
            log.flush()
            proc = subprocess.Popen(
                [str(self.go.go), *args], cwd=cwd, env=self.env, stdout=out, stderr=log
            )
            while True:
                try:
                    proc.wait(timeout=60)
                    break
                except subprocess.TimeoutExpired:
                    minutes = (time.monotonic() - started) / 60
                    self.progress(f"  still running `go {args[0]}` ({minutes:.0f} min)")
            out.seek(0)
            stdout = out.read()
            log.write(stdout)
        if proc.returncode != 0:
            lines = self.log.read_text(errors="replace").strip().splitlines()
            raise SandboxError(
                f"`go {' '.join(args[:2])}` failed in {cwd} (exit {proc.returncode}): "
                f"{lines[-1] if lines else ''} — full log: {self.log}"
            )
        return stdout


def _write_module(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    go_mod = directory / "go.mod"
    content = f"module helmguard.local/{name}\n\ngo 1.26.0\n\n{body}"
    if not go_mod.is_file() or go_mod.read_text() != content:
        go_mod.write_text(content)
        (directory / "go.sum").unlink(missing_ok=True)


def _version_ldflags() -> str:
    major, minor, _ = KUBERNETES_VERSION.split(".")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion=v{KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _kubernetes_module(runner: _GoRunner, directory: Path) -> None:
    """A wrapper module replacing every staging module with its published version."""
    info = json.loads(
        runner.run(
            ["mod", "download", "-json", f"k8s.io/kubernetes@v{KUBERNETES_VERSION}"],
            cwd=directory.parent,
        )
    )
    upstream = Path(info["GoMod"]).read_text()
    staging = sorted(set(re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/", upstream, re.M)))
    if not staging:
        raise SandboxError("found no staging replacements in k8s.io/kubernetes's go.mod")
    published = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    replaces = "\n".join(f"\t{m} => {m} {published}" for m in staging)
    tools = "\n".join(f"\tk8s.io/kubernetes/cmd/{b}" for b in KUBE_BINARIES)
    _write_module(
        directory,
        "kubernetes-bins",
        f"godebug default=go1.26\n\ntool (\n{tools}\n)\n\n"
        f"require k8s.io/kubernetes v{KUBERNETES_VERSION}\n\nreplace (\n{replaces}\n)\n",
    )


@dataclass(frozen=True)
class _Target:
    """One wrapper module and the binaries built from it."""

    module: str
    outputs: tuple[tuple[str, str], ...]  # (binary name, package path)
    require: str  # module@version, empty for Kubernetes (its go.mod is generated)
    ldflags: str = "-s -w"


_TARGETS = (
    _Target(
        "etcd",
        (("etcd", "go.etcd.io/etcd/server/v3"),),
        f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}",
    ),
    _Target(
        "kubernetes",
        tuple((b, f"k8s.io/kubernetes/cmd/{b}") for b in KUBE_BINARIES),
        "",
        _version_ldflags(),
    ),
    _Target("kwok", (("kwok", "sigs.k8s.io/kwok/cmd/kwok"),), f"sigs.k8s.io/kwok@v{KWOK_VERSION}"),
    _Target(
        "helm",
        (("helm", "helm.sh/helm/v4/cmd/helm"),),
        f"helm.sh/helm/v4@v{HELM_VERSION}",
        f"-s -w -X helm.sh/helm/v4/internal/version.version=v{HELM_VERSION}",
    ),
)


def _write_kwok_stages(runner: _GoRunner, module_dir: Path, destination: Path) -> None:
    """Concatenate kwok's own stage definitions; the standalone kwok needs them to run."""
    info = json.loads(
        runner.run(
            ["mod", "download", "-json", f"sigs.k8s.io/kwok@v{KWOK_VERSION}"], cwd=module_dir
        )
    )
    stage_dir = Path(info["Dir"]) / "kustomize" / "stage"
    docs = [(stage_dir / rel).read_text().strip() for rel in KWOK_STAGES]
    tmp = destination.with_suffix(".tmp")
    tmp.write_text("\n---\n".join(docs) + "\n")
    tmp.replace(destination)


def build(progress: Progress, *, force: bool = False) -> Path:
    """Build every missing binary into the cache; returns the bin directory.

    Reuses what is already built unless `force`. Raises SandboxError with a one-line
    reason (no Go, too old a Go, a failed `go` step with the log's path).
    """
    if os.environ.get("HELMGUARD_SANDBOX_BIN"):
        missing = missing_binaries()
        if missing:
            raise SandboxError(
                f"HELMGUARD_SANDBOX_BIN={bin_dir()} lacks {', '.join(missing)};"
                " unset it to build into the cache"
            )
        return bin_dir()
    root = cache_root()
    out = root / "bin"
    out.mkdir(parents=True, exist_ok=True)
    go = find_go()
    runner = _GoRunner(go, root / "build.log", progress)
    progress(f"Go {'.'.join(map(str, go.version))}; cache {root}")
    for target in _TARGETS:
        names = [name for name, _ in target.outputs]
        if not force and all((out / n).is_file() for n in names):
            progress(f"{', '.join(names)}: already built")
            continue
        started = time.monotonic()
        module_dir = root / "src" / target.module
        progress(f"{', '.join(names)}: resolving modules")
        if target.require:
            _write_module(module_dir, f"{target.module}-bins", "")
            runner.run(["get", target.require], cwd=module_dir)
        else:
            _kubernetes_module(runner, module_dir)
            runner.run(["mod", "tidy"], cwd=module_dir)
        for name, package in target.outputs:
            progress(f"{name}: compiling (a cold build can take many minutes)")
            tmp = out / f".{name}.tmp"
            runner.run(
                ["build", "-trimpath", "-ldflags", target.ldflags, "-o", str(tmp), package],
                cwd=module_dir,
            )
            tmp.replace(out / name)
        progress(f"{', '.join(names)}: built in {time.monotonic() - started:.0f}s")
        if target.module == "kwok":
            _write_kwok_stages(runner, module_dir, out / STAGES_FILE)
    if not (out / STAGES_FILE).is_file():
        _write_kwok_stages(runner, root / "src" / "kwok", out / STAGES_FILE)
    _build_yamlref(runner, out, force=force)
    return out


def yamlref_digest() -> str | None:
    """The digest of tools/yamlref's sources (its build stamp), None without them."""
    files = [YAMLREF_SOURCE / name for name in ("go.mod", "go.sum", "main.go")]
    if not all(f.is_file() for f in files):
        return None
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def _build_yamlref(runner: _GoRunner, out: Path, *, force: bool) -> None:
    """tools/yamlref, when the source tree has it (an installed helmguard does not)."""
    digest = yamlref_digest()
    if digest is None:
        runner.progress(f"{YAMLREF}: no sources at {YAMLREF_SOURCE} (not a source checkout)")
        return
    stamp = out / f"{YAMLREF}.sha256"
    built = (out / YAMLREF).is_file() and stamp.is_file()
    if not force and built and stamp.read_text().strip() == digest:
        runner.progress(f"{YAMLREF}: already built")
        return
    started = time.monotonic()
    runner.progress(f"{YAMLREF}: compiling")
    tmp = out / f".{YAMLREF}.tmp"
    # The committed go.sum pins the modules: -mod=readonly, whatever GOFLAGS says.
    runner.run(
        ["build", "-mod=readonly", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."],
        cwd=YAMLREF_SOURCE,
    )
    tmp.replace(out / YAMLREF)
    stamp.write_text(digest + "\n")
    runner.progress(f"{YAMLREF}: built in {time.monotonic() - started:.0f}s")
