# ruff: noqa: E501  (realistic YAML reads better unbroken)
"""One case per reference type in shared/reference/references.md.

Each case is a realistic source object (YAML, as a chart renders it), the reference it
must produce (target and exact field path), and the object(s) that satisfy it.
"""

from __future__ import annotations

from dataclasses import dataclass

from helmguard.manifest import ObjectRef


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    target: ObjectRef
    path: str
    satisfier: str
    code: str


def _pod(spec: str, kind: str = "Deployment") -> str:
    """A workload of `kind` in namespace app whose pod spec is `spec` (indented 6 for templates)."""
    body = "\n".join("      " + line if line else line for line in spec.strip("\n").splitlines())
    if kind == "Pod":
        body = "\n".join(line[4:] for line in body.splitlines())
        return (
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: app\nspec:\n{body}\n"
        )
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: app\n"
        "spec:\n  selector:\n    matchLabels: {app: web}\n  template:\n"
        "    metadata:\n      labels: {app: web}\n    spec:\n" + body + "\n"
    )


CTR = "containers:\n- name: web\n  image: nginx:1.27\n"


def _obj(api: str, kind: str, name: str, ns: str | None = "app", extra: str = "") -> str:
    meta = f"metadata:\n  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return f"apiVersion: {api}\nkind: {kind}\n{meta}{extra}"


SA = _obj("v1", "ServiceAccount", "{n}")
CM = _obj("v1", "ConfigMap", "{n}", extra="data:\n  k: v\n")
SECRET = _obj("v1", "Secret", "{n}", extra="stringData:\n  k: v\n")
SVC = _obj(
    "v1",
    "Service",
    "{n}",
    extra="spec:\n  selector: {app: web}\n  ports:\n  - name: http\n    port: 80\n",
)
HEADLESS = _obj(
    "v1",
    "Service",
    "{n}",
    extra="spec:\n  clusterIP: None\n  selector: {app: db}\n  ports:\n  - port: 80\n",
)


GATEWAY_CLASS = _obj(
    "gateway.networking.k8s.io/v1",
    "GatewayClass",
    "envoy",
    None,
    "spec:\n  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n",
)


def r(group: str, kind: str, ns: str, name: str) -> ObjectRef:
    return ObjectRef(group, kind, ns, name)


CASES: list[Case] = [
    Case(
        "pod-serviceAccountName",
        _pod("serviceAccountName: runner\n" + CTR, "Pod"),
        r("", "ServiceAccount", "app", "runner"),
        "spec.serviceAccountName",
        SA.replace("{n}", "runner"),
        "HG101",
    ),
    Case(
        "template-serviceAccountName",
        _pod("serviceAccountName: runner\n" + CTR),
        r("", "ServiceAccount", "app", "runner"),
        "spec.template.spec.serviceAccountName",
        SA.replace("{n}", "runner"),
        "HG101",
    ),
    Case(
        "imagePullSecrets",
        _pod("imagePullSecrets:\n- name: regcred\n" + CTR),
        r("", "Secret", "app", "regcred"),
        "spec.template.spec.imagePullSecrets[0].name",
        SECRET.replace("{n}", "regcred"),
        "HG104",
    ),
    Case(
        "priorityClassName",
        _pod("priorityClassName: high\n" + CTR),
        r("scheduling.k8s.io", "PriorityClass", "", "high"),
        "spec.template.spec.priorityClassName",
        _obj("scheduling.k8s.io/v1", "PriorityClass", "high", None, "value: 1000\n"),
        "HG106",
    ),
    Case(
        "runtimeClassName",
        _pod("runtimeClassName: gvisor\n" + CTR),
        r("node.k8s.io", "RuntimeClass", "", "gvisor"),
        "spec.template.spec.runtimeClassName",
        _obj("node.k8s.io/v1", "RuntimeClass", "gvisor", None, "handler: runsc\n"),
        "HG107",
    ),
    Case(
        "volume-configMap",
        _pod(CTR + "volumes:\n- name: c\n  configMap:\n    name: settings\n"),
        r("", "ConfigMap", "app", "settings"),
        "spec.template.spec.volumes[0].configMap.name",
        CM.replace("{n}", "settings"),
        "HG102",
    ),
    Case(
        "volume-secret",
        _pod(CTR + "volumes:\n- name: s\n  secret:\n    secretName: tls\n"),
        r("", "Secret", "app", "tls"),
        "spec.template.spec.volumes[0].secret.secretName",
        SECRET.replace("{n}", "tls"),
        "HG103",
    ),
    Case(
        "volume-pvc",
        _pod(CTR + "volumes:\n- name: d\n  persistentVolumeClaim:\n    claimName: data\n"),
        r("", "PersistentVolumeClaim", "app", "data"),
        "spec.template.spec.volumes[0].persistentVolumeClaim.claimName",
        _obj(
            "v1",
            "PersistentVolumeClaim",
            "data",
            extra="spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n"
            "    requests: {storage: 1Gi}\n",
        ),
        "HG105",
    ),
    Case(
        "volume-projected-configMap",
        _pod(
            CTR + "volumes:\n- name: p\n  projected:\n    sources:\n"
            "    - serviceAccountToken: {path: token}\n    - configMap:\n        name: bundle\n"
        ),
        r("", "ConfigMap", "app", "bundle"),
        "spec.template.spec.volumes[0].projected.sources[1].configMap.name",
        CM.replace("{n}", "bundle"),
        "HG102",
    ),
    Case(
        "volume-projected-secret",
        _pod(
            CTR
            + "volumes:\n- name: p\n  projected:\n    sources:\n    - secret:\n        name: creds\n"
        ),
        r("", "Secret", "app", "creds"),
        "spec.template.spec.volumes[0].projected.sources[0].secret.name",
        SECRET.replace("{n}", "creds"),
        "HG103",
    ),
    Case(
        "volume-ephemeral-storageClass",
        _pod(
            CTR + "volumes:\n- name: scratch\n  ephemeral:\n    volumeClaimTemplate:\n"
            "      spec:\n        accessModes: [ReadWriteOnce]\n        storageClassName: fast\n"
            "        resources:\n          requests: {storage: 1Gi}\n"
        ),
        r("storage.k8s.io", "StorageClass", "", "fast"),
        "spec.template.spec.volumes[0].ephemeral.volumeClaimTemplate.spec.storageClassName",
        _obj("storage.k8s.io/v1", "StorageClass", "fast", None, "provisioner: csi.example.com\n"),
        "HG108",
    ),
    Case(
        "volume-csi-nodePublishSecretRef",
        _pod(
            CTR + "volumes:\n- name: v\n  csi:\n    driver: secrets-store.csi.k8s.io\n"
            "    nodePublishSecretRef:\n      name: store-creds\n"
        ),
        r("", "Secret", "app", "store-creds"),
        "spec.template.spec.volumes[0].csi.nodePublishSecretRef.name",
        SECRET.replace("{n}", "store-creds"),
        "HG103",
    ),
    Case(
        "env-configMapKeyRef",
        _pod(
            "containers:\n- name: web\n  image: nginx:1.27\n  env:\n  - name: A\n    value: x\n"
            "  - name: LEVEL\n    valueFrom:\n      configMapKeyRef: {name: settings, key: k}\n"
        ),
        r("", "ConfigMap", "app", "settings"),
        "spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef",
        CM.replace("{n}", "settings"),
        "HG102",
    ),
    Case(
        "initContainer-env-secretKeyRef",
        _pod(
            "initContainers:\n- name: migrate\n  image: migrate:1\n  env:\n  - name: PW\n"
            "    valueFrom:\n      secretKeyRef: {name: db, key: k}\n" + CTR
        ),
        r("", "Secret", "app", "db"),
        "spec.template.spec.initContainers[0].env[0].valueFrom.secretKeyRef",
        SECRET.replace("{n}", "db"),
        "HG103",
    ),
    Case(
        "envFrom-configMapRef",
        _pod(
            "containers:\n- name: web\n  image: nginx:1.27\n  envFrom:\n  - configMapRef: {name: env}\n"
        ),
        r("", "ConfigMap", "app", "env"),
        "spec.template.spec.containers[0].envFrom[0].configMapRef.name",
        CM.replace("{n}", "env"),
        "HG102",
    ),
    Case(
        "envFrom-secretRef",
        _pod(
            "containers:\n- name: web\n  image: nginx:1.27\n  envFrom:\n"
            "  - prefix: X_\n    secretRef: {name: env}\n"
        ),
        r("", "Secret", "app", "env"),
        "spec.template.spec.containers[0].envFrom[0].secretRef.name",
        SECRET.replace("{n}", "env"),
        "HG103",
    ),
    Case(
        "resourceClaims",
        _pod(CTR + "resourceClaims:\n- name: gpu\n  resourceClaimTemplateName: one-gpu\n"),
        r("resource.k8s.io", "ResourceClaimTemplate", "app", "one-gpu"),
        "spec.template.spec.resourceClaims[0].resourceClaimTemplateName",
        _obj(
            "resource.k8s.io/v1",
            "ResourceClaimTemplate",
            "one-gpu",
            extra="spec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n"
            "        exactly: {deviceClassName: gpu.example.com}\n",
        ),
        "HG120",
    ),
    Case(
        "cronjob-jobTemplate-serviceAccountName",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: backup\n  namespace: app\n"
        "spec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          restartPolicy: OnFailure\n          serviceAccountName: backup\n"
        "          containers:\n          - name: b\n            image: busybox:1.36\n",
        r("", "ServiceAccount", "app", "backup"),
        "spec.jobTemplate.spec.template.spec.serviceAccountName",
        SA.replace("{n}", "backup"),
        "HG101",
    ),
    Case(
        "statefulset-serviceName",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: app\n"
        "spec:\n  serviceName: db-headless\n  selector:\n    matchLabels: {app: db}\n"
        "  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n"
        "      - name: db\n        image: postgres:17\n",
        r("", "Service", "app", "db-headless"),
        "spec.serviceName",
        HEADLESS.replace("{n}", "db-headless"),
        "HG110",
    ),
    Case(
        "statefulset-volumeClaimTemplates-storageClassName",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: app\n"
        "spec:\n  selector:\n    matchLabels: {app: db}\n"
        "  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n"
        "      - name: db\n        image: postgres:17\n  volumeClaimTemplates:\n"
        "  - metadata: {name: data}\n    spec:\n      accessModes: [ReadWriteOnce]\n"
        "      storageClassName: ssd\n      resources:\n        requests: {storage: 5Gi}\n",
        r("storage.k8s.io", "StorageClass", "", "ssd"),
        "spec.volumeClaimTemplates[0].spec.storageClassName",
        _obj("storage.k8s.io/v1", "StorageClass", "ssd", None, "provisioner: csi.example.com\n"),
        "HG108",
    ),
    Case(
        "pvc-storageClassName",
        _obj(
            "v1",
            "PersistentVolumeClaim",
            "data",
            extra="spec:\n  storageClassName: ssd\n  accessModes: [ReadWriteOnce]\n"
            "  resources:\n    requests: {storage: 1Gi}\n",
        ),
        r("storage.k8s.io", "StorageClass", "", "ssd"),
        "spec.storageClassName",
        _obj("storage.k8s.io/v1", "StorageClass", "ssd", None, "provisioner: csi.example.com\n"),
        "HG108",
    ),
    Case(
        "pvc-volumeName",
        _obj(
            "v1",
            "PersistentVolumeClaim",
            "data",
            extra="spec:\n  storageClassName: ''\n  volumeName: pv-data\n"
            "  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n",
        ),
        r("", "PersistentVolume", "", "pv-data"),
        "spec.volumeName",
        _obj(
            "v1",
            "PersistentVolume",
            "pv-data",
            None,
            "spec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n"
            "  hostPath: {path: /data}\n",
        ),
        "HG109",
    ),
    Case(
        "pvc-dataSourceRef",
        _obj(
            "v1",
            "PersistentVolumeClaim",
            "restore",
            extra="spec:\n  dataSourceRef:\n    kind: PersistentVolumeClaim\n    name: data\n"
            "  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n",
        ),
        r("", "PersistentVolumeClaim", "app", "data"),
        "spec.dataSourceRef.name",
        _obj(
            "v1",
            "PersistentVolumeClaim",
            "data",
            extra="spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n"
            "    requests: {storage: 1Gi}\n",
        ),
        "HG105",
    ),
    Case(
        "ingress-ingressClassName",
        _obj(
            "networking.k8s.io/v1",
            "Ingress",
            "web",
            extra="spec:\n  ingressClassName: nginx\n  defaultBackend:\n"
            "    service: {name: web, port: {name: http}}\n",
        )
        + "---\n"
        + SVC.replace("{n}", "web"),
        r("networking.k8s.io", "IngressClass", "", "nginx"),
        "spec.ingressClassName",
        _obj(
            "networking.k8s.io/v1",
            "IngressClass",
            "nginx",
            None,
            "spec:\n  controller: k8s.io/ingress-nginx\n",
        ),
        "HG111",
    ),
    Case(
        "ingress-rule-backend-service",
        _obj(
            "networking.k8s.io/v1",
            "Ingress",
            "web",
            extra="spec:\n  rules:\n  - host: a.example.test\n    http:\n      paths:\n"
            "      - path: /\n        pathType: Prefix\n        backend:\n"
            "          service: {name: web, port: {number: 80}}\n",
        ),
        r("", "Service", "app", "web"),
        "spec.rules[0].http.paths[0].backend.service.name",
        SVC.replace("{n}", "web"),
        "HG110",
    ),
    Case(
        "ingress-defaultBackend",
        _obj(
            "networking.k8s.io/v1",
            "Ingress",
            "web",
            extra="spec:\n  defaultBackend:\n    service: {name: fallback, port: {name: http}}\n",
        ),
        r("", "Service", "app", "fallback"),
        "spec.defaultBackend.service.name",
        SVC.replace("{n}", "fallback"),
        "HG110",
    ),
    Case(
        "ingress-tls-secretName",
        _obj(
            "networking.k8s.io/v1",
            "Ingress",
            "web",
            extra="spec:\n  tls:\n  - hosts: [a.example.test]\n    secretName: web-tls\n"
            "  defaultBackend:\n    service: {name: web, port: {name: http}}\n",
        )
        + "---\n"
        + SVC.replace("{n}", "web"),
        r("", "Secret", "app", "web-tls"),
        "spec.tls[0].secretName",
        _obj(
            "v1",
            "Secret",
            "web-tls",
            extra="type: kubernetes.io/tls\ndata:\n  tls.crt: ''\n  tls.key: ''\n",
        ),
        "HG103",
    ),
    Case(
        "hpa-scaleTargetRef",
        _obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            "web",
            extra="spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
            "  minReplicas: 1\n  maxReplicas: 3\n",
        ),
        r("apps", "Deployment", "app", "web"),
        "spec.scaleTargetRef.name",
        _pod(CTR),
        "HG112",
    ),
    Case(
        "rolebinding-roleRef-Role",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "reader",
            extra="roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n"
            "subjects:\n- kind: ServiceAccount\n  name: default\n",
        ),
        r("rbac.authorization.k8s.io", "Role", "app", "reader"),
        "roleRef.name",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "Role",
            "reader",
            extra="rules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list]\n",
        ),
        "HG113",
    ),
    Case(
        "clusterrolebinding-roleRef-ClusterRole",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "app-reader",
            None,
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: app-reader}\n"
            "subjects:\n- kind: ServiceAccount\n  name: default\n  namespace: app\n",
        ),
        r("rbac.authorization.k8s.io", "ClusterRole", "", "app-reader"),
        "roleRef.name",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "app-reader",
            None,
            "rules:\n- apiGroups: ['']\n  resources: [nodes]\n  verbs: [get]\n",
        ),
        "HG114",
    ),
    Case(
        "rolebinding-subject-ServiceAccount",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "view",
            extra="roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
            "subjects:\n- kind: User\n  name: jane\n- kind: ServiceAccount\n  name: operator\n",
        ),
        r("", "ServiceAccount", "app", "operator"),
        "subjects[1].name",
        SA.replace("{n}", "operator"),
        "HG101",
    ),
    Case(
        "clusterrolebinding-subject-ServiceAccount",
        _obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "ops-view",
            None,
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
            "subjects:\n- kind: ServiceAccount\n  name: operator\n  namespace: ops\n",
        ),
        r("", "ServiceAccount", "ops", "operator"),
        "subjects[0].name",
        _obj("v1", "ServiceAccount", "operator", "ops")
        + "---\n"
        + _obj("v1", "Namespace", "ops", None),
        "HG101",
    ),
    Case(
        "serviceaccount-secrets",
        _obj("v1", "ServiceAccount", "bot", extra="secrets:\n- name: bot-token\n"),
        r("", "Secret", "app", "bot-token"),
        "secrets[0].name",
        SECRET.replace("{n}", "bot-token"),
        "HG103",
    ),
    Case(
        "serviceaccount-imagePullSecrets",
        _obj("v1", "ServiceAccount", "bot", extra="imagePullSecrets:\n- name: regcred\n"),
        r("", "Secret", "app", "regcred"),
        "imagePullSecrets[0].name",
        SECRET.replace("{n}", "regcred"),
        "HG104",
    ),
    Case(
        "validatingwebhook-service",
        _obj(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            "policy",
            None,
            "webhooks:\n- name: validate.policy.example.com\n  admissionReviewVersions: [v1]\n"
            "  sideEffects: None\n  clientConfig:\n    service: {namespace: app, name: policy-webhook,"
            " path: /validate, port: 443}\n  rules:\n  - apiGroups: ['']\n    apiVersions: [v1]\n"
            "    operations: [CREATE]\n    resources: [pods]\n",
        ),
        r("", "Service", "app", "policy-webhook"),
        "webhooks[0].clientConfig.service.name",
        _obj(
            "v1",
            "Service",
            "policy-webhook",
            extra="spec:\n  selector: {app: policy}\n  ports:\n  - port: 443\n    targetPort: 9443\n",
        ),
        "HG115",
    ),
    Case(
        "mutatingwebhook-service",
        _obj(
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
            "inject",
            None,
            "webhooks:\n- name: inject.example.com\n  admissionReviewVersions: [v1]\n"
            "  sideEffects: None\n  failurePolicy: Fail\n  clientConfig:\n"
            "    service: {namespace: app, name: injector}\n",
        ),
        r("", "Service", "app", "injector"),
        "webhooks[0].clientConfig.service.name",
        _obj("v1", "Service", "injector", extra="spec:\n  ports:\n  - port: 443\n"),
        "HG115",
    ),
    Case(
        "crd-conversion-webhook-service",
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
            None,
            "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n"
            "  versions:\n  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema:"
            " {type: object}}}\n  conversion:\n    strategy: Webhook\n    webhook:\n"
            "      conversionReviewVersions: [v1]\n      clientConfig:\n"
            "        service: {namespace: app, name: widget-conversion}\n",
        ),
        r("", "Service", "app", "widget-conversion"),
        "spec.conversion.webhook.clientConfig.service.name",
        _obj("v1", "Service", "widget-conversion", extra="spec:\n  ports:\n  - port: 443\n"),
        "HG115",
    ),
    Case(
        "apiservice-service",
        _obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            "v1beta1.metrics.k8s.io",
            None,
            "spec:\n  group: metrics.k8s.io\n  version: v1beta1\n  groupPriorityMinimum: 100\n"
            "  versionPriority: 100\n  service: {namespace: app, name: metrics-server}\n",
        ),
        r("", "Service", "app", "metrics-server"),
        "spec.service.name",
        _obj("v1", "Service", "metrics-server", extra="spec:\n  ports:\n  - port: 443\n"),
        "HG115",
    ),
    Case(
        "custom-resource-crd",
        _obj("example.com/v1", "Widget", "w1", extra="spec:\n  size: 3\n"),
        r("apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com"),
        "apiVersion",
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
            None,
            "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n"
            "  versions:\n  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema:"
            " {type: object}}}\n",
        ),
        "HG116",
    ),
    Case(
        "namespaced-object-namespace",
        _obj("v1", "ConfigMap", "settings", "other", "data:\n  a: b\n"),
        r("", "Namespace", "", "other"),
        "metadata.namespace",
        _obj("v1", "Namespace", "other", None),
        "HG117",
    ),
    Case(
        "gateway-gatewayClassName",
        _obj(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            "edge",
            extra="spec:\n  gatewayClassName: envoy\n  listeners:\n  - name: http\n"
            "    protocol: HTTP\n    port: 80\n",
        ),
        r("gateway.networking.k8s.io", "GatewayClass", "", "envoy"),
        "spec.gatewayClassName",
        _obj(
            "gateway.networking.k8s.io/v1",
            "GatewayClass",
            "envoy",
            None,
            "spec:\n  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n",
        ),
        "HG118",
    ),
    Case(
        "gateway-listener-certificateRefs",
        _obj(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            "edge",
            extra="spec:\n  gatewayClassName: envoy\n  listeners:\n  - name: https\n"
            "    protocol: HTTPS\n    port: 443\n    tls:\n      certificateRefs:\n"
            "      - kind: Secret\n        name: edge-cert\n",
        ),
        r("", "Secret", "app", "edge-cert"),
        "spec.listeners[0].tls.certificateRefs[0].name",
        SECRET.replace("{n}", "edge-cert") + "---\n" + GATEWAY_CLASS,
        "HG103",
    ),
    Case(
        "httproute-parentRefs",
        _obj(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "web",
            extra="spec:\n  parentRefs:\n  - name: edge\n  rules:\n  - matches:\n"
            "    - path: {type: PathPrefix, value: /}\n",
        ),
        r("gateway.networking.k8s.io", "Gateway", "app", "edge"),
        "spec.parentRefs[0].name",
        _obj(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            "edge",
            extra="spec:\n  gatewayClassName: envoy\n  listeners: []\n",
        )
        + "---\n"
        + GATEWAY_CLASS,
        "HG119",
    ),
    Case(
        "httproute-backendRefs",
        _obj(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "web",
            extra="spec:\n  rules:\n  - backendRefs:\n    - name: web\n      port: 80\n",
        ),
        r("", "Service", "app", "web"),
        "spec.rules[0].backendRefs[0].name",
        SVC.replace("{n}", "web"),
        "HG110",
    ),
    Case(
        "custom-resource-serviceAccountName",
        _obj(
            "monitoring.coreos.com/v1",
            "Prometheus",
            "main",
            extra="spec:\n  serviceAccountName: prometheus\n  replicas: 1\n",
        ),
        r("", "ServiceAccount", "app", "prometheus"),
        "spec.serviceAccountName",
        SA.replace("{n}", "prometheus"),
        "HG101",
    ),
    Case(
        "custom-resource-priorityClassName",
        _obj(
            "monitoring.coreos.com/v1",
            "Alertmanager",
            "main",
            extra="spec:\n  priorityClassName: monitoring\n",
        ),
        r("scheduling.k8s.io", "PriorityClass", "", "monitoring"),
        "spec.priorityClassName",
        _obj("scheduling.k8s.io/v1", "PriorityClass", "monitoring", None, "value: 100\n"),
        "HG106",
    ),
    Case(
        "custom-resource-imagePullSecrets",
        _obj(
            "monitoring.coreos.com/v1",
            "Alertmanager",
            "main",
            extra="spec:\n  imagePullSecrets:\n  - name: regcred\n",
        ),
        r("", "Secret", "app", "regcred"),
        "spec.imagePullSecrets[0].name",
        SECRET.replace("{n}", "regcred"),
        "HG104",
    ),
]
