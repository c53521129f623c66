"""Routing a job among federation sites (scheduler/federation.py): each score part decides when
the others are equal, hard constraints refuse with a reason, and the ranking is deterministic."""

from __future__ import annotations

from dataclasses import replace

from aicc.scheduler.federation import Ask, DataHeld, Model, Site, Weights, route

H100 = Model("H100-SXM", count=8, free=8, pflops=0.989, wait_s=0, price_hour=20.0, power_kw=0.7)


def site(name: str, **changes: object) -> Site:
    base = Site(
        name=name,
        jurisdiction="CN-GD",
        models={"H100-SXM": H100},
        cpu_wait_s=0,
        cpu_core_hour=1.0,
        memory_gib_hour=0.0,
        carbon_g_per_kwh=500,
        pue=1.3,
        datasets={},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


ASK = Ask(org="acme", devices=2, models=(), cpu_cores=4, memory_gib=16, runtime_s=3600)


def test_the_cheaper_site_wins_when_all_else_is_equal() -> None:
    cheap = site("b", models={"H100-SXM": replace(H100, price_hour=10.0)})
    routing = route(ASK, [site("a"), cheap, site("c")], home="a")
    assert [r.site for r in routing.ranked] == ["b", "a", "c"]
    assert routing.ranked[0].parts.price == (4 * 1.0 + 2 * 10.0) * 1
    assert routing.ranked[1].parts.price == 4 + 2 * 20.0


def test_the_greener_site_wins_when_prices_are_equal() -> None:
    routing = route(ASK, [site("a"), site("b", carbon_g_per_kwh=100)], home="a")
    assert routing.best is not None and routing.best.site == "b"
    # two 700 W devices for an hour at PUE 1.3: 1.82 kWh
    assert round(routing.ranked[0].parts.carbon_kg, 3) == round(1.82 * 0.1, 3)
    assert round(routing.ranked[1].parts.carbon_kg, 3) == round(1.82 * 0.5, 3)


def test_the_site_holding_the_data_wins_when_all_else_is_equal() -> None:
    corpus = DataHeld("corpus", 50 * 2**30)
    ask = replace(ASK, datasets=(corpus,))
    routing = route(ask, [site("a"), site("b", datasets={"corpus": corpus})], home="a")
    assert routing.best is not None and routing.best.site == "b"
    assert [r.parts.move_bytes for r in routing.ranked] == [0, 50 * 2**30]


def test_the_earlier_finish_wins_when_all_else_is_equal() -> None:
    busy = site("a", models={"H100-SXM": replace(H100, wait_s=7200)})
    routing = route(ASK, [busy, site("b")], home="a")
    assert [r.site for r in routing.ranked] == ["b", "a"]
    assert routing.ranked[1].parts.finish_s == 7200 + 3600


def test_ties_go_home_then_by_name() -> None:
    routing = route(ASK, [site("c"), site("b"), site("a")], home="b")
    assert [r.site for r in routing.ranked] == ["b", "a", "c"]


def test_a_data_set_tagged_to_a_region_excludes_a_cheaper_site_elsewhere() -> None:
    records = DataHeld("records", 1000, region="CN-GD")
    cheap = site("b", jurisdiction="CN-SH", cpu_core_hour=0.1, datasets={"records": records})
    routing = route(replace(ASK, datasets=(records,)), [site("a"), cheap], home="a")
    assert [r.site for r in routing.ranked] == ["a"]
    assert routing.refused["b"] == (
        "data set records is tagged CN-GD and never leaves it; site b is in CN-SH"
    )


def test_an_organization_runs_only_at_its_allowed_sites() -> None:
    cheap = site("b", cpu_core_hour=0.1)
    routing = route(ASK, [site("a"), cheap], home="a", org_sites={"acme": ["a"]})
    assert routing.best is not None and routing.best.site == "a"
    assert routing.refused == {"b": "organization acme may use only a"}
    other = route(ASK, [site("a"), cheap], home="a", org_sites={"other": ["a"]})
    assert other.best is not None and other.best.site == "b"


def test_refusal_reasons_model_lost_excluded_and_data_not_movable() -> None:
    ask = replace(ASK, models=("A100-80GB",), datasets=(DataHeld("corpus", 10),))
    sites = [
        site("a", datasets={"corpus": DataHeld("corpus", 10)}),
        site("b", lost=True),
        site("c"),
        site("d", models={}),
    ]
    routing = route(ask, sites, home="a", exclude=frozenset({"c"}), move_data=False)
    assert routing.ranked == ()
    assert routing.refused == {
        "a": "has no A100-80GB with 2 device(s)",
        "b": "lost (no advert within lost_after_s)",
        "c": "excluded (the job was lost there)",
        "d": "lacks data set corpus (moving data between sites is not supported)",
    }
    assert routing.explain().startswith("no site can run it: a: has no A100-80GB")


def test_weights_trade_price_against_carbon() -> None:
    cheap_dirty = site("a", cpu_core_hour=0.5, carbon_g_per_kwh=800)
    dear_green = site("b", cpu_core_hour=3.0, carbon_g_per_kwh=50)
    cpu_only = replace(ASK, devices=0)
    by_price = route(cpu_only, [cheap_dirty, dear_green], home="a", weights=Weights(carbon=0))
    by_carbon = route(cpu_only, [cheap_dirty, dear_green], home="a", weights=Weights(price=0))
    assert by_price.best is not None and by_price.best.site == "a"
    assert by_carbon.best is not None and by_carbon.best.site == "b"
    assert by_carbon.explain().startswith("routed to site b: score")
