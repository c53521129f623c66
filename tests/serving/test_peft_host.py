"""The adapter host's merge while active (`aicc/serving/adapters.py`, `PeftHost`): an active
adapter's layers hold the base weights plus its delta, as peft's `merge_and_unload` makes
them; a switch, an eviction or the base alone puts the layers' own weights back exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from aicc.serving.text import TextModel
from aicc.testing import serving


def weights(model: Any) -> dict[str, torch.Tensor]:
    """The base layers' weights by name, as the forward reads them."""
    found = {}
    for name, module in model.named_modules():
        if name.endswith(("q_proj", "v_proj")) and hasattr(module, "get_base_layer"):
            found[name] = module.get_base_layer().weight.detach().clone()
    return found


def test_an_active_adapter_is_merged_and_the_base_comes_back_exactly(tmp_path: Path) -> None:
    base = serving.tiny_lm(tmp_path / "tiny", context=128)
    ada = serving.lora(base, tmp_path / "ada", seed=1)
    bada = serving.lora(base, tmp_path / "bada", seed=2)
    model = TextModel.load(base)
    model.serve_adapters(2**30)
    model.use(("prj/ada", ada))
    model.use(None)
    pristine = weights(model.model)
    assert pristine

    model.use(("prj/bada", bada))
    reference: Any = AutoModelForCausalLM.from_pretrained(base)
    merged = PeftModel.from_pretrained(reference, bada).merge_and_unload()
    expected = {n: m.weight for n, m in merged.named_modules() if n.endswith(("q_proj", "v_proj"))}
    for name, weight in weights(model.model).items():
        short = name.split("model.", 1)[-1]
        target = next(w for n, w in expected.items() if n.endswith(short))
        assert torch.allclose(weight, target, atol=1e-6), name

    for _ in range(50):  # switches back and forth leave no drift in the base
        model.use(("prj/ada", ada))
        model.use(("prj/bada", bada))
    model.use(None)
    assert all(torch.equal(w, pristine[n]) for n, w in weights(model.model).items())
    assert model.adapters is not None
    model.use(("prj/ada", ada))
    model.adapters.drop("prj/ada")  # evicted while merged: the base's own weights back
    assert all(torch.equal(w, pristine[n]) for n, w in weights(model.model).items())
