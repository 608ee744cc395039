"""The tables, as typed SQLAlchemy 2 declarative models; migrations/ creates exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
# None as SQL NULL (not JSON null), so that `IS NULL` tells members from children.
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("cluster", "namespace", "name", name="uq_releases_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    chart: Mapped[str] = mapped_column(Text)
    chart_version: Mapped[str] = mapped_column(String(128))
    current_revision: Mapped[int | None] = mapped_column(Integer)
    # What the last operation left (deploying, deployed, failed, ...), as its action wrote it.
    status: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The app status the sync computed from the release's objects (null: never observed).
    app_state: Mapped[str | None] = mapped_column(String(32))
    app_reason: Mapped[str | None] = mapped_column(Text)
    app_message: Mapped[str | None] = mapped_column(Text)
    app_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    app_observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    app_root_cause: Mapped[Any | None] = mapped_column(JSONType)


class Revision(Base):
    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("release_id", "number", name="uq_revisions_release_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    chart: Mapped[str] = mapped_column(Text)
    chart_version: Mapped[str] = mapped_column(String(128))
    values_digest: Mapped[str] = mapped_column(String(71))
    plan: Mapped[Any | None] = mapped_column(JSONType)
    outcome: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # [{group, kind, namespace, name, uid}]: what the revision applied (null: not known).
    inventory: Mapped[Any | None] = mapped_column(JSONType)


class Resource(Base):
    """Current status per object: one row per (release, object key), updated in place."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint(
            "release_id", "api_group", "kind", "namespace", "name", name="uq_resources_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    api_group: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resource_version: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int | None] = mapped_column(Integer)
    root_cause: Mapped[Any | None] = mapped_column(JSONType)
    # Set for a workload's child (ReplicaSet, Pod, Job): its controlling owner's key.
    owner: Mapped[Any | None] = mapped_column(NullableJSON)
    # For a Pod: its containers' restarts (summed), as last observed.
    restarts: Mapped[int | None] = mapped_column(Integer)


class StatusTransition(Base):
    """History: object keys are copied, not referenced, so history outlives the object."""

    __tablename__ = "status_transitions"
    __table_args__ = (
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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    api_group: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[Any | None] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """A Kubernetes Event, one row per Event uid, updated as its count grows."""

    __tablename__ = "events"
    __table_args__ = (
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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(64))
    api_group: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class OperationLog(Base):
    """Steps of operations on a release revision, numbered by `seq` within the revision."""

    __tablename__ = "operation_log"
    __table_args__ = (
        UniqueConstraint("release_id", "revision", "seq", name="uq_operation_log_step"),
        Index("ix_operation_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JSONType)


class SyncLease(Base):
    """One sync per cluster and store: who runs it, and its heartbeat (see Store.acquire_sync)."""

    __tablename__ = "sync_leases"

    cluster: Mapped[str] = mapped_column(String(253), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))  # random, one per running sync
    host: Mapped[str] = mapped_column(String(253))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Held by a `serve --leader-elect` replica (it won the cluster's Lease).
    elected: Mapped[bool] = mapped_column(Boolean, server_default=false())


class RegisteredCluster(Base):
    """A cluster `serve` and `--cluster` reach by name: where its kubeconfig is, which context,
    or which Secret (in the cluster helmguard runs in) holds its connection.

    Never credentials: the kubeconfig file (or the Secret it is mounted from), or the
    Secret `secret` names, keeps them.
    """

    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)  # a DNS-1123 label
    kubeconfig: Mapped[str] = mapped_column(Text)  # an absolute path; "" with `secret`
    context: Mapped[str] = mapped_column(String(253))  # with `secret`: "" its current one
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # NAMESPACE/NAME of the Secret with the connection; "" for a kubeconfig file's context.
    secret: Mapped[str] = mapped_column(String(317), default="", server_default="")


class ChartRepository(Base):
    """A Helm chart repository or OCI registry of the catalogue, with its cached index.

    `secret` holds the password or token sealed by `helmguard.chart.repos` (Fernet, with a
    key outside the database); it is never read back out through the API or the CLI.
    """

    __tablename__ = "chart_repositories"
    __table_args__ = (UniqueConstraint("name", name="uq_chart_repositories_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # "helm" (index.yaml) or "oci"
    username: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    ca_file: Mapped[str] = mapped_column(Text)
    insecure: Mapped[bool] = mapped_column(Boolean)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # [{name, version, app_version, created, description, keywords, urls, digest}] or null.
    index: Mapped[Any | None] = mapped_column(JSONType)
    index_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
