"""What the gateway counts becomes the autoscaler's samples: each second's mean number of
requests in flight, time-weighted."""

from __future__ import annotations

from aicc.services.serving.autoscaling import Concurrency


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_second_is_the_mean_in_flight() -> None:
    clock = Clock()
    meter = Concurrency(clock)
    meter.begin("d")  # 100.0: one in flight
    clock.now = 100.5
    meter.begin("d")  # two from 100.5
    clock.now = 101.25
    meter.end("d")
    meter.end("d")  # none from 101.25
    clock.now = 105.0
    samples = [(s.at, s.concurrency) for s in meter.samples("d")]
    assert samples == [(101.0, 1.5), (102.0, 0.5)]
    assert meter.inflight("d") == 0 and meter.samples("other") == []


def test_a_long_request_fills_every_second_it_spans() -> None:
    clock = Clock()
    meter = Concurrency(clock)
    meter.begin("d")
    clock.now = 103.0
    assert [s.concurrency for s in meter.samples("d")] == [1.0, 1.0, 1.0]
    assert meter.inflight("d") == 1


def test_closed_seconds_are_given_out_to_share_once() -> None:
    clock = Clock()
    meter = Concurrency(clock)
    meter.begin("d")
    clock.now = 102.5
    assert {d: [s.at for s in found] for d, found in meter.unshared().items()} == {
        "d": [101.0, 102.0]
    }
    assert meter.unshared() == {}  # nothing closed since
    clock.now = 103.2
    assert [s.at for s in meter.unshared()["d"]] == [103.0]
