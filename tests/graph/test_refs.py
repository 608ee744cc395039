"""extract_refs finds every reference type of references.md, with the exact field path."""

from __future__ import annotations

import pytest
from tests.preflight.cases import CASES, Case

from helmguard.graph.refs import FailureMode, extract_refs, guess_plural
from helmguard.manifest import ObjectRef, parse_objects


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_is_found_with_exact_path(case: Case) -> None:
    refs = extract_refs(parse_objects(case.source, "chart/templates/x.yaml"))
    found = [(r.target, r.path) for r in refs]
    assert (case.target, case.path) in found


def test_unset_service_account_is_the_implicit_default() -> None:
    objs = parse_objects(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: c, image: busybox}]\n"
    )
    (sa,) = [r for r in extract_refs(objs) if r.target.kind == "ServiceAccount"]
    assert sa.target == ObjectRef("", "ServiceAccount", "app", "default")
    assert sa.implicit and sa.path == "spec.template.spec.serviceAccountName"
    assert sa.failure is FailureMode.REJECTED_AT_ADMISSION


def test_env_key_and_optional_are_carried() -> None:
    objs = parse_objects(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: app}\nspec:\n"
        "  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: A\n"
        "      valueFrom: {secretKeyRef: {name: s, key: password, optional: true}}\n"
        "  volumes:\n  - name: v\n    configMap: {name: c, optional: false}\n"
    )
    refs = {r.path: r for r in extract_refs(objs)}
    env = refs["spec.containers[0].env[0].valueFrom.secretKeyRef"]
    assert env.key == "password" and env.optional
    assert env.failure is FailureMode.CREATE_CONTAINER_CONFIG_ERROR
    vol = refs["spec.volumes[0].configMap.name"]
    assert not vol.optional and vol.failure is FailureMode.FAILED_MOUNT


def test_webhook_failure_policy_decides_the_failure_mode() -> None:
    objs = parse_objects(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata: {name: v}\nwebhooks:\n"
        "- name: a.example.com\n  clientConfig: {service: {namespace: x, name: a}}\n"
        "- name: b.example.com\n  failurePolicy: Ignore\n"
        "  clientConfig: {service: {namespace: x, name: b}}\n"
    )
    modes = {r.target.name: r.failure for r in extract_refs(objs)}
    assert modes == {
        "a": FailureMode.WEBHOOK_BLOCKS_REQUESTS,
        "b": FailureMode.SILENTLY_UNUSED,
    }


def test_custom_resource_uses_the_plural_of_its_crd_in_crds_folder() -> None:
    crd = parse_objects(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: policies.acme.io}\nspec:\n  group: acme.io\n"
        "  names: {kind: Policy, plural: policies}\n  scope: Namespaced\n  versions: []\n"
    )
    cr = parse_objects("apiVersion: acme.io/v1\nkind: Policy\nmetadata: {name: p, namespace: a}\n")
    (target,) = [r.target for r in extract_refs(cr, crds=crd) if r.path == "apiVersion"]
    assert target.name == "policies.acme.io"
    # Without the CRD, Kubernetes' own guess gives the same plural.
    (guessed,) = [r.target for r in extract_refs(cr) if r.path == "apiVersion"]
    assert guessed.name == "policies.acme.io"


def test_guess_plural_follows_kubernetes() -> None:
    assert guess_plural("Ingress") == "ingresses"
    assert guess_plural("Policy") == "policies"
    assert guess_plural("Gateway") == "gateways"
    assert guess_plural("Prometheus") == "prometheuses"


def test_cluster_scoped_objects_have_no_namespace_reference() -> None:
    objs = parse_objects(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
        "rules: []\n"
    )
    assert extract_refs(objs) == []


def test_templated_or_empty_names_make_no_reference() -> None:
    objs = parse_objects(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: d, namespace: a}\n"
        "spec:\n  storageClassName: ''\n  accessModes: [ReadWriteOnce]\n"
    )
    assert [r.path for r in extract_refs(objs)] == ["metadata.namespace"]
