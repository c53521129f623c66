"""The serving program (`aicc/serving`) run as a deployment's replica runs it, for tests: shipped
alone as a working directory, started on a free port, waited for until `/health` says ready;
and a tiny causal language model with a chat template, built from a config (nothing
downloaded), to serve."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aicc.serving
from aicc.testing import startup, templates

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "the cat sat on the mat and looked at the dog",
    "a model answers questions about the course in plain words",
    "gradient descent takes small steps against the gradient of the loss",
    "the server streams tokens to the client as they are generated",
    "每个问题都有一个答案，模型逐字生成回答。",
]


def program(dest: Path) -> Path:
    """`aicc/serving/*.py` under an empty `aicc` package, as a deployment ships it as a job's
    working directory (and nothing else of AICC)."""
    source = Path(aicc.serving.__file__).parent
    (dest / "aicc" / "serving").mkdir(parents=True, exist_ok=True)
    (dest / "aicc" / "__init__.py").write_text("")
    for path in sorted(source.glob("*.py")):
        shutil.copy(path, dest / "aicc" / "serving" / path.name)
    return dest


def model_version(template: str, model: Path, dest: Path) -> Path:
    """A template-trained model as its registered version holds it
    (services/models/template_outputs.py `ingest`): the model's files under `model/`, with the
    template's `predict.py`, `train.py`, `template.yaml` and `aicc_template.py` beside them."""
    shutil.copytree(model, dest / "model")
    for name in ("predict.py", "train.py", "template.yaml"):
        shutil.copy(templates.ROOT / template / name, dest / name)
    shutil.copy(templates.RUNTIME, dest / templates.RUNTIME.name)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running replica: where it answers and its log."""

    url: str
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def openai_base(self) -> str:
        """What the `openai` client takes as `base_url`."""
        return self.url + "/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start(
    model: Path,
    work: Path,
    *,
    name: str = "served",
    engine: str = "auto",
    wrap: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> Served:
    """The program on `model`, from a shipped copy in `work/code`, started but maybe not ready;
    its output goes to `work/serving.log`. `wrap` goes before the command (a job's sandbox).
    It leads its own process group, as a replica does, so `stop` reaches all of it."""
    code = program(work / "code")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"})
    args = [*wrap, sys.executable, "-m", "aicc.serving", "--model", str(model)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--name", name, "--engine", engine]
    args += extra
    log_path = work / "serving.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Served(f"http://127.0.0.1:{port}", name, process, log_path)


def wait_ready(served: Served, timeout: float | None = None) -> None:
    """Until `/health` answers 200, within `timeout` (the suite's start cap unless given); an
    error with the log when the program exits first."""
    timeout = startup.start_timeout_s() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise RuntimeError(f"the server exited ({served.process.returncode}):\n{served.log()}")
        if startup.answers(served.url + "/health"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f} s:\n{served.log()[-3000:]}")
        time.sleep(0.1)


def stop(served: Served) -> None:
    """SIGTERM to its group (uvicorn finishes what it answers, then exits), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.process.pid, sig)
        try:
            served.process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def serve(
    model: Path,
    work: Path,
    *,
    name: str = "served",
    engine: str = "auto",
    timeout: float | None = None,
    extra: Sequence[str] = (),
) -> Iterator[Served]:
    """A replica serving `model`, ready (`/health` 200); stopped on leaving. `extra`: more
    arguments (`--adapters DIR`...)."""
    work.mkdir(parents=True, exist_ok=True)
    served = start(model, work, name=name, engine=engine, extra=extra)
    try:
        wait_ready(served, timeout)
        yield served
    finally:
        stop(served)


def _tokenizer(chat: bool) -> object:
    """A byte-level BPE tokenizer learned from `CORPUS`; `chat`: with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = {"bos_token": "<s>", "eos_token": "<|im_end|>", "pad_token": "<pad>"}
    tokens = Tokenizer(models.BPE())
    tokens.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokens.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=[*special.values(), "<|im_start|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokens.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokens, **special)  # type: ignore[no-untyped-call]
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _config(tokenizer: Any, context: int, **more: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=context,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **more,
    )


def tiny_lm(dest: Path, *, context: int = 512, chat: bool = True, seed: int = 0) -> Path:
    """A tiny Llama (random weights, seeded) and a byte-level BPE tokenizer learned from a few
    sentences, saved as a Hugging Face model directory; `chat` gives the tokenizer a ChatML
    chat template."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer: Any = _tokenizer(chat)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_config(tokenizer, context))
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def tiny_classifier(
    dest: Path, *, labels: Sequence[str] = ("safe", "toxic"), seed: int = 0, spread: float = 50.0
) -> Path:
    """A tiny Llama sequence classifier (random weights, seeded; its head scaled by `spread`
    so that texts score far apart) with `labels` as its categories, saved as a Hugging Face
    model directory: what `/v1/moderations` serves."""
    import torch
    from transformers import LlamaForSequenceClassification

    tokenizer: Any = _tokenizer(chat=False)
    torch.manual_seed(seed)
    config = _config(
        tokenizer,
        256,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = LlamaForSequenceClassification(config)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        model.score.weight.mul_(spread)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def lora(base: Path, dest: Path, *, seed: int, rank: int = 4) -> Path:
    """A LoRA adapter over `base` with random (seeded, non-zero) weights, as peft saves one:
    what a tenant's fine-tuning would leave, without the training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(dest))
    return dest
