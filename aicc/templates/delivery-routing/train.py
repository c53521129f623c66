"""Learns the solver settings for a courier's delivery days: on the training days it compares
OR-Tools' first-solution strategies and keeps the one that plans the shortest routes; on the
held-out days it plans with that strategy and guided local search, and measures the distance
saved against the nearest-neighbour plan a dispatcher would draw by hand."""

import contextlib
import json

import aicc_template
from predict import greedy, instances, length, solve

STRATEGIES = ("PATH_CHEAPEST_ARC", "PARALLEL_CHEAPEST_INSERTION", "SAVINGS", "CHRISTOFIDES")

run = aicc_template.start()
hp = run.hp
table = run.read_table(["stop_id", "x", "y", "demand"])
for optional in ("instance", "ready", "due"):
    with contextlib.suppress(SystemExit):  # optional columns
        table[optional] = run.read_table(["stop_id", optional])[optional]
days = instances(table)
keys = sorted(days)
if len(keys) > 1:
    train_idx, test_idx = aicc_template.split(len(keys), 0.25, int(hp["seed"]))
    train_keys, test_keys = [keys[i] for i in train_idx], [keys[i] for i in test_idx]
else:  # one day: choose on it and measure on it
    train_keys = test_keys = keys
settings = {k: hp[k] for k in ("vehicles", "capacity", "speed_kmh", "service_minutes")}


def planned(key: str, strategy: str, improve: bool) -> list[list[int]]:
    solved = solve(days[key], settings, strategy, float(hp["time_limit_s"]), improve)
    if solved is None:
        raise SystemExit(
            f"{key or 'the stops'}: no plan serves every stop with {hp['vehicles']} vehicles of "
            f"capacity {hp['capacity']} in their windows; raise vehicles or capacity"
        )
    return solved[0]


# "Training": the first-solution strategy with the shortest routes on the training days.
km = {}
for step, strategy in enumerate(STRATEGIES, 1):
    km[strategy] = sum(length(days[k], planned(k, strategy, improve=False)) for k in train_keys)
    run.log(step, train_km=km[strategy])
best = min(STRATEGIES, key=lambda s: km[s])

solver_km = greedy_km = 0.0
vans = greedy_vans = 0
for step, key in enumerate(test_keys, len(STRATEGIES) + 1):
    routes = planned(key, best, improve=True)
    baseline = greedy(days[key], settings)
    solver_km += length(days[key], routes)
    greedy_km += length(days[key], baseline)
    vans += sum(1 for r in routes if r)
    greedy_vans += len(baseline)
    run.log(step, test_km=solver_km, greedy_km=greedy_km)
saving = 1 - solver_km / greedy_km

model = {**settings, "first_solution_strategy": best, "time_limit_s": float(hp["time_limit_s"])}
(run.model_dir / "solver.json").write_text(json.dumps(model, indent=2) + "\n")
stops = sum(len(days[k].ids) - 1 for k in test_keys)
run.finish(
    {"saving_vs_greedy": saving, "route_km": solver_km, "greedy_km": greedy_km},
    {
        "summary": {
            "en": (
                f"Planned {len(test_keys)} held-out delivery days ({stops} stops) with "
                f"{best.replace('_', ' ').lower()} and guided local search: {solver_km:.1f} km "
                f"on {vans} van routes, {saving:.1%} shorter than the nearest-neighbour plan "
                f"({greedy_km:.1f} km on {greedy_vans} routes)."
            ),
            "zh-CN": (
                f"对 {len(test_keys)} 个留出的配送日（{stops} 个站点）进行路径规划，采用 {best} "
                f"初始解与引导式局部搜索：共 {vans} 条车辆路线、{solver_km:.1f} 公里，"
                f"比最近邻贪心方案（{greedy_vans} 条路线、{greedy_km:.1f} 公里）短 {saving:.1%}。"
            ),
        },
        "days": len(keys),
        "held_out_days": len(test_keys),
        "rows": len(table["stop_id"]),
        "strategy": best,
        "train_km_by_strategy": {s: round(v, 2) for s, v in km.items()},
        "predicts": "for each delivery day, which vehicle serves each stop, in what order, and "
        "when it arrives (minutes after the shift starts)",
    },
)
