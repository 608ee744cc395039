"""Helm's custom release labels (`helm install|upgrade -l/--labels`): parsed as helm's flag
parses them, checked, and merged with the previous revision's as helm v4 merges them.

They live on the release record's own labels (the Secret's or ConfigMap's metadata),
where `helm list --selector` finds them; Helm's system labels are never custom ones.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping

from helmguard.deploy.release import SYSTEM_LABELS

# Kubernetes' label syntax: an optional DNS-subdomain prefix and "/", a name of 63 at most.
_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def parse_labels(flags: Iterable[str]) -> dict[str, str]:
    """The labels of every `--labels` given, later ones winning, as pflag's StringToString
    reads them: one `=` is one pair (commas and all), more are comma-separated pairs (CSV).

    Raises ValueError naming the flag value for a pair without `=`, a system label
    (name, owner, status, version, createdAt, modifiedAt) or one Kubernetes refuses.
    """
    labels: dict[str, str] = {}
    for flag in flags:
        if flag.count("=") == 0:
            raise ValueError(f"--labels {flag}: must be formatted as key=value")
        if flag.count("=") == 1:
            pairs = [flag.strip('"')]
        else:
            try:
                pairs = next(csv.reader([flag]))
            except csv.Error as exc:
                raise ValueError(f"--labels {flag}: {exc}") from None
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"--labels {flag}: {pair} must be formatted as key=value")
            labels[key] = value
    reserved = sorted(k for k in labels if k in SYSTEM_LABELS)
    if reserved:
        raise ValueError(
            f"--labels: {', '.join(reserved)}: user supplied labels contain a system reserved "
            f"label name (helm's system labels: {', '.join(sorted(SYSTEM_LABELS))})"
        )
    for key, value in labels.items():
        problem = _label_problem(key, value)
        if problem:
            raise ValueError(f"--labels {key}={value}: {problem}")
    return labels


def _label_problem(key: str, value: str) -> str:
    """Why Kubernetes would refuse the label on the release record; "" if it accepts it."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return f"the key's prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"the key's name {name!r} must be 63 characters at most, alphanumeric, '-', '_' "
            "or '.', beginning and ending with an alphanumeric"
        )
    if len(value) > 63 or not _NAME.match(value):
        return (
            "the value must be 63 characters at most, empty or alphanumeric, '-', '_' or '.', "
            "beginning and ending with an alphanumeric"
        )
    return ""


def merged_labels(previous: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """Helm's mergeCustomLabels on an upgrade: the given over the previous revision's, a
    label given as "null" removed."""
    return {k: v for k, v in {**previous, **given}.items() if v != "null"}
