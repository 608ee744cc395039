"""Field readers used by both the rules and the ownership index (kept apart to avoid cycles)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from helmguard.manifest import K8sObject

_EMPTY: Mapping[str, Any] = {}


def micro_time(t: datetime) -> str:
    """A metav1.MicroTime as the API server writes it (RFC 3339, microseconds, UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp from the API server as an aware datetime; None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def uid_of(obj: K8sObject) -> str:
    return str(obj.metadata.get("uid") or "")


def event_subject(event: K8sObject) -> Mapping[str, Any]:
    """The object an Event is about (events.k8s.io `regarding`, core/v1 `involvedObject`)."""
    body = event.body
    return body.get("regarding") or body.get("involvedObject") or _EMPTY
