"""Benchmark offline `check`: render a generated 1,000-object chart, then extract + resolve.

Prints render time, reference extraction + resolution time, objects per second, peak
memory, and the wall times of `helmguard --help` and `helmguard check` (subprocesses,
Python start-up included) on a 150-object chart. Targets: analysis < 100 ms for 1,000
objects; check < 1.0 s.

Start-up: the wall and CPU time of `helmguard deploy --help`, and how long `deploy`, `check` and
`status --live` take from their start to the first byte of their first API request. That
request goes to a loopback socket named as the API server in a kubeconfig of its own (no
cluster needed): the time is the command's imports and set-up, not any server's answer.

    uv run python bench/check_offline.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.preflight.check import analyze_rendered

# One "app" = workload + ServiceAccount + ConfigMap + Secret + Service + Role + RoleBinding
# + a PodDisruptionBudget + HPA + NetworkPolicy = 10 objects.
APP_TEMPLATE = """\
{{- range $i := until (int .Values.apps) }}
{{- $n := printf "%s-app-%d" $.Release.Name $i }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $n }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $n }}
data:
  LEVEL: info
  app.yaml: |
    listen: 8080
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $n }}
stringData:
  password: {{ printf "pw-%d" $i | quote }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $n }}
spec:
  selector: {app: {{ $n }}}
  ports:
    - name: http
      port: 80
      targetPort: 8080
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $n }}
rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $n }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $n }}
subjects:
  - kind: ServiceAccount
    name: {{ $n }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $n }}
spec:
  selector:
    matchLabels: {app: {{ $n }}}
  template:
    metadata:
      labels: {app: {{ $n }}}
    spec:
      serviceAccountName: {{ $n }}
      containers:
        - name: app
          image: registry.example.test/app:1.0
          envFrom:
            - configMapRef: {name: {{ $n }}}
          env:
            - name: PASSWORD
              valueFrom:
                secretKeyRef: {name: {{ $n }}, key: password}
          volumeMounts:
            - {name: config, mountPath: /etc/app}
            - {name: ca, mountPath: /etc/ca}
      volumes:
        - name: config
          configMap: {name: {{ $n }}}
        - name: ca
          configMap: {name: kube-root-ca.crt}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $n }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ $n }}}
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $n }}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: {{ $n }}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $n }}
spec:
  podSelector:
    matchLabels: {app: {{ $n }}}
  policyTypes: [Ingress]
{{- end }}
"""


def write_chart(root: Path, apps: int) -> Path:
    chart = root / f"bench-{apps}"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: bench\nversion: 1.0.0\ndescription: {apps * 10} objects\n"
    )
    (chart / "values.yaml").write_text(f"apps: {apps}\n")
    (chart / "templates" / "apps.yaml").write_text(APP_TEMPLATE)
    return chart


def bytecode_env() -> dict[str, str]:
    """The environment with bytecode cached outside the repo, as bench/deploy.py runs them: a
    machine with PYTHONDONTWRITEBYTECODE would otherwise compile every module at each start."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "helmguard-bench-pycache")
    return env


def first_request(cmd: list[str], tmp: Path) -> float:
    """Seconds from starting `cmd` to the first byte it sends to its kubeconfig's server.

    The server is a loopback socket that answers nothing: the command is killed once the
    first byte (its TLS ClientHello) has arrived.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(60)
        kubeconfig = tmp / "first-request.kubeconfig"
        server = {"server": f"https://127.0.0.1:{listener.getsockname()[1]}"}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {**server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "u", "user": {"token": "start-up-bench"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
        kubeconfig.write_text(json.dumps(config))
        env = {**bytecode_env(), "KUBECONFIG": str(kubeconfig)}
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp
        )
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(60)
                conn.recv(1)
                return time.monotonic() - started
        except TimeoutError:
            proc.kill()
            sys.exit(f"{cmd[1]} sent no request in 60 s: {proc.communicate()[1].decode()}")
        finally:
            proc.kill()
            proc.wait()


def startup(exe: str, chart: Path, tmp: Path, repeat: int) -> None:
    """The start-up figures: `deploy --help`, and each command's time to its first request."""
    where = ["--release", "bench", "-n", "bench"]
    db = ["--db", str(tmp / "start-up.db")]
    env = bytecode_env()
    walls, cpus = [], []
    for _ in range(repeat + 1):  # the first run compiles what --help imports: not timed
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([exe, "deploy", "--help"], capture_output=True, check=True, env=env)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    walls, cpus = walls[1:], cpus[1:]
    print(
        f"helmguard deploy --help (wall, best/median): {min(walls):.2f} / "
        f"{statistics.median(walls):.2f} s; CPU {statistics.median(cpus):.2f} s median"
    )
    for label, cmd in (
        ("deploy", [exe, "deploy", str(chart), *where, *db, "--force"]),
        ("check", [exe, "check", str(chart), *where]),
        ("status --live", [exe, "status", "bench", "-n", "bench", *db, "--live"]),
    ):
        times = [first_request(cmd, tmp) for _ in range(repeat + 1)][1:]  # the first compiles
        print(
            f"helmguard {label}: start to first request (best/median): {min(times):.2f} / "
            f"{statistics.median(times):.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = write_chart(Path(tmp), 100)
        request = RenderRequest(chart=str(big), release="bench", namespace="bench")
        renders, analyses = [], []
        rendered = render_chart(request)
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rendered = render_chart(request)
            renders.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            analysis = analyze_rendered(rendered)
            analyses.append(time.perf_counter() - t0)
        tracemalloc.start()
        analyze_rendered(rendered)
        _, peak_analysis = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        render_chart(request)
        _, peak_render = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        n = len(rendered.objects)
        best = min(analyses)
        print(f"objects rendered:              {n} ({len(analysis.refs)} references)")
        print(f"findings (warning or worse):   {sum(f.severity >= 2 for f in analysis.findings)}")
        print(
            f"render (median of {args.repeat}):         {statistics.median(renders) * 1000:8.1f} ms"
        )
        print(
            f"extract + resolve (best/median): {best * 1000:6.1f} / "
            f"{statistics.median(analyses) * 1000:.1f} ms   target < 100 ms"
        )
        print(f"objects per second (analysis): {n / best:10.0f}")
        print(
            f"peak Python memory: render {peak_render / 2**20:.1f} MiB, "
            f"analysis {peak_analysis / 2**20:.1f} MiB"
        )

        small = write_chart(Path(tmp), 15)
        exe = str(Path(sys.executable).with_name("helmguard"))
        check = [exe, "check", str(small), "--release", "bench", "-n", "bench", "--offline"]
        for label, cmd, target in (
            ("helmguard --help", [exe, "--help"], ""),
            ("helmguard check, 150 objects", check, "   target < 1.0 s"),
        ):
            walls = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                proc = subprocess.run(
                    cmd, capture_output=True, text=True, check=False, env=bytecode_env()
                )
                walls.append(time.perf_counter() - t0)
                if proc.returncode not in (0, 1):
                    sys.exit(f"{label} failed: {proc.stderr}")
            print(
                f"{label} (wall, best/median): {min(walls):.2f} / "
                f"{statistics.median(walls):.2f} s{target}"
            )
        startup(exe, small, Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
