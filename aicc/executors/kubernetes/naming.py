"""Names, labels and handles of the Kubernetes objects AICC creates (pure).

Every object of one job attempt is named `aicc-<job id>-<attempt>` (lower case, DNS-1123), so the
name follows from the replica alone and creating it twice answers 409 instead of a second Job.
A handle is `k8s:<namespace>/<name>/<replica index>`: a restarted server polls from it alone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

PREFIX = "aicc-"
# An Indexed Job's pods are `<name>-<index>-<5 random>` with hostname `<name>-<index>`, and both
# must stay within 63 characters: keep names short enough for a 4-digit index and the suffix.
MAX_NAME = 52

LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_JOB = "aicc.io/job"
LABEL_ATTEMPT = "aicc.io/attempt"
LABEL_REPLICA = "aicc.io/replica"
LABEL_NAME = "aicc.io/name"  # the attempt's object name, on every pod: one selector per attempt
MANAGED_BY = "aicc"
RESERVED_LABEL_DOMAINS = ("aicc.io", "kubernetes.io", "k8s.io")

# Set on every pod of an Indexed Job by the Job controller (annotation since 1.21, label 1.28).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_label(text: str, max_length: int = 63) -> bool:
    return len(text) <= max_length and bool(_DNS_LABEL.match(text))


def is_label_value(text: str) -> bool:
    return len(text) <= 63 and bool(_LABEL_VALUE.match(text))


def is_label_key(key: str) -> bool:
    """`name` or `prefix/name`: a DNS subdomain prefix (253) and a name (63), as Kubernetes
    validates them."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dns_name(text: str, max_length: int = MAX_NAME) -> str:
    """`text` as a DNS-1123 label: lower case, other characters as '-'. A text that had to be
    shortened keeps a digest of the whole, so two long names never meet."""
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-") or "x"
    if len(name) > max_length:
        name = name[: max_length - 9].rstrip("-") + "-" + _digest(text)
    return name


def object_name(job_id: str, attempt: int) -> str:
    """The name of every object of one attempt: Job, Service, `-env` Secret, `-workdir`
    ConfigMap. Deterministic, so a launch repeated after a crash finds what the first made."""
    return dns_name(f"{PREFIX}{job_id}-{attempt}")


def label_value(text: str) -> str:
    """`text` if Kubernetes accepts it as a label value, else a close one that it accepts."""
    if is_label_value(text):
        return text
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)
    return value


def job_labels(job_id: str, attempt: int) -> dict[str, str]:
    """What every object of the attempt carries, so an admin can find (and delete) it all."""
    return {
        LABEL_MANAGED: MANAGED_BY,
        LABEL_JOB: label_value(job_id),
        LABEL_ATTEMPT: str(attempt),
    }


def tenant_labels(labels: dict[str, str]) -> dict[str, str]:
    """The job spec's labels (`team: vision`) as pod and Job labels. Keys Kubernetes refuses, and
    keys in domains AICC or Kubernetes own, are left out; values are made valid."""
    out: dict[str, str] = {}
    for key, value in sorted(labels.items()):
        domain = key.rpartition("/")[0]
        reserved = any(domain == d or domain.endswith("." + d) for d in RESERVED_LABEL_DOMAINS)
        if is_label_key(key) and not reserved:
            out[key] = label_value(str(value))
    return out


@dataclass(frozen=True)
class Handle:
    namespace: str
    name: str
    index: int

    def __str__(self) -> str:
        return f"k8s:{self.namespace}/{self.name}/{self.index}"

    @classmethod
    def parse(cls, handle: str) -> Handle:
        """`k8s:<namespace>/<name>/<index>`; ValueError for anything else."""
        kind, _, rest = handle.partition(":")
        parts = rest.split("/")
        if (
            kind != "k8s"
            or len(parts) != 3
            or not is_dns_label(parts[0])
            or not is_dns_label(parts[1])
            or not parts[2].isdigit()
        ):
            raise ValueError(f"handle {handle!r} is not a Kubernetes replica handle")
        return cls(parts[0], parts[1], int(parts[2]))
