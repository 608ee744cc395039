# ruff: noqa: E501  (realistic YAML reads better unbroken)
"""Resolution rules: chart, hooks, run-time creators, built-ins, cluster lookups, severities."""

from __future__ import annotations

from dataclasses import dataclass

from helmguard.manifest import K8sObject, ObjectRef, parse_objects
from helmguard.preflight.check import analyze
from helmguard.preflight.findings import CODES, Severity
from helmguard.preflight.resolve import How


@dataclass(frozen=True)
class Hook:
    obj: K8sObject
    events: tuple[str, ...]
    weight: int = 0
    delete_policies: tuple[str, ...] = ()


def deployment(spec: str, name: str = "web", ns: str = "app") -> str:
    body = "\n".join("      " + line for line in spec.strip("\n").splitlines())
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n" + body + "\n"
    )


def codes(text: str, **kw: object) -> list[tuple[str, str]]:
    analysis = analyze(parse_objects(text), release_namespace="app", **kw)  # type: ignore[arg-type]
    return [(f.code, str(f.severity)) for f in analysis.findings]


def by_path(text: str, kind: str) -> dict[str, str]:
    """Finding code per field path, for the findings on objects of `kind`."""
    analysis = analyze(parse_objects(text), release_namespace="app")
    return {f.path: f.code for f in analysis.findings if f.object.kind == kind}


def test_duplicate_objects_are_an_error() -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: app}\n"
    assert codes(cm + "---\n" + cm) == [("HG100", "error")]
    # Same name, different kind or namespace: not a duplicate.
    other = "apiVersion: v1\nkind: Secret\nmetadata: {name: c, namespace: app}\n"
    assert codes(cm + "---\n" + other) == []


def test_builtins_resolve() -> None:
    text = deployment(
        "serviceAccountName: default\npriorityClassName: system-cluster-critical\n"
        "containers: [{name: c, image: busybox}]\n"
        "volumes: [{name: ca, configMap: {name: kube-root-ca.crt}}]\n"
    )
    text += (
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        "metadata: {name: auth-reader, namespace: kube-system}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role,"
        " name: extension-apiserver-authentication-reader}\n"
        "subjects: [{kind: ServiceAccount, name: default, namespace: app}]\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        "metadata: {name: delegator}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,"
        " name: 'system:auth-delegator'}\n"
        "subjects: [{kind: ServiceAccount, name: default, namespace: app}]\n"
    )
    assert codes(text) == []


def test_namespace_created_by_the_chart_makes_missing_targets_errors() -> None:
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
    text = deployment("serviceAccountName: ghost\ncontainers: [{name: c, image: busybox}]\n")
    assert codes(text) == [("HG101", "warning")]
    assert codes(ns + text) == [("HG101", "error")]
    # A soft failure stays a warning even where it certainly happens.
    pull = deployment("imagePullSecrets: [{name: reg}]\ncontainers: [{name: c, image: x}]\n")
    assert codes(ns + pull) == [("HG104", "warning")]


def test_a_cluster_lookup_plugs_in() -> None:
    text = deployment("serviceAccountName: vault-svc\ncontainers: [{name: c, image: busybox}]\n")
    asked: list[ObjectRef] = []

    def exists(ref: ObjectRef) -> bool:
        asked.append(ref)
        return False

    assert codes(text, existing=exists) == [("HG101", "error")]
    assert ObjectRef("", "ServiceAccount", "app", "vault-svc") in asked
    assert codes(text, existing=lambda ref: True) == []
    assert codes(text, existing=lambda ref: None) == [("HG101", "warning")]


def test_missing_key_in_a_chart_configmap_is_an_error() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: app}\n"
        "data: {LEVEL: info}\n---\n"
        + deployment(
            "containers:\n- name: c\n  image: busybox\n  env:\n"
            "  - {name: A, valueFrom: {configMapKeyRef: {name: cfg, key: LEVEL}}}\n"
            "  - {name: B, valueFrom: {configMapKeyRef: {name: cfg, key: COLOR}}}\n"
            "  - {name: C, valueFrom: {configMapKeyRef: {name: cfg, key: X, optional: true}}}\n"
        )
    )
    assert codes(text) == [("HG121", "error"), ("HG121", "info")]


def test_secret_key_from_data_or_string_data() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: app}\n"
        "data: {a: YQ==}\nstringData: {b: b}\n---\n"
        + deployment(
            "containers:\n- name: c\n  image: busybox\n  env:\n"
            "  - {name: A, valueFrom: {secretKeyRef: {name: s, key: a}}}\n"
            "  - {name: B, valueFrom: {secretKeyRef: {name: s, key: b}}}\n"
            "  - {name: C, valueFrom: {secretKeyRef: {name: s, key: c}}}\n"
        )
    )
    assert codes(text) == [("HG122", "error")]


def test_ingress_backend_port_must_exist_on_the_chart_service() -> None:
    svc = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app}\n"
        "spec: {ports: [{name: http, port: 80}]}\n---\n"
    )
    ing = (
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: app}\n"
        "spec:\n  defaultBackend: {service: {name: web, port: {number: %s}}}\n"
    )
    assert codes(svc + ing % "80") == []
    assert codes(svc + ing % "8080") == [("HG123", "warning")]


def test_hook_with_rbac_but_no_mention_still_satisfies() -> None:
    job = (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: gen, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: gen\n"
        "      restartPolicy: Never\n      containers: [{name: g, image: gen:1}]\n"
    )
    rbac = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: gen, namespace: app}\n"
        "rules: [{apiGroups: [''], resources: [secrets], verbs: [create]}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        "metadata: {name: gen, namespace: app}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gen}\n"
        "subjects: [{kind: ServiceAccount, name: gen}]\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: gen, namespace: app}\n"
    )
    user = deployment(
        "containers: [{name: c, image: x}]\nvolumes: [{name: t, secret: {secretName: tls}}]\n"
    )
    hooks = [Hook(o, ("pre-install",), -5) for o in parse_objects(rbac)]
    hooks.append(Hook(parse_objects(job)[0], ("pre-install",), 0))
    analysis = analyze(parse_objects(user), hooks=hooks, release_namespace="app")
    assert [(f.code, f.severity) for f in analysis.findings] == [("HG150", Severity.INFO)]
    (res,) = [r for r in analysis.resolutions if r.ref.target.name == "tls"]
    assert res.how is How.HOOK and res.by == ObjectRef("batch", "Job", "app", "gen")
    # Without RBAC and without naming the Secret, the Job is no plausible creator.
    bare = analyze(
        parse_objects(user),
        hooks=[Hook(parse_objects(job)[0], ("pre-install",))],
        release_namespace="app",
    )
    assert "HG103" in [f.code for f in bare.findings if f.severity is Severity.WARNING]


def test_regular_job_needs_both_a_mention_and_rbac() -> None:
    rbac = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: gen, namespace: app}\n"
        "rules: [{apiGroups: [''], resources: [secrets], verbs: ['*']}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        "metadata: {name: gen, namespace: app}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gen}\n"
        "subjects: [{kind: ServiceAccount, name: gen, namespace: app}]\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: gen, namespace: app}\n---\n"
    )
    job = (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: gen, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: gen\n"
        "      restartPolicy: Never\n"
        "      containers: [{name: g, image: gen:1, args: ['--out=%s']}]\n---\n"
    )
    user = deployment(
        "containers: [{name: c, image: x}]\nvolumes: [{name: t, secret: {secretName: tls}}]\n"
    )
    assert codes(rbac + job % "tls" + user) == [("HG151", "info")]
    assert codes(rbac + job % "other" + user) == [("HG103", "warning")]


def test_a_workload_never_creates_what_its_own_pods_need() -> None:
    # A controller chart installed with serviceAccount.create=false: its RBAC could create
    # ServiceAccounts, ConfigMaps and claims, and it names them, but its pods cannot start
    # without them, so nothing of the chart creates them before they are needed.
    rbac = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: ctl}\n"
        "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        "metadata: {name: ctl}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ctl}\n"
        "subjects: [{kind: ServiceAccount, name: ctl, namespace: app}]\n---\n"
    )
    statefulset = (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: ctl, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: ctl\n"
        "      containers: [{name: c, image: ctl:1, args: [--sa=ctl, --config=ctl-cm,"
        " --claim=ctl-data, --opt=ctl-opt]}]\n"
        "      volumes:\n      - {name: cfg, configMap: {name: ctl-cm}}\n"
        "      - {name: data, persistentVolumeClaim: {claimName: ctl-data}}\n"
        "      - {name: opt, secret: {secretName: ctl-opt, optional: true}}\n"
    )
    own = {
        "spec.template.spec.serviceAccountName": "HG101",
        "spec.template.spec.volumes[0].configMap.name": "HG102",
        "spec.template.spec.volumes[1].persistentVolumeClaim.claimName": "HG105",
    }
    found = by_path(rbac + statefulset, "StatefulSet")
    assert found == {**own, "spec.template.spec.volumes[2].secret.secretName": "HG151"}
    # Another workload, running under its own ServiceAccount, can create them.
    creator = (
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: maker, namespace: app}\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        "metadata: {name: maker}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ctl}\n"
        "subjects: [{kind: ServiceAccount, name: maker, namespace: app}]\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: maker, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: maker\n"
        "      containers: [{name: m, image: m:1, args: [ctl, ctl-cm, ctl-data]}]\n"
    )
    assert set(by_path(rbac + statefulset + creator, "StatefulSet").values()) == {"HG151"}


def test_configmap_keys_compared_as_go_stringifies_them() -> None:
    # A TCP-services style ConfigMap: integer and boolean keys are the strings "9000", "true".
    cm = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tcp, namespace: app}\n"
        'data:\n  9000: "app/svc:80"\n  true: "x"\n  0o10: "octal"\n---\n'
    )
    refs = "".join(
        f"  - {{name: K{i}, valueFrom: {{configMapKeyRef: {{name: tcp, key: '{key}'}}}}}}\n"
        for i, key in enumerate(("9000", "true", "8"))
    )
    user = deployment("containers:\n- name: c\n  image: x\n  env:\n" + refs)
    assert codes(cm + user) == []
    missing = user.replace("key: '8'", "key: '0o10'")
    assert codes(cm + missing) == [("HG121", "error")]


def test_cert_manager_and_external_secrets_produce_secrets() -> None:
    text = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c, namespace: app}\n"
        "spec: {secretName: web-tls, dnsNames: [a.test], issuerRef: {name: ca}}\n---\n"
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\n"
        "metadata: {name: db, namespace: app}\nspec: {target: {name: db-creds}}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: shim\n"
        "  namespace: app\n  annotations: {cert-manager.io/cluster-issuer: letsencrypt}\n"
        "spec:\n  tls: [{secretName: shim-tls}]\n---\n"
        + deployment(
            "containers:\n- name: c\n  image: x\n  envFrom: [{secretRef: {name: db-creds}}]\n"
            "volumes: [{name: t, secret: {secretName: web-tls}},"
            " {name: s, secret: {secretName: shim-tls}}]\n"
        )
    )
    apis = ("cert-manager.io/v1", "external-secrets.io/v1")
    # The Deployment's three Secrets, and the Ingress's own TLS Secret.
    assert codes(text, api_versions=apis) == [("HG151", "info")] * 4


def test_pre_install_hook_needing_a_release_object_is_a_warning() -> None:
    cm = parse_objects(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: migrations, namespace: app}\n"
    )
    job = parse_objects(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: m, image: m:1, envFrom: [{configMapRef: {name: migrations}}]}]\n"
    )[0]
    pre = analyze(cm, hooks=[Hook(job, ("pre-install", "pre-upgrade"))], release_namespace="app")
    assert [(f.code, f.severity) for f in pre.findings] == [("HG130", Severity.WARNING)]
    post = analyze(cm, hooks=[Hook(job, ("post-install",))], release_namespace="app")
    assert post.findings == ()


def test_pre_install_hook_may_use_crds_from_the_crds_folder() -> None:
    crd = parse_objects(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\n"
        "spec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced,"
        " versions: []}\n"
    )
    cr = parse_objects(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: app}\n"
    )
    hooks = [Hook(cr[0], ("pre-install",))]
    assert analyze([], hooks=hooks, crds=crd, release_namespace="app").findings == ()
    # The same CRD as a template is created only after pre-install hooks: caught.
    got = analyze(crd, hooks=hooks, release_namespace="app").findings
    assert [f.code for f in got] == ["HG130"]


def test_hook_needing_an_earlier_hook_is_quiet_but_a_release_object_needing_a_hook_is_info() -> (
    None
):
    sa = parse_objects(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: h, namespace: app}\n"
    )
    job = parse_objects(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: app}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: h\n      restartPolicy: Never\n"
        "      containers: [{name: m, image: m:1}]\n"
    )[0]
    hooks = [Hook(sa[0], ("pre-install",), -1), Hook(job, ("pre-install",), 0)]
    assert analyze([], hooks=hooks, release_namespace="app").findings == ()
    user = parse_objects(deployment("serviceAccountName: h\ncontainers: [{name: c, image: x}]\n"))
    got = analyze(user, hooks=hooks, release_namespace="app").findings
    assert [(f.code, f.severity) for f in got] == [("HG150", Severity.INFO)]


def test_custom_resource_needs_its_crd_unless_declared() -> None:
    cr = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m, namespace: app}\n"
    assert codes(cr) == [("HG116", "warning")]
    assert codes(cr, api_versions=["monitoring.coreos.com/v1"]) == []
    assert codes(cr, api_versions=["monitoring.coreos.com/v1/ServiceMonitor"]) == []
    crd = parse_objects(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: servicemonitors.monitoring.coreos.com}\n"
        "spec: {group: monitoring.coreos.com, names: {kind: ServiceMonitor, plural: servicemonitors},"
        " scope: Namespaced, versions: []}\n"
    )
    assert analyze(parse_objects(cr), crds=crd, release_namespace="app").findings == ()


def test_custom_scheduler_is_info() -> None:
    text = deployment("schedulerName: volcano\ncontainers: [{name: c, image: x}]\n")
    assert codes(text) == [("HG131", "info")]


def test_code_table_is_stable_and_unique() -> None:
    assert len({c.name for c in CODES.values()}) == len(CODES)
    assert CODES["HG101"].name == "missing-service-account"
    assert CODES["HG100"].name == "duplicate-object"


def test_release_object_needing_a_hook_deleted_on_success_is_a_warning() -> None:
    secret = parse_objects(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: boot, namespace: app}\n"
    )[0]
    user = parse_objects(
        deployment(
            "containers: [{name: c, image: x}]\nvolumes: [{name: b, secret: {secretName: boot}}]\n"
        )
    )
    kept = analyze(user, hooks=[Hook(secret, ("pre-install",))], release_namespace="app")
    assert [f.code for f in kept.findings] == ["HG150"]
    gone = analyze(
        user,
        hooks=[Hook(secret, ("pre-install",), 0, ("hook-succeeded",))],
        release_namespace="app",
    )
    assert [(f.code, f.severity) for f in gone.findings] == [("HG132", Severity.WARNING)]
