"""LoRA adapters over one served base (`aicc/serving/adapters.py`), driven by the official
`openai` client: three tenants' adapters on one replica, each answering as its adapter merged
into the base answers, another tenant's adapter a 404, a cache that holds two adapters evicting
the least recently used, and /metrics split per tenant and adapter; the engine's own LoRA
delta giving peft's logits, a DoRA adapter left to peft's forward."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from aicc.serving.adapters import ADAPTER_HEADER, Adapters, LoraDelta, size_of
from aicc.serving.text import TextModel
from aicc.testing import serving

NAME = "tiny"
TENANTS = {"prj_a": "ada", "prj_b": "bob", "prj_c": "cat"}  # tenant -> its adapter
PROMPT = "the cat sat on the"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("adapters")
    base = serving.tiny_lm(root / "base", context=256)
    for seed, (tenant, name) in enumerate(TENANTS.items(), start=1):
        serving.lora(base, root / "adapters" / tenant / name, seed=seed)
    serving.lora(base, root / "adapters" / "shared" / "common", seed=9)
    return base, root / "adapters"


@pytest.fixture(scope="module")
def served(
    setup: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[serving.Served]:
    base, adapters = setup
    two = 2 * size_of(adapters / "prj_a" / "ada") + 10  # room for two adapters, not three
    extra = ["--adapters", str(adapters), "--adapter-cache-mb", str(two / 2**20)]
    with serving.serve(base, tmp_path_factory.mktemp("replica"), name=NAME, extra=extra) as one:
        yield one


def client(served: serving.Served, tenant: str) -> openai.OpenAI:
    """A client whose requests carry the tenant as the gateway names it."""
    return openai.OpenAI(
        base_url=served.openai_base,
        api_key="unused",
        max_retries=0,
        default_headers={"x-aicc-tenant": tenant},
    )


def merged_greedy(base: Path, adapter: Path | None, prompt: str, max_new: int) -> str:
    """The adapter merged into a fresh copy of the base (peft's merge_and_unload), generating
    greedily: each token the argmax of the merged model's logits."""
    model: Any = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = tokenizer(prompt).input_ids
    with torch.no_grad():
        out = model.eval().generate(
            torch.tensor([ids]),
            max_new_tokens=max_new,
            min_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, len(ids) :].tolist(), skip_special_tokens=True))


def test_three_tenants_adapters_answer_as_merged_and_stay_private(
    setup: tuple[Path, Path], served: serving.Served
) -> None:
    base, adapters = setup
    plain = merged_greedy(base, None, PROMPT, 8)
    expected = {t: merged_greedy(base, adapters / t / n, PROMPT, 8) for t, n in TENANTS.items()}
    assert len({plain, *expected.values()}) == 4  # each adapter changes what the base says
    for _ in range(2):  # the second round reloads what the two-adapter cache evicted
        for tenant, name in TENANTS.items():
            answer = client(served, tenant).completions.with_raw_response.create(
                model=f"{NAME}:{name}",
                prompt=PROMPT,
                max_tokens=8,
                temperature=0,
                extra_body={"ignore_eos": True},
            )
            assert answer.parse().choices[0].text == expected[tenant]
            assert answer.headers[ADAPTER_HEADER] == f"{tenant}/{name}"
    base_answer = client(served, "prj_a").completions.create(
        model=NAME, prompt=PROMPT, max_tokens=8, temperature=0, extra_body={"ignore_eos": True}
    )
    assert base_answer.choices[0].text == plain  # the base alone, adapters off
    # Another tenant's adapter does not exist for this caller, as a name nobody has.
    for asked in (f"{NAME}:ada", f"{NAME}:nobody", f"{NAME}:../prj_a/ada"):
        with pytest.raises(openai.NotFoundError) as refused:
            client(served, "prj_b").completions.create(model=asked, prompt=PROMPT, max_tokens=2)
        assert refused.value.code == "model_not_found"
    # A shared adapter is every tenant's; streamed, it says what the merged model says.
    shared = merged_greedy(base, adapters / "shared" / "common", PROMPT, 6)
    stream = client(served, "prj_c").completions.create(
        model=f"{NAME}:common",
        prompt=PROMPT,
        max_tokens=6,
        temperature=0,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    assert "".join(c.choices[0].text for c in stream if c.choices) == shared


def test_metrics_split_per_tenant_and_adapter(served: serving.Served) -> None:
    def counts() -> dict[str, float]:
        text = httpx.get(served.url + "/metrics").text
        lines = [line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")]
        return {k: float(v) for k, v in lines}

    before = counts()
    answer = client(served, "prj_b").chat.completions.create(
        model=f"{NAME}:bob",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=3,
        extra_body={"ignore_eos": True},  # a random tiny model may end on its first token
    )
    after = counts()
    key = 'tenant="prj_b",adapter="prj_b/bob"'
    assert after[f"aicc_serving_adapter_requests_total{{{key}}}"] == (
        before.get(f"aicc_serving_adapter_requests_total{{{key}}}", 0) + 1
    )
    completion = f"aicc_serving_adapter_completion_tokens_total{{{key}}}"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    assert after[completion] - before.get(completion, 0) == 3
    other = 'tenant="prj_a",adapter="prj_a/ada"'
    assert after[f"aicc_serving_adapter_requests_total{{{other}}}"] == (
        before.get(f"aicc_serving_adapter_requests_total{{{other}}}", 0)
    )
    assert after["aicc_serving_adapters_loaded"] <= 2  # the byte bound holds two
    assert after["aicc_serving_adapter_evictions_total"] >= 1
    health = httpx.get(served.url + "/health").json()
    assert "prj_b/bob" in health["adapters"]


def test_the_cache_evicts_the_least_recently_used_by_bytes(tmp_path: Path) -> None:
    for name, size in (("a", 40), ("b", 40), ("c", 30), ("big", 200)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"x" * size)
    loaded: list[str] = []
    cache = Adapters(100, lambda key, path: loaded.append(key), loaded.remove)
    assert cache.acquire("a", tmp_path / "a") == []
    assert cache.acquire("b", tmp_path / "b") == []
    assert cache.acquire("a", tmp_path / "a") == []  # a hit: a is the most recent now
    assert cache.acquire("c", tmp_path / "c") == ["b"]  # 110 > 100: b, the least recent, goes
    assert loaded == ["a", "c"] and cache.used == 70
    assert cache.report() == "b" and cache.report() == ""  # each eviction told once
    with pytest.raises(Exception, match="at most 100"):
        cache.acquire("big", tmp_path / "big")
    assert loaded == ["a", "c"]  # nothing evicted for what cannot fit


def test_the_engines_lora_delta_gives_pefts_logits_and_leaves_dora_to_peft(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    base, adapters = setup
    dora = tmp_path / "dora"
    torch.manual_seed(5)
    config = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, use_dora=True
    )
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), config).save_pretrained(str(dora))
    ada = adapters / "prj_a" / "ada"
    model = TextModel.load(base)
    model.serve_adapters(2**30)
    ids = torch.tensor([model.encode(PROMPT)])

    def peft_logits(adapter: Path | None) -> torch.Tensor:
        reference: Any = AutoModelForCausalLM.from_pretrained(base)
        if adapter is not None:  # peft's own forward, unmerged
            reference = PeftModel.from_pretrained(reference, adapter)
        with torch.inference_mode():
            logits: torch.Tensor = reference.eval()(input_ids=ids).logits
        return logits

    expected = {key: peft_logits(path) for key, path in (("ada", ada), ("dora", dora))}
    expected["base"] = peft_logits(None)
    for key in ("ada", "dora", "ada", "base", "dora"):  # each switch, both ways
        model.use(None if key == "base" else (key, ada if key == "ada" else dora))
        with torch.inference_mode():
            got = model.model(input_ids=ids).logits
        torch.testing.assert_close(got, expected[key], rtol=1e-5, atol=1e-5)
        assert model.host is not None
        deltas = model.host.deltas
        assert len(deltas) == 4  # q_proj and v_proj in each of the two layers
        assert all(isinstance(d, LoraDelta) for d in deltas)
        assert all((d.lora is not None) == (key == "ada") for d in deltas)
        assert all(d.peft == (key == "dora") for d in deltas)
    assert not torch.equal(expected["ada"], expected["base"])  # the adapters change the answer
    assert not torch.equal(expected["dora"], expected["base"])
