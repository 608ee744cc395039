"""The tables, as SQLAlchemy Core `Table`s (no ORM: a deploy imports less); migrations/
creates exactly these. Each is named after the row it holds (`Release` is the releases table).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeEngine

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JSONType(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL: its dialect is imported only when one is used."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        none_as_null = bool(getattr(self.impl, "none_as_null", False))
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=none_as_null))
        return dialect.type_descriptor(JSON(none_as_null=none_as_null))


# None as SQL NULL (not JSON null), so that `IS NULL` tells members from children.
NullableJSON = JSONType(none_as_null=True)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC time")
        value = value.astimezone(UTC)
        # SQLite keeps text without an offset; all stored times are UTC so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)


Release = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cluster", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("chart", Text, nullable=False),
    Column("chart_version", String(128), nullable=False),
    Column("current_revision", Integer),
    # What the last operation left (deploying, deployed, failed, ...), as its action wrote it.
    Column("status", String(32), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The app status the sync computed from the release's objects (null: never observed).
    Column("app_state", String(32)),
    Column("app_reason", Text),
    Column("app_message", Text),
    Column("app_since", UTCDateTime),
    Column("app_observed_at", UTCDateTime),
    Column("app_root_cause", JSONType),
    UniqueConstraint("cluster", "namespace", "name", name="uq_releases_key"),
)


Revision = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("chart", Text, nullable=False),
    Column("chart_version", String(128), nullable=False),
    Column("values_digest", String(71), nullable=False),
    Column("plan", JSONType),
    Column("outcome", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # [{group, kind, namespace, name, uid}]: what the revision applied (null: not known).
    Column("inventory", JSONType),
    UniqueConstraint("release_id", "number", name="uq_revisions_release_number"),
)


# Current status per object: one row per (release, object key), updated in place.
Resource = Table(
    "resources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("kind", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("resource_version", String(64), nullable=False),
    Column("generation", Integer),
    Column("root_cause", JSONType),
    # Set for a workload's child (ReplicaSet, Pod, Job): its controlling owner's key.
    Column("owner", NullableJSON),
    # For a Pod: its containers' restarts (summed), as last observed.
    Column("restarts", Integer),
    UniqueConstraint(
        "release_id", "api_group", "kind", "namespace", "name", name="uq_resources_key"
    ),
)


# History: object keys are copied, not referenced, so history outlives the object.
StatusTransition = Table(
    "status_transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("kind", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("from_state", String(32)),
    Column("to_state", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("root_cause", JSONType),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_status_transitions_release_at", "release_id", "at"),
    Index(
        "ix_status_transitions_object_at",
        "release_id",
        "api_group",
        "kind",
        "namespace",
        "name",
        "at",
    ),
    Index("ix_status_transitions_at", "at"),
)


# A Kubernetes Event, one row per Event uid, updated as its count grows.
Event = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("uid", String(64), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("kind", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("type", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    UniqueConstraint("uid", name="uq_events_uid"),
    Index("ix_events_release_last_seen", "release_id", "last_seen"),
    Index(
        "ix_events_object_last_seen",
        "release_id",
        "api_group",
        "kind",
        "namespace",
        "name",
        "last_seen",
    ),
    Index("ix_events_last_seen", "last_seen"),
)


# Steps of operations on a release revision, numbered by `seq` within the revision.
OperationLog = Table(
    "operation_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("level", String(16), nullable=False),
    Column("step", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSONType, nullable=False),
    UniqueConstraint("release_id", "revision", "seq", name="uq_operation_log_step"),
    Index("ix_operation_log_at", "at"),
)


# One sync per cluster and store: who runs it, and its heartbeat (see Store.acquire_sync).
SyncLease = Table(
    "sync_leases",
    metadata,
    Column("cluster", String(253), primary_key=True),
    Column("holder", String(64), nullable=False),  # random, one per running sync
    Column("host", String(253), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    # Held by a `serve --leader-elect` replica (it won the cluster's Lease).
    Column("elected", Boolean, server_default=false(), nullable=False),
)


# A cluster `serve` and `--cluster` reach by name: where its kubeconfig is, which context,
# or which Secret (in the cluster helmguard runs in) holds its connection.
#
# Never credentials: the kubeconfig file (or the Secret it is mounted from), or the
# Secret `secret` names, keeps them.
RegisteredCluster = Table(
    "clusters",
    metadata,
    Column("name", String(63), primary_key=True),  # a DNS-1123 label
    Column("kubeconfig", Text, nullable=False),  # an absolute path; "" with `secret`
    Column("context", String(253), nullable=False),  # with `secret`: "" its current one
    Column("added_at", UTCDateTime, nullable=False),
    # NAMESPACE/NAME of the Secret with the connection; "" for a kubeconfig file's context.
    Column("secret", String(317), default="", server_default="", nullable=False),
)


# A Helm chart repository or OCI registry of the catalogue, with its cached index.
#
# `secret` holds the password or token sealed by `helmguard.chart.repos` (Fernet, with a
# key outside the database); it is never read back out through the API or the CLI.
ChartRepository = Table(
    "chart_repositories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(63), nullable=False),
    Column("url", Text, nullable=False),
    Column("kind", String(8), nullable=False),  # "helm" (index.yaml) or "oci"
    Column("username", Text, nullable=False),
    Column("secret", Text),
    Column("ca_file", Text, nullable=False),
    Column("insecure", Boolean, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    # [{name, version, app_version, created, description, keywords, urls, digest}] or null.
    Column("index", JSONType),
    Column("index_fetched_at", UTCDateTime),
    UniqueConstraint("name", name="uq_chart_repositories_name"),
)
