"""Guards that keep secrets out of the database: Secret bodies are redacted, values are digested.

Outside `helmguard.store` (whose imports take seconds): a deploy digests its values
whether or not it records them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"

# Fields of a core/v1 Secret that carry its contents; everything else (metadata, type) is safe.
_SECRET_CONTENT_FIELDS = ("data", "stringData")
# kubectl's client-side apply copies the whole object, contents included, into this annotation.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _is_secret(value: Mapping[str, Any]) -> bool:
    return value.get("kind") == "Secret" and value.get("apiVersion") == "v1"


def _redact_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: redact_secrets(v) for k, v in secret.items() if k not in _SECRET_CONTENT_FIELDS}
    for field in _SECRET_CONTENT_FIELDS:
        contents = secret.get(field)
        if isinstance(contents, Mapping):
            # Keys are kept: "which keys exist" is what a missing-key finding needs; values are not.
            out[field] = dict.fromkeys(sorted(str(k) for k in contents), REDACTED)
        elif contents is not None:
            out[field] = REDACTED
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            metadata["annotations"] = {**annotations, _LAST_APPLIED: REDACTED}
    return out


def redact_secrets(value: Any) -> Any:
    """Return a copy of a JSON-like value in which every Secret's contents are replaced by REDACTED.

    Any mapping with `apiVersion: v1` and `kind: Secret`, at any depth (a plan, a list of
    objects, an event's details), keeps its metadata and the names of its keys, never their
    values. The input is not modified.
    """
    if isinstance(value, Mapping):
        if _is_secret(value):
            return _redact_secret(value)
        return {str(k): redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_secrets(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal values give equal text."""
    # default=str: YAML values may hold dates, which JSON cannot spell.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def values_digest(values: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the canonical JSON of Helm values; the values are never stored."""
    return "sha256:" + hashlib.sha256(canonical_json(values).encode()).hexdigest()
