"""A small read-only OCI registry (the pull side of the distribution API) for chart tests.

It serves real chart archives under the media types Helm pushes them with, so Helm's own
registry client (inside helm-python-sdk) pulls from it exactly as from a real registry.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """Repositories of chart archives: {"charts/webapp": {"1.2.3": archive bytes}}."""

    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.tags: dict[str, list[str]] = {}

    def add_chart(self, repository: str, archive: Path, chart_yaml: Path) -> None:
        layer = archive.read_bytes()
        config = json.dumps(yaml.safe_load(chart_yaml.read_text())).encode()
        version = str(yaml.safe_load(chart_yaml.read_text())["version"])
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.cncf.helm.config.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "digest": _digest(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        self.blobs[_digest(config)] = config
        self.blobs[_digest(layer)] = layer
        self.manifests[(repository, version)] = manifest
        self.manifests[(repository, _digest(manifest))] = manifest
        self.tags.setdefault(repository, []).append(version)


class _Handler(http.server.BaseHTTPRequestHandler):
    registry: Registry

    def _send(self, code: int, body: bytes, ctype: str, digest: str = "") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return self._send(200, b"{}", "application/json")
        repository, _, rest = path.removeprefix("/v2/").partition("/manifests/")
        if rest and (repository, rest) in self.registry.manifests:
            body = self.registry.manifests[(repository, rest)]
            return self._send(
                200, body, "application/vnd.oci.image.manifest.v1+json", _digest(body)
            )
        repository, _, digest = path.removeprefix("/v2/").partition("/blobs/")
        if digest in self.registry.blobs:
            return self._send(200, self.registry.blobs[digest], "application/octet-stream", digest)
        repository = path.removeprefix("/v2/").removesuffix("/tags/list")
        if path.endswith("/tags/list") and repository in self.registry.tags:
            body = json.dumps({"name": repository, "tags": self.registry.tags[repository]})
            return self._send(200, body.encode(), "application/json")
        return self._send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(registry: Registry) -> Iterator[str]:
    """Serve `registry` over plain HTTP on 127.0.0.1; yields `host:port`."""
    handler = type("Handler", (_Handler,), {"registry": registry})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
