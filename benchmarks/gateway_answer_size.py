"""How large a legitimate non-streamed answer gets, to size `gateway.max_answer_bytes` (the most
the gateway reads of a replica's whole answer, `aicc/gateway/bounded.py`): the largest is an
embeddings answer of a full batch (OpenAI's 2,048 inputs) from a wide model, as JSON floats.

Measured, not computed: the real serving program (`aicc.serving`, the `transformers` engine)
serves a one-layer Llama built from a config at the width asked (`--dims`: 4,096 is the widest
common embedding model, e5-mistral or Qwen3-Embedding-8B), random weights (the answer's size
depends on the width and the floats' printed length, not on what the model learned), and
`--inputs` texts are posted to its `/v1/embeddings` with `encoding_format` `float` and
`base64`; the answers' bytes on the wire are counted. JSON on stdout.

    .venv/bin/python benchmarks/gateway_answer_size.py --dims 4096 --inputs 2048
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from aicc.testing import serving


def wide_model(dest: Path, dims: int) -> Path:
    """A one-layer Llama `dims` wide with the tiny tokenizer of the serving tests."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer: Any = serving._tokenizer(chat=False)
    config = serving._config(tokenizer, 512)
    config.hidden_size, config.intermediate_size = dims, 256
    config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads = 1, 8, 8
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=4096)
    parser.add_argument("--inputs", type=int, default=2048)
    args = parser.parse_args()
    texts = [
        f"document {i}: the cat sat on the mat near gradient descent" for i in range(args.inputs)
    ]
    out: dict[str, Any] = {"dims": args.dims, "inputs": args.inputs, "machine": platform.node()}
    with tempfile.TemporaryDirectory() as tmp:
        model = wide_model(Path(tmp) / "model", args.dims)
        served = serving.serve(model, Path(tmp) / "work", name="wide", timeout=300)
        with served as replica, httpx.Client(base_url=replica.openai_base, timeout=1800) as http:
            for encoding in ("float", "base64"):
                started = time.monotonic()
                answer = http.post(
                    "/embeddings",
                    json={"model": "wide", "input": texts, "encoding_format": encoding},
                )
                answer.raise_for_status()
                out[f"{encoding}_bytes"] = len(answer.content)
                out[f"{encoding}_seconds"] = round(time.monotonic() - started, 1)
                print(json.dumps(out), file=sys.stderr, flush=True)  # so far
    print(json.dumps(out))


if __name__ == "__main__":
    main()
