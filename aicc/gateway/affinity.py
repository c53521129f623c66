"""Routing that knows what a replica holds (docs/gateway.md, "Adapters"): a request for
`BASE:NAME` goes to a replica that already holds adapter NAME (no cold load there) unless that
replica has more than `slack` requests in flight beyond the least loaded one; otherwise, and for
a request without an adapter, to the least loaded. What a replica holds is learnt from its
answers (`x-aicc-adapter`: the adapter it used, as OWNER/NAME; `x-aicc-adapters-evicted`: what
its cache evicted since its last answer), so the map is a hint: a replica that evicted an
adapter since it last told merely loads it again."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

ADAPTER_HEADER = "x-aicc-adapter"  # the names aicc/serving/adapters.py answers with
EVICTED_HEADER = "x-aicc-adapters-evicted"
TENANT_HEADER = "x-aicc-tenant"  # sent with every request: the caller's project
MAX_KEYS = 100_000  # names remembered, all deployments together: past it, learnt anew


class Holdings:
    """The adapters each replica (by address) said it holds, and which adapter (OWNER/NAME) a
    tenant's `NAME` resolved to on a deployment (its own, or a shared one)."""

    def __init__(self) -> None:
        self.held: dict[str, set[str]] = {}  # address -> adapter keys loaded there
        self.keys: dict[tuple[str, str, str], str] = {}  # (deployment, tenant, name) -> key

    def holders(self, deployment_id: str, tenant: str, name: str | None) -> frozenset[str]:
        """The addresses that hold the adapter this tenant's `name` means (none known: empty)."""
        key = self.keys.get((deployment_id, tenant, name)) if name else None
        if key is None:
            return frozenset()
        return frozenset(url for url, keys in self.held.items() if key in keys)

    def learn(
        self,
        deployment_id: str,
        tenant: str,
        name: str | None,
        url: str,
        headers: Mapping[str, str],
    ) -> None:
        """What an answer from `url` said of the adapters there. A replica runs its tenant's
        code, so what it says is believed only as far as it can steer that tenant's own
        requests: the adapter it used must end in the name asked, and the memory is capped."""
        keys = self.held.setdefault(url, set())
        for gone in headers.get(EVICTED_HEADER, "").split(","):
            keys.discard(gone.strip())
        used = headers.get(ADAPTER_HEADER)
        if used and name and used.endswith("/" + name) and len(used) <= 256:
            if len(self.keys) >= MAX_KEYS or len(keys) >= MAX_KEYS:
                self.keys.clear()
                keys.clear()
            keys.add(used)
            self.keys[(deployment_id, tenant, name)] = used

    def forget(self, url: str) -> None:
        """A replica gone (refused a connection): it holds nothing any more."""
        self.held.pop(url, None)


def choose(
    candidates: Sequence[tuple[str, str]],
    load: Callable[[str], int],
    holders: frozenset[str],
    slack: int,
    turn: int,
) -> tuple[str, str]:
    """Among (job, address) candidates: the least loaded of those holding the adapter, if it
    is within `slack` requests of the least loaded of all; else the least loaded of all. Ties
    are taken in `turn`."""
    least = min(load(url) for _, url in candidates)
    holding = [c for c in candidates if c[1] in holders and load(c[1]) <= least + slack]
    pool = holding or list(candidates)
    lowest = min(load(url) for _, url in pool)
    ties = [c for c in pool if load(c[1]) == lowest]
    return ties[turn % len(ties)]
