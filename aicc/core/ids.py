"""Opaque identifiers: a type prefix and a ULID (`job_01J...`), sortable by creation time.

The caller passes the time and the randomness, so `core` stays free of clocks and entropy sources.
"""

from __future__ import annotations

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32, as ULID specifies

PREFIXES = frozenset(
    {"job", "node", "dev", "org", "prj", "usr", "tok", "que", "sec", "rep", "pool", "aud"}
    | {"plan", "vch", "sub", "bud", "inv", "adj"}  # billing: plans, credits, budgets, invoices
    | {"dst", "dsv", "upl", "mdl", "tpl", "rev"}  # data: sets, versions, uploads, models, templates
    # and their reviews
    | {"dep", "key", "req", "nbk"}  # serving: deployments, API keys, gateway requests; notebooks
    | {"dad"}  # the LoRA adapters a deployment serves over its base
    | {"idn"}  # users' identities at single sign-on providers
    | {"pcap"}  # the site's power cap events (demand response)
    | {"nch", "nev", "ndl"}  # notifications: channels, events, deliveries
    | {"brn"}  # nodes' burn-ins before service
    | {"mnt", "lse"}  # maintenance windows, capacity leases
    | {"exp"}  # MLflow experiments (services/models/tracking.py)
    | {"ned", "nqa", "chl", "tem", "csb"}  # needs, their questions, challenges, teams, submissions
    | {"nof", "tgr"}  # needs' offers, and the template grants accepted offers make
    | {"vmv"}  # what moves out of a voucher (a need's reward held, a team's subsidy) and back
    | {"s3k", "mpu"}  # users' access keys to the S3 endpoint; its multipart uploads
    | {"file", "batch", "breq", "ftjob"}  # OpenAI's files, batches and their requests, fine-tunes
)


def make_id(prefix: str, *, unix_ms: int, random80: int) -> str:
    """48 bits of milliseconds then 80 random bits, 26 characters of base 32."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    value = (unix_ms & ((1 << 48) - 1)) << 80 | (random80 & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def id_prefix(identifier: str) -> str:
    """'job_01J...' -> 'job'; the empty string when it has no known prefix."""
    head, _, rest = identifier.partition("_")
    return head if rest and head in PREFIXES else ""
