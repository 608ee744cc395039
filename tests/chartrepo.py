"""A Helm chart repository for tests: charts written here, packaged and indexed by the
sandbox's `helm` binary, served by Python's http.server in a thread (optionally behind
basic auth or a bearer token)."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from helmcli import helm_binary

CHART_YAML = """apiVersion: v2
name: webapp
description: A small web app for the catalogue tests
version: {version}
appVersion: "{app}"
keywords: [catalogue-test, web]
"""
VALUES = """replicaCount: 1
image: registry.k8s.io/pause:3.10
message: hello
serviceAccount:
  create: false
"""
SCHEMA = """{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "replicaCount": {"type": "integer", "minimum": 1, "maximum": 5},
    "message": {"type": "string"},
    "image": {"type": "string"}
  },
  "required": ["replicaCount", "image"]
}
"""
README = "# webapp\n\nServes `message` from a ConfigMap.\n"
TEMPLATE = """{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-sa
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      serviceAccountName: {{ .Release.Name }}-sa
      containers:
        - name: app
          image: {{ .Values.image }}
          envFrom:
            - configMapRef: {name: {{ .Release.Name }}-config}
"""
# The versions packaged into every test repository, with their app versions.
VERSIONS = (("0.1.0", "1.0"), ("0.2.0", "1.1"))


def write_chart(root: Path, version: str, app: str) -> Path:
    """The `webapp` chart at `version` in a directory of its own under `root`."""
    chart = root / f"src-{version}" / "webapp"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML.format(version=version, app=app))
    (chart / "values.yaml").write_text(VALUES)
    (chart / "values.schema.json").write_text(SCHEMA)
    (chart / "README.md").write_text(README)
    (chart / "templates" / "app.yaml").write_text(TEMPLATE)
    return chart


class _Handler(http.server.SimpleHTTPRequestHandler):
    expected: str | None = None  # the Authorization header every request must carry

    def do_GET(self) -> None:
        if self.expected is not None and self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the test."""


@contextlib.contextmanager
def serve_repository(
    tmp: Path,
    *,
    basic: tuple[str, str] | None = None,
    token: str | None = None,
    pki: Path | None = None,
    versions: tuple[tuple[str, str], ...] = VERSIONS,
    client_certificates: bool = False,
) -> Iterator[str]:
    """Package `versions` (version, app version) of the chart under `tmp`, index them, and
    yield the repository URL.

    With `pki` (a directory `helmguard.sandbox.pki.generate_pki` wrote), over HTTPS with its
    127.0.0.1 server certificate, signed by its ca.crt (`client_certificates`: a client
    certificate that CA signed is required).
    """
    helm = str(helm_binary())  # skips the test without one
    served = tmp / "repo"
    served.mkdir()
    for version, app in versions:
        chart = write_chart(tmp, version, app)
        subprocess.run(
            [helm, "package", str(chart), "-d", str(served)], check=True, capture_output=True
        )
    expected = None
    if basic is not None:
        expected = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    elif token is not None:
        expected = f"Bearer {token}"
    handler = type("Handler", (_Handler,), {"expected": expected})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(served))
    )
    scheme = "http"
    if pki is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
        if client_certificates:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(pki / "ca.crt")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    subprocess.run([helm, "repo", "index", str(served), "--url", url], check=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
