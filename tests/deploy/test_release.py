"""Release records in Helm v4's storage format, read back; object ownership annotations.

Pure: a real render of the `interop` chart, encoded and decoded. That helm itself reads
these records is held in test_helm_interop.py, on the sandbox with the helm binary.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helmguard.chart.render import RenderRequest, release_manifest, render_chart
from helmguard.deploy.apply import helm_base
from helmguard.deploy.release import (
    Applied,
    RevisionManifest,
    decode_record,
    encode_record,
    helm_release,
    hook_json,
    least_recent,
    legacy_record_name,
    owner_of,
    record_kind,
    record_name,
    stamp,
    with_status,
)
from helmguard.manifest import ObjectRef

CHART = Path(__file__).parent / "charts" / "interop"


def _revision(status: str = "deployed") -> RevisionManifest:
    rendered = render_chart(RenderRequest(str(CHART), release="demo", namespace="ns1"))
    base = helm_base(rendered)
    applied = tuple(
        Applied(o.ref, o.api_version, f"uid-{i}", str(100 + i), True)
        for i, o in enumerate(rendered.objects)
    )
    return RevisionManifest(
        "demo",
        "ns1",
        3,
        rendered.chart_name,
        rendered.chart_version,
        "sha256:abc",
        "deployed",
        rendered.objects,
        rendered.crds,
        hook_json(rendered.hooks),
        applied,
        status=status,
        helm=helm_release(
            name="demo",
            namespace="ns1",
            revision=3,
            chart=base["chart"],
            config={"greeting": "hi"},
            manifest=base["manifest"],
            hooks=base["hooks"],
            notes=base["notes"],
            status=status,
            description="Upgrade complete",
            first_deployed="2026-01-02T03:04:05.000000000Z",
            last_deployed="2026-01-02T03:04:06.000000000Z",
        ),
    )


def _helm_json(record: dict[str, Any]) -> dict[str, Any]:
    """What Helm's decodeRelease reads: Secret bytes are base64 text of base64(gzip(JSON))."""
    text = record["data"]["release"]
    if record["kind"] == "Secret":
        text = base64.b64decode(text).decode()
    blob = base64.b64decode(text)
    assert blob[:3] == b"\x1f\x8b\x08"
    result: dict[str, Any] = json.loads(gzip.decompress(blob))
    return result


def test_secret_record_has_helms_name_type_labels_and_release_json() -> None:
    rev = _revision()
    secret = encode_record(rev)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.demo.v3" == record_name("demo", 3)
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["labels"] == {
        "name": "demo",
        "owner": "helm",
        "status": "deployed",
        "version": "3",
    }
    release = _helm_json(secret)
    assert release["name"] == "demo" and release["namespace"] == "ns1"
    assert release["version"] == 3
    assert release["info"]["status"] == "deployed"
    assert release["info"]["description"] == "Upgrade complete"
    assert release["info"]["notes"] == "demo says hello.\n"
    assert release["config"] == {"greeting": "hi"}
    assert release["chart"]["metadata"]["name"] == "interop"
    assert release["chart"]["metadata"]["appVersion"] == "4.5"
    assert release["chart"]["values"]["settings"] == {"color": "blue", "size": "small"}
    templates = {
        t["name"]: base64.b64decode(t["data"]).decode() for t in release["chart"]["templates"]
    }
    assert "{{ .Release.Name }}-web" in templates["templates/service.yaml"]
    assert release["manifest"].startswith("---\n# Source: interop/templates/config.yaml\n")
    assert [h["name"] for h in release["hooks"]] == ["demo-marker"]
    hook = release["hooks"][0]
    assert hook["events"] == ["post-install", "post-upgrade"] and hook["weight"] == 3
    assert hook["path"] == "interop/templates/hook.yaml"
    assert hook["delete_policies"] == ["before-hook-creation"]
    # helmguard's facts ride along in a key Helm never reads.
    assert set(secret["data"]) == {"release", "helmguard"}


def test_record_round_trips_with_inventory_and_objects() -> None:
    rev = _revision()
    back = decode_record(encode_record(rev))
    assert back.facts and not back.legacy
    assert back.inventory == rev.inventory
    assert [a.uid for a in back.applied] == [a.uid for a in rev.applied]
    assert [o.body for o in back.objects] == [o.body for o in rev.objects]
    assert [h["body"] for h in back.hooks] == [h["body"] for h in rev.hooks]
    assert (back.chart, back.chart_version, back.app_version) == ("interop", "1.2.0", "4.5")
    assert back.values_digest == "sha256:abc" and back.outcome == "deployed"
    assert back.config == {"greeting": "hi"}


def test_configmap_driver_stores_the_base64_text_once() -> None:
    cm = encode_record(_revision(), "ConfigMap")
    assert cm["kind"] == "ConfigMap" and "type" not in cm
    assert _helm_json(cm)["version"] == 3
    assert decode_record(cm).inventory == _revision().inventory


def test_a_record_helm_wrote_has_the_manifest_as_inventory() -> None:
    rev = _revision("superseded")
    secret = encode_record(rev)
    del secret["data"]["helmguard"]  # helm's own records carry nothing else
    secret["metadata"]["labels"]["team"] = "payments"  # a custom release label (helm --labels)
    back = decode_record(secret)
    assert not back.facts and back.applied == ()
    assert back.outcome == "deployed"  # superseded was deployed once: a rollback target
    assert set(back.inventory) == {
        ObjectRef("", "Secret", "ns1", "demo-token"),
        ObjectRef("", "ConfigMap", "ns1", "demo-config"),
        ObjectRef("", "Service", "ns1", "demo-web"),
    }
    assert back.labels == {"team": "payments"}
    assert encode_record(back)["metadata"]["labels"]["team"] == "payments"


def test_pending_and_status_changes() -> None:
    rev = with_status(_revision(), "pending-upgrade", description="Preparing upgrade")
    assert rev.pending and rev.description == "Preparing upgrade"
    record = encode_record(rev)
    assert record["metadata"]["labels"]["status"] == "pending-upgrade"
    assert _helm_json(record)["info"]["status"] == "pending-upgrade"
    assert not with_status(rev, "failed").pending


def test_legacy_helmguard_record_is_read_as_a_helm_release() -> None:
    rev = _revision()
    payload = {
        "release": "demo",
        "namespace": "ns1",
        "revision": 2,
        "chart": "interop",
        "chartVersion": "1.2.0",
        "valuesDigest": "sha256:old",
        "outcome": "deployed",
        "objects": [dict(o.body) for o in rev.objects],
        "sources": [o.source for o in rev.objects],
        "crds": [],
        "hooks": list(rev.hooks),
        "applied": [a.to_json() for a in rev.applied],
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helmguard.io/release.v1",
        "metadata": {"name": legacy_record_name("demo", 2), "namespace": "ns1"},
        "data": {"release": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()},
    }
    back = decode_record(secret)
    assert back.legacy and back.status == "deployed" and back.revision == 2
    assert back.inventory == rev.inventory
    migrated = decode_record(encode_record(back))
    assert not migrated.legacy and migrated.status == "deployed"
    assert [o.body for o in migrated.objects] == [o.body for o in rev.objects]
    assert [h["body"] for h in migrated.hooks] == [h["body"] for h in rev.hooks]


def test_not_a_record_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a release record"):
        decode_record({"kind": "Secret", "metadata": {"name": "x"}, "data": {"release": "!!"}})


def test_helm_driver_names() -> None:
    assert record_kind("") == record_kind("secrets") == "Secret"
    assert record_kind("ConfigMap") == "ConfigMap"
    with pytest.raises(ValueError, match="HELM_DRIVER='sql'"):
        record_kind("sql")


def test_objects_carry_helms_ownership_and_keep_the_charts_labels() -> None:
    rendered = render_chart(RenderRequest(str(CHART), release="demo", namespace="ns1"))
    config = next(o for o in rendered.objects if o.kind == "ConfigMap")
    body = stamp(config, "ns1", "demo", 4)
    assert body["metadata"]["annotations"] == {
        "meta.helm.sh/release-name": "demo",
        "meta.helm.sh/release-namespace": "ns1",
        "helmguard.io/release": "ns1/demo",
        "helmguard.io/revision": "4",
    }
    assert body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert owner_of(body) == "ns1/demo"
    helm_owned = {"metadata": {"annotations": {"meta.helm.sh/release-name": "other"}}}
    assert owner_of({**helm_owned, "metadata": {**helm_owned["metadata"], "namespace": "x"}}) == (
        "x/other"
    )
    assert "Source:" in release_manifest(rendered)


def test_upgrade_values_follow_helms_reuse_values() -> None:
    from helmguard.deploy.values import UpgradeValues, upgrade_values

    rev = _revision()  # config {"greeting": "hi"}; chart defaults settings {color, size}
    new = {"settings": {"color": "red"}}
    assert upgrade_values(new, rev, "reset") == UpgradeValues(new, new)
    merged = {"settings": {"color": "red"}, "greeting": "hi"}
    assert upgrade_values(new, rev, "reset-then-reuse") == UpgradeValues(merged, merged)
    reuse = upgrade_values(new, rev, "reuse")
    assert reuse.config == merged
    assert reuse.render == merged
    # Helm's chart.Values = oldVals: the old chart's defaults with the old values, rendered
    # under the new ones in place of the new chart's values.yaml.
    assert reuse.chart_values is not None and reuse.chart_values["greeting"] == "hi"
    assert reuse.chart_values["settings"]["size"] == "small"
    assert upgrade_values({}, rev, "") == UpgradeValues({"greeting": "hi"}, {"greeting": "hi"})
    assert upgrade_values(new, rev, "") == UpgradeValues(new, new)
    assert upgrade_values(new, None, "reuse") == UpgradeValues(new, new)  # an install
    # A null in the new values removes what the old release had (Helm's CoalesceTables).
    assert upgrade_values({"greeting": None}, rev, "reset-then-reuse").config == {}


def test_history_max_drops_the_oldest_but_never_the_last_deployed() -> None:
    rev = _revision()
    history = [
        replace(rev, revision=1, status="superseded"),
        replace(rev, revision=2, status="deployed"),
        replace(rev, revision=3, status="failed"),
        replace(rev, revision=4, status="failed"),
    ]
    assert [r.revision for r in least_recent(history, 3)] == [1]
    assert [r.revision for r in least_recent(history, 1)] == [1, 3, 4]
    assert least_recent(history, 4) == [] and least_recent(history, -1) == []


def test_the_syncs_uninstalled_status_is_uninstalls_outcome() -> None:
    """sync/ may not import deploy/ (the layers): its copy of the word must stay the same."""
    from helmguard.deploy.result import Outcome
    from helmguard.sync.releases import UNINSTALLED_STATUS

    assert Outcome.UNINSTALLED.value == UNINSTALLED_STATUS
