"""What the actions decide, on a fake of helmguard's cluster interface (no control plane).

The fake (fakecluster.py) starts from objects recorded on the sandbox by
record_deciders.py: release `web` of charts/decided after one and after two revisions.
Charts are rendered by the real Helm engine; only the cluster is in memory.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deploy.fakecluster import Call, FakeCluster, recorded
from deploy.test_lock import HOST, dead_pid
from helmguard.chart.render import RenderedChart, RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, ReleaseLocked, Result, deploy
from helmguard.deploy.lock import micro_time
from helmguard.deploy.oplog import Step
from helmguard.deploy.release import decode_record, record_name
from helmguard.deploy.rollback import rollback
from helmguard.deploy.uninstall import uninstall
from helmguard.kube.errors import KubeError
from helmguard.manifest import ObjectRef

CHARTS = Path(__file__).parent / "charts"
REC = recorded()
NS, NAME = REC["namespace"], REC["release"]
OPTIONS = DeployOptions(timeout=30, wait=False, force=True)
EXTRA = ObjectRef("", "ConfigMap", NS, f"{NAME}-extra")
BROKEN = ObjectRef("", "Service", NS, f"{NAME}-broken")


def _render(*sets: str) -> RenderedChart:
    return render_chart(_request(*sets))


def _request(*sets: str) -> RenderRequest:
    values = ValuesOptions(set_values=sets)
    return RenderRequest(chart=str(CHARTS / "decided"), release=NAME, namespace=NS, values=values)


def _state(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(REC["states"][name])


def _namespace_only() -> FakeCluster:
    return FakeCluster.of(o for o in _state("one-revision") if o["kind"] == "Namespace")


async def _deploy(fake: FakeCluster, *sets: str, **options: Any) -> Result:
    opts = DeployOptions(**{**OPTIONS.__dict__, **options})
    return await deploy(_request(*sets), opts, config=fake.config(), rendered=_render(*sets))


def _records(fake: FakeCluster) -> list[tuple[str, str, str]]:
    """The release records written: verb, record name, Helm status."""
    return [(c.verb, c.ref.name, c.record_status) for c in fake.writes(kind="Secret") if c.body]


def _stored(fake: FakeCluster) -> dict[int, str]:
    """The release records on the fake cluster now: revision -> Helm status."""
    secrets = [b for r, b in fake.objects.items() if r.kind == "Secret"]
    return {rev.revision: rev.status for rev in map(decode_record, secrets)}


def _objects(fake_or_state: FakeCluster | list[dict[str, Any]]) -> set[ObjectRef]:
    """The release's objects (not its records, Lease or namespace)."""
    if not isinstance(fake_or_state, FakeCluster):
        fake_or_state = FakeCluster.of(fake_or_state)
    return {r for r in fake_or_state.objects if r.kind in ("ConfigMap", "Service")}


def _position(fake: FakeCluster, call: Call) -> int:
    return fake.calls.index(call)


def _record(name: str, revision: int) -> str:
    return record_name(name, revision)


# ---- install or upgrade, decided from the records -------------------------------------


async def test_no_records_is_an_install_recorded_pending_before_the_first_apply() -> None:
    fake = _namespace_only()
    result = await _deploy(fake)
    assert (result.outcome, result.revision, result.operation) == ("deployed", 1, "install")
    v1 = _record(NAME, 1)
    assert _records(fake) == [("create", v1, "pending-install"), ("replace", v1, "deployed")]
    pending, final = fake.writes(kind="Secret")
    applies = fake.writes("apply")
    assert {c.ref for c in applies} == _objects(_state("one-revision"))
    assert _position(fake, pending) < _position(fake, applies[0])
    assert _position(fake, final) > _position(fake, applies[-1])
    assert final.body is not None
    assert decode_record(final.body).description == "Install complete"


async def test_a_deployed_revision_makes_it_an_upgrade_that_supersedes_it() -> None:
    fake = FakeCluster.of(_state("one-revision"))
    result = await _deploy(fake, "greeting=hi")
    assert (result.outcome, result.revision, result.operation) == ("deployed", 2, "upgrade")
    v1, v2 = _record(NAME, 1), _record(NAME, 2)
    assert _records(fake) == [
        ("create", v2, "pending-upgrade"),
        ("replace", v1, "superseded"),
        ("replace", v2, "deployed"),
    ]
    assert _stored(fake) == {1: "superseded", 2: "deployed"}
    config = fake.objects[ObjectRef("", "ConfigMap", NS, f"{NAME}-config")]
    assert config["data"] == {"greeting": "hi"}
    assert config["metadata"]["annotations"]["helmguard.io/revision"] == "2"


async def test_over_only_failed_records_a_deploy_upgrades_as_helms() -> None:
    fake = _namespace_only()
    fake.refuse[BROKEN] = REC["invalid"]
    failed = await _deploy(fake, "broken=true")
    assert (failed.outcome, failed.operation) == ("failed", "install")
    assert failed.error_class == "Invalid"
    assert "spec.ports[0].port" in failed.message
    fake.refuse.clear()
    again = await _deploy(fake)
    # helm's `upgrade --install` upgrades a release whose first install failed
    # (tests/deploy/test_render_context.py holds it to the helm binary).
    assert (again.outcome, again.revision, again.operation) == ("deployed", 2, "upgrade")
    assert ("create", _record(NAME, 2), "pending-upgrade") in _records(fake)
    assert _stored(fake) == {1: "superseded", 2: "deployed"}


async def test_an_upgrade_prunes_what_the_new_revision_drops_as_the_sandbox_did() -> None:
    fake = FakeCluster.of(_state("one-revision"))
    result = await _deploy(fake, "extra=false")
    assert result.pruned == (EXTRA,)
    deleted = [c for c in fake.writes("delete") if c.ref == EXTRA]
    pending = fake.writes("create", "Secret")[0]
    assert len(deleted) == 1 and _position(fake, pending) < _position(fake, deleted[0])
    assert _objects(fake) == _objects(_state("two-revisions"))
    assert _stored(fake) == {
        decode_record(b).revision: decode_record(b).status
        for b in _state("two-revisions")
        if b["kind"] == "Secret"
    }


# ---- rollback: which revision ---------------------------------------------------------


async def test_rollback_defaults_to_the_revision_before_the_latest() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    result = await rollback(NS, NAME, None, OPTIONS, config=fake.config())
    assert (result.outcome, result.revision) == ("deployed", 3), result.message
    targets = [r.message for r in result.log if r.step == Step.ROLLBACK_TARGET]
    assert targets == ["rolling back to revision 1"]
    assert EXTRA in fake.objects  # revision 1 had it
    v2, v3 = _record(NAME, 2), _record(NAME, 3)
    assert _records(fake) == [
        ("create", v3, "pending-rollback"),
        ("replace", v2, "superseded"),
        ("replace", v3, "deployed"),
    ]
    final = decode_record(fake.objects[ObjectRef("", "Secret", NS, v3)])
    assert final.description == "Rollback to 1"


async def test_a_second_rollback_goes_back_to_the_revision_the_first_replaced() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    await rollback(NS, NAME, None, OPTIONS, config=fake.config())
    # As helm rollback NAME: the revision before the latest (3), whatever its status.
    again = await rollback(NS, NAME, None, OPTIONS, config=fake.config())
    assert (again.outcome, again.revision) == ("deployed", 4), again.message
    targets = [r.message for r in again.log if r.step == Step.ROLLBACK_TARGET]
    assert targets == ["rolling back to revision 2"]
    assert EXTRA not in fake.objects
    assert _stored(fake) == {1: "superseded", 2: "superseded", 3: "superseded", 4: "deployed"}


async def test_rollback_to_a_named_revision_takes_that_one() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    result = await rollback(NS, NAME, 2, OPTIONS, config=fake.config())
    assert (result.outcome, result.revision) == ("deployed", 3), result.message
    assert [r.message for r in result.log if r.step == Step.ROLLBACK_TARGET] == [
        "rolling back to revision 2"
    ]
    assert EXTRA not in fake.objects


async def test_rollback_to_a_revision_never_stored_names_the_stored_ones() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    with pytest.raises(KubeError, match=r"has no revision 7 \(stored: 1, 2;"):
        await rollback(NS, NAME, 7, OPTIONS, config=fake.config())
    assert [c.verb for c in fake.calls] == ["create", "delete"]  # its Lease, nothing else
    assert {c.ref.kind for c in fake.calls} == {"Lease"}


async def test_rollback_without_an_earlier_revision_is_refused() -> None:
    fake = FakeCluster.of(_state("one-revision"))
    with pytest.raises(KubeError, match="has only revision 1: no previous one"):
        await rollback(NS, NAME, None, OPTIONS, config=fake.config())
    assert fake.writes(kind="Secret") == []


# ---- atomic: restore on a failed apply ------------------------------------------------


async def test_a_failed_atomic_upgrade_restores_the_previous_revision() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    fake.refuse[BROKEN] = REC["invalid"]
    result = await _deploy(fake, "broken=true", atomic=True)
    assert (result.outcome, result.error_class) == ("rolled-back", "Invalid")
    assert result.rollback is not None and result.rollback.ok
    assert "restored revision 2 as revision 4" in result.rollback.message
    assert _stored(fake) == {1: "superseded", 2: "superseded", 3: "failed", 4: "deployed"}
    # What revision 3 created before failing (its extra ConfigMap) is gone again.
    assert _objects(fake) == _objects(_state("two-revisions"))


async def test_a_failed_atomic_first_install_deletes_everything_it_applied() -> None:
    fake = _namespace_only()
    fake.refuse[BROKEN] = REC["invalid"]
    result = await _deploy(fake, "broken=true", atomic=True)
    assert result.outcome == "rolled-back", result.message
    assert result.rollback is not None and result.rollback.outcome == "uninstalled"
    created = {c.ref for c in fake.writes("apply")}
    assert created and created <= set(result.rollback.deleted)
    assert list(fake.objects) == [ObjectRef("", "Namespace", "", NS)]


async def test_a_failed_upgrade_without_atomic_is_recorded_failed_and_left() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    fake.refuse[BROKEN] = REC["invalid"]
    result = await _deploy(fake, "broken=true")
    assert (result.outcome, result.revision, result.rollback) == ("failed", 3, None)
    assert _stored(fake) == {1: "superseded", 2: "deployed", 3: "failed"}
    assert EXTRA in fake.objects


# ---- uninstall ------------------------------------------------------------------------


async def test_uninstall_deletes_in_reverse_install_order_then_the_records() -> None:
    fake = _namespace_only()
    await _deploy(fake)
    installed = [c.ref for c in fake.writes("apply")]
    result = await uninstall(NS, NAME, OPTIONS, config=fake.config())
    assert result.outcome == "uninstalled", result.message
    objects = [c for c in fake.writes("delete") if c.ref.kind not in ("Lease", "Secret")]
    deletes = [c.ref for c in objects]
    assert deletes == installed[::-1]
    assert list(result.deleted) == deletes
    # The records go last, so an uninstall stuck on a finalizer can be run again.
    records = fake.writes("delete", "Secret")
    assert [c.ref.name for c in records] == [_record(NAME, 1)]
    assert _position(fake, records[0]) > _position(fake, objects[-1])
    assert list(fake.objects) == [ObjectRef("", "Namespace", "", NS)]


async def test_uninstall_keep_history_leaves_the_records_marked_uninstalled() -> None:
    fake = FakeCluster.of(_state("two-revisions"))
    keep = DeployOptions(**{**OPTIONS.__dict__, "keep_history": True})
    result = await uninstall(NS, NAME, keep, config=fake.config())
    assert result.outcome == "uninstalled", result.message
    assert _objects(fake) == set()
    assert _stored(fake) == {1: "superseded", 2: "uninstalled"}
    v2 = _record(NAME, 2)
    assert _records(fake) == [("replace", v2, "uninstalling"), ("replace", v2, "uninstalled")]


# ---- the Lease ------------------------------------------------------------------------


def _lease(renewed: datetime, pid: int) -> dict[str, Any]:
    """The recorded Lease, renewed at `renewed` by process `pid` of this host."""
    lease = copy.deepcopy(REC["lease"])
    lease["spec"]["renewTime"] = micro_time(renewed)
    lease["spec"]["holderIdentity"] = f"{HOST}/{pid}/deploy/0123abcd"
    return dict(lease)


async def test_a_lease_a_live_holder_renews_refuses_the_deploy_before_any_write() -> None:
    fake = FakeCluster.of([*_state("two-revisions"), _lease(datetime.now(UTC), os.getpid())])
    with pytest.raises(ReleaseLocked) as refused:
        await _deploy(fake)
    assert f"{HOST}/{os.getpid()}/deploy" in str(refused.value)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("renewed", "holder"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), os.getpid()),  # expired, though its holder lives
        (datetime.now(UTC), dead_pid()),  # renewed, but its holder died
    ],
    ids=["expired", "holder-dead"],
)
async def test_a_lease_that_is_no_longer_held_is_taken_over(renewed: datetime, holder: int) -> None:
    fake = FakeCluster.of([*_state("two-revisions"), _lease(renewed, holder)])
    result = await _deploy(fake)
    assert (result.outcome, result.revision) == ("deployed", 3), result.message
    taken = fake.writes("replace", "Lease")[0]
    assert taken.body is not None
    assert taken.body["spec"]["holderIdentity"].startswith(f"{HOST}/{os.getpid()}/deploy/")
    assert _position(fake, taken) < _position(fake, fake.writes(kind="Secret")[0])
    assert not any(r.kind == "Lease" for r in fake.objects)  # released at the end
