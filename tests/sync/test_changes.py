"""What the sync writes for a status change: coalescing by state, keeping `since` honest.

Statuses are evaluated from recorded objects (tests/status/fixtures/kinds.yaml).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from helmguard.status import ResourceStatus
from helmguard.store import ReleaseKey
from helmguard.sync.changes import Written, batches, same_state, to_write
from status.helpers import edited
from status.kinds import NOW, obj, run


def _job() -> ResourceStatus:
    """The recorded Job: Failed (BackoffLimitExceeded) since its condition's time."""
    return run(obj("Job"))


def _claim(version: str = "3005") -> ResourceStatus:
    """The recorded PersistentVolumeClaim: Progressing (Pending), no condition time."""
    claim = obj("PersistentVolumeClaim")
    return run(edited(claim, metadata__resourceVersion=version))


def test_the_first_status_is_written_dated_by_its_condition_or_now() -> None:
    job = _job()
    first = to_write(None, job, NOW)
    assert first == Written(
        "Failed",
        "BackoffLimitExceeded",
        job.message,
        None,
        "3003",
        job.since,
    )
    assert job.since is not None and job.since < NOW
    claim = to_write(None, _claim(), NOW)
    assert claim is not None and (claim.state, claim.since) == ("Progressing", NOW)


def test_nothing_changed_nothing_written() -> None:
    written = to_write(None, _claim(), NOW)
    assert written is not None and written.resource_version == "3005"
    assert to_write(written, _claim(), NOW + timedelta(seconds=5)) is None


def test_a_new_resource_version_alone_keeps_the_stored_since() -> None:
    written = to_write(None, _claim("3005"), NOW)
    later = NOW + timedelta(minutes=1)
    again = to_write(written, _claim("3100"), later)
    assert again is not None
    assert (again.resource_version, again.since) == ("3100", NOW)  # coalesced, not a transition
    assert same_state(_claim("3005"), _claim("3100"))


def test_a_change_dated_before_the_last_stored_one_is_dated_when_seen() -> None:
    written = to_write(None, _claim(), NOW)
    # The Job's condition time is before NOW: as a change after NOW's write it is dated now.
    changed = replace(_job(), ref=_claim().ref)
    later = NOW + timedelta(minutes=2)
    assert not same_state(_claim(), changed)
    after = to_write(written, changed, later)
    assert after is not None and (after.state, after.since) == ("Failed", later)


def test_state_reason_message_and_root_cause_make_a_transition() -> None:
    claim = _claim()
    assert not same_state(claim, replace(claim, message="other"))
    assert not same_state(claim, replace(claim, reason="Other"))
    assert not same_state(claim, replace(claim, root_cause=obj("Job").ref))
    assert same_state(claim, replace(claim, since=NOW, observed_generation=7))


def test_a_pass_that_fits_is_one_transaction() -> None:
    a, b = ReleaseKey("ns", "a"), ReleaseKey("ns", "b")
    rows = [(a, "a1", 1.0), (b, "b1", 2.0)]
    apps = [(a, "app-a", 1.0)]
    assert batches(rows, apps, 3) == [(rows, apps)]


def test_a_large_pass_is_split_by_whole_releases_keeping_each_releases_order() -> None:
    keys = [ReleaseKey("ns", f"r{i}") for i in range(8)]
    # Rows arrive interleaved (snapshots first, then computed rows): r0, r1, ..., r0 again.
    rows = [(k, f"{k.name}-{n}", float(n)) for n in range(3) for k in keys]
    apps = [(k, f"{k.name}-app", 0.0) for k in reversed(keys)]
    out = batches(rows, apps, 8)
    # 4 items per release: two releases fill the first batch (8), four the next (16), the
    # last two are what is left of the third (32).
    assert [sorted({r[0].name for r in part[0]}) for part in out] == [
        ["r0", "r1"],
        ["r2", "r3", "r4", "r5"],
        ["r6", "r7"],
    ]
    for part_rows, part_apps in out:
        assert {r[0] for r in part_rows} == {a[0] for a in part_apps}  # app with its rows
    for key in keys:
        mine = [r for part in out for r in part[0] if r[0] == key]
        assert [r[1] for r in mine] == [f"{key.name}-{n}" for n in range(3)]
    assert sorted(r for part in out for r in part[0]) == sorted(rows)  # each row once
    assert sorted(a for part in out for a in part[1]) == sorted(apps)
