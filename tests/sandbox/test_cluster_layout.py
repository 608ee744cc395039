"""The sandbox looks like a small real cluster: three labelled Nodes in three zones, with a
kubelet's capacity, and a default StorageClass whose claims a real provisioner binds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from helmguard.sandbox.cluster import (
    HOSTPATH_ROOT,
    NODE_ALLOCATABLE,
    NODE_CAPACITY,
    NODE_NAMES,
    PROVISIONER,
    REGION,
    STORAGE_CLASS,
    ZONES,
    Sandbox,
)
from kubeapi import wait_until


def test_three_ready_nodes_with_standard_labels_and_capacity(admin_http: httpx.Client) -> None:
    nodes = {n["metadata"]["name"]: n for n in admin_http.get("/api/v1/nodes").json()["items"]}
    assert set(NODE_NAMES) <= set(nodes)
    zones = []
    for name in NODE_NAMES:
        node = nodes[name]
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["kubernetes.io/arch"] == "amd64"
        assert labels["topology.kubernetes.io/region"] == REGION
        zones.append(labels["topology.kubernetes.io/zone"])
        # kwok keeps what the Node was created with; the API server normalises quantities.
        assert node["status"]["capacity"] == NODE_CAPACITY
        assert node["status"]["allocatable"] == NODE_ALLOCATABLE
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        assert not node["spec"].get("taints")
        assert node["status"]["nodeInfo"]["operatingSystem"] == "linux"
    assert zones == list(ZONES)
    assert len({nodes[n]["spec"]["podCIDR"] for n in NODE_NAMES}) == len(NODE_NAMES)


def test_the_only_default_storage_class(admin_http: httpx.Client) -> None:
    classes = admin_http.get("/apis/storage.k8s.io/v1/storageclasses").json()["items"]
    default = [
        c
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert [c["metadata"]["name"] for c in default] == [STORAGE_CLASS]
    assert default[0]["provisioner"] == PROVISIONER
    assert default[0]["volumeBindingMode"] == "WaitForFirstConsumer"
    assert default[0]["reclaimPolicy"] == "Delete"


def _claim(api: httpx.Client, ns: str) -> dict[str, Any]:
    reply = api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _events(api: httpx.Client, ns: str) -> set[str]:
    return {e["reason"] for e in api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]}


def test_a_claim_binds_when_its_pod_is_scheduled_and_its_directory_stays_in_the_sandbox(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    ns = namespace
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    reply = admin_http.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=claim)
    assert reply.status_code == 201, reply.text
    # WaitForFirstConsumer, as on most real clusters: nothing is provisioned for a lone claim.
    wait_until(lambda: "WaitForFirstConsumer" in _events(admin_http, ns), "WaitForFirstConsumer")
    assert _claim(admin_http, ns)["status"]["phase"] == "Pending"

    pod = {
        "metadata": {"name": "user"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.test/app:1.0",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    reply = admin_http.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
    assert reply.status_code == 201, reply.text
    bound = wait_until(
        lambda: (c := _claim(admin_http, ns))["status"].get("phase") == "Bound" and c,
        "the claim to be Bound",
    )
    assert bound["spec"]["storageClassName"] == STORAGE_CLASS
    node = bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
    assert node in NODE_NAMES
    pv_path = f"/api/v1/persistentvolumes/{bound['spec']['volumeName']}"
    pv = admin_http.get(pv_path).json()
    host_path = pv["spec"]["hostPath"]["path"]
    assert host_path.startswith(HOSTPATH_ROOT + "/")
    directory = sandbox.volume_path(host_path)
    assert directory.is_dir()
    if sandbox.private_volumes:  # the provisioner wrote into the sandbox's volumes/
        assert directory.is_relative_to(sandbox.directory)
        assert not Path(host_path).exists()
    wait_until(
        lambda: (
            admin_http.get(f"/api/v1/namespaces/{ns}/pods/user").json()["spec"].get("nodeName")
            == node
        ),
        "the pod to be bound to the claim's selected node",
    )

    # reclaimPolicy Delete: deleting the claim deletes the volume and its directory.
    admin_http.delete(f"/api/v1/namespaces/{ns}/pods/user?gracePeriodSeconds=0")
    admin_http.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
    wait_until(lambda: admin_http.get(pv_path).status_code == 404, "the volume to be deleted", 60)
    assert not directory.exists()
