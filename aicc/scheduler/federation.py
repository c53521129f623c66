"""Which site of a federation runs a job: hard constraints, then a weighted score.

Pure (no I/O, no clock): the federation loop reads the sites' adverts and the job, and this module
ranks them, so the choice is explained by the parts it returns and replayed by tests. It sits in
`scheduler` because it is a placement decision one level up (a site instead of a node), as
Kueue's MultiKueue dispatches a workload to a worker cluster and Slurm's `--clusters` picks the
cluster that would start a job first.

Score: for each candidate, four parts, lower is better: expected finish (queue wait of the model
plus the job's runtime, s), price of the job there (its currency's units), carbon (kg CO2e), and
bytes of the job's data sets the site lacks. Each part is divided by its largest value among the
candidates (0 when all are 0), times its weight, and summed. Ties go to the home site, then by
name, so the ranking is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Power drawn per CPU core (kW) when a job has no accelerator: carbon of CPU-only jobs.
CPU_CORE_KW = 0.01


@dataclass(frozen=True)
class DataHeld:
    """A data set a site holds: by name (the federation's key for "the same data")."""

    name: str
    bytes: int
    region: str | None = None  # a sovereignty tag: the data never leaves this jurisdiction


@dataclass(frozen=True)
class Model:
    """One accelerator model at a site: devices, free devices, PFLOPS each, queue wait."""

    name: str
    count: int
    free: int
    pflops: float
    wait_s: float
    price_hour: float | None  # per device-hour; None: the site does not price it
    power_kw: float  # one device's TDP


@dataclass(frozen=True)
class Site:
    """What routing knows of a site: its latest advert, reduced to numbers."""

    name: str
    jurisdiction: str
    models: Mapping[str, Model]
    cpu_wait_s: float  # estimated wait of a job with no accelerator
    cpu_core_hour: float
    memory_gib_hour: float
    carbon_g_per_kwh: float
    pue: float
    datasets: Mapping[str, DataHeld]
    lost: bool = False


@dataclass(frozen=True)
class Ask:
    """The job as routing sees it: what it needs in all (replicas × per replica)."""

    org: str
    devices: int  # whole devices over all replicas (a share counts as one)
    models: tuple[str, ...]  # acceptable models; empty: any (or none when devices == 0)
    cpu_cores: float
    memory_gib: float
    runtime_s: float
    datasets: tuple[DataHeld, ...] = ()  # what the job mounts, with its home's size and tag


@dataclass(frozen=True)
class Weights:
    finish: float = 1.0
    price: float = 1.0
    carbon: float = 1.0
    data: float = 1.0


@dataclass(frozen=True)
class Parts:
    """One candidate's raw score parts and the model it would run on."""

    finish_s: float
    price: float
    carbon_kg: float
    move_bytes: int
    model: str | None


@dataclass(frozen=True)
class Ranked:
    site: str
    score: float
    parts: Parts


@dataclass(frozen=True)
class Routing:
    """The candidates best first, and each excluded site with why."""

    ranked: tuple[Ranked, ...]
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def best(self) -> Ranked | None:
        return self.ranked[0] if self.ranked else None

    def explain(self) -> str:
        """One line a person reads in the job's events."""
        best = self.best
        if best is None:
            return "no site can run it: " + "; ".join(f"{s}: {r}" for s, r in self.refused.items())
        p = best.parts
        text = (
            f"routed to site {best.site}: score {best.score:.3f} (finish {p.finish_s:.0f} s, "
            f"price {p.price:.2f}, carbon {p.carbon_kg:.3f} kg, data to move {p.move_bytes} B)"
        )
        others = ", ".join(f"{r.site} {r.score:.3f}" for r in self.ranked[1:])
        refused = "; ".join(f"{s}: {r}" for s, r in sorted(self.refused.items()))
        return (
            text
            + (f"; others: {others}" if others else "")
            + (f"; refused {refused}" if refused else "")
        )


def route(
    ask: Ask,
    sites: Sequence[Site],
    *,
    home: str,
    weights: Weights = Weights(),
    org_sites: Mapping[str, Sequence[str]] | None = None,
    exclude: frozenset[str] = frozenset(),
    move_data: bool = True,
    cannot: Mapping[str, str] | None = None,
) -> Routing:
    """Rank `sites` for `ask`. `move_data=False`: a site lacking a data set the job mounts is
    refused (data is not copied between sites yet), instead of paying for the bytes. `cannot`:
    sites refused for this job before routing, with why (a TES peer that cannot express it)."""
    refused: dict[str, str] = {}
    candidates: list[tuple[Site, Parts]] = []
    allowed = (org_sites or {}).get(ask.org)
    for site in sites:
        why = _refusal(ask, site, allowed, exclude, move_data)
        if why is None and cannot and site.name in cannot:
            why = cannot[site.name]
        if why is not None:
            refused[site.name] = why
            continue
        candidates.append((site, _parts(ask, site)))
    if not candidates:
        return Routing((), refused)
    scale = (
        max(p.finish_s for _, p in candidates),
        max(p.price for _, p in candidates),
        max(p.carbon_kg for _, p in candidates),
        max(p.move_bytes for _, p in candidates),
    )

    def share(value: float, top: float) -> float:
        return value / top if top > 0 else 0.0

    ranked = [
        Ranked(
            site.name,
            round(
                weights.finish * share(p.finish_s, scale[0])
                + weights.price * share(p.price, scale[1])
                + weights.carbon * share(p.carbon_kg, scale[2])
                + weights.data * share(p.move_bytes, scale[3]),
                9,
            ),
            p,
        )
        for site, p in candidates
    ]
    ranked.sort(key=lambda r: (r.score, r.site != home, r.site))
    return Routing(tuple(ranked), refused)


def _refusal(
    ask: Ask,
    site: Site,
    allowed: Sequence[str] | None,
    exclude: frozenset[str],
    move_data: bool,
) -> str | None:
    if site.name in exclude:
        return "excluded (the job was lost there)"
    if site.lost:
        return "lost (no advert within lost_after_s)"
    if allowed is not None and site.name not in allowed:
        return f"organization {ask.org} may use only {', '.join(allowed)}"
    for data in ask.datasets:
        if data.region is not None and data.region != site.jurisdiction:
            return (
                f"data set {data.name} is tagged {data.region} and never leaves it; "
                f"site {site.name} is in {site.jurisdiction}"
            )
        if not move_data and data.name not in site.datasets:
            return f"lacks data set {data.name} (moving data between sites is not supported)"
    if ask.devices and _model(ask, site) is None:
        wanted = ", ".join(ask.models) or "any accelerator"
        return f"has no {wanted} with {ask.devices} device(s)"
    return None


def _model(ask: Ask, site: Site) -> Model | None:
    """The acceptable model there that would start first (then the most free, then by name)."""
    fits = [
        m
        for m in site.models.values()
        if m.count >= ask.devices and (not ask.models or m.name in ask.models)
    ]
    if not fits:
        return None
    return min(fits, key=lambda m: (m.wait_s, -m.free, m.name))


def _parts(ask: Ask, site: Site) -> Parts:
    hours = ask.runtime_s / 3600
    model = _model(ask, site) if ask.devices else None
    price = (ask.cpu_cores * site.cpu_core_hour + ask.memory_gib * site.memory_gib_hour) * hours
    if model is not None:
        price += ask.devices * (model.price_hour or 0.0) * hours
        power_kw = ask.devices * model.power_kw
        wait = model.wait_s
    else:
        power_kw = ask.cpu_cores * CPU_CORE_KW
        wait = site.cpu_wait_s
    carbon_kg = power_kw * hours * site.pue * site.carbon_g_per_kwh / 1000
    move = sum(d.bytes for d in ask.datasets if d.name not in site.datasets)
    return Parts(
        finish_s=wait + ask.runtime_s,
        price=price,
        carbon_kg=carbon_kg,
        move_bytes=move,
        model=model.name if model else None,
    )
