"""The release context a deploy renders in, decided from the records as helm decides it."""

from __future__ import annotations

import pytest

from helmguard.deploy.context import ReleaseContext, release_context
from helmguard.deploy.release import RevisionManifest


def _rev(revision: int, status: str) -> RevisionManifest:
    return RevisionManifest("r", "ns", revision, "c", "1.0.0", "", "", (), (), (), (), status)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), ReleaseContext(1, is_upgrade=False)),
        (("deployed",), ReleaseContext(2, is_upgrade=True)),
        (("superseded", "deployed"), ReleaseContext(3, is_upgrade=True)),
        # helm upgrades after a failed revision, a failed first install included.
        (("superseded", "deployed", "failed"), ReleaseContext(4, is_upgrade=True)),
        (("failed",), ReleaseContext(2, is_upgrade=True)),
        # helm's install replacing an uninstalled release renders revision 1.
        (("superseded", "uninstalled"), ReleaseContext(1, is_upgrade=False)),
    ],
)
def test_release_context_as_helm_decides(
    statuses: tuple[str, ...], expected: ReleaseContext
) -> None:
    history = [_rev(n, s) for n, s in enumerate(statuses, start=1)]
    assert release_context(history) == expected
    assert expected.operation == ("upgrade" if expected.is_upgrade else "install")
