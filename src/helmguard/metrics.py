"""Prometheus metrics of a helmguard process, on a registry of its own.

Only prometheus_client is imported here, so the informers, the sync loop and the API
record into the same registry without one importing another; `/metrics` serves it:

    from helmguard import metrics
    metrics.WATCH_RECONNECTS.labels(resource="apps/v1/deployments").inc()
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

TRANSITIONS = Counter(
    "helmguard_status_transitions",
    "Status transitions seen in the store, by the state entered.",
    ["to_state"],
    registry=REGISTRY,
)
WATCH_RECONNECTS = Counter(
    "helmguard_watch_reconnects",
    "Watches re-established after they ended or failed, by resource.",
    ["resource"],
    registry=REGISTRY,
)
SYNC_LAG = Gauge(
    "helmguard_sync_lag_seconds",
    "Seconds between an object's change in the cluster and its status reaching the store.",
    registry=REGISTRY,
)
KUBE_API_ERRORS = Counter(
    "helmguard_kube_api_errors",
    "Kubernetes API errors, by class of helmguard.kube.errors (MissingDependency, Transient, ...).",
    ["error_class"],
    registry=REGISTRY,
)
HTTP_ERRORS = Counter(
    "helmguard_http_errors",
    "Responses of this API with a 4xx or 5xx status, by status code.",
    ["status"],
    registry=REGISTRY,
)
DEPLOY_DURATION = Histogram(
    "helmguard_deploy_duration_seconds",
    "Wall time of deploy, rollback and uninstall operations, by operation and outcome.",
    ["operation", "outcome"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200),
    registry=REGISTRY,
)
STREAM_CLIENTS = Gauge(
    "helmguard_stream_clients",
    "Clients connected to /api/stream.",
    registry=REGISTRY,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def record_kube_error(error: BaseException) -> None:
    """Count a classified Kubernetes API error (any exception: its class name is the label)."""
    KUBE_API_ERRORS.labels(error_class=type(error).__name__).inc()
