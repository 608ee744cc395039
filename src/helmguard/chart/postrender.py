"""Helm's post-rendering: the rendered manifests through an executable, before anything else.

As Helm v4's renderResources does it (the "combined" strategy, its default): every
rendered template but NOTES and partials is split into documents, each annotated with the
template it came from (`postrenderer.helm.sh/postrender-filename`), and the whole stream
goes to the executable on stdin; its stdout is split back into templates by that
annotation (removed again; documents without it become `generated-by-postrender-<i>.yaml`),
then hooks and objects are sorted out as for any render. Hooks are post-rendered too. So
what is checked, planned, applied and recorded is the post-renderer's output. helm v4
names a postrenderer plugin; helmguard takes the executable itself (the plugin's command).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helmguard.chart.source import ChartError
from helmguard.manifest import ManifestError, load_documents

FILENAME_ANNOTATION = "postrenderer.helm.sh/postrender-filename"
TIMEOUT = 300.0  # seconds a post-renderer may take


@dataclass(frozen=True)
class PostRenderer:
    """An executable that reads manifests on stdin and writes the ones to use on stdout."""

    executable: str
    args: tuple[str, ...] = ()


def resolve(renderer: PostRenderer) -> Path:
    """The executable's path (a bare name is looked up on PATH); ChartError if unusable."""
    name = renderer.executable
    found = shutil.which(name) if os.sep not in name else name
    path = Path(found) if found else Path(name)
    if not path.exists():
        raise ChartError(f"post-renderer {name!r} does not exist (nor on PATH)")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ChartError(f"post-renderer {name!r} is not an executable file")
    return path


def _dump(body: Any) -> str:
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1 << 30)


def annotate_and_merge(files: Mapping[str, str]) -> str:
    """Helm's annotateAndMerge: every document of every template, annotated with its path."""
    out: list[str] = []
    for path in sorted(files):
        content = files[path]
        if Path(path).name.startswith("_") or not content.strip():
            continue
        try:
            documents = load_documents(content, path)
        except ManifestError as exc:
            raise ChartError(f"rendered output is not valid Kubernetes YAML: {exc}") from None
        for body, _ in documents:
            if body is None:
                continue  # only comments: kio.ParseAll yields nothing
            if not isinstance(body, dict):
                raise ChartError(f"{path}: a document is not a mapping; cannot post-render it")
            meta = dict(body.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), FILENAME_ANNOTATION: path}
            out.append(_dump({**body, "metadata": meta}))
    return "---\n".join(out)


def split_and_deannotate(text: str) -> dict[str, str]:
    """Helm's splitAndDeannotate: the post-renderer's output back into templates by path."""
    try:
        documents = load_documents(text, "post-renderer output")
    except ManifestError as exc:
        raise ChartError(f"the post-renderer's output is not valid YAML: {exc}") from None
    by_path: dict[str, list[str]] = {}
    for index, (body, _) in enumerate(b for b in documents if b[0] is not None):
        if not isinstance(body, dict):
            raise ChartError(
                f"the post-renderer's output has a document that is not a mapping (#{index + 1})"
            )
        meta = dict(body.get("metadata") or {})
        annotations = dict(meta.get("annotations") or {})
        path = str(annotations.pop(FILENAME_ANNOTATION, "") or "")
        path = path or f"generated-by-postrender-{index}.yaml"
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations", None)
        by_path.setdefault(path, []).append(_dump({**body, "metadata": meta}))
    return {path: "---\n".join(docs) for path, docs in by_path.items()}


def post_render(files: Mapping[str, str], renderer: PostRenderer) -> dict[str, str]:
    """The rendered templates (NOTES apart) after `renderer`; ChartError if it fails.

    A post-renderer that exits non-zero, times out or prints nothing is an error quoting
    its stderr; nothing has been sent to any cluster by then.
    """
    executable = resolve(renderer)
    merged = annotate_and_merge(files)
    try:
        done = subprocess.run(
            [str(executable), *renderer.args],
            input=merged,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChartError(f"post-renderer {renderer.executable} ran for over {TIMEOUT:g}s") from None
    except OSError as exc:
        raise ChartError(f"post-renderer {renderer.executable} cannot run: {exc}") from None
    if done.returncode != 0:
        stderr = done.stderr.strip() or "(nothing on stderr)"
        raise ChartError(
            f"post-renderer {renderer.executable} failed (exit {done.returncode}): {stderr}"
        )
    if not done.stdout.strip():
        raise ChartError(f"post-renderer {renderer.executable} produced empty output")
    return split_and_deannotate(done.stdout)
