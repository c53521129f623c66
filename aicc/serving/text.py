"""The `transformers` engine: a causal language model (a Hugging Face model directory, or a
LoRA adapter over its base, merged at load), with more LoRA adapters over it chosen per request
and loaded on demand (`adapters.py`, not merged), generating token by token on CPU or one GPU, and
embedding texts as its mean-pooled, L2-normalised last hidden states.

Generation is a plain loop over the model with its key-value cache, one token per `step()`,
so the server can run each step off the event loop and simply stop asking when the client
goes away or a stop string appears."""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import Adapters, PeftHost
from .protocol import ApiError, Message, Sampling

Adapter = tuple[str, Path]  # a request's adapter: its key (OWNER/NAME) and its files

COMPLETION_DEFAULT_MAX_TOKENS = 16  # OpenAI's (and vLLM's) default for /v1/completions


class LoadError(Exception):
    """The directory cannot be served as a text model; the message says why."""


def _base_of(path: Path) -> Path:
    """Where a LoRA adapter's base model is: the `tiny` base the lora-finetune template saves
    beside its adapter, else the path its training named (it must be mounted here too)."""
    settings = _json(path / "aicc.json")
    adapter = _json(path / "adapter_config.json")
    named = settings.get("base_model") or adapter.get("base_model_name_or_path")
    candidates = [path / "base"] if named in (None, "tiny") else [Path(str(named)), path / "base"]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    raise LoadError(
        f"the adapter's base model {named or 'base/'} is not here: mount it at that path "
        "(models are never downloaded)"
    )


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text("utf-8"))
    return doc if isinstance(doc, dict) else {}


@dataclass
class TextModel:
    """A loaded causal LM, its tokenizer and how a chat becomes its prompt."""

    model: Any
    tokenizer: Any
    context: int  # the most tokens (prompt and completion) it can attend to
    eos: frozenset[int]
    question_prompt: str | None = None  # a template's own prompt, e.g. "问：{question}\n答："
    torch: Any = field(default=None, repr=False)
    adapters: Adapters | None = None  # with `serve_adapters`: the per-request adapters' cache
    host: PeftHost | None = field(default=None, repr=False)

    def serve_adapters(self, bound: int) -> None:
        """Serve adapters over this model, `bound` bytes of them loaded at most."""
        self.host = host = PeftHost(self.model)
        self.adapters = Adapters(bound, host.load, host.unload)

    def use(self, adapter: Adapter | None) -> None:
        """On the model's thread, in the request's turn: its adapter loaded (maybe evicting
        others) and active, or none."""
        if self.host is None or self.adapters is None:
            return
        if adapter is not None:
            self.adapters.acquire(*adapter)
        self.host.activate(adapter[0] if adapter else None)

    @classmethod
    def load(cls, path: Path) -> TextModel:
        """Load from local files only: a replica has no network, and nothing is downloaded."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        adapter = (path / "adapter_config.json").is_file()
        base = _base_of(path) if adapter else path
        # On a GPU, the checkpoint's own dtype (bf16 or fp16, typically); on CPU, float32.
        dtype = "auto" if device == "cuda" else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=dtype)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path).merge_and_unload()
        model = model.to(device).eval()
        has_tokenizer = any((path / n).is_file() for n in ("tokenizer.json", "tokenizer.model"))
        tokenizer = AutoTokenizer.from_pretrained(
            path if has_tokenizer else base, local_files_only=True
        )
        config = model.config
        context = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        eos = {tokenizer.eos_token_id, *_ids(model.generation_config.eos_token_id)}
        prompt = _json(path / "aicc.json").get("prompt")
        return cls(
            model=model,
            tokenizer=tokenizer,
            context=int(context or 2048),
            eos=frozenset(i for i in eos if i is not None),
            question_prompt=prompt if isinstance(prompt, str) and "{question}" in prompt else None,
            torch=torch,
        )

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special).input_ids)

    def chat_ids(self, messages: list[Message]) -> list[int]:
        """The chat as prompt tokens: the tokenizer's chat template when it has one; else the
        template's own question prompt with the last user message (how the lora-finetune
        model was trained); else `role: text` lines ending in `assistant:`."""
        if getattr(self.tokenizer, "chat_template", None):
            turns = [{"role": m.role, "content": m.content} for m in messages]
            text = self.tokenizer.apply_chat_template(
                turns, add_generation_prompt=True, tokenize=False
            )
            return self.encode(text, special=False)  # the template wrote the special tokens
        if self.question_prompt:
            asked = [m.content for m in messages if m.role == "user"]
            if not asked:
                raise ApiError("messages needs a user message", param="messages")
            return self.encode(self.question_prompt.replace("{question}", asked[-1].strip()))
        lines = [f"{m.role}: {m.content}" for m in messages]
        return self.encode("\n".join([*lines, "assistant:"]))

    def budget(self, prompt: list[int], sampling: Sampling, default: int | None, param: str) -> int:
        """How many tokens to generate at most; a 400 when the prompt and `max_tokens` do not
        fit the model's context."""
        room = self.context - len(prompt)
        if room <= 0:
            raise ApiError(
                f"the prompt has {len(prompt)} tokens; this model reads at most {self.context - 1}",
                param=param,
                code="context_length_exceeded",
            )
        wanted = sampling.max_tokens or default or room
        if sampling.max_tokens and wanted > room:
            raise ApiError(
                f"this model's context is {self.context} tokens; the prompt has {len(prompt)}, "
                f"so max_tokens can be at most {room}",
                param="max_tokens",
                code="context_length_exceeded",
            )
        return min(wanted, room)

    def tokens(
        self, prompt: list[int], sampling: Sampling, adapter: Adapter | None = None
    ) -> Generator[int, None, None]:
        """Next tokens, one per `next()`, without end: the caller stops asking. Greedy at
        temperature 0, else sampled from the top-p nucleus with the request's seed. The first
        `next()` makes `adapter` the active one (the caller holds the turn until it stops)."""
        torch = self.torch
        self.use(adapter)
        device = self.model.device
        generator = torch.Generator(device=device)
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(sampling.seed)
        ids = torch.tensor([prompt], device=device)
        cache = None
        while True:
            with torch.inference_mode():  # grad mode is per thread: set it at each step
                out = self.model(
                    input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1
                )
                token = _pick(torch, out.logits[0, -1].float(), sampling, generator)
            cache = out.past_key_values
            yield token
            ids = torch.tensor([[token]], device=device)

    def embed(self, text: str, adapter: Adapter | None = None) -> tuple[list[float], int]:
        """The text's embedding and its token count (in the request's turn)."""
        torch = self.torch
        self.use(adapter)
        ids = self.encode(text)
        if len(ids) > self.context:
            raise ApiError(
                f"an input has {len(ids)} tokens; this model reads at most {self.context}",
                param="input",
                code="context_length_exceeded",
            )
        with torch.inference_mode():
            tensor = torch.tensor([ids], device=self.model.device)
            hidden = self.model.base_model(input_ids=tensor).last_hidden_state[0].float()
            vector = torch.nn.functional.normalize(hidden.mean(dim=0), dim=0)
        return [float(x) for x in vector.cpu()], len(ids)


def _ids(value: Any) -> list[int | None]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _pick(torch: Any, logits: Any, sampling: Sampling, generator: Any) -> int:
    if sampling.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        # Keep the most likely tokens until they cover top_p (always the first).
        outside = sorted_probs.cumsum(0) - sorted_probs >= sampling.top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


class Generation:
    """One completion being generated: tokens in, text out. Text that may be the start of a
    stop string is held back until it is not; a stop string ends the text before it."""

    def __init__(
        self,
        model: TextModel,
        prompt: list[int],
        sampling: Sampling,
        limit: int,
        adapter: Adapter | None = None,
    ):
        self.model, self.sampling, self.limit = model, sampling, limit
        self.prompt_tokens = len(prompt)
        self.completion_tokens = 0  # every token generated, the end-of-text one included
        self.finish: str | None = None  # "stop" or "length" once done
        self.text = ""
        self._tokens = model.tokens(prompt, sampling, adapter)
        self._ids: list[int] = []
        self._prefix = self._read = 0  # incremental decoding: the window and what is read
        self._sent = 0

    def step(self) -> str:
        """Generate one token; the text it adds that can be sent now (maybe "")."""
        token = next(self._tokens)
        self.completion_tokens += 1
        if token in self.model.eos and not self.sampling.ignore_eos:
            self.finish = "stop"
        else:
            self._ids.append(token)
            self.text += self._decode(final=False)
            if self.completion_tokens >= self.limit:
                self.finish = "length"
        if self.finish:
            self.text += self._decode(final=True)
        return self._releasable()

    def close(self) -> None:
        """Stop generating (the client left): the model is asked for nothing more."""
        self._tokens.close()

    def _decode(self, *, final: bool) -> str:
        """The text the tokens read since the last call add, once it is whole characters."""
        decode = self.model.tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        if len(after) <= len(before) or (after.endswith("\ufffd") and not final):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return str(after[len(before) :])

    def _releasable(self) -> str:
        stops = self.sampling.stop
        if stops:
            start = max(0, self._sent - max(map(len, stops)))
            hits = [i for i in (self.text.find(s, start) for s in stops) if i >= 0]
            if hits:
                self.text, self.finish = self.text[: min(hits)], "stop"
        end = len(self.text)
        if stops and not self.finish:  # hold back what may be the start of a stop string
            starts = (n for s in stops for n in range(1, len(s)) if self.text.endswith(s[:n]))
            end -= max(starts, default=0)
        out, self._sent = self.text[self._sent : end], max(self._sent, end)
        return out
