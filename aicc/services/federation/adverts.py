"""What a site advertises to its peers, and what it has heard from them.

An advert is a JSON document: capacity and free devices per accelerator model with PFLOPS and a
queue-wait estimate, prices, energy (PUE, carbon now and over the next 24 h), the data sets held
(names, organizations, sizes, region tags; never contents) and the jurisdiction. The wait of a
model is (devices waiting jobs ask of it / devices it has) × the mean runtime of the last
finished jobs (`DEFAULT_RUNTIME_S` when none finished yet): how many times the queue would fill
the model, each as long as a typical job.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.config import FederationPeer, FederationSettings, Settings
from aicc.core.catalog import CATALOG
from aicc.core.energy import EnergyProfile
from aicc.core.tenancy import Principal
from aicc.scheduler import federation as routing
from aicc.services.common import Forbidden, Invalid
from aicc.services.data import lookups
from aicc.services.data.datasets import DATA
from aicc.services.federation.views import Site
from aicc.services.jobs import census, federated
from aicc.services.nodes import census as node_census
from aicc.services.tenancy import directory
from aicc.store.tables.federation import FederationAdvertRow

DEFAULT_RUNTIME_S = 600.0
RECENT_JOBS = 50
TES_DEVICES = 1024  # a `tes` peer's devices of each model it lists: TES says no bound


def build(
    session: Session, settings: Settings, now: datetime, energy: EnergyProfile | None
) -> dict[str, Any]:
    """This site's advert now."""
    fed = settings.federation
    nodes = {n.id: n for n in node_census.listed(session, up=True)}
    held: dict[str, set[int]] = defaultdict(set)
    cpu_held = 0
    for rep in census.holding(session):
        held[rep.node_id].update(index for index, _ in rep.devices)
        cpu_held += rep.cpu_milli
    count: dict[str, int] = defaultdict(int)
    free: dict[str, int] = defaultdict(int)
    simulated: dict[str, bool] = {}
    for dev in node_census.devices(session, node_ids=nodes):
        count[dev.model] += 1
        free[dev.model] += dev.index not in held[dev.node_id] and dev.healthy
        simulated[dev.model] = simulated.get(dev.model, False) or dev.simulated
    runtime = _mean_runtime(session)
    demand, cpu_demand = _waiting_demand(session)
    pricing = settings.pricing
    models = {}
    for name, n in count.items():
        spec = CATALOG.get(name)
        unit = pricing.unit_price(name)
        pflops = spec.fp16_tflops / 1000 if spec else 0.0
        price = None
        if unit is not None:
            price = float(unit[1]) * (pflops if unit[0] == "pflops_hour" else 1.0)
        waiting = demand.get(name, 0) + demand.get("*", 0) * n / max(1, sum(count.values()))
        models[name] = {
            "count": n,
            "free": free[name],
            "pflops": pflops,
            "wait_s": round(waiting / n * runtime, 1),
            "price_hour": price,
            "power_kw": (spec.tdp_w / 1000) if spec else 0.3,
            "simulated": simulated[name],
        }
    cpu_total = sum(n.cpu_milli for n in nodes.values())
    carbon = settings.site.carbon_intensity
    ahead = carbon
    pue = settings.site.pue
    if energy is not None:
        carbon = energy.carbon_at(now) or carbon
        pue = energy.pue_at(now) or pue
        if energy.carbon_intensity is not None:
            hours = energy.carbon_hours(now, 24)
            ahead = sum(hours) / len(hours) if hours else carbon
    return {
        "site": fed.site,
        "url": fed.url,
        "jurisdiction": fed.jurisdiction,
        "at": now.isoformat(),
        "models": models,
        "cpu": {
            "milli": cpu_total,
            "free_milli": max(0, cpu_total - cpu_held),
            "wait_s": round(cpu_demand / max(1, cpu_total) * runtime, 1),
        },
        "prices": {
            "currency": pricing.currency,
            "cpu_core_hour": _text(pricing.cpu_core_hour),
            "memory_gib_hour": _text(pricing.memory_gib_hour),
            "accelerator_hour": {k: str(v) for k, v in pricing.accelerator_hour.items()},
            "pflops_hour": _text(pricing.pflops_hour),
        },
        "energy": {"pue": pue, "carbon_g_per_kwh": carbon, "carbon_next_24h": ahead},
        "datasets": _datasets(session),
    }


def _mean_runtime(session: Session) -> float:
    mean = federated.mean_runtime_s(session, last=RECENT_JOBS)
    return DEFAULT_RUNTIME_S if mean is None else mean


def _waiting_demand(session: Session) -> tuple[dict[str, float], int]:
    """Devices waiting jobs ask, by their first acceptable model ("*": any), and the CPU
    milli-cores of those that ask for none."""
    demand: dict[str, float] = defaultdict(float)
    cpu = 0
    for spec in federated.waiting_specs(session):
        resources = spec.get("resources") or {}
        acc = resources.get("accelerator") or {}
        replicas = int(spec.get("replicas") or 1)
        devices = int(acc.get("count") or 0) or (1 if acc.get("milli") else 0)
        if devices:
            wanted = acc.get("model") or ["*"]
            demand[wanted[0] if isinstance(wanted, list) else str(wanted)] += devices * replicas
        else:
            cpu += int(resources.get("cpu_milli") or 0) * replicas
    return demand, cpu


def _datasets(session: Session) -> list[dict[str, Any]]:
    sets = lookups.of_kind(DATA).subquery()
    orgs = directory.project_orgs_joined()
    query = (
        select(sets.c.id, sets.c.name, sets.c.region, orgs.c.org_name)
        .join(orgs, orgs.c.id == sets.c.project_id)
        .order_by(sets.c.name)
    )
    sizes = lookups.latest_bytes(session, DATA)
    return [
        {"name": name, "org": org, "bytes": sizes[set_id], "region": region}
        for set_id, name, region, org in session.execute(query)
        if set_id in sizes
    ]


def store(session: Session, site: str, advert: dict[str, Any], now: datetime) -> None:
    """Keep `site`'s newest advert; the site named inside must be the one that signed it."""
    if advert.get("site") != site:
        raise Invalid(
            "site: the advert names {named} but site {site} signed it",
            named=str(advert.get("site")),
            site=site,
        )
    row = session.get(FederationAdvertRow, site)
    if row is None:
        session.add(FederationAdvertRow(site=site, advert=advert, received_at=now))
    else:
        row.advert, row.received_at = advert, now


def statuses(session: Session, fed: FederationSettings, now: datetime) -> list[Site]:
    rows = {r.site: r for r in session.scalars(select(FederationAdvertRow))}
    out = []
    for peer in fed.peers:
        if peer.kind == "tes":  # sends no advert: never lost by its age (docs/federation.md)
            out.append(
                Site(
                    site=peer.site,
                    url=peer.url,
                    kind="tes",
                    jurisdiction=peer.jurisdiction,
                    state="up",
                    received_at=None,
                    age_s=None,
                    advert=None,
                )
            )
            continue
        row = rows.get(peer.site)
        age = (now - row.received_at).total_seconds() if row else None
        lost = age is None or age > fed.lost_after_s
        out.append(
            Site(
                site=peer.site,
                url=peer.url,
                jurisdiction=row.advert.get("jurisdiction") if row else None,
                state="lost" if lost else "up",
                received_at=row.received_at if row else None,
                age_s=None if age is None else round(age, 1),
                advert=dict(row.advert) if row else None,
            )
        )
    return out


def list_sites(
    session: Session, who: Principal, fed: FederationSettings, now: datetime
) -> list[Site]:
    """The peers, for operators (center admins)."""
    if not who.is_admin:
        raise Forbidden("only center admins see the federation's sites")
    return statuses(session, fed, now)


def site_of(advert: dict[str, Any], *, lost: bool = False) -> routing.Site:
    """A stored or built advert as routing reads it."""
    prices = advert.get("prices") or {}
    energy = advert.get("energy") or {}
    models = {
        name: routing.Model(
            name=name,
            count=int(m["count"]),
            free=int(m["free"]),
            pflops=float(m["pflops"]),
            wait_s=float(m["wait_s"]),
            price_hour=None if m.get("price_hour") is None else float(m["price_hour"]),
            power_kw=float(m.get("power_kw") or 0.0),
        )
        for name, m in (advert.get("models") or {}).items()
    }
    return routing.Site(
        name=str(advert["site"]),
        jurisdiction=str(advert.get("jurisdiction") or ""),
        models=models,
        cpu_wait_s=float((advert.get("cpu") or {}).get("wait_s") or 0.0),
        cpu_core_hour=float(prices.get("cpu_core_hour") or 0),
        memory_gib_hour=float(prices.get("memory_gib_hour") or 0),
        carbon_g_per_kwh=float(energy.get("carbon_g_per_kwh") or 0.0),
        pue=float(energy.get("pue") or 1.0),
        datasets={
            d["name"]: routing.DataHeld(d["name"], int(d["bytes"]), d.get("region"))
            for d in advert.get("datasets") or []
        },
        lost=lost,
    )


def known_sites(
    session: Session, fed: FederationSettings, own: dict[str, Any], now: datetime
) -> list[routing.Site]:
    """This site (from `own`, its advert now) and every peer from its last advert."""
    sites = [site_of(own)]
    for status in statuses(session, fed, now):
        if status.advert is not None:
            sites.append(site_of(status.advert, lost=status.state == "lost"))
    for peer in fed.peers:
        if peer.kind == "tes":
            sites.append(site_of(tes_advert(own, peer)))
    return sites


def tes_advert(own: dict[str, Any], peer: FederationPeer) -> dict[str, Any]:
    """What routing assumes of a `tes` peer, which advertises nothing: this site's own prices,
    energy and queue wait (so neither side wins by a figure the peer never gave), its listed
    accelerator models with no known bound, and no data sets."""
    models = {
        name: {"count": TES_DEVICES, "free": TES_DEVICES, "pflops": 0.0, "wait_s": 0.0}
        for name in peer.accelerators
    }
    return {
        **own,
        "site": peer.site,
        "jurisdiction": peer.jurisdiction or own.get("jurisdiction") or "",
        "models": models,
        "datasets": [],
    }


def lost_since(fed: FederationSettings, now: datetime) -> datetime:
    return now - timedelta(seconds=fed.lost_after_s)


def _text(price: object) -> str | None:
    return None if price is None else str(price)
