"""Plans the routes of new delivery days with the solver settings a training run chose: a CSV
or JSON lines of stops (`stop_id, x, y, demand`, optional `ready, due` and `instance`) gives a
CSV `vehicle, sequence, stop_id, arrival` (minutes after the shift starts), per instance.

Also the solver and the nearest-neighbour baseline `train.py` uses (it imports this file)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import aicc_template

HORIZON = 24 * 60  # minutes: a stop without a window can be served any time of the day


@dataclass
class Stops:
    """One delivery day: index 0 is the depot."""

    ids: list[str]
    x: list[float]
    y: list[float]
    demand: list[int]
    ready: list[int]
    due: list[int]

    def km(self, a: int, b: int) -> float:
        return math.hypot(self.x[a] - self.x[b], self.y[a] - self.y[b])


def instances(table: dict[str, list]) -> dict[str, Stops]:
    """The table's rows grouped by `instance` (one group if it has none); in each, the stop
    named `depot` (else the first) goes first."""
    n = len(table["stop_id"])
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(table.get("instance") or [""] * n):
        groups.setdefault(str(key), []).append(row)
    out = {}
    for key, rows in groups.items():
        depot = next((r for r in rows if str(table["stop_id"][r]).lower() == "depot"), rows[0])
        rows = [depot] + [r for r in rows if r != depot]
        ready = table.get("ready") or [None] * n
        due = table.get("due") or [None] * n
        out[key] = Stops(
            ids=[str(table["stop_id"][r]) for r in rows],
            x=[float(table["x"][r]) for r in rows],
            y=[float(table["y"][r]) for r in rows],
            demand=[0] + [math.ceil(float(table["demand"][r])) for r in rows[1:]],
            ready=[int(ready[r]) if ready[r] is not None else 0 for r in rows],
            due=[int(due[r]) if due[r] is not None else HORIZON for r in rows],
        )
    return out


def minutes(stops: Stops, a: int, b: int, settings: dict) -> int:
    """Driving from a to b plus the service time at a (none at the depot)."""
    drive = stops.km(a, b) / float(settings["speed_kmh"]) * 60
    return round(drive + (float(settings["service_minutes"]) if a else 0))


def length(stops: Stops, routes: list[list[int]]) -> float:
    """Kilometres driven, depot to depot."""
    return sum(
        stops.km(a, b) for route in routes for a, b in zip([0, *route], [*route, 0], strict=True)
    )


def greedy(stops: Stops, settings: dict) -> list[list[int]]:
    """The baseline a dispatcher would draw: each van in turn drives to the nearest stop it can
    still serve (load, window) until none is left, then back; as many vans as that takes."""
    left = set(range(1, len(stops.ids)))
    routes = []
    while left:
        route, here, load, clock = [], 0, 0, 0
        while True:
            options = [
                s
                for s in left
                if load + stops.demand[s] <= int(settings["capacity"])
                and max(clock + minutes(stops, here, s, settings), stops.ready[s]) <= stops.due[s]
            ]
            if not options:
                break
            s = min(options, key=lambda s: stops.km(here, s))
            clock = max(clock + minutes(stops, here, s, settings), stops.ready[s])
            route.append(s)
            left.discard(s)
            load += stops.demand[s]
            here = s
        if not route:
            raise ValueError(f"stop {stops.ids[min(left)]} fits no van (demand or window)")
        routes.append(route)
    return routes


def solve(
    stops: Stops, settings: dict, strategy: str, time_limit_s: float, improve: bool = True
) -> tuple[list[list[int]], list[list[int]]] | None:
    """OR-Tools routing (capacities, time windows): the routes and their arrival minutes, or
    None when no plan fits in `time_limit_s`. Without `improve`, only the first solution and
    its local search (fast: what training compares strategies with)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    vehicles, capacity = int(settings["vehicles"]), int(settings["capacity"])
    if sum(stops.demand) > vehicles * capacity or max(stops.demand) > capacity:
        return None
    manager = pywrapcp.RoutingIndexManager(len(stops.ids), vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    def metres(i: int, j: int) -> int:
        return round(stops.km(manager.IndexToNode(i), manager.IndexToNode(j)) * 1000)

    distance = routing.RegisterTransitCallback(metres)
    routing.SetArcCostEvaluatorOfAllVehicles(distance)
    load = routing.RegisterUnaryTransitCallback(lambda i: stops.demand[manager.IndexToNode(i)])
    routing.AddDimensionWithVehicleCapacity(load, 0, [capacity] * vehicles, True, "load")
    travel = routing.RegisterTransitCallback(
        lambda i, j: minutes(stops, manager.IndexToNode(i), manager.IndexToNode(j), settings)
    )
    routing.AddDimension(travel, HORIZON, HORIZON, False, "time")
    clock = routing.GetDimensionOrDie("time")
    for node in range(1, len(stops.ids)):
        clock.CumulVar(manager.NodeToIndex(node)).SetRange(stops.ready[node], stops.due[node])
    for v in range(vehicles):
        clock.CumulVar(routing.Start(v)).SetRange(stops.ready[0], stops.due[0])
        clock.CumulVar(routing.End(v)).SetRange(stops.ready[0], stops.due[0])
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.Start(v)))

    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, strategy)
    if improve:
        search.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
    search.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = routing.SolveWithParameters(search)
    if solution is None:
        return None
    routes, arrivals = [], []
    for v in range(vehicles):
        index, route, times = solution.Value(routing.NextVar(routing.Start(v))), [], []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            times.append(solution.Min(clock.CumulVar(index)))
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
        arrivals.append(times)
    return routes, arrivals


def main() -> None:
    args = aicc_template.predict_args()
    settings = json.loads((args.model / "solver.json").read_text())
    table = aicc_template.read_table(args.input)
    days = instances(table)
    out: dict[str, list] = {"vehicle": [], "sequence": [], "stop_id": [], "arrival": []}
    if "instance" in table:
        out = {"instance": [], **out}
    for key, stops in days.items():
        solved = solve(
            stops, settings, settings["first_solution_strategy"], settings["time_limit_s"]
        )
        if solved is None:
            raise SystemExit(
                f"{key or 'the stops'}: no plan serves every stop with {settings['vehicles']} vans "
                f"of capacity {settings['capacity']} in the windows; train with more vehicles "
                "or capacity"
            )
        for v, (route, times) in enumerate(zip(*solved, strict=True), 1):
            for n, (stop, arrival) in enumerate(zip(route, times, strict=True), 1):
                if "instance" in out:
                    out["instance"].append(key)
                out["vehicle"].append(v)
                out["sequence"].append(n)
                out["stop_id"].append(stops.ids[stop])
                out["arrival"].append(arrival)
    aicc_template.write_table(args.output, out)


if __name__ == "__main__":
    main()
