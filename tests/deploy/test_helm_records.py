"""Records the helm binary wrote (captured from the sandbox), read and rewritten by helmguard.

`fixtures/helm_records.json` holds the two Secrets helm v4 stored for `helm install demo`
then `helm upgrade demo --set-string greeting=hi` of the `interop` chart in namespace
capture-rec (metadata uid/resourceVersion/managedFields dropped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helmguard.deploy.release import decode_record, encode_record, with_status
from helmguard.manifest import ObjectRef

RECORDS = Path(__file__).parent / "fixtures" / "helm_records.json"
INVENTORY = {
    ObjectRef("", "ConfigMap", "capture-rec", "demo-config"),
    ObjectRef("", "Secret", "capture-rec", "demo-token"),
    ObjectRef("", "Service", "capture-rec", "demo-web"),
}


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(RECORDS.read_text())
    return loaded


def test_helms_records_decode_with_the_manifest_as_inventory(
    records: list[dict[str, Any]],
) -> None:
    first, second = (decode_record(r) for r in records)
    assert (first.revision, first.status, second.revision, second.status) == (
        1,
        "superseded",
        2,
        "deployed",
    )
    for rev in (first, second):
        assert (rev.release, rev.namespace, rev.chart, rev.chart_version) == (
            "demo",
            "capture-rec",
            "interop",
            "1.2.0",
        )
        assert not rev.facts and not rev.legacy and not rev.pending
        assert rev.applied == ()
        assert set(rev.inventory) == INVENTORY
        assert rev.outcome == "deployed"  # superseded was deployed once: a rollback target
        assert [h["name"] for h in rev.helm["hooks"]] == ["demo-marker"]
    assert (first.description, second.description) == ("Install complete", "Upgrade complete")
    assert (dict(first.config), dict(second.config)) == ({}, {"greeting": "hi"})


def test_rewriting_a_record_helm_wrote_keeps_it_helms(records: list[dict[str, Any]]) -> None:
    """An upgrade by helmguard marks helm's deployed revision superseded and writes it back:
    it must still list the objects helm applied (uninstall and prune read its inventory)."""
    original = decode_record(records[1])
    superseded = with_status(original, "superseded")
    body = encode_record(superseded)
    back = decode_record(body)
    assert set(back.inventory) == INVENTORY
    assert not back.facts and back.status == "superseded" and back.outcome == "deployed"
    assert set(body["data"]) == set(records[1]["data"])  # nothing but helm's own key
    assert back.helm["manifest"] == original.helm["manifest"]
    assert back.helm["chart"] == original.helm["chart"]


def test_encoding_what_was_decoded_gives_helms_record_back(
    records: list[dict[str, Any]],
) -> None:
    for record in records:
        body = encode_record(decode_record(record))
        assert body["metadata"]["name"] == record["metadata"]["name"]
        assert body["type"] == record["type"]
        labels = record["metadata"]["labels"]
        assert {
            k: body["metadata"]["labels"][k] for k in ("name", "owner", "status", "version")
        } == {k: labels[k] for k in ("name", "owner", "status", "version")}
        assert decode_record(body) == decode_record(record)
