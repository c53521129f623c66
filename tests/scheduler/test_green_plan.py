"""The green planner on small cases that can be checked by hand."""

from __future__ import annotations

from aicc.scheduler.green import Capacity, Forecast, GreenJob, Plan, plan

CARBON = [500, 400, 100, 300, 600, 50, 700, 700]


def job(name: str, hours: float = 1.0, *, release: int = 0, deadline: float = 8.0) -> GreenJob:
    return GreenJob(name, hours, devices=1, power_kw=1.0, release=release, deadline=deadline)


def test_the_greenest_hour_in_the_window_is_chosen() -> None:
    result = plan([job("a", deadline=4)], Forecast(CARBON), Capacity([1]))
    assert result.starts == {"a": 2}  # 100 g, the lowest before the deadline
    assert result.late == ()
    assert abs(result.objective - 0.1) < 1e-5  # 1 kWh x 100 g = 0.1 kg


def test_capacity_is_respected_and_the_next_best_hour_taken() -> None:
    result = plan([job("a", deadline=4), job("b", deadline=4)], Forecast(CARBON), Capacity([1]))
    assert sorted(result.starts.values()) == [2, 3]


def test_a_two_hour_job_is_charged_both_hours_and_holds_its_devices() -> None:
    result = plan([job("a", 2.0), job("b", 1.0, deadline=6)], Forecast(CARBON), Capacity([1]))
    assert result.starts["b"] == 5  # 50 g
    start = result.starts["a"]
    assert start + 2 <= 8 and not start <= 5 < start + 2  # never overlaps b's hour
    assert start == 2  # 100 + 300 beats 300 + 600 and 700 + 700


def test_a_fractional_job_pays_for_the_part_of_the_hour_it_runs() -> None:
    result = plan([job("a", 1.5, deadline=8)], Forecast(CARBON), Capacity([1]))
    # 2: 100 + 0.5 x 300 = 250; 5: 50 + 0.5 x 700 = 400
    assert result.starts == {"a": 2}


def test_a_deadline_is_never_missed_when_it_can_be_met() -> None:
    jobs = [job(f"j{i}", 1.0, deadline=3) for i in range(3)]
    result = plan(jobs, Forecast(CARBON), Capacity([1]))
    assert sorted(result.starts.values()) == [0, 1, 2]
    assert result.late == ()


def test_a_lost_deadline_is_reported_late_not_infeasible() -> None:
    jobs = [job(f"j{i}", 1.0, deadline=2) for i in range(3)]
    result = plan(jobs, Forecast(CARBON), Capacity([1]))
    assert len(result.starts) == 3
    assert len(result.late) == 1
    assert max(result.starts.values()) == 2  # as early as possible past the deadline


def test_a_power_cap_holds_jobs_back() -> None:
    jobs = [job("a", deadline=8), job("b", deadline=8)]
    free = plan(jobs, Forecast(CARBON), Capacity([2]))
    capped = plan(jobs, Forecast(CARBON), Capacity([2], power_kw=[1.0]))
    assert list(free.starts.values()) == [5, 5]
    assert sorted(capped.starts.values()) == [2, 5]


def test_replanning_with_a_new_forecast_moves_the_job() -> None:
    first = plan([job("a", deadline=8)], Forecast(CARBON), Capacity([1]))
    assert first.starts == {"a": 5}
    # An hour later (hour 0 is now the old hour 1), the forecast says hour 5 will be dirty.
    later = [400, 100, 300, 600, 900, 700, 700]
    again = plan([job("a", deadline=7)], Forecast(later), Capacity([1]))
    assert again.starts == {"a": 1}
    assert again.starting(1) == ["a"] and again.starting(0) == []


def test_the_release_hour_is_respected_and_the_plan_is_deterministic() -> None:
    jobs = [job("a", release=3, deadline=8), job("b", release=0, deadline=2)]
    one = plan(jobs, Forecast(CARBON), Capacity([1]))
    assert one.starts == {"a": 5, "b": 1}
    assert plan(jobs, Forecast(CARBON), Capacity([1])) == one


def test_a_job_longer_than_the_horizon_is_unplanned() -> None:
    result = plan([job("long", 20.0, deadline=30)], Forecast(CARBON), Capacity([1]))
    assert result == Plan({}, unplanned=("long",))
