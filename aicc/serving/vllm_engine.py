"""The `vllm` engine: vLLM's own OpenAI-compatible server in place of this process, for a
Hugging Face model directory on GPUs. Only when asked for (`--engine vllm`); vLLM is not
installed where the tests run, so this path is not checked there."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

MODULE = "vllm.entrypoints.openai.api_server"


def command(model: Path, host: str, port: int, name: str) -> list[str]:
    """`vllm serve`'s equivalent, answering under `name` as this server would."""
    return [
        sys.executable,
        "-m",
        MODULE,
        "--model",
        str(model),
        "--host",
        host,
        "--port",
        str(port),
        "--served-model-name",
        name,
    ]


def run(model: Path, host: str, port: int, name: str) -> int:
    """Become vLLM's server (exec: its exit is this replica's), or say why not and return 2."""
    if importlib.util.find_spec("vllm") is None:
        print(
            "aicc.serving: --engine vllm needs vLLM, which is not installed in this Python "
            "(pip install vllm on a GPU node); use --engine transformers on CPU",
            file=sys.stderr,
        )
        return 2
    if (model / "adapter_config.json").is_file():
        print(
            f"aicc.serving: {model} is a LoRA adapter; vLLM serves a whole model directory "
            "here: use --engine transformers, which merges the adapter",
            file=sys.stderr,
        )
        return 2
    args = command(model, host, port, name)
    os.execv(args[0], args)
    return 0  # not reached
