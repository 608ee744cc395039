"""/readyz over several clusters: ready while every cluster is, else naming each that is not."""

from __future__ import annotations

from helmguard.sync.supervisor import Readiness, combined_readiness


def test_not_ready_names_every_cluster_that_is_not() -> None:
    states = {"a": Readiness(True), "b": Readiness(True)}
    ready = combined_readiness([lambda: states["a"], lambda: states["b"]])
    assert ready() == Readiness(True, "")
    states["b"] = Readiness(False, "cluster b (...): no sync for 31s")
    assert ready() == Readiness(False, "cluster b (...): no sync for 31s")
    states["a"] = Readiness(False, "cluster a (...): watch down for 40s")
    assert ready() == Readiness(
        False, "cluster a (...): watch down for 40s; cluster b (...): no sync for 31s"
    )
