"""helmguard deploy vs `helm install` on the same 100-object chart, and seed-failure detection.

    uv run python bench/deploy.py --sandbox NAME [--repeat 5] [--helm-timeout 300] [--workloads 20]
        [--baseline DIR]   # DIR/src/helmguard: another helmguard in the same rounds
        [--phases]         # where the time goes: helmguard's log, helm's --debug lines

Needs a running sandbox (`helmguard sandbox up --name NAME`) and its built `helm` binary.
Each run installs into a fresh namespace through a subprocess (process start-up counted
for both tools) and measures wall time until the command returns; --repeat rounds of the
installs run on a settled cluster and the medians are compared:

- helmguard deploy (waits until every component is Ready) vs `helm install --wait`
- helmguard deploy --no-wait vs `helm install` (no wait)
- the seed chart forced past preflight: helmguard's failure report vs
  `helm install --wait --timeout <helm-timeout>`, which reports only a timeout.

With --baseline, that helmguard's two deploys run in the same rounds (the order of the
tools turns each round), for before/after figures measured back to back. With --phases,
helmguard deploys with `-o json` and helm with `--debug`; each line is stamped as it
arrives, and the medians of when each step came (seconds from the process start) are
printed: start-up, render and preflight, the waves, the wait, the record.

The seed case runs on a settled cluster: the four 100-object namespaces are deleted and
waited for first. Otherwise the controller-manager is still deleting their pods when the
seed Deployment arrives, and its first FailedCreate (what helmguard reports) comes seconds
later than on a quiet cluster; that delay is the cluster's, not the deploy's.

Targets (issue 11): install-to-Ready at most 1.0x `helm install --wait`; seed failure
reported in under 1.5 s.
"""

from __future__ import annotations

import argparse
import json
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


# The steps whose arrival marks a phase's end: helmguard's operation log, helm's --debug
# messages. (label, first or last of the step, steps, only after this label was seen):
# helm says "waiting for resources" also for crds/ before the release, and for hooks.
Mark = tuple[str, str, tuple[str, ...], str | None]
HELMGUARD_MARKS: tuple[Mark, ...] = (
    ("preflight done", "first", ("preflight.passed", "preflight.skipped"), None),
    ("plan", "first", ("plan",), None),
    ("waves applied", "last", ("wave.applied",), None),
    ("wait.start", "first", ("wait.start",), None),
    ("wait.ready", "first", ("wait.ready",), None),
    ("verdict", "first", ("verdict",), None),
)
HELM_MARKS: tuple[Mark, ...] = (
    ("rendered, record created", "first", ("creating release",), None),
    ("applied, waiting", "first", ("waiting for resources",), "rendered, record created"),
    ("wait done, record updated", "first", ("updating release",), "applied, waiting"),
)


def _step_of(line: str) -> str:
    """helmguard's step (an `-o json` event), or helm's --debug message."""
    if line.startswith('{"event"'):
        return str(json.loads(line)["event"]["step"])
    if line.startswith("level=") and 'msg="' in line:
        return line.split('msg="', 1)[1].split('"', 1)[0]
    return ""


def timed_phases(
    argv: list[str], env: dict[str, str], marks: tuple[Mark, ...]
) -> tuple[float, int, str, dict[str, float]]:
    """Run `argv`, stamping each output line as it arrives; when each mark's step came."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    seen: dict[str, float] = {}
    for line in proc.stdout:
        now = time.monotonic() - start
        lines.append(line)
        step = _step_of(line)
        for label, which, steps, after in marks:
            if step not in steps or (after is not None and after not in seen):
                continue
            if which == "last" or label not in seen:
                seen[label] = now
    rc = proc.wait()
    elapsed = time.monotonic() - start
    return elapsed, rc, "".join(lines).strip(), {**seen, "exit": elapsed}


def _last_line(text: str) -> str:
    """The command's last word: its last line, or helmguard's result message (-o json)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[-1].startswith('{"result"'):
        return str(json.loads(lines[-1])["result"]["message"])[:160]
    return lines[-1][:160] if lines else ""


def median_marks(runs: list[dict[str, float]]) -> str:
    """`mark 1.23, …`: each mark's median over the runs that reached it, in order."""
    names = list(dict.fromkeys(k for seen in runs for k in seen))
    return ", ".join(f"{k} {statistics.median(s[k] for s in runs if k in s):.2f}" for k in names)


def run(
    sandbox: Sandbox,
    workloads: int,
    helm_timeout: int,
    repeat: int,
    baseline: Path | None = None,
    phases: bool = False,
) -> int:
    helm = str(find_binary("helm"))
    helmguard = [sys.executable, "-m", "helmguard.cli"]
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
    # An installed helmguard has bytecode; a sandbox with PYTHONDONTWRITEBYTECODE recompiles
    # every module at each start (seconds). Cache bytecode outside the repo; an untimed
    # deploy first compiles everything a deploy imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "helmguard-bench-pycache")
    # The baseline's helmguard package first on the path, in the same rounds.
    envs = {"helmguard": env}
    if baseline is not None:
        envs["baseline"] = {**env, "PYTHONPATH": str(baseline / "src")}
    tag = uuid.uuid4().hex[:6]
    load_start = os.getloadavg()[0]
    namespaces: list[str] = []
    rows: list[tuple[str, float, int, str]] = []
    last: dict[str, str] = {}
    spread: dict[str, list[float]] = {}
    marks: dict[str, list[dict[str, float]]] = {}
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
            json_out = ["-o", "json"] if phases else []
            return [*helmguard, "deploy", str(source), *where, *json_out, *flags]

        for tool, tool_env in envs.items():
            warm = deploy(chart, "b", fresh(f"warm-{tool}"), "--no-wait")
            if subprocess.run(warm, env=tool_env, capture_output=True, check=False).returncode:
                raise SystemExit(f"the {tool} warm-up deploy failed: " + " ".join(warm))
        _delete_and_settle(api, namespaces)
        namespaces.clear()
        debug = ["--debug"] if phases else []
        # Rounds alternate the tools on a settled cluster: each round's namespaces are deleted
        # and gone before the next, so no run shares the controllers with another's pods.
        timings: dict[str, list[float]] = {}
        for round_ in range(repeat):
            cases: list[tuple[str, list[str], dict[str, str]]] = []
            for tool, tool_env in envs.items():
                label = "helmguard" if tool == "helmguard" else "baseline"
                ns = fresh(f"{tool}-wait")
                argv = deploy(chart, "b", ns, "--timeout", "300")
                cases.append((f"{label} deploy (wait)", argv, tool_env))
            ns = fresh("helm-wait")
            argv = [helm, "install", "b", str(chart), "-n", ns, "--wait", "--timeout", "300s"]
            cases.append(("helm install --wait", [*argv, *debug], env))
            for tool, tool_env in envs.items():
                label = "helmguard" if tool == "helmguard" else "baseline"
                ns = fresh(f"{tool}-nowait")
                argv = deploy(chart, "b", ns, "--no-wait")
                cases.append((f"{label} deploy --no-wait", argv, tool_env))
            ns = fresh("helm-nowait")
            argv = [helm, "install", "b", str(chart), "-n", ns]
            cases.append(("helm install (no wait)", [*argv, *debug], env))
            # Each round another tool goes first (with and without wait alike).
            half = len(cases) // 2
            turn = round_ % half
            cases = [
                *(cases[:half][turn:] + cases[:half][:turn]),
                *(cases[half:][turn:] + cases[half:][:turn]),
            ]
            for label, argv, tool_env in cases:
                table = HELM_MARKS if label.startswith("helm ") else HELMGUARD_MARKS
                elapsed, rc, out, seen = timed_phases(argv, tool_env, table)
                if rc != 0:
                    raise SystemExit(f"{label} failed (exit {rc}):\n{out}")
                timings.setdefault(label, []).append(elapsed)
                marks.setdefault(label, []).append(seen)
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

    load = os.getloadavg()
    print(f"chart: {objects} objects ({workloads} Deployments with kwok pods)")
    print(
        f"{repeat} rounds; load average (1 min) {load_start:.1f} at the start, "
        f"{load[0]:.1f} at the end ({load[1]:.1f} over 5 min)\n"
    )
    for label, elapsed, rc, said in rows:
        runs = spread.get(label)
        each = f"  (median of {', '.join(f'{v:.2f}' for v in runs)})" if runs else ""
        print(f"{label:<45} {elapsed:7.2f} s  exit {rc}{each}")
        print(f"{'':<45} {said}")
    if phases:
        print("\nwhen each step came, s from the process start (medians):")
        for label, marked in marks.items():
            print(f"  {label:<32} {median_marks(marked)}")
    t = {label: elapsed for label, elapsed, _, _ in rows}
    print()
    for label in ("helmguard", "baseline") if baseline is not None else ("helmguard",):
        wait_ratio = t[f"{label} deploy (wait)"] / t["helm install --wait"]
        nowait_ratio = t[f"{label} deploy --no-wait"] / t["helm install (no wait)"]
        print(f"ratio {label}/helm with wait:    {wait_ratio:.2f}x (target <= 1.0x)")
        print(f"ratio {label}/helm without wait: {nowait_ratio:.2f}x")
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
        "--repeat", type=int, default=5, help="rounds of the installs (medians reported)"
    )
    parser.add_argument(
        "--helm-timeout", type=int, default=300, help="helm --timeout for the seed scenario (s)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another helmguard (e.g. `git archive` of a commit): its deploys "
        "run in the same rounds, for before/after figures",
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
    return run(
        load_sandbox(args.sandbox),
        args.workloads,
        args.helm_timeout,
        args.repeat,
        args.baseline,
        args.phases,
    )


if __name__ == "__main__":
    raise SystemExit(main())
