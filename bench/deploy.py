"""helmguard deploy vs `helm install` on the same 100-object chart, and seed-failure detection.

    uv run python bench/deploy.py --sandbox NAME [--repeat 3] [--helm-timeout 300] [--workloads 20]

Needs a running sandbox (`helmguard sandbox up --name NAME`) and its built `helm` binary.
Each run installs into a fresh namespace through a subprocess (process start-up counted
for both tools) and measures wall time until the command returns; --repeat rounds of the
four installs run on a settled cluster and the medians are compared:

- helmguard deploy (waits until every component is Ready) vs `helm install --wait`
- helmguard deploy --no-wait vs `helm install` (no wait)
- the seed chart forced past preflight: helmguard's failure report vs
  `helm install --wait --timeout <helm-timeout>`, which reports only a timeout.

The seed case runs on a settled cluster: the four 100-object namespaces are deleted and
waited for first. Otherwise the controller-manager is still deleting their pods when the
seed Deployment arrives, and its first FailedCreate (what helmguard reports) comes seconds
later than on a quiet cluster; that delay is the cluster's, not the deploy's.

Targets (issue 11): install-to-Ready at most 1.0x `helm install --wait`; seed failure
reported in under 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2

from helmguard.sandbox.build import find_binary
from helmguard.sandbox.cluster import Sandbox, load_sandbox

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "vault-seed"

_TEMPLATE = """\
{{- range $i := until (int .Values.workloads) }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-{{ $i }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{{ $i }}-config
data:
  index: "{{ $i }}"
---
apiVersion: v1
kind: Secret
metadata:
  name: app-{{ $i }}-credentials
stringData:
  token: bench-{{ $i }}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{{ $i }}
spec:
  selector: {app: app-{{ $i }}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{{ $i }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app-{{ $i }}}
  template:
    metadata:
      labels: {app: app-{{ $i }}}
    spec:
      serviceAccountName: app-{{ $i }}
      containers:
        - name: app
          image: registry.example/app:1.0
          ports: [{name: http, containerPort: 8080}]
          envFrom:
            - secretRef: {name: app-{{ $i }}-credentials}
          volumeMounts: [{name: config, mountPath: /etc/app}]
      volumes:
        - name: config
          configMap: {name: app-{{ $i }}-config}
---
{{- end }}
"""


def write_chart(directory: Path, workloads: int) -> Path:
    """A chart of `workloads` x (ServiceAccount, ConfigMap, Secret, Service, Deployment)."""
    chart = directory / "bench100"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: bench100\nversion: 0.1.0\ntype: application\n"
    )
    (chart / "values.yaml").write_text(f"workloads: {workloads}\n")
    (chart / "templates" / "app.yaml").write_text(_TEMPLATE)
    return chart


def _namespace(api: httpx2.Client, name: str) -> None:
    created = api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    created.raise_for_status()
    deadline = time.monotonic() + 30
    while api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"namespace {name} has no default ServiceAccount after 30 s")
        time.sleep(0.1)


def _delete_and_settle(api: httpx2.Client, names: list[str], timeout: float = 180) -> None:
    """Delete namespaces and wait until they are gone (their pods deleted by the controllers)."""
    for name in names:
        api.delete(f"/api/v1/namespaces/{name}")
    deadline = time.monotonic() + timeout
    while any(api.get(f"/api/v1/namespaces/{name}").status_code != 404 for name in names):
        if time.monotonic() > deadline:
            raise SystemExit(f"namespaces {', '.join(names)} still terminating after {timeout} s")
        time.sleep(0.5)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    return elapsed, proc.returncode, (proc.stdout + proc.stderr).strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def run(sandbox: Sandbox, workloads: int, helm_timeout: int, repeat: int) -> int:
    helm = str(find_binary("helm"))
    helmguard = [sys.executable, "-m", "helmguard.cli"]
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
    # An installed helmguard has bytecode; a sandbox with PYTHONDONTWRITEBYTECODE recompiles
    # every module at each start (seconds). Cache bytecode outside the repo; an untimed
    # deploy first compiles everything a deploy imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "helmguard-bench-pycache")
    tag = uuid.uuid4().hex[:6]
    namespaces: list[str] = []
    rows: list[tuple[str, float, int, str]] = []
    last: dict[str, str] = {}
    spread: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="helmguard-bench-") as tmp, sandbox.admin_http() as api:
        chart = write_chart(Path(tmp), workloads)
        db = str(Path(tmp) / "bench.db")
        objects = workloads * 5

        def fresh(label: str) -> str:
            name = f"bench-{label}-{tag}"
            _namespace(api, name)
            namespaces.append(name)
            return name

        def deploy(source: Path, release: str, namespace: str, *flags: str) -> list[str]:
            where = ["--release", release, "-n", namespace, "--db", db]
            return [*helmguard, "deploy", str(source), *where, *flags]

        warm = deploy(chart, "b", fresh("warm-up"), "--no-wait")
        if subprocess.run(warm, env=env, capture_output=True, check=False).returncode != 0:
            raise SystemExit("the warm-up deploy failed: " + " ".join(warm))
        _delete_and_settle(api, namespaces)
        namespaces.clear()
        # Rounds alternate the tools on a settled cluster: each round's namespaces are deleted
        # and gone before the next, so no run shares the controllers with another's pods.
        timings: dict[str, list[float]] = {}
        for _ in range(repeat):
            cases: list[tuple[str, list[str]]] = []
            ns = fresh("hg-wait")
            cases.append(("helmguard deploy (wait)", deploy(chart, "b", ns, "--timeout", "300")))
            ns = fresh("helm-wait")
            cases.append(
                (
                    "helm install --wait",
                    [helm, "install", "b", str(chart), "-n", ns, "--wait", "--timeout", "300s"],
                )
            )
            ns = fresh("hg-nowait")
            cases.append(("helmguard deploy --no-wait", deploy(chart, "b", ns, "--no-wait")))
            ns = fresh("helm-nowait")
            cases.append(("helm install (no wait)", [helm, "install", "b", str(chart), "-n", ns]))
            for label, argv in cases:
                elapsed, rc, out = _timed(argv, env)
                if rc != 0:
                    raise SystemExit(f"{label} failed (exit {rc}):\n{out}")
                timings.setdefault(label, []).append(elapsed)
                last[label] = _last_line(out)
            _delete_and_settle(api, namespaces)
            namespaces.clear()
        for label, values in timings.items():
            rows.append((label, statistics.median(values), 0, last[label]))
            spread[label] = values

        seed_hg = f"seed-hg-{tag}"
        seed_helm = f"seed-helm-{tag}"
        namespaces += [seed_hg, seed_helm]
        elapsed, rc, out = _timed(
            deploy(SEED, "common", seed_hg, "--force", "--timeout", "300"), env
        )
        rows.append(("seed: helmguard deploy --force", elapsed, rc, _last_line(out)))
        elapsed, rc, out = _timed(
            [
                helm,
                "install",
                "common",
                str(SEED),
                "-n",
                seed_helm,
                "--create-namespace",
                "--wait",
                "--timeout",
                f"{helm_timeout}s",
            ],
            env,
        )
        rows.append(
            (f"seed: helm install --wait --timeout {helm_timeout}s", elapsed, rc, _last_line(out))
        )
        for name in namespaces:
            api.delete(f"/api/v1/namespaces/{name}")

    print(f"chart: {objects} objects ({workloads} Deployments with kwok pods)\n")
    for label, elapsed, rc, said in rows:
        runs = spread.get(label)
        each = f"  (median of {', '.join(f'{v:.2f}' for v in runs)})" if runs else ""
        print(f"{label:<45} {elapsed:7.2f} s  exit {rc}{each}")
        print(f"{'':<45} {said}")
    t = {label: elapsed for label, elapsed, _, _ in rows}
    wait_ratio = t["helmguard deploy (wait)"] / t["helm install --wait"]
    nowait_ratio = t["helmguard deploy --no-wait"] / t["helm install (no wait)"]
    print(f"\nratio helmguard/helm with wait:    {wait_ratio:.2f}x (target <= 1.0x)")
    print(f"ratio helmguard/helm without wait: {nowait_ratio:.2f}x")
    seed = t["seed: helmguard deploy --force"]
    print(
        f"seed failure reported by helmguard in {seed:.2f} s (target < 1.5 s); helm: "
        f"{t[f'seed: helm install --wait --timeout {helm_timeout}s']:.2f} s"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="default", help="name of a running sandbox")
    parser.add_argument("--workloads", type=int, default=20, help="5 objects each (default 20)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of the four installs (medians reported)"
    )
    parser.add_argument(
        "--helm-timeout", type=int, default=300, help="helm --timeout for the seed scenario (s)"
    )
    args = parser.parse_args()
    return run(load_sandbox(args.sandbox), args.workloads, args.helm_timeout, args.repeat)


if __name__ == "__main__":
    raise SystemExit(main())
