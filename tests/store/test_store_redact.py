"""Secret contents never reach the database; Helm values are kept as a digest only."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import Connection

from helmguard.store import (
    REDACTED,
    RevisionRecord,
    Store,
    redact_secrets,
    values_digest,
)
from helmguard.store.db import Backend
from store.conftest import RELEASE
from store.test_store_writer import T0

SECRET: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "secret-applied.yaml").read_text()
)
PLAINTEXT = "s3cr3t-unseal-key-4711"
BASE64 = SECRET["data"]["unseal-key"]


def test_redaction_keeps_metadata_and_key_names_only() -> None:
    original = copy.deepcopy(SECRET)
    redacted = redact_secrets(SECRET)
    assert original == SECRET  # input untouched
    assert redacted["data"] == {"unseal-key": REDACTED}
    assert redacted["metadata"]["name"] == "vault-unseal"
    assert redacted["metadata"]["managedFields"] == SECRET["metadata"]["managedFields"]
    annotation = redacted["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert annotation == REDACTED
    assert PLAINTEXT not in repr(redacted) and BASE64 not in repr(redacted)


def test_redaction_finds_secrets_at_any_depth_and_leaves_other_kinds() -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"LOG_LEVEL": "debug"},
    }
    string_data = {"apiVersion": "v1", "kind": "Secret", "stringData": {"token": "abc"}}
    plan = {"waves": [{"objects": [config_map, SECRET]}], "hooks": (string_data,)}
    redacted = redact_secrets(plan)
    assert redacted["waves"][0]["objects"][0] == config_map
    assert redacted["waves"][0]["objects"][1]["data"] == {"unseal-key": REDACTED}
    assert redacted["hooks"] == [
        {"apiVersion": "v1", "kind": "Secret", "stringData": {"token": REDACTED}}
    ]


def test_values_digest_is_canonical_and_hides_the_values() -> None:
    a = {"image": {"tag": "1.2.3", "repository": "nginx"}, "password": "hunter2"}
    b = {"password": "hunter2", "image": {"repository": "nginx", "tag": "1.2.3"}}
    assert values_digest(a) == values_digest(b)
    assert values_digest(a) != values_digest({**a, "password": "hunter3"})
    assert values_digest(a).startswith("sha256:") and "hunter2" not in values_digest(a)


async def _all_text(store: Store) -> str:
    """Every stored cell of every table, as one string."""

    def read(connection: Connection) -> list[str]:
        cells = []
        for table in ("revisions", "operation_log", "events", "resources"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).all()
            cells.extend(str(value) for row in rows for value in row)
        return cells

    reader = Backend(store.target, writer=False)
    try:
        cells = await reader.run(read)
    finally:
        await reader.dispose()
    return "\n".join(cells)


async def test_secret_contents_given_to_the_store_are_never_written(store: Store) -> None:
    values = {"vault": {"unsealKey": PLAINTEXT}}
    plan = {"objects": [SECRET], "values": "digest only"}
    await store.record_revision(
        RevisionRecord(RELEASE, 1, "vault", "0.28.0", values_digest(values), T0, plan=plan)
    )
    await store.add_operation_log(RELEASE, 1, "apply", "applied Secret", details={"object": SECRET})
    stored = await _all_text(store)
    assert "vault-unseal" in stored  # the object is recorded…
    assert PLAINTEXT not in stored and BASE64 not in stored  # …its contents are not
    [revision] = await store.list_revisions(RELEASE)
    assert revision.plan is not None and revision.plan["objects"][0]["data"] == {
        "unseal-key": REDACTED
    }
    [entry] = await store.operation_log(RELEASE, 1)
    assert entry.details["object"]["data"] == {"unseal-key": REDACTED}


async def test_store_file_bytes_hold_no_secret(store: Store, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("file bytes are SQLite's; PostgreSQL is covered by the row scan above")
    await store.add_operation_log(RELEASE, 1, "apply", "x", details={"objects": [SECRET]})
    await store.flush()
    assert store.target.sqlite_path is not None
    files = store.target.sqlite_path.parent.glob(store.target.sqlite_path.name + "*")
    raw = b"".join(p.read_bytes() for p in files if p.is_file())
    assert b"vault-unseal" in raw
    assert PLAINTEXT.encode() not in raw and BASE64.encode() not in raw
