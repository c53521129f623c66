"""A template run's options: time scaled from the measured example run, an accelerator's
speed-up bounded by the run's serial share, and CPU-only templates left on CPU."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aicc.core import accelerator_names
from aicc.core.pricing import PricePlan
from aicc.core.templates import TemplateError
from aicc.estimate.templates import PARALLEL_SHARE, estimate_run, speedup
from aicc.testing.templates import manifest

PLAN = PricePlan(accelerator_hour={"H100-SXM": Decimal("20")}, cpu_core_hour=Decimal("1"))
H100 = accelerator_names.lookup("H100-SXM")


def test_time_scales_with_rows_and_epochs_and_a_gpu_is_bounded_by_the_serial_share() -> None:
    m = manifest("defect-inspection")
    rows = 10 * (m.resources.example_rows or 0)
    got = estimate_run(
        m,
        rows=rows,
        hp={"epochs": 2 * m.hyperparameters["epochs"].default},
        plan=PLAN,
        models=[H100],
    )
    by = {o.accelerator: o for o in got.options}
    assert got.work == 20
    start = m.resources.example_start_seconds
    assert by["cpu"].hours == pytest.approx(
        (start + 20 * ((m.resources.example_seconds or 0) - start)) / 3600, rel=1e-5
    )
    assert 1 < by[H100.name].speedup < 1 / (1 - PARALLEL_SHARE)
    assert speedup(H100, 1, 2) < speedup(H100, 2, 2)
    assert by["cpu"].gross == Decimal(str(round(by["cpu"].cpu_core_hours, 2)))


def test_a_cpu_only_template_and_a_template_never_measured() -> None:
    got = estimate_run(manifest("credit-risk"), rows=3000, hp={}, plan=PLAN, models=[H100])
    assert [o.accelerator for o in got.options] == ["cpu"]
    assert got.left_out[0].reason == "not_used"
    unmeasured = manifest("credit-risk").model_copy(deep=True)
    unmeasured.resources.example_seconds = None
    with pytest.raises(TemplateError, match=r"resources\.example_seconds"):
        estimate_run(unmeasured, rows=3000, hp={}, plan=PLAN)


def test_an_accelerator_the_plan_does_not_price_is_offered_with_its_time_and_no_price() -> None:
    m = manifest("defect-inspection")
    rows = m.resources.example_rows or 0
    a100 = accelerator_names.lookup("A100-80GB")
    got = estimate_run(m, rows=rows, hp={}, plan=PLAN, models=[H100, a100])
    by = {o.accelerator: o for o in got.options}
    assert set(by) == {"cpu", H100.name, a100.name} and not got.left_out
    assert by[a100.name].hours > 0 and by[a100.name].net is None
    assert "has no price for A100-80GB" in (by[a100.name].price_note or "")
    assert by[H100.name].net is not None and by[H100.name].price_note is None
