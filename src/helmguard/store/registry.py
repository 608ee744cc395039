"""The cluster registry: the clusters `serve` syncs and `--cluster NAME` addresses.

A row is a name and a kubeconfig path and context, or the NAMESPACE/NAME of a Secret;
credentials stay in the kubeconfig or the Secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from helmguard.store.core import StoreCore, utc_now
from helmguard.store.models import RegisteredCluster, Release
from helmguard.store.records import ClusterRecord, cluster_name_problem


class ClusterRegistry(StoreCore):
    """Registering, forgetting and reading clusters."""

    async def add_cluster(self, cluster: ClusterRecord) -> bool:
        """Register a cluster; False (nothing written) if one of that name exists."""
        problem = cluster_name_problem(cluster.name)
        if problem is not None:
            raise ValueError(problem)

        def op(connection: Connection) -> bool:
            exists = connection.execute(
                select(RegisteredCluster.c.name).where(RegisteredCluster.c.name == cluster.name)
            ).first()
            if exists is not None:
                return False
            connection.execute(
                insert(RegisteredCluster).values(
                    name=cluster.name,
                    kubeconfig=cluster.kubeconfig,
                    context=cluster.context,
                    secret=cluster.secret,
                    added_at=cluster.added_at or utc_now(),
                )
            )
            return True

        return bool(await self._require_writer().submit(op))

    async def remove_cluster(self, name: str, *, with_releases: bool = False) -> bool:
        """Forget a cluster, and with `with_releases` everything stored about its releases
        (in the same transaction); False (nothing written) if it was not registered."""

        def op(connection: Connection) -> bool:
            result = connection.execute(
                delete(RegisteredCluster).where(RegisteredCluster.c.name == name)
            )
            if not result.rowcount:
                return False
            if with_releases:
                connection.execute(delete(Release).where(Release.c.cluster == name))
            return True

        return bool(await self._require_writer().submit(op))

    async def list_clusters(self) -> list[ClusterRecord]:
        """Every registered cluster, by name."""
        rows = await self._rows(select(RegisteredCluster).order_by(RegisteredCluster.c.name))
        return [_cluster_record(row) for row in rows]

    async def get_cluster(self, name: str) -> ClusterRecord | None:
        rows = await self._rows(select(RegisteredCluster).where(RegisteredCluster.c.name == name))
        return _cluster_record(rows[0]) if rows else None


def _cluster_record(row: Any) -> ClusterRecord:
    return ClusterRecord(row.name, row.kubeconfig, row.context, row.added_at, row.secret)
