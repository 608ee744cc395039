"""helmguard deploy vs `helm install --wait` on the operator-pattern test charts.

    uv run python bench/charts.py --sandbox NAME [--repeat 5] [--chart operator ...]
        [--baseline DIR]   # DIR/src/helmguard: another helmguard in the same rounds
        [--phases]         # when each step came (helmguard -o json, helm --debug)

Needs a running sandbox (`helmguard sandbox up --name NAME`) and its built `helm` binary.
The charts are the hook-parity test charts (tests/deploy/charts/):

- operator: a CRD in crds/ and a custom resource of it, an operator Deployment with its
  ServiceAccount and RBAC, a Service, a post-install Job checking the API (hook-succeeded);
- certgen: an admission webhook's ValidatingWebhookConfiguration, pre-install
  ServiceAccount/Role/RoleBinding/ClusterRole/ClusterRoleBinding hooks (weight -5), a
  pre-install Job creating the certificate and a post-install Job patching the webhook
  configuration (hook-succeeded), the controller Deployment and its Service.

Each install runs through a subprocess (process start-up counted for both tools) into a
fresh namespace, until the command returns; both must exit 0 (helmguard: every component
Ready; helm: --wait). Between installs the cluster is reset: the namespace, the
cluster-scoped objects named after it and the chart's CRDs are deleted and waited for, so
every install creates its CRD and waits for it to be established. The tools alternate
which goes first in each round; medians of --repeat rounds are compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from deploy import (
    HELM_MARKS,
    HELMGUARD_MARKS,
    _last_line,
    _namespace,
    median_marks,
    timed_phases,
)
from helmguard.manifest import parse_crd_file
from helmguard.sandbox.build import find_binary
from helmguard.sandbox.cluster import Sandbox, load_sandbox

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / "tests" / "deploy" / "charts"
PATTERNS = ("operator", "certgen")
# Cluster-scoped collections whose objects a chart names after its namespace.
CLUSTER_SCOPED = (
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
LABELS = {
    "helmguard": "helmguard deploy",
    "helm": "helm install --wait",
    "baseline": "baseline deploy",
}


def crd_names(chart: Path) -> list[str]:
    """The names of the CRDs in the chart's crds/ directory."""
    return [
        crd.name
        for path in sorted((chart / "crds").glob("*.yaml"))
        for crd in parse_crd_file(path.read_text(), str(path))
    ]


def reset(api: httpx.Client, namespace: str, crds: list[str], timeout: float = 120) -> None:
    """Delete the namespace, the cluster-scoped objects named after it and the CRDs; wait."""
    gone: list[str] = [f"/api/v1/namespaces/{namespace}"]
    for collection in CLUSTER_SCOPED:
        for item in api.get(collection).json()["items"]:
            if namespace in item["metadata"]["name"]:
                gone.append(f"{collection}/{item['metadata']['name']}")
    gone += [f"{CRDS}/{name}" for name in crds]
    for path in gone:
        api.delete(path)
    deadline = time.monotonic() + timeout
    while any(api.get(path).status_code != 404 for path in gone):
        if time.monotonic() > deadline:
            raise SystemExit(f"still deleting after {timeout} s: {', '.join(gone)}")
        time.sleep(0.2)


def run(
    sandbox: Sandbox,
    patterns: list[str],
    repeat: int,
    timeout: int,
    baseline: Path | None,
    phases: bool = False,
) -> int:
    helm = str(find_binary("helm"))
    helmguard = [sys.executable, "-m", "helmguard.cli"]
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
    # As bench/deploy.py: bytecode cached outside the repo, compiled by an untimed deploy.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "helmguard-bench-pycache")
    # The baseline's helmguard package first on the path, in the same rounds.
    envs = {"helmguard": env, "helm": env}
    if baseline is not None:
        envs["baseline"] = {**env, "PYTHONPATH": str(baseline / "src")}
    tools = list(envs)
    tag = uuid.uuid4().hex[:6]
    load_start = os.getloadavg()[0]
    timings: dict[tuple[str, str], list[float]] = {}
    marks: dict[tuple[str, str], list[dict[str, float]]] = {}
    last: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="helmguard-bench-") as tmp, sandbox.admin_http() as api:

        def install(tool: str, chart: Path, namespace: str) -> list[str]:
            if tool == "helm":
                argv = [helm, "install", "r", str(chart), "-n", namespace, "--wait"]
                return [*argv, "--timeout", f"{timeout}s", *(["--debug"] if phases else [])]
            db = str(Path(tmp) / f"{tool}.db")
            where = ["--release", "r", "-n", namespace, "--db", db, "--timeout", str(timeout)]
            return [*helmguard, "deploy", str(chart), *where, *(["-o", "json"] if phases else [])]

        for pattern in patterns:
            chart = CHARTS / pattern
            crds = crd_names(chart)
            order = list(tools)
            for round_ in range(-1, repeat):  # round -1: untimed warm-up of every tool
                for tool in order:
                    namespace = f"bench-{pattern}-{tool}-{tag}-{round_ + 1}"
                    _namespace(api, namespace)
                    table = HELM_MARKS if tool == "helm" else HELMGUARD_MARKS
                    argv = install(tool, chart, namespace)
                    elapsed, rc, out, seen = timed_phases(argv, envs[tool], table)
                    reset(api, namespace, crds)
                    if rc != 0:
                        raise SystemExit(f"{tool} on {pattern} failed (exit {rc}):\n{out}")
                    if round_ >= 0:
                        timings.setdefault((pattern, tool), []).append(elapsed)
                        marks.setdefault((pattern, tool), []).append(seen)
                        last[(pattern, tool)] = _last_line(out)
                order = order[1:] + order[:1]  # each tool goes first in turn

    load = os.getloadavg()
    print(
        f"{repeat} rounds per chart; load average (1 min) {load_start:.1f} at the start, "
        f"{load[0]:.1f} at the end ({load[1]:.1f} over 5 min)\n"
    )
    for pattern in patterns:
        medians = {}
        for tool in tools:
            values = timings[(pattern, tool)]
            medians[tool] = statistics.median(values)
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"{pattern:<10} {LABELS[tool]:<22} {medians[tool]:6.2f} s  (median of {runs})")
            print(f"{'':<33} {last[(pattern, tool)]}")
            if phases:
                print(f"{'':<33} s from start (medians): {median_marks(marks[(pattern, tool)])}")
        for tool in (t for t in tools if t != "helm"):
            ratio = medians[tool] / medians["helm"]
            print(f"{pattern:<10} ratio {LABELS[tool]} / helm: {ratio:.2f}x")
        print()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="default", help="name of a running sandbox")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per chart (medians)")
    parser.add_argument(
        "--chart", action="append", choices=PATTERNS, help="a pattern chart (default: all)"
    )
    parser.add_argument("--timeout", type=int, default=120, help="each install's timeout (s)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another helmguard (e.g. `git archive` of a commit): its deploy "
        "runs in the same rounds, for before/after figures",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="print when each step came (helmguard -o json, helm --debug)",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.baseline is not None and not (args.baseline / "src" / "helmguard").is_dir():
        parser.error(f"--baseline {args.baseline}: no src/helmguard there")
    patterns = args.chart or list(PATTERNS)
    return run(
        load_sandbox(args.sandbox), patterns, args.repeat, args.timeout, args.baseline, args.phases
    )


if __name__ == "__main__":
    raise SystemExit(main())
